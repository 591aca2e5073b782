"""Activity of a TTFS run per population and time step, for the energy model (conventions in `energy/activity.py`).

A TTFS neuron is updated during the window it integrates and the window it fires in; a max-pool listens
during its source's window; the readout integrates during its own. Spike times are global steps.

How it is counted: each population's spikes once, as a (neuron x step) table of counts over the samples
(`spike_table`; a TTFS population spikes within one window, so the table is K steps wide), then the synaptic
events a projection delivers per step are that table times the fan-out of each neuron. Every sum is a sum of
integers (exact in float64 below 2**53), so the numbers are those of counting spike by spike, in any order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...compiled import CompiledNetwork
from ...energy.activity import LayerActivity, link_consumers, population_layers
from ...layers import populations_behind
from ...projection import Projection, Shape
from ...result import SimResult
from .bounds import total_steps
from .layers import ConcatLayer, FlattenLayer, TtfsLayer

#: Fan-outs of window projections (conv2d, avgpool2d) by geometry: they depend on shapes only, not on weights,
#: and a search evaluates many candidates of the same shapes. Bounded; the arrays are read-only.
FAN_OUT_CACHE_SIZE = 256
_fan_out_cache: dict[tuple, np.ndarray] = {}


def spike_times_behind(net: CompiledNetwork, result: SimResult, layer_id: str) -> np.ndarray:
    """Global spike times of any layer, views resolved to the populations behind them."""
    if layer_id in result.spike_times:
        return result.spike_times[layer_id]
    layer = net.by_id[layer_id]
    n = result.samples
    if isinstance(layer, FlattenLayer):
        return spike_times_behind(net, result, layer.source).reshape(n, -1)
    if isinstance(layer, ConcatLayer):
        return np.concatenate([spike_times_behind(net, result, s) for s in layer.sources], axis=1)
    raise KeyError(layer_id)


def fan_out(proj: Projection, source_shape: Shape, out_shape: Shape) -> np.ndarray:
    """`Projection.fan_out`, remembered by geometry for window projections (read-only)."""
    if proj.kind not in ("conv2d", "avgpool2d"):
        return proj.fan_out(source_shape, out_shape)
    key = (proj.kind, tuple(proj.kernel), tuple(proj.stride), tuple(proj.padding), tuple(source_shape),
           tuple(out_shape))
    fan = _fan_out_cache.get(key)
    if fan is None:
        fan = proj.fan_out(source_shape, out_shape)
        fan.setflags(write=False)
        if len(_fan_out_cache) >= FAN_OUT_CACHE_SIZE:
            _fan_out_cache.clear()
        _fan_out_cache[key] = fan
    return fan


#: A population's spike table is dense (neurons x steps) while it holds at most this many cells per spike time
#: read (a TTFS population spikes within one window, so it is K steps wide); else it keeps the spikes' (step,
#: neuron) pairs, so that few samples of a large network with many steps never allocate neurons x steps.
DENSE_CELLS_PER_TIME = 4


@dataclass(frozen=True)
class SpikeTable:
    """A population's spikes over the samples, at global steps `first` .. `first + width - 1`: `counts[j, c]`
    spikes of neuron j at step `first + c` (dense), or one (`step`, `neuron`) pair per spike."""

    first: int
    width: int
    neurons: int
    counts: np.ndarray | None = None      # (neurons, width) int64
    step: np.ndarray | None = None        # per spike: step - first
    neuron: np.ndarray | None = None      # per spike: the neuron

    def per_step(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Per step (int64): the spikes, or the sum of `weights[j]` (integers) over the spikes of neurons j."""
        if self.counts is not None:
            return self.counts.sum(axis=0) if weights is None else self.counts.T @ weights
        if weights is None:
            return np.bincount(self.step, minlength=self.width)
        # float64 sums of integers are exact below 2**53
        return np.rint(np.bincount(self.step, weights=weights[self.neuron], minlength=self.width)).astype(np.int64)

    def fired(self) -> np.ndarray:
        """Spikes of each neuron over the samples (int64)."""
        if self.counts is not None:
            return self.counts.sum(axis=1)
        return np.bincount(self.neuron, minlength=self.neurons)


