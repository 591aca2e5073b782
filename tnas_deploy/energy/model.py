"""Energy and latency per inference on a neuromorphic profile (the SANA-FE approach).

    dynamic energy = sum over layers of
        synaptic events x synaptic_op_pj
      + active neuron updates x neuron_update_active_pj + idle updates x neuron_update_idle_pj
      + spikes x sum over destination layers of packets x (spike_in_core_pj + mean hops x spike_hop_pj)
    static energy  = static_power_mw x latency
    latency        = sum over time steps of (work of the busiest core + barrier_ns)
    work of a core = its layer's (events x synaptic_op_ns + updates x neuron_update_ns
                     + packets x mean hops x spike_hop_ns) in that step / the layer's cores

Packets per spike: one per destination core holding targets of the spike, estimated as
min(destination cores, max(1, ceil(mean fan-out into that layer / its neurons per core))).
Chips with a fixed clock tick (`time.fixed_step_ns`, TrueNorth's 1 ms) take latency = steps x tick.
Every term whose profile number is missing is `None` (unknown) and so is every total that needs it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..profiles import HardwareProfile
from .activity import LayerActivity
from .mapping import Placement

COMPONENTS = ("synaptic", "neuron_active", "neuron_idle", "routing")


def _mul(count: float, key: str, profile: HardwareProfile, missing: set[str]) -> float | None:
    value = profile.get(key)
    if value is None:
        missing.add(key)
        return None
    return count * value


def _sum(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else float(sum(values))  # type: ignore[arg-type]


@dataclass
class EnergyEstimate:
    profile: str
    layers: dict[str, dict[str, float | None]] = field(default_factory=dict)   # pJ per inference
    dynamic_pj: float | None = None
    static_pj: float | None = None
    total_pj: float | None = None
    latency_ns: float | None = None
    busiest_layer_steps: dict[str, int] = field(default_factory=dict)          # how often each layer was the bottleneck
    missing: list[str] = field(default_factory=list)                           # profile keys that were unknown
    assumptions: list[str] = field(default_factory=list)                       # what the model had to assume

    def to_json(self) -> dict[str, Any]:
        return {"layers_pj": self.layers, "dynamic_pj": self.dynamic_pj, "static_pj": self.static_pj,
                "total_pj": self.total_pj, "latency_ns": self.latency_ns,
                "total_uj": None if self.total_pj is None else self.total_pj / 1e6,
                "latency_ms": None if self.latency_ns is None else self.latency_ns / 1e6,
                "busiest_layer_steps": self.busiest_layer_steps, "unknown_profile_numbers": self.missing,
                "assumptions": self.assumptions}


def _packets(act: LayerActivity, dest: LayerActivity, placement: Placement) -> float:
    cores = placement.layers[dest.layer].cores
    per_core = max(1.0, dest.neurons / cores)
    return float(min(cores, max(1, math.ceil(act.fan_out_to.get(dest.layer, 0.0) / per_core))))


def estimate(activity: dict[str, LayerActivity], placement: Placement, profile: HardwareProfile) -> EnergyEstimate:
    missing: set[str] = set()
    est = EnergyEstimate(profile.name)
    routes: dict[str, list[tuple[float, float]]] = {}    # layer -> [(packets per spike, mean hops)]
    for layer_id, act in activity.items():
        route = []
        for dest in act.consumers:
            route.append((_packets(act, activity[dest], placement), placement.mean_hops(layer_id, dest)))
        routes[layer_id] = route
        in_core = profile.get("energy.spike_in_core_pj")
        hop = profile.get("energy.spike_hop_pj")
        routing: float | None = 0.0
        for packets, hops in route:
            if in_core is None or (hop is None and hops > 0):
                missing.update(k for k, v in (("energy.spike_in_core_pj", in_core), ("energy.spike_hop_pj", hop))
                               if v is None)
                routing = None
                break
            routing += act.spikes * packets * (in_core + hops * (hop or 0.0))
        est.layers[layer_id] = {
            "synaptic": _mul(act.synaptic_events, "energy.synaptic_op_pj", profile, missing),
            "neuron_active": _mul(act.active_updates, "energy.neuron_update_active_pj", profile, missing),
            "neuron_idle": _mul(act.idle_updates, "energy.neuron_update_idle_pj", profile, missing),
            "routing": routing,
        }
    est.dynamic_pj = _sum([v for layer in est.layers.values() for v in layer.values()])
    est.latency_ns, est.busiest_layer_steps = _latency(activity, placement, profile, routes, missing)
    power = profile.get("energy.static_power_mw")
    if power is None:
        missing.add("energy.static_power_mw")
    if power is not None and est.latency_ns is not None:
        est.static_pj = power * 1e-3 * est.latency_ns * 1e-9 * 1e12
    est.total_pj = _sum([est.dynamic_pj, est.static_pj])
    est.missing = sorted(missing)
    if placement.mesh_assumed:
        est.assumptions.append(f"resources.mesh_columns unknown: hop distances assume a square mesh of "
                               f"{placement.mesh_columns} columns")
    return est


def _latency(activity: dict[str, LayerActivity], placement: Placement, profile: HardwareProfile,
             routes: dict[str, list[tuple[float, float]]], missing: set[str]) -> tuple[float | None, dict[str, int]]:
    tick = profile.get("time.fixed_step_ns")
    if tick is not None:                      # a clocked chip: every step takes one tick
        steps = len(next(iter(activity.values())).events_per_step) if activity else 0
        return steps * tick, {}
    keys = ("time.synaptic_op_ns", "time.neuron_update_ns", "time.barrier_ns")
    values = {k: profile.get(k) for k in keys}
    hop_ns = profile.get("time.spike_hop_ns")
    needs_hops = any(h > 0 for r in routes.values() for _, h in r)
    unknown = [k for k, v in values.items() if v is None] + (["time.spike_hop_ns"] if needs_hops and hop_ns is None
                                                              else [])
    if unknown:
        missing.update(unknown)
        return None, {}
    names = list(activity)
    work = []
    for layer_id in names:
        act = activity[layer_id]
        cores = placement.layers[layer_id].cores
        hop_work = sum(p * h for p, h in routes[layer_id]) * (hop_ns or 0.0)
        per_step = (act.events_per_step * values["time.synaptic_op_ns"]
                    + act.updates_per_step * values["time.neuron_update_ns"]
                    + act.spikes_per_step * hop_work) / cores
        work.append(per_step)
    work_arr = np.stack(work)                                   # (layers, steps)
    busiest = work_arr.max(axis=0)
    latency = float((busiest + values["time.barrier_ns"]).sum())
    winners = np.argmax(work_arr, axis=0)[busiest > 0]
    counts = {names[i]: int(c) for i, c in zip(*np.unique(winners, return_counts=True))}
    return latency, counts
