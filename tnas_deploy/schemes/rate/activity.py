"""Activity of a rate run per population and time step, for the energy model (conventions in `energy/activity.py`)."""
from __future__ import annotations

import numpy as np

from ...compiled import CompiledNetwork
from ...energy.activity import LayerActivity, link_consumers, population_layers
from ...result import SimResult


def measure_activity(net: CompiledNetwork, result: SimResult) -> dict[str, LayerActivity]:
    """Rate networks: every population is updated at every step; spikes and events come from the rasters."""
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
        for proj in layer.incoming():
            src = by_id[proj.source]
            raster = result.spike_times[proj.source].reshape(result.samples, total, -1)
            # events land at the step they arrive: one hop later, plus any axonal delay (per neuron, if so)
            for delay, part_fan, part_nonzero in proj.fan_out_by_arrival(src.shape, layer.shape):
                if delay >= total:
                    continue                                                 # arrives after the run
                part_fan = part_fan.reshape(-1).astype(np.float64)
                per_step = raster.astype(np.float64) @ part_fan              # (samples, steps) events sent at t
                arrive = per_step.sum(axis=0)[:total - delay] / n
                events[delay:] += arrive
                effective += float((raster[:, :total - delay].astype(np.float64)
                                    @ part_nonzero.reshape(-1).astype(np.float64)).sum()) / n
            fan = proj.fan_out(src.shape, layer.shape).reshape(-1).astype(np.float64)
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
    return link_consumers(out, consumers, fan_out_to)
