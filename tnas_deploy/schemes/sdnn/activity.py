"""Activity of a sigma-delta run per population and time step, for the energy model (conventions in
`energy/activity.py`).

A graded spike counts as one spike and, at each of its synaptic targets, one synaptic event (the energy model
prices events, not payload bits: docs/sdnn.md, "Energy"). Graded synapses deliver one step after the spike; a
max-pool takes its source's payloads in the same step. Every neuron is updated at every step of the run.
"""
from __future__ import annotations

import numpy as np

from ...compiled import CompiledNetwork
from ...energy.activity import LayerActivity, link_consumers, population_layers
from ...result import SimResult
from .layers import SdnnFlattenLayer, SdnnMaxPoolLayer, SdnnReadoutLayer


def sends(net: CompiledNetwork, result: SimResult, layer_id: str) -> np.ndarray:
    """Whether each neuron of a layer (views resolved) sent a graded spike at each step: (N, steps, size) bool."""
    layer = net.by_id[layer_id]
    if isinstance(layer, SdnnFlattenLayer):
        return sends(net, result, layer.source)
    payloads = result.spike_times[layer_id]
    return (payloads != 0).reshape(payloads.shape[0], payloads.shape[1], -1)


def measure_activity(net: CompiledNetwork, result: SimResult) -> dict[str, LayerActivity]:
    total = net.run_steps
    n = max(result.samples, 1)
    by_id = net.by_id
    out: dict[str, LayerActivity] = {}
    consumers: dict[str, list[str]] = {layer.id: [] for layer in net.layers}
    fan_out_to: dict[str, dict[str, float]] = {layer.id: {} for layer in net.layers}
    for layer in population_layers(net):
        events = np.zeros(total)
        effective = 0.0
        synapses = 0
        hop = 0 if isinstance(layer, SdnnMaxPoolLayer) else 1
        for proj in layer.incoming():
            src_shape = by_id[proj.source].shape
            sent = sends(net, result, proj.source).astype(np.float64)          # (N, steps, source size)
            fan = proj.fan_out(src_shape, layer.shape).reshape(-1).astype(np.float64)
            nonzero = proj.nonzero_fan_out(src_shape, layer.shape).reshape(-1).astype(np.float64)
            per_step = (sent @ fan).sum(axis=0) / n                             # events caused by step t's spikes
            events[hop:] += per_step[:total - hop]
            effective += float((sent[:, :total - hop] @ nonzero).sum()) / n
            synapses += int(fan.sum())
            if layer.id not in consumers[proj.source]:
                consumers[proj.source].append(layer.id)
            fan_out_to[proj.source][layer.id] = fan_out_to[proj.source].get(layer.id, 0.0) + float(fan.mean())
        if isinstance(layer, SdnnReadoutLayer):
            spikes_per_step = np.zeros(total)      # its deltas go nowhere: the host reads act
        else:
            spikes_per_step = sends(net, result, layer.id).sum(axis=(0, 2)) / n
        updates = np.full(total, float(layer.size))
        out[layer.id] = LayerActivity(
            layer=layer.id, kind=layer.kind, neurons=layer.size, synapses=synapses,
            spikes=float(spikes_per_step.sum()), synaptic_events=float(events.sum()),
            effective_synaptic_events=effective, active_updates=float(updates.sum()), idle_updates=0.0,
            spikes_per_step=spikes_per_step.astype(np.float64), events_per_step=events, updates_per_step=updates,
            consumers=[], fan_out_to={})
    return link_consumers(out, consumers, fan_out_to)
