"""Where the split populations go (docs/energy_mapping.md): each population on its own consecutive cores, or all
packed into one shared pool; the readout on the chip's output neurons when it has some. Gives every population's
core per neuron (flat (C, H, W) order) and fills the `Placement`'s layers and core counts."""
from __future__ import annotations

import math

import numpy as np

from .placement import ChipLimits, LayerPlacement, PlacedPopulation, Placement


def lay_out(pops: list[PlacedPopulation], limits: ChipLimits, weight_bits: int, placement: Placement,
            problems: list[str]) -> dict[str, np.ndarray]:
    """The core of every neuron of every population; the limits broken are added to `problems`."""
    core_of: dict[str, np.ndarray] = {}
    next_slot = 0                       # shared pool: neurons (or bits) taken so far
    next_core = 0                       # own cores: the next free core
    for pop in pops:
        lid = pop.layer.id
        if pop.on_output_neurons:
            core_of[lid] = np.zeros(pop.layer.size, dtype=np.int64)
            placement.layers[lid] = _layer(pop, 1, 0, "output_neurons")
            _check_output_neurons(pop, limits, problems)
        elif limits.layers_share_cores:
            core_of[lid], placement.layers[lid], next_slot = _packed(pop, limits, weight_bits, next_slot)
        else:
            core_of[lid], placement.layers[lid] = _own_cores(pop, limits, weight_bits, next_core, problems)
            next_core += placement.layers[lid].cores
    if limits.layers_share_cores:
        per_core = limits.neurons_per_core or limits.memory_bits
        placement.cores_used = max(1, math.ceil(next_slot / per_core))
        _check_pool(pops, limits, weight_bits, problems)
    else:
        placement.cores_used = next_core
    if limits.cores is not None:
        placement.cores_available = int(limits.cores * limits.chips)
        if not limits.layers_share_cores and next_core > placement.cores_available:
            added = sum(layer.extra_cores for layer in placement.layers.values())
            problems.append(f"needs {next_core} cores, the profile has {placement.cores_available} "
                            f"({int(limits.cores)} per chip x {int(limits.chips)} chip(s)): "
                            f"{next_core - placement.cores_available} too many"
                            + (f" ({added} of them added by splitting neurons)" if added else ""))
    return core_of


def _layer(pop: PlacedPopulation, cores: int, first: int, limited_by: str, extra_cores: int = 0) -> LayerPlacement:
    return LayerPlacement(pop.layer.id, cores, first, limited_by, neurons=int(pop.units.sum()),
                          copies=int(pop.copies.max()), parts=int(pop.parts.max()), synapses=int(pop.stored.sum()),
                          extra_cores=extra_cores)


