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
from ..network import ConcatLayer, FlattenLayer, InputLayer, Layer, MaxPoolLayer, Projection, ReadoutLayer, TtfsLayer
from ..rate.network import CubaLayer, RateReadoutLayer
from ..refsim import SimResult


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
    return [layer for layer in net.layers
            if isinstance(layer, (TtfsLayer, MaxPoolLayer, ReadoutLayer, CubaLayer, RateReadoutLayer))]


def _spike_times(net: CompiledNetwork, result: SimResult, layer_id: str) -> np.ndarray:
    """Global spike times of any layer, views resolved to the populations behind them."""
    if layer_id in result.spike_times:
        return result.spike_times[layer_id]
    layer = net.by_id[layer_id]
    n = result.samples
    if isinstance(layer, FlattenLayer):
        return _spike_times(net, result, layer.source).reshape(n, -1)
    if isinstance(layer, ConcatLayer):
        return np.concatenate([_spike_times(net, result, s) for s in layer.sources], axis=1)
    raise KeyError(layer_id)


def _incoming(layer: Layer) -> list[Projection]:
    if isinstance(layer, (TtfsLayer, ReadoutLayer, CubaLayer, RateReadoutLayer)):
        return list(layer.projections)
    if isinstance(layer, MaxPoolLayer):
        return [Projection(layer.source, "avgpool2d", np.ones(layer.channels, dtype=np.int64), layer.kernel,
                           layer.stride)]
    return []


def measure_activity(net: CompiledNetwork, result: SimResult) -> dict[str, LayerActivity]:
    if net.coding == "rate":
        return _measure_rate_activity(net, result)
    K, total = net.steps, net.total_steps
    n = max(result.samples, 1)
    by_id = net.by_id
    populations = population_layers(net)
    consumers: dict[str, list[str]] = {layer.id: [] for layer in net.layers}
    fan_out_to: dict[str, dict[str, float]] = {layer.id: {} for layer in net.layers}
    out: dict[str, LayerActivity] = {}
    for layer in populations:
        events = np.zeros(total)
        effective = 0.0
        for proj in _incoming(layer):
            src = by_id[proj.source]
            fan = proj.fan_out(src.shape, layer.shape).reshape(-1).astype(np.float64)
            nonzero = proj.nonzero_fan_out(src.shape, layer.shape).reshape(-1).astype(np.float64)
            times = _spike_times(net, result, proj.source).reshape(result.samples, -1)
            fired = times >= 0
            t = times + proj.delay_windows * K
            events += np.bincount(t[fired], weights=np.broadcast_to(fan, times.shape)[fired],
                                  minlength=total)[:total] / n
            effective += float((fired * nonzero).sum()) / n
            for base in _populations_behind(net, proj.source):
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
            synapses=int(sum(p.fan_out(by_id[p.source].shape, layer.shape).sum() for p in _incoming(layer))),
            spikes=float(spikes_per_step.sum()), synaptic_events=float(events.sum()),
            effective_synaptic_events=effective, active_updates=float(updates.sum()),
            idle_updates=float(layer.size * total - updates.sum()), spikes_per_step=spikes_per_step,
            events_per_step=events, updates_per_step=updates, consumers=[], fan_out_to={})
    for layer_id, act in out.items():
        act.consumers = consumers.get(layer_id, [])
        act.fan_out_to = fan_out_to.get(layer_id, {})
    return out


def _populations_behind(net: CompiledNetwork, layer_id: str) -> list[str]:
    layer = net.by_id[layer_id]
    if isinstance(layer, FlattenLayer):
        return _populations_behind(net, layer.source)
    if isinstance(layer, ConcatLayer):
        return [p for s in layer.sources for p in _populations_behind(net, s)]
    if isinstance(layer, InputLayer):
        return [layer.id]
    return [layer.id]


def _measure_rate_activity(net: CompiledNetwork, result: SimResult) -> dict[str, LayerActivity]:
    """Rate networks: every population is updated at every step; spikes and events come from the rasters."""
    total = net.total_steps
    n = max(result.samples, 1)
    by_id = net.by_id
    out: dict[str, LayerActivity] = {}
    consumers: dict[str, list[str]] = {layer.id: [] for layer in net.layers}
    fan_out_to: dict[str, dict[str, float]] = {layer.id: {} for layer in net.layers}
    for layer in population_layers(net):
        events = np.zeros(total)
        effective = 0.0
        synapses = 0
        for proj in getattr(layer, "projections", []):
            src = by_id[proj.source]
            fan = proj.fan_out(src.shape, layer.shape).reshape(-1).astype(np.float64)
            nonzero = proj.nonzero_fan_out(src.shape, layer.shape).reshape(-1).astype(np.float64)
            raster = result.spike_times[proj.source].reshape(result.samples, total, -1)
            per_step = raster.astype(np.float64) @ fan                       # (samples, steps) events sent at t
            arrive = per_step.sum(axis=0)[:total - proj.delay] / n
            events[proj.delay:] += arrive
            effective += float((raster[:, :total - proj.delay].astype(np.float64) @ nonzero).sum()) / n
            synapses += int(fan.sum())
            if layer.id not in consumers[proj.source]:
                consumers[proj.source].append(layer.id)
            fan_out_to[proj.source][layer.id] = fan_out_to[proj.source].get(layer.id, 0.0) + float(fan.mean())
        spikes_per_step = np.zeros(total)
        if layer.id in result.spike_times:
            spikes_per_step = result.spike_times[layer.id].reshape(result.samples, total, -1).sum(axis=(0, 2)) / n
        updates = np.full(total, float(layer.size))
        out[layer.id] = LayerActivity(
            layer=layer.id, kind=layer.kind, neurons=layer.size, synapses=synapses,
            spikes=float(spikes_per_step.sum()), synaptic_events=float(events.sum()),
            effective_synaptic_events=effective, active_updates=float(updates.sum()), idle_updates=0.0,
            spikes_per_step=spikes_per_step, events_per_step=events, updates_per_step=updates,
            consumers=[], fan_out_to={})
    for layer_id, act in out.items():
        act.consumers = consumers.get(layer_id, [])
        act.fan_out_to = fan_out_to.get(layer_id, {})
    return out


def input_spikes(net: CompiledNetwork, result: SimResult) -> float:
    times = result.spike_times[net.layers[0].id]
    total = times.sum() if times.dtype == bool else (times >= 0).sum()
    return float(total) / max(result.samples, 1)


def neurobench_metrics(net: CompiledNetwork, result: SimResult, activity: dict[str, LayerActivity]) -> dict:
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
        "activation_sparsity_per_step": round(1.0 - spikes / (neurons * net.total_steps), 8) if neurons else None,
        "neurons": neurons,
        "synapses": int(sum(a.synapses for a in activity.values())),
        "time_steps": net.total_steps,
    }
