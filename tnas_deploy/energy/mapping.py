"""Place each neuron population onto cores under a profile's limits, the way a chip's toolchain would
(docs/energy_mapping.md).

1. Split (`splitting.py`): a neuron whose fan-out passes `max_fan_out` is copied; one whose fan-in passes
   `max_fan_in` gets input compartments and a dendritic join, only on chips with `resources.dendritic_join = 1`
   (elsewhere no exact split exists and the network does not fit).
2. Lay out (`layout.py`): every population on its own consecutive cores, its neurons in flat (C, H, W) order in
   contiguous blocks of ceil(neurons / cores) per core, a neuron's copies and compartments on its core; or, on
   chips whose layers share cores (`resources.layers_share_cores = 1`, Xylo), all packed into one pool, the
   readout on the chip's output neurons (`resources.output_neurons`) and the network input against its input
   channels (`resources.input_channels`). Cores are laid out row by row on a mesh of `mesh_columns` columns;
   the input is injected by the host.
3. Count packets: for each (source, destination) pair of populations, the mean over source neurons with a
   synapse into the destination of the distinct destination cores their targets lie in.

"Does not fit" is reported only for what splitting cannot fix, naming the resource and by how much.

A placement depends on the network's structure (with its precision groups) and the profile's numbers, not on
the weight values or the activity: `place` remembers the last few by a key of exactly what it reads
(`structure_key`), so evaluating one network again (other data, other profile lists) places it once.
"""
from __future__ import annotations

import copy
import hashlib
import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from ..compiled import CompiledNetwork
from ..projection import Projection, expand_per_channel
from ..profiles import HardwareProfile
from .activity import LayerActivity
from .connectivity import Link, core_pairs, in_degree, links_into, mean_distinct_cores
from .layout import lay_out
from .placement import ChipLimits, LayerPlacement, PlacedPopulation, Placement, chip_limits
from .splitting import fan_out_copies, input_compartments

__all__ = ["LayerPlacement", "Placement", "packets_per_spike", "place"]


#: Placements by `structure_key`, most recent last; callers get deep copies.
PLACEMENT_CACHE_SIZE = 16
_placements: OrderedDict[tuple[Any, ...], Placement] = OrderedDict()
_placements_lock = threading.Lock()


def place(net: CompiledNetwork, activity: dict[str, LayerActivity], profile: HardwareProfile) -> Placement:
    """Place the populations measured in `activity` (docs/energy_mapping.md); every neuron's fan-in and fan-out
    come from `net`'s projections."""
    key = structure_key(net, list(activity), profile)
    with _placements_lock:
        placement = _placements.get(key)
        if placement is not None:
            _placements.move_to_end(key)
    if placement is None:
        placement = place_populations(net, list(activity), profile)
        with _placements_lock:
            _placements[key] = placement
            if len(_placements) > PLACEMENT_CACHE_SIZE:
                _placements.popitem(last=False)
    return copy.deepcopy(placement)


def forget_placements() -> None:
    """Drop the remembered placements (a benchmark measuring a first placement calls this)."""
    with _placements_lock:
        _placements.clear()


def structure_key(net: CompiledNetwork, layer_ids: list[str], profile: HardwareProfile) -> tuple[Any, ...]:
    """Everything `place_populations` reads: the profile's name, file and numbers, the weight width, the input and
    readout, and per population its size and the geometry of each projection into it (kind, shapes, kernel,
    stride, padding, precision groups, a sparse map's structure, the populations behind its source)."""
    by_id = net.by_id
    network_input = net.layers[0]
    layers = []
    for layer_id in layer_ids:
        layer = by_id[layer_id]
        links = tuple((link.proj.source, link.proj.kind, link.src_shape, link.dst_shape, link.segments,
                       tuple(link.proj.kernel), tuple(link.proj.stride), tuple(link.proj.padding),
                       _array_key(link.proj.channel_shift), _weight_structure(link.proj))
                      for link in links_into(by_id, layer))
        layers.append((layer_id, layer.size, tuple(layer.shape), links))
    return (profile.name, str(profile.path), tuple(sorted(profile.quantities.items())),
            getattr(net.fmt, "weight_bits", None),
            network_input.id, network_input.size, net.readout.id, tuple(layers))