def _own_cores(pop: PlacedPopulation, limits: ChipLimits, weight_bits: int, first: int,
               problems: list[str]) -> tuple[np.ndarray, LayerPlacement]:
    """Contiguous blocks of ceil(neurons / cores) neurons per core, with as few cores as keep every block within
    neurons_per_core (copies and compartments counted) and synapse_memory_bits_per_core."""
    npc, mem, lid = limits.neurons_per_core, limits.memory_bits, pop.layer.id
    units, bits = pop.units, pop.stored * weight_bits
    cores = blocks_needed(units, bits, npc, mem)
    by_neurons = blocks_needed(units, None, npc, None)
    if cores is None:                   # one neuron alone is over a core's limit
        if npc and units.max() > npc:
            problems.append(f"layer {lid}: one neuron with its copies and compartments needs {int(units.max())} "
                            f"neurons on one core, resources.neurons_per_core is {npc:.0f}: "
                            f"{int(units.max() - npc)} too many")
        else:
            problems.append(f"layer {lid}: one neuron's synapses need {int(bits.max())} bits on one core, "
                            f"resources.synapse_memory_bits_per_core is {mem:.0f}: {int(bits.max() - mem)} too many")
        cores = max(1, math.ceil(units.sum() / npc) if npc else 1, math.ceil(bits.sum() / mem) if mem else 1)
    plain = blocks_needed(np.ones_like(units), pop.stored_in * weight_bits, npc, mem)
    limited = "synapse_memory_bits_per_core" if by_neurons is None or cores > by_neurons else "neurons_per_core"
    block = -(-len(units) // cores)
    layer = _layer(pop, cores, first, limited, max(0, cores - plain) if plain else 0)
    return first + np.arange(len(units), dtype=np.int64) // block, layer


def blocks_needed(units: np.ndarray, bits: np.ndarray | None, npc: float | None, mem: float | None) -> int | None:
    """The fewest cores c such that contiguous blocks of ceil(n / c) neurons each hold at most `npc` units and
    `mem` bits (a limit that is None does not bind); None if even one neuron per core is too much."""
    n = len(units)
    bound = [1] + ([math.ceil(units.sum() / npc)] if npc else []) + (
        [math.ceil(bits.sum() / mem)] if mem and bits is not None else [])
    cores = max(bound)
    while cores <= n:
        block = -(-n // cores)
        starts = np.arange(0, n, block)
        if ((not npc or np.add.reduceat(units, starts).max() <= npc)
                and (not mem or bits is None or np.add.reduceat(bits, starts).max() <= mem)):
            return cores
        if block == 1:
            return None
        cores = -(-n // (block - 1))          # the fewest cores with a smaller block
    return None


def _packed(pop: PlacedPopulation, limits: ChipLimits, weight_bits: int, offset: int
            ) -> tuple[np.ndarray, LayerPlacement, int]:
    """The population's neurons (copies and compartments) take the next slots of the shared pool."""
    measure = pop.units if limits.neurons_per_core else pop.stored * weight_bits
    per_core = limits.neurons_per_core or limits.memory_bits
    starts = offset + np.cumsum(measure) - measure
    core = (starts // per_core).astype(np.int64)
    end = offset + int(measure.sum())
    first, last = int(offset // per_core), int(max(offset, end - 1) // per_core)
    layer = _layer(pop, last - first + 1, first, "layers_share_cores")
    return core, layer, end


def _check_pool(pops: list[PlacedPopulation], limits: ChipLimits, weight_bits: int, problems: list[str]) -> None:
    """The packed populations against the pool: neurons_per_core x cores x chips neurons, and as many cores'
    synapse memory."""
    packed = [p for p in pops if not p.on_output_neurons]
    if limits.cores is None or not packed:
        return
    cores = limits.cores * limits.chips
    where = f"{int(limits.cores)} core(s) x {int(limits.chips)} chip(s)"
    if limits.neurons_per_core:
        needed, capacity = sum(int(p.units.sum()) for p in packed), int(limits.neurons_per_core * cores)
        added = needed - sum(p.layer.size for p in packed)
        if needed > capacity:
            problems.append(f"the populations packed into the shared pool (resources.layers_share_cores) need "
                            f"{needed} neurons" + (f" ({added} of them copies or compartments from splitting)"
                                                   if added else "")
                            + f", the profile has {capacity} ({limits.neurons_per_core:.0f} per core x {where}): "
                            f"{needed - capacity} too many")
    if limits.memory_bits:
        needed, capacity = sum(int(p.stored.sum()) * weight_bits for p in packed), int(limits.memory_bits * cores)
        if needed > capacity:
            problems.append(f"the shared pool's synapses need {needed} bits, the profile has {capacity} "
                            f"({limits.memory_bits:.0f} bits per core x {where}): {needed - capacity} too many")


def _check_output_neurons(pop: PlacedPopulation, limits: ChipLimits, problems: list[str]) -> None:
    needed = int(pop.units.sum())
    if needed > limits.output_neurons:
        problems.append(f"the readout {pop.layer.id} has {needed} neurons, the profile has "
                        f"{limits.output_neurons:.0f} output neurons (resources.output_neurons): "
                        f"{needed - limits.output_neurons:.0f} too many; splitting cannot help")