def spike_table(times: np.ndarray) -> SpikeTable:
    """The spikes per neuron and step of spike times (samples, ...) (-1 = none)."""
    flat = np.ascontiguousarray(times.reshape(times.shape[0], -1), dtype=np.int64)
    neurons = flat.shape[1]
    last = int(flat.max(initial=-1))
    if last < 0:
        return SpikeTable(0, 0, neurons, counts=np.zeros((neurons, 0), dtype=np.int64))
    first = int(flat.view(np.uint64).min())      # -1 (no spike) is the largest uint64: the earliest spike step
    width = last - first + 1
    if neurons * (width + 1) > DENSE_CELLS_PER_TIME * flat.size:
        _, neuron = np.nonzero(flat >= 0)
        return SpikeTable(first, width, neurons, step=flat[flat >= 0] - first, neuron=neuron)
    # column 0 holds the samples without a spike, columns 1.. the steps first..first + width - 1
    cell = flat - (first - 1)
    np.maximum(cell, 0, out=cell)
    cell += (width + 1) * np.arange(neurons, dtype=np.int64)
    counts = np.bincount(cell.reshape(-1), minlength=neurons * (width + 1)).reshape(neurons, width + 1)
    return SpikeTable(first, width, neurons, counts=counts[:, 1:])


def measure_activity(net: CompiledNetwork, result: SimResult) -> dict[str, LayerActivity]:
    K, total = net.steps, total_steps(net)
    n = max(result.samples, 1)
    by_id = net.by_id
    populations = population_layers(net)
    consumers: dict[str, list[str]] = {layer.id: [] for layer in net.layers}
    fan_out_to: dict[str, dict[str, float]] = {layer.id: {} for layer in net.layers}
    tables: dict[str, SpikeTable] = {}

    def table(population: str) -> SpikeTable:
        if population not in tables:
            tables[population] = spike_table(spike_times_behind(net, result, population))
        return tables[population]

    out: dict[str, LayerActivity] = {}
    for layer in populations:
        events = np.zeros(total)
        effective = 0.0
        for proj in layer.incoming():
            src = by_id[proj.source]
            fan = fan_out(proj, src.shape, layer.shape).reshape(-1).astype(np.int64)
            nonzero = proj.nonzero_fan_out(src.shape, layer.shape).reshape(-1).astype(np.int64)
            received = np.zeros(total, dtype=np.int64)
            reached = 0
            offset = 0
            for base in populations_behind(by_id, proj.source):
                size = by_id[base].size
                spikes = table(base)
                start = spikes.first + proj.delay_windows * K
                delivered = spikes.per_step(fan[offset:offset + size])       # per step, integers
                keep = max(0, min(len(delivered), total - start))
                received[start:start + keep] += delivered[:keep]
                reached += int(spikes.fired() @ nonzero[offset:offset + size])
                offset += size
            events += received.astype(np.float64) / n
            effective += float(reached) / n
            mean_fan = float(fan.astype(np.float64).mean()) if fan.size else 0.0
            for base in populations_behind(net.by_id, proj.source):
                if layer.id not in consumers[base]:
                    consumers[base].append(layer.id)
                fan_out_to[base][layer.id] = fan_out_to[base].get(layer.id, 0.0) + mean_fan
        spikes_per_step = np.zeros(total)
        if layer.id in result.spike_times:
            own = table(layer.id)
            counts = np.zeros(total, dtype=np.int64)
            per_step = own.per_step()
            keep = max(0, min(len(per_step), total - own.first))
            counts[own.first:own.first + keep] = per_step[:keep]
            spikes_per_step = counts / n
        updates = np.zeros(total)
        if isinstance(layer, TtfsLayer):
            start = (layer.window - 1) * K           # integrate window (sources' window), then its own
            updates[start:start + 2 * K] = layer.size
        else:              # max-pool listens during its source's window; the readout integrates during its own
            start = layer.window * K
            updates[start:start + K] = layer.size
        out[layer.id] = LayerActivity(
            layer=layer.id, kind=layer.kind, neurons=layer.size,
            synapses=int(sum(fan_out(p, by_id[p.source].shape, layer.shape).sum() for p in layer.incoming())),
            spikes=float(spikes_per_step.sum()), synaptic_events=float(events.sum()),
            effective_synaptic_events=effective, active_updates=float(updates.sum()),
            idle_updates=float(layer.size * total - updates.sum()), spikes_per_step=spikes_per_step,
            events_per_step=events, updates_per_step=updates, consumers=[], fan_out_to={})
    return link_consumers(out, consumers, fan_out_to)
