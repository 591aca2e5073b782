"""Place each neuron population onto cores under a profile's limits.

A layer takes as many cores as its tightest limit asks for: neurons per core, and synapse memory per
core at the artifact's weight width (each core stores the incoming synapses of its neurons). A neuron's
fan-in and fan-out must fit the per-neuron limits, which no split can fix. Layers get consecutive
cores, laid out row by row on a mesh of `mesh_columns` columns; the input is injected by the host.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..compiled import CompiledNetwork
from ..profiles import HardwareProfile
from ..layers import populations_behind
from .activity import LayerActivity, population_layers


@dataclass
class LayerPlacement:
    layer: str
    cores: int
    first_core: int
    limited_by: str               # the limit that set the core count: "neurons_per_core" | "synapse_memory_bits_per_core"

    def core_ids(self) -> range:
        return range(self.first_core, self.first_core + self.cores)


@dataclass
class Placement:
    profile: str
    fits: bool
    layers: dict[str, LayerPlacement] = field(default_factory=dict)
    cores_used: int | None = None
    cores_available: int | None = None
    problem: str | None = None    # which limit is broken and by how much; or what is unknown
    mesh_columns: int = 1
    mesh_assumed: bool = False    # the profile gives no mesh_columns: a square mesh is assumed

    def to_json(self) -> dict[str, Any]:
        return {"fits": self.fits, "cores_used": self.cores_used, "cores_available": self.cores_available,
                "problem": self.problem, "mesh_columns": self.mesh_columns, "mesh_assumed": self.mesh_assumed,
                "layers": {k: {"cores": v.cores, "first_core": v.first_core, "limited_by": v.limited_by}
                           for k, v in self.layers.items()}}

    def mean_hops(self, source: str, dest: str) -> float:
        """Mean Manhattan distance on the mesh between the cores of two layers."""
        a, b = self.layers[source], self.layers[dest]
        ca = np.array([(c // self.mesh_columns, c % self.mesh_columns) for c in a.core_ids()])
        cb = np.array([(c // self.mesh_columns, c % self.mesh_columns) for c in b.core_ids()])
        return float(np.abs(ca[:, None, :] - cb[None, :, :]).sum(axis=2).mean())


def place(net: CompiledNetwork, activity: dict[str, LayerActivity], profile: HardwareProfile,
          max_fan_in: dict[str, int], max_fan_out: dict[str, int]) -> Placement:
    npc = profile.get("resources.neurons_per_core")
    mem = profile.get("resources.synapse_memory_bits_per_core")
    cores = profile.get("resources.cores")
    chips = profile.get("resources.chips") or 1
    mesh_known = profile.get("resources.mesh_columns") is not None
    columns = int(profile.get("resources.mesh_columns") or max(1, math.isqrt(int(cores or 1))))
    if npc is None and mem is None:
        return Placement(profile.name, fits=False, problem="unknown: the profile gives neither "
                         "resources.neurons_per_core nor resources.synapse_memory_bits_per_core", mesh_columns=columns)
    weight_bits = net.fmt.weight_bits
    placement = Placement(profile.name, fits=True, mesh_columns=columns, mesh_assumed=not mesh_known)
    next_core = 0
    for layer_id, act in activity.items():
        by_neurons = math.ceil(act.neurons / npc) if npc else 0
        by_memory = math.ceil(act.synapses * weight_bits / mem) if mem else 0
        n_cores = max(1, by_neurons, by_memory)
        limited = "synapse_memory_bits_per_core" if by_memory > by_neurons else "neurons_per_core"
        placement.layers[layer_id] = LayerPlacement(layer_id, n_cores, next_core, limited)
        next_core += n_cores
    placement.cores_used = next_core
    fan_in_limit = profile.get("resources.max_fan_in")
    fan_out_limit = profile.get("resources.max_fan_out")
    problems = []
    for layer_id, fan_in in max_fan_in.items():
        if fan_in_limit is not None and fan_in > fan_in_limit:
            problems.append(f"layer {layer_id}: fan-in {fan_in} exceeds resources.max_fan_in {fan_in_limit:.0f} "
                            f"(by {fan_in - fan_in_limit:.0f})")
    for layer_id, fan_out in max_fan_out.items():
        if layer_id not in activity:     # the input: spikes come from the host
            continue
        if fan_out_limit is not None and fan_out > fan_out_limit:
            problems.append(f"layer {layer_id}: fan-out {fan_out} exceeds resources.max_fan_out {fan_out_limit:.0f} "
                            f"(by {fan_out - fan_out_limit:.0f})")
    if cores is not None:
        placement.cores_available = int(cores * chips)
        if next_core > placement.cores_available:
            problems.append(f"needs {next_core} cores, the profile has {placement.cores_available} "
                            f"({int(cores)} per chip x {int(chips)} chip(s)): {next_core - placement.cores_available} "
                            "too many")
    if problems:
        placement.fits = False
        placement.problem = "; ".join(problems)
    return placement


def fan_limits(net: CompiledNetwork) -> tuple[dict[str, int], dict[str, int]]:
    """Largest fan-in per population and largest fan-out per source population (synapses per neuron)."""
    by_id = net.by_id
    fan_in: dict[str, int] = {}
    fan_out: dict[str, int] = {}
    for layer in population_layers(net):
        total_in = 0
        for proj in layer.incoming():
            src = by_id[proj.source]
            total_in += proj.fan_in(src.shape)
            per_source = int(proj.fan_out(src.shape, layer.shape).max())
            for base in populations_behind(by_id, proj.source):
                fan_out[base] = fan_out.get(base, 0) + per_source
        fan_in[layer.id] = total_in
    return fan_in, fan_out
