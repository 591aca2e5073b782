"""Axonal delays (genome version 3) against the chip: the profile's longest synaptic delay.

A synapse with an axonal delay holds each spike for that many steps beyond the usual one-step hop (on Loihi 2,
a delay slot in the dendritic accumulator; lava-dl netx builds a `DelayDense` for it). The profile's
`resources.max_synaptic_delay` bounds it (docs/profiles.md). An edge whose own delay is too long is refused
naming the genome node and field; a path whose delays add up past it (several delayed edges through linear nodes,
or a recurrent edge) naming the layer. A profile that does not record the bound leaves the delays unchecked, and
the artifact says so.
"""
from __future__ import annotations

from typing import Any

from ...errors import DeployError
from ...genome import Genome
from ...genome.delays import edge_delay_steps
from ...layers import Layer
from ...profiles import HardwareProfile

#: The profile number that bounds a synapse's delay, in steps beyond the hop.
LIMIT_KEY = "resources.max_synaptic_delay"


def check_delay_limit(genome: Genome, layers: list[Layer], profile: HardwareProfile) -> list[dict[str, Any]]:
    """Refuse delays the profile's chip cannot hold (DeployError naming node and field, or layer); returns the
    compile note for a profile without the bound (none for a network without axonal delays)."""
    delayed = [(layer, p) for layer in layers for p in getattr(layer, "projections", []) if p.axonal]
    if not delayed:
        return []
    limit = profile.get(LIMIT_KEY)
    if limit is None:
        layer, p = max(delayed, key=lambda item: item[1].longest_delay)
        return [{"layer": layer.id, "variable": "delay", "message":
                 f"profile {profile.name!r} does not record the chip's longest synaptic delay ({LIMIT_KEY}): the "
                 f"axonal delays, up to {p.longest_delay - 1} steps beyond the hop, are not checked against it"}]
    where = genome.source or "<genome>"
    source = profile.quantities[LIMIT_KEY].provenance
    for k, node in enumerate(genome.nodes):
        for j, edge in enumerate(node.inputs):
            if edge.delayed and edge_delay_steps(edge) > limit:
                key = "delay" if edge.delay != 0 else "target_delay"
                raise DeployError(f"a delay of {edge_delay_steps(edge)} steps, but a synapse of profile "
                                  f"{profile.name!r} holds a spike at most {limit:g} steps beyond the hop "
                                  f"({LIMIT_KEY}; {source})", where, f"nodes[{k}] (id {node.id!r}).inputs[{j}].{key}")
    for layer, p in delayed:
        if p.longest_delay - 1 > limit:
            raise DeployError(f"layer {layer.id}: the synapses from {p.source!r} hold spikes up to "
                              f"{p.longest_delay - 1} steps beyond the hop (the delays of several edges"
                              f"{' and a recurrent edge' if p.delay > 1 else ''} add up), but profile "
                              f"{profile.name!r} holds at most {limit:g} ({LIMIT_KEY})", where, f"layer {layer.id}")
    return []


__all__ = ["LIMIT_KEY", "check_delay_limit"]