def _array_key(values: Any) -> tuple[Any, ...] | None:
    if values is None:
        return None
    arr = np.ascontiguousarray(values)
    return (arr.dtype.str, arr.shape, hashlib.sha256(arr.tobytes()).hexdigest())


def _weight_structure(proj: Projection) -> tuple[Any, ...]:
    """What placement reads of the weights: a sparse map's synapses (not their values), else the shape."""
    if proj.kind == "sparse":
        m = proj.weight.tocsr()
        return (m.shape, _array_key(m.indptr), _array_key(m.indices))
    return tuple(np.shape(proj.weight))


def place_populations(net: CompiledNetwork, layer_ids: list[str], profile: HardwareProfile) -> Placement:
    """`place` without remembering: the populations `layer_ids` of `net` on `profile`."""
    limits = chip_limits(profile)
    mesh_known = profile.get("resources.mesh_columns") is not None
    columns = int(profile.get("resources.mesh_columns") or max(1, math.isqrt(int(limits.cores or 1))))
    if limits.neurons_per_core is None and limits.memory_bits is None:
        return Placement(profile.name, fits=False, problem="unknown: the profile gives neither "
                         "resources.neurons_per_core nor resources.synapse_memory_bits_per_core", mesh_columns=columns)
    placement = Placement(profile.name, fits=True, mesh_columns=columns, mesh_assumed=not mesh_known,
                          layers_share_cores=limits.layers_share_cores)
    problems: list[str] = []
    pops = split_populations(net, layer_ids, limits, problems)
    core_of = lay_out(pops, limits, net.fmt.weight_bits, placement, problems)
    placement.splitting = _splitting_notes(pops, placement, limits)
    if problems:
        placement.fits = False
        placement.problem = "; ".join(problems)
        return placement
    placement.packets = packets_per_spike(pops, core_of)
    return placement


def split_populations(net: CompiledNetwork, layer_ids: list[str], limits: ChipLimits, problems: list[str]
                      ) -> list[PlacedPopulation]:
    """Each population's neurons split to fit `max_fan_in` and `max_fan_out` where an exact split exists; what
    cannot be split (and the input channels) goes to `problems`."""
    by_id = net.by_id
    ids = set(layer_ids)
    network_input = net.layers[0]
    if limits.input_channels is not None and network_input.size > limits.input_channels:
        problems.append(f"the input {network_input.id} has {network_input.size} channels, the profile has "
                        f"{limits.input_channels:.0f} input channels (resources.input_channels): "
                        f"{network_input.size - limits.input_channels:.0f} too many; splitting cannot help")
    readout = net.readout.id if limits.output_neurons is not None and net.readout.id in ids else None
    pops = []
    for layer_id in layer_ids:
        layer = by_id[layer_id]
        links = links_into(by_id, layer)
        fan_in = sum((in_degree(link) for link in links), np.zeros(layer.size, dtype=np.int64))
        # with input channels, the synapses from the network input sit in their own input weight matrix
        from_host = [link for link in links if not any(s.population in ids for s in link.segments)]
        stored_in = fan_in - sum((in_degree(link) for link in from_host), np.zeros(layer.size, dtype=np.int64)) \
            if limits.input_channels is not None else fan_in
        parts, compartments = _input_split(layer_id, fan_in, limits, problems)
        pops.append(PlacedPopulation(layer, links, fan_in, stored_in, parts, compartments,
                                     np.ones(layer.size, dtype=np.int64), layer_id == readout))
    # with output neurons, the readout's synapses sit in their own output weight matrix: no fan-out there
    counted = [link for pop in pops if not pop.on_output_neurons for link in pop.links]
    limit = limits.max_fan_out
    fan_out = fan_out_copies({p.layer.id: p.layer.size for p in pops}, counted,
                             None if limit is None or limit < 1 else int(limit))
    for pop in pops:
        pop.copies = fan_out.copies[pop.layer.id]
        worst = int(fan_out.plain_fan_out[pop.layer.id].max(initial=0))
        if limit is not None and limit < 1 and worst > 0:
            problems.append(f"layer {pop.layer.id}: fan-out {worst} exceeds resources.max_fan_out {limit:.0f}; "
                            "splitting cannot help")
        elif pop.layer.id in fan_out.unsettled:
            over = "exceeds" if worst > limit else "grows past"
            problems.append(f"layer {pop.layer.id}: fan-out {worst} {over} resources.max_fan_out {limit:.0f} and "
                            "copying cannot settle it: its targets lie in a recurrent loop where every copy adds "
                            "fan-out; splitting cannot help")
    return pops


