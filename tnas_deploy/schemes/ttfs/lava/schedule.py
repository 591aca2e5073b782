"""When each population integrates and fires inside one sample period on Lava (pure Python, no Lava import).

Lava's synapse processes (Dense, Sparse) send the input they accumulated one step later, so a spike
emitted at local step tau reaches the next population at tau + 1. The reference simulator's windows are
therefore shifted by the hops along each path:

    emit(input) = 0
    TTFS layer:  integrate from max over sources of emit(src) + 1, for K steps; emit = integrate + K
    max-pool:    listens from emit(src) + 1 and fires on arrival;             emit = emit(src) + 1
    readout:     integrates like a TTFS layer; its value is taken at the window's last step

A source whose spikes arrive earlier than the layer's other sources goes through a `SpikeDelay` of the
difference. Views (flatten, concat) are not populations: their consumers connect straight to the
populations behind them, with the weight columns split accordingly.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ....compiled import CompiledNetwork
from ..layers import ConcatLayer, FlattenLayer, InputLayer, MaxPoolLayer, ReadoutLayer, TtfsLayer
from ....layers import Layer
from ....projection import Projection, exponent_blocks


@dataclass(frozen=True)
class Segment:
    """Flat indices [start, start + size) of a view come from population `population`, in order."""

    population: str
    start: int
    size: int


@dataclass
class PopulationTiming:
    start: int          # integrate (TTFS, readout) or listen (max-pool) start within the period
    emit: int           # local step at which step 0 of its output window is emitted (-1: no output)


@dataclass
class Schedule:
    window: int                                  # K
    period: int                                  # T, steps per sample
    timing: dict[str, PopulationTiming]
    segments: dict[str, list[Segment]]           # any layer id -> where its flat indices come from
    delays: dict[tuple[str, str], int] = field(default_factory=dict)   # (consumer, source population) -> steps

    @property
    def populations(self) -> list[str]:
        return list(self.timing)


def _sources(layer: Layer) -> list[str]:
    if isinstance(layer, (TtfsLayer, ReadoutLayer)):
        return [p.source for p in layer.projections]
    if isinstance(layer, (MaxPoolLayer, FlattenLayer)):
        return [layer.source]
    if isinstance(layer, ConcatLayer):
        return list(layer.sources)
    return []


def make_schedule(net: CompiledNetwork) -> Schedule:
    K = net.steps
    timing: dict[str, PopulationTiming] = {}
    segments: dict[str, list[Segment]] = {}
    delays: dict[tuple[str, str], int] = {}
    for layer in net.layers:
        if isinstance(layer, FlattenLayer):
            segments[layer.id] = segments[layer.source]
            continue
        if isinstance(layer, ConcatLayer):
            segs: list[Segment] = []
            for src in layer.sources:
                segs.extend(segments[src])
            segments[layer.id] = segs
            continue
        segments[layer.id] = [Segment(layer.id, 0, layer.size)]
        if isinstance(layer, InputLayer):
            timing[layer.id] = PopulationTiming(start=0, emit=0)
            continue
        pops = sorted({s.population for src in _sources(layer) for s in segments[src]})
        arrive = {p: timing[p].emit + 1 for p in pops}
        start = max(arrive.values())
        for p in pops:
            if start > arrive[p]:
                delays[(layer.id, p)] = start - arrive[p]
        if isinstance(layer, MaxPoolLayer):
            timing[layer.id] = PopulationTiming(start=start, emit=start)
        elif isinstance(layer, TtfsLayer):
            timing[layer.id] = PopulationTiming(start=start, emit=start + K)
        else:
            timing[layer.id] = PopulationTiming(start=start, emit=-1)
    readout = net.readout.id
    return Schedule(window=K, period=timing[readout].start + K, timing=timing, segments=segments, delays=delays)


def neuron_shift(layer: TtfsLayer | ReadoutLayer) -> int:
    """The shift the neurons apply to their synaptic input: the layer's, or the smallest of its precision groups'
    (each synapse block's weight exponent then adds its shift above this one)."""
    return min([layer.shift] + [int(p.channel_shift.min()) for p in layer.projections if p.channel_shift is not None])


def synapse_matrices(net: CompiledNetwork, layer: TtfsLayer | ReadoutLayer | MaxPoolLayer, schedule: Schedule
                     ) -> dict[str, list[tuple[object, bool, int]]]:
    """Per source population, its synapse blocks: (integer weight-mantissa matrix (out x population size), whether
    it is dense, the block's shift above the neurons' (`neuron_shift`): its weight exponent relative to theirs).

    Projections through views are split by columns onto the populations behind the view; several projections
    from the same population add up (at the layer's shift, exactly). Without precision groups a population sends
    through one block; with them, the rows (output neurons) of each shift form a block of their own, holding
    the mantissas of those rows at their shift.
    """
    from scipy import sparse

    by_id = net.by_id
    totals: dict[str, tuple[object, bool, np.ndarray]] = {}
    if isinstance(layer, MaxPoolLayer):
        proj = Projection(layer.source, "avgpool2d", np.ones(layer.channels, dtype=np.int64), layer.kernel, layer.stride)
        projections, own, base = [proj], 0, 0
    else:
        projections, own, base = layer.projections, layer.shift, neuron_shift(layer)
    for proj in projections:
        src = by_id[proj.source]
        rows = np.broadcast_to(proj.neuron_shifts(own, layer.shape, flat=True), (layer.size,))
        m = replace(proj, weight=proj.mantissas_at(base, layer.shape, own)).matrix(src.shape, layer.shape).tocsc()
        offset = 0
        for seg in schedule.segments[proj.source]:
            part = m[:, offset:offset + seg.size]
            pop_size = by_id[seg.population].size
            if seg.start != 0 or seg.size != pop_size:
                part = sparse.hstack([sparse.csc_matrix((part.shape[0], seg.start)), part,
                                      sparse.csc_matrix((part.shape[0], pop_size - seg.start - seg.size))])
            prev = totals.get(seg.population)
            if prev is None:
                totals[seg.population] = (part, proj.kind == "dense", rows)
            else:                           # rows take the smallest shift of what adds up in them
                totals[seg.population] = (prev[0] + part, proj.kind == "dense", np.minimum(prev[2], rows))
            offset += seg.size
    return {pop: [(block, dense, shift - base) for block, shift in exponent_blocks(total.tocsr(), rows, base)]
            for pop, (total, dense, rows) in totals.items()}
