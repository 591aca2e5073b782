"""Activity of a run, per layer and per time step, in the units the energy model needs.

Counts follow the NeuroBench conventions: a *synaptic event* is one spike delivered through one synapse
(a spike times its fan-out); *effective* synaptic operations count only synapses with a non-zero weight;
*activation sparsity* is the share of zero activations (no spike) over neurons, and over neurons and
time steps. Everything is averaged over the samples of the run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..compiled import CompiledNetwork
from ..layers import Layer
from ..result import SimResult, count_spikes


@dataclass
class LayerActivity:
    layer: str
    kind: str
    neurons: int
    synapses: int
    spikes: float                    # per sample
    synaptic_events: float           # received, per sample
    effective_synaptic_events: float  # received through non-zero weights, per sample
    active_updates: float            # neuron updates in the layer's own windows, per sample
    idle_updates: float              # updates of its neurons in all other steps, per sample
    spikes_per_step: np.ndarray      # (total_steps,), per sample
    events_per_step: np.ndarray      # (total_steps,), received, per sample
    updates_per_step: np.ndarray     # (total_steps,) active updates
    consumers: list[str]
    fan_out_to: dict[str, float]     # destination layer -> mean synaptic targets there of one spike

    @property
    def silent_share(self) -> float:
        return 1.0 - self.spikes / self.neurons if self.neurons else 1.0


def population_layers(net: CompiledNetwork) -> list[Layer]:
    """Layers that hold neurons on a chip (the input is injected by the host, views are routing)."""
    return [layer for layer in net.layers if layer.holds_neurons]


def link_consumers(out: dict[str, LayerActivity], consumers: dict[str, list[str]],
                   fan_out_to: dict[str, dict[str, float]]) -> dict[str, LayerActivity]:
    """Fill in each population's consumers and mean fan-out per destination, once all are measured."""
    for layer_id, act in out.items():
        act.consumers = consumers.get(layer_id, [])
        act.fan_out_to = fan_out_to.get(layer_id, {})
    return out


def input_spikes(net: CompiledNetwork, result: SimResult) -> float:
    return count_spikes(result.spike_times[net.layers[0].id], result.spike_format) / max(result.samples, 1)


def neurobench_metrics(net: CompiledNetwork, result: SimResult, activity: dict[str, LayerActivity], total_steps: int
                       ) -> dict:
    """Per sample: synaptic operations (effective ACs), activation sparsity, neurons, synapses."""
    neurons = sum(a.neurons for a in activity.values() if a.kind != "readout")
    spikes = sum(a.spikes for a in activity.values())
    return {
        "synaptic_events": round(sum(a.synaptic_events for a in activity.values()), 3),
        "effective_synaptic_ops": round(sum(a.effective_synaptic_events for a in activity.values()), 3),
        "dense_synaptic_ops": int(sum(a.synapses for a in activity.values())),
        "spikes": round(spikes, 3),
        "input_spikes": round(input_spikes(net, result), 3),
        "activation_sparsity": round(1.0 - spikes / neurons, 6) if neurons else None,
        "activation_sparsity_per_step": round(1.0 - spikes / (neurons * total_steps), 8) if neurons else None,
        "neurons": neurons,
        "synapses": int(sum(a.synapses for a in activity.values())),
        "time_steps": total_steps,
    }