def _input_split(layer_id: str, fan_in: np.ndarray, limits: ChipLimits, problems: list[str]
                 ) -> tuple[np.ndarray, np.ndarray]:
    ones = np.ones(len(fan_in), dtype=np.int64)
    limit = limits.max_fan_in
    worst = int(fan_in.max(initial=0))
    if limit is None or worst <= limit:
        return ones, ones
    if limits.dendritic_join and limit >= 2:
        return input_compartments(fan_in, int(limit))
    why = ("a join of at most one input sums nothing" if limits.dendritic_join
           else "no exact split exists without a dendritic join (resources.dendritic_join)")
    problems.append(f"layer {layer_id}: fan-in {worst} exceeds resources.max_fan_in {limit:.0f} "
                    f"(by {worst - limit:.0f}) and {why}")
    return ones, ones


def packets_per_spike(pops: list[PlacedPopulation], core_of: dict[str, np.ndarray]) -> dict[tuple[str, str], float]:
    """(source, destination) -> mean destination cores reached per spike, over the source neurons with a synapse
    into the destination. Copies do not change it: a copied neuron's copies share its targets core by core, so
    each destination core reached still gets one packet per spike."""
    sizes = {p.layer.id: p.layer.size for p in pops}
    groups: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
    for pop in pops:
        for link in pop.links:
            senders = [s for s in link.segments if s.population in sizes]
            if not senders:                  # from the host
                continue
            src, core = core_pairs(link, synapse_block_cores(link, core_of[pop.layer.id]))
            for seg in senders:
                mine = (src >= seg.offset) & (src < seg.offset + seg.size)
                groups.setdefault((seg.population, pop.layer.id), []).append((src[mine] - seg.offset, core[mine]))
    out = {}
    for (source, dest), pairs in groups.items():
        mean = mean_distinct_cores(pairs, sizes[source])
        if mean is not None:
            out[(source, dest)] = mean
    return out


def synapse_block_cores(link: Link, dest_core: np.ndarray) -> np.ndarray:
    """Each destination neuron's (synapse block, core) as one number, for counting packets. A projection with
    precision groups is one synapse block per weight exponent (its own synapse process on Lava) and a spike sends
    one packet to each block on each core it reaches; without groups the block is the projection: its core."""
    shifts = link.proj.channel_shift
    if shifts is None:
        return dest_core
    block = expand_per_channel(np.unique(shifts, return_inverse=True)[1], link.dst_shape).reshape(-1)
    return block * (int(dest_core.max(initial=0)) + 1) + dest_core


def _splitting_notes(pops: list[PlacedPopulation], placement: Placement, limits: ChipLimits) -> list[str]:
    notes = []
    for pop in pops:
        for link in pop.links:
            if link.proj.channel_shift is not None:
                notes.append(f"layer {pop.layer.id}: the synapses from {link.proj.source} are "
                             f"{len(np.unique(link.proj.channel_shift))} synapse blocks (precision groups with their "
                             "own weight exponents): a spike sends a packet to each block on each core it reaches")
        lid, layer = pop.layer.id, placement.layers.get(pop.layer.id)
        cost = ""
        if layer is not None:
            cost = (f": {int(pop.units.sum()) - pop.layer.size} more neurons, "
                    f"{int(pop.stored.sum() - pop.stored_in.sum())} more stored synapses"
                    + (f", {layer.extra_cores} more core(s)" if layer.extra_cores else ""))
        copied = int((pop.copies > 1).sum())
        if copied:
            notes.append(f"layer {lid}: {copied} neuron(s) copied (up to {int(pop.copies.max())} copies each) for "
                         f"resources.max_fan_out {limits.max_fan_out:.0f}" + cost)
        split = int((pop.parts > 1).sum())
        if split:
            notes.append(f"layer {lid}: {split} neuron(s) split into up to {int(pop.parts.max())} input compartments "
                         f"and a dendritic join for fan-in {int(pop.fan_in.max())} (resources.max_fan_in "
                         f"{limits.max_fan_in:.0f})" + ("" if copied else cost))
    return notes
