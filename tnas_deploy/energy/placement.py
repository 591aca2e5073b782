"""What placement produces (`Placement`, `LayerPlacement`) and what it works from: the chip's limits
(`ChipLimits`, from a profile's `[resources]`) and each population's neurons once split (`PlacedPopulation`).
The rules are in `mapping.py`, `splitting.py` and `layout.py` (docs/energy_mapping.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DeployError
from ..layers import Layer
from ..profiles import HardwareProfile
from .connectivity import Link


@dataclass
class LayerPlacement:
    layer: str
    cores: int
    first_core: int
    limited_by: str               # what set the core count: "neurons_per_core" | "synapse_memory_bits_per_core"
                                  # | "layers_share_cores" (packed into a shared pool) | "output_neurons"
    neurons: int = 0              # on the chip: copies and compartments included
    copies: int = 1               # most copies of one neuron (fan-out splitting); 1: none
    parts: int = 1                # most input compartments of one neuron (fan-in splitting); 1: none
    synapses: int = 0             # stored: incoming synapses x copies, plus the links into dendritic joins
    extra_cores: int = 0          # cores added by splitting (own-core layout)

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
    #: (source population, destination population) -> mean packets per spike: destination cores reached by a
    #: spike, averaged over the source neurons with a synapse into the destination; filled when the network fits
    packets: dict[tuple[str, str], float] = field(default_factory=dict)
    layers_share_cores: bool = False
    splitting: list[str] = field(default_factory=list)   # what was split and what it cost, in words

    def to_json(self) -> dict[str, Any]:
        return {"fits": self.fits, "cores_used": self.cores_used, "cores_available": self.cores_available,
                "problem": self.problem, "mesh_columns": self.mesh_columns, "mesh_assumed": self.mesh_assumed,
                "layers_share_cores": self.layers_share_cores, "splitting": list(self.splitting),
                "layers": {k: {"cores": v.cores, "first_core": v.first_core, "limited_by": v.limited_by,
                               "neurons": v.neurons, "copies": v.copies, "parts": v.parts, "synapses": v.synapses,
                               "extra_cores": v.extra_cores}
                           for k, v in self.layers.items()},
                "packets": [{"source": s, "dest": d, "packets_per_spike": p} for (s, d), p in self.packets.items()]}

    def mean_hops(self, source: str, dest: str) -> float:
        """Mean Manhattan distance on the mesh between the cores of two layers."""
        a, b = self.layers[source], self.layers[dest]
        ca = np.array([(c // self.mesh_columns, c % self.mesh_columns) for c in a.core_ids()])
        cb = np.array([(c // self.mesh_columns, c % self.mesh_columns) for c in b.core_ids()])
        return float(np.abs(ca[:, None, :] - cb[None, :, :]).sum(axis=2).mean())


@dataclass(frozen=True)
class ChipLimits:
    """The `[resources]` numbers placement uses (None: the profile does not say)."""

    neurons_per_core: float | None
    memory_bits: float | None
    cores: float | None
    chips: float
    max_fan_in: float | None
    max_fan_out: float | None
    dendritic_join: bool          # input compartments can be summed exactly (fan-in splitting is possible)
    layers_share_cores: bool      # all populations are packed into one pool (Xylo's hidden neurons)
    input_channels: float | None  # the most input channels (flat size of the network input)
    output_neurons: float | None  # the readout goes onto these (their weights are a separate matrix)


def chip_limits(profile: HardwareProfile) -> ChipLimits:
    get = profile.get
    return ChipLimits(get("resources.neurons_per_core"), get("resources.synapse_memory_bits_per_core"),
                      get("resources.cores"), get("resources.chips") or 1, get("resources.max_fan_in"),
                      get("resources.max_fan_out"), _flag(profile, "dendritic_join"),
                      _flag(profile, "layers_share_cores"), get("resources.input_channels"),
                      get("resources.output_neurons"))


def _flag(profile: HardwareProfile, key: str) -> bool:
    value = profile.get(f"resources.{key}")
    if value not in (None, 0.0, 1.0):
        raise DeployError(f"expected 1 (yes) or 0 (no), got {value:g}", profile.path, f"resources.{key}.value")
    return value == 1.0


@dataclass
class PlacedPopulation:
    """One population's neurons once split: per original neuron, its copies and compartments."""

    layer: Layer
    links: list[Link]             # the projections into it
    fan_in: np.ndarray            # all synapses into each neuron
    stored_in: np.ndarray         # those held in core memory (not in a separate input weight matrix)
    parts: np.ndarray             # input compartments (1: not split)
    compartments: np.ndarray      # parts plus the join tree (1: not split)
    copies: np.ndarray            # 1: not copied
    on_output_neurons: bool       # the readout on the chip's output neurons (`resources.output_neurons`)

    @property
    def units(self) -> np.ndarray:
        """Neurons (compartments) on the chip per original neuron."""
        return self.copies * self.compartments

    @property
    def stored(self) -> np.ndarray:
        """Synapses in memory per original neuron: each copy stores its inputs and the links into its joins."""
        return self.copies * (self.stored_in + self.compartments - 1)
