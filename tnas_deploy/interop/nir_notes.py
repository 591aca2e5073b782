"""What an imported NIR graph does differently from its producer's own simulation: the notes `tnas-deploy import`
prints for graphs that tnas-deploy did not write (docs/interop.md, "Import of NIR graphs")."""
from __future__ import annotations

from .nir_graph import FlatGraph, biased_nodes, is_neuron


def producer_notes(flat: FlatGraph, steps: int, delay: int, leaky_readout: bool = False) -> list[str]:
    """The notes for a graph run T = `steps` steps whose longest forward path has `delay` population hops;
    `leaky_readout`: the readout is a leaky LI, whose last membrane (not a total) is the logit vector."""
    biased = biased_nodes(flat.nodes)
    why = [f"biases ({names(biased)}), which act from step 0 in both, so the deeper layers' first steps differ"] \
        if biased else []
    populations = {id(loop): [p for p in loop.path if is_neuron(flat.nodes[p])] for loop in flat.loops}
    why += ["loops through several populations (below)"] if any(len(p) > 1 for p in populations.values()) else []
    what = ("its leaky readout's value after the run equals the producer's LI membrane after T steps" if leaky_readout
            else "its readout totals over the run equal the producer's over T steps")
    notes = [f"timing: the genome delivers each population's spikes one step later (chip time), snnTorch, Norse and "
             f"Sinabs within the step: its spike trains are the producer's shifted by one step per hop and it runs "
             f"T + D = {steps} + {delay} steps; {what} for a network without biases and "
             + ("loops" if not flat.loops else "with loops through one population only")
             + (f"; this one has {' and '.join(why)}, so {'it' if leaky_readout else 'its totals'} can differ" if why
                else " (as this one is)")]
    neurons = [n for n, node in flat.nodes.items() if is_neuron(node)]
    if neurons:
        notes.append(f"reset: {names(neurons)} reset v to 0 after a spike and spike when v > threshold, as NIR defines "
                     "its neurons; snnTorch's Leaky and Synaptic reset by subtraction unless reset_mechanism='zero', and "
                     "Sinabs' IAF subtracts and spikes at v >= threshold (by default several spikes a step, "
                     "floor(v / threshold)), which their NIR exports do not record: a network trained that way spikes "
                     "differently here")
    cuba = [n for n, node in flat.nodes.items() if type(node).__name__ == "CubaLIF"]
    if cuba:
        notes.append(f"order: {names(cuba)} update the current first and v with the new current (snnTorch's Synaptic); "
                     "a simulator that updates v with the previous step's current (Norse) delays the current by one "
                     "more step")
    for loop in flat.loops:
        pops = populations[id(loop)]
        head = (f"loop: the edge {loop.source!r} -> {loop.target!r} closes a loop through {len(pops)} population(s) "
                f"({names(pops)}) and becomes a backward edge read in the same step (same_step)")
        if len(pops) == 1:
            notes.append(head + ": the genome feeds the loop back after 1 step, as the producer does")
        else:
            notes.append(head + f": the genome feeds the loop back after {len(pops)} steps (one per population hop), "
                         "a producer that evaluates every layer within the step after 1, so the spike trains differ "
                         "once a spike has gone round the loop")
    return notes


def names(items: list[str], most: int = 4) -> str:
    """'a', 'b', 'c' and 2 more."""
    shown = ", ".join(repr(n) for n in items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


__all__ = ["names", "producer_notes"]
