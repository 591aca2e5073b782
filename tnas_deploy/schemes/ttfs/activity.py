"""Activity of a TTFS run per population and time step, for the energy model (conventions in `energy/activity.py`).

A TTFS neuron is updated during the window it integrates and the window it fires in; a max-pool listens
during its source's window; the readout integrates during its own. Spike times are global steps.
"""
from __future__ import annotations

import numpy as np

from ...compiled import CompiledNetwork
from ...energy.activity import LayerActivity, link_consumers, population_layers
from ...layers import populations_behind
from ...result import SimResult
from .bounds import total_steps
from .layers import ConcatLayer, FlattenLayer, TtfsLayer


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


def measure_activity(net: CompiledNetwork, result: SimResult) -> dict[str, LayerActivity]:
    K, total = net.steps, total_steps(net)
    n = max(result.samples, 1)
    by_id = net.by_id
    populations = population_layers(net)
    consumers: dict[str, list[str]] = {layer.id: [] for layer in net.layers}
    fan_out_to: dict[str, dict[str, float]] = {layer.id: {} for layer in net.layers}
    out: dict[str, LayerActivity] = {}
    for layer in populations:
        events = np.zeros(total)
        effective = 0.0
        for proj in layer.incoming():
            src = by_id[proj.source]
            fan = proj.fan_out(src.shape, layer.shape).reshape(-1).astype(np.float64)
            nonzero = proj.nonzero_fan_out(src.shape, layer.shape).reshape(-1).astype(np.float64)
            times = spike_times_behind(net, result, proj.source).reshape(result.samples, -1)
            fired = times >= 0
            t = times + proj.delay_windows * K
            events += np.bincount(t[fired], weights=np.broadcast_to(fan, times.shape)[fired],
                                  minlength=total)[:total] / n
            effective += float((fired * nonzero).sum()) / n
            for base in populations_behind(net.by_id, proj.source):
                if layer.id not in consumers[base]:
                    consumers[base].append(layer.id)
                fan_out_to[base][layer.id] = fan_out_to[base].get(layer.id, 0.0) + (float(fan.mean()) if fan.size
                                                                                      else 0.0)
        spikes_per_step = np.zeros(total)
        if layer.id in result.spike_times:
            times = result.spike_times[layer.id].reshape(result.samples, -1)
            spikes_per_step = np.bincount(times[times >= 0], minlength=total)[:total] / n
        updates = np.zeros(total)
        if isinstance(layer, TtfsLayer):
            start = (layer.window - 1) * K           # integrate window (sources' window), then its own
            updates[start:start + 2 * K] = layer.size
        else:              # max-pool listens during its source's window; the readout integrates during its own
            start = layer.window * K
            updates[start:start + K] = layer.size
        out[layer.id] = LayerActivity(
            layer=layer.id, kind=layer.kind, neurons=layer.size,
            synapses=int(sum(p.fan_out(by_id[p.source].shape, layer.shape).sum() for p in layer.incoming())),
            spikes=float(spikes_per_step.sum()), synaptic_events=float(events.sum()),
            effective_synaptic_events=effective, active_updates=float(updates.sum()),
            idle_updates=float(layer.size * total - updates.sum()), spikes_per_step=spikes_per_step,
            events_per_step=events, updates_per_step=updates, consumers=[], fan_out_to={})
    return link_consumers(out, consumers, fan_out_to)
