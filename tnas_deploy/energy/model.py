"""Energy and latency per inference on a neuromorphic profile (the SANA-FE approach: counts x per-event costs).

    dynamic energy = sum over layers of
        effective synaptic events x synaptic_op_pj          (synapses with a zero weight do no work)
      + active neuron updates x neuron_update_active_pj + idle updates x neuron_update_idle_pj
      + spikes x spike_out_pj
      + spikes x sum over destination layers of packets x (spike_in_core_pj + hops x spike_hop_pj)
    static energy  = static_power_mw x share x latency      (share: 1 for the whole chip, cores used / cores per core)
    latency        = sum over time steps of (work of the busiest core + barrier_ns)
    work of a core = its layer's, in that step, divided by the layer's cores:
                     effective events x synaptic_op_ns + active updates x neuron_update_ns
                     + idle updates x neuron_update_idle_ns + spikes x (spike_out_ns + packets x hops x spike_hop_ns)

Packets per spike are the destination cores its targets lie in (`mapping.Placement.packets`), hops the mean
Manhattan distance between the two layers' cores. Neuron copies and input compartments made by the mapper
(`splitting.py`) multiply a layer's synaptic events, updates and (copies only) spikes; the packets stay one per
destination core reached. Layers packed into one shared pool (Xylo) add their work on that one core.
Chips with a fixed clock tick (`time.fixed_step_ns`, TrueNorth's 1 ms) take latency = steps x tick; chips
without steps (`time.layer_stage_ns`, Speck) take the pipeline latency of one event through the layers.
Every term whose profile number is missing is `None` (unknown) and so is every total that needs it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..profiles import HardwareProfile
from .activity import LayerActivity
from .mapping import Placement

COMPONENTS = ("synaptic", "neuron_active", "neuron_idle", "spike_out", "routing")
STATIC_MODES = ("whole-chip", "per-core")


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
    static_mode: str = "whole-chip"
    static_share: float = 1.0
    busiest_layer_steps: dict[str, int] = field(default_factory=dict)          # how often each layer was the bottleneck
    missing: list[str] = field(default_factory=list)                           # profile keys that were unknown
    assumptions: list[str] = field(default_factory=list)                       # what the model had to assume

    def to_json(self) -> dict[str, Any]:
        return {"layers_pj": self.layers, "dynamic_pj": self.dynamic_pj, "static_pj": self.static_pj,
                "total_pj": self.total_pj, "latency_ns": self.latency_ns,
                "total_uj": None if self.total_pj is None else self.total_pj / 1e6,
                "latency_ms": None if self.latency_ns is None else self.latency_ns / 1e6,
                "static_mode": self.static_mode, "static_share": self.static_share,
                "busiest_layer_steps": self.busiest_layer_steps, "unknown_profile_numbers": self.missing,
                "assumptions": self.assumptions}


@dataclass(frozen=True)
class Route:
    """Where one spike of a layer goes: packets (destination cores reached) and mean hops, per destination."""

    dest: str
    packets: float
    hops: float


@dataclass(frozen=True)
class Split:
    """How the mapper's splitting scales a layer's activity (all 1 without splitting, `splitting.py`)."""

    events: float     # synaptic events: every copy receives its neuron's inputs
    updates: float    # neuron updates: copies and input compartments update like neurons
    spikes: float     # spikes: every copy fires (compartments do not)


def split_of(act: LayerActivity, placement: Placement) -> Split:
    lp = placement.layers[act.layer]
    updates = lp.neurons / act.neurons if lp.neurons and act.neurons else 1.0
    events = lp.synapses / act.synapses if lp.synapses and act.synapses else 1.0
    return Split(events=max(1.0, events), updates=max(1.0, updates), spikes=max(1.0, updates) if lp.parts == 1 else 1.0)


def routes_of(activity: dict[str, LayerActivity], placement: Placement) -> dict[str, list[Route]]:
    return {layer_id: [Route(dest, float(placement.packets[(layer_id, dest)]), placement.mean_hops(layer_id, dest))
                       for dest in act.consumers]
            for layer_id, act in activity.items()}


def effective_share(act: LayerActivity) -> float:
    """Share of a layer's received synaptic events that pass a non-zero weight."""
    return act.effective_synaptic_events / act.synaptic_events if act.synaptic_events else 0.0


def estimate(activity: dict[str, LayerActivity], placement: Placement, profile: HardwareProfile,
             static_mode: str = "whole-chip") -> EnergyEstimate:
    if static_mode not in STATIC_MODES:
        raise ValueError(f"static_mode must be one of {STATIC_MODES}, got {static_mode!r}")
    missing: set[str] = set()
    est = EnergyEstimate(profile.name, static_mode=static_mode)
    routes = routes_of(activity, placement)
    for layer_id, act in activity.items():
        split = split_of(act, placement)
        routing = _routing_pj(act.spikes, routes[layer_id], profile, missing)
        est.layers[layer_id] = {
            "synaptic": _mul(act.effective_synaptic_events * split.events, "energy.synaptic_op_pj", profile, missing),
            "neuron_active": _mul(act.active_updates * split.updates, "energy.neuron_update_active_pj", profile,
                                  missing),
            "neuron_idle": _mul(act.idle_updates * split.updates, "energy.neuron_update_idle_pj", profile, missing),
            "spike_out": _mul(act.spikes * split.spikes, "energy.spike_out_pj", profile, missing),
            "routing": routing,
        }
    est.dynamic_pj = _sum([v for layer in est.layers.values() for v in layer.values()])
    est.latency_ns, est.busiest_layer_steps = _latency(activity, placement, profile, routes, missing)
    power = profile.get("energy.static_power_mw")
    if power is None:
        missing.add("energy.static_power_mw")
    cores = profile.get("resources.cores")
    if static_mode == "per-core":
        if cores and placement.cores_used is not None:
            chips = profile.get("resources.chips") or 1
            est.static_share = min(1.0, placement.cores_used / (cores * chips))
        else:
            est.assumptions.append("--static per-core needs resources.cores; the whole chip's static power is charged")
    if power is not None and est.latency_ns is not None:
        est.static_pj = power * est.static_share * 1e-3 * est.latency_ns * 1e-9 * 1e12
    est.total_pj = _sum([est.dynamic_pj, est.static_pj])
    est.missing = sorted(missing)
    if placement.mesh_assumed:
        est.assumptions.append(f"resources.mesh_columns unknown: hop distances assume a square mesh of "
                               f"{placement.mesh_columns} columns")
    return est


def _routing_pj(spikes: float, routes: list[Route], profile: HardwareProfile, missing: set[str]) -> float | None:
    """Packets leave once per destination core reached, whichever copy of the neuron sends them."""
    in_core, hop = profile.get("energy.spike_in_core_pj"), profile.get("energy.spike_hop_pj")
    total = 0.0
    for route in routes:
        if in_core is None or (hop is None and route.hops > 0):
            missing.update(k for k, v in (("energy.spike_in_core_pj", in_core), ("energy.spike_hop_pj", hop))
                           if v is None)
            return None
        total += spikes * route.packets * (in_core + route.hops * (hop or 0.0))
    return total


def _latency(activity: dict[str, LayerActivity], placement: Placement, profile: HardwareProfile,
             routes: dict[str, list[Route]], missing: set[str]) -> tuple[float | None, dict[str, int]]:
    tick = profile.get("time.fixed_step_ns")
    if tick is not None:                      # a clocked chip: every step takes one tick
        steps = len(next(iter(activity.values())).events_per_step) if activity else 0
        return steps * tick, {}
    stage = profile.get("time.layer_stage_ns")
    if stage is not None:                     # an asynchronous pipeline: one event through every layer
        return len(activity) * stage, {}
    keys = ("time.synaptic_op_ns", "time.neuron_update_ns", "time.neuron_update_idle_ns", "time.barrier_ns")
    values = {k: profile.get(k) for k in keys}
    spike_out_ns = profile.get("time.spike_out_ns") or 0.0
    hop_ns = profile.get("time.spike_hop_ns")
    needs_hops = any(r.hops > 0 for rs in routes.values() for r in rs)
    unknown = [k for k, v in values.items() if v is None] + (["time.spike_hop_ns"] if needs_hops and hop_ns is None
                                                              else [])
    if unknown:
        missing.update(unknown)
        return None, {}
    names = list(activity)
    work = []
    for layer_id in names:
        act = activity[layer_id]
        split = split_of(act, placement)
        # layers sharing one pool (Xylo) are processed by the same core one after the other
        cores = 1 if placement.layers_share_cores else placement.layers[layer_id].cores
        per_spike = split.spikes * spike_out_ns + sum(r.packets * r.hops for r in routes[layer_id]) * (hop_ns or 0.0)
        idle_per_step = np.clip(act.neurons - act.updates_per_step, 0, None) if act.idle_updates else 0.0
        per_step = (act.events_per_step * effective_share(act) * split.events * values["time.synaptic_op_ns"]
                    + act.updates_per_step * split.updates * values["time.neuron_update_ns"]
                    + idle_per_step * split.updates * values["time.neuron_update_idle_ns"]
                    + act.spikes_per_step * per_spike) / cores
        work.append(np.broadcast_to(per_step, act.events_per_step.shape))
    work_arr = np.stack(work)                                   # (layers, steps)
    if placement.layers_share_cores:
        work_arr = work_arr.sum(axis=0, keepdims=True)
        names = ["shared pool"]
    busiest = work_arr.max(axis=0)
    latency = float((busiest + values["time.barrier_ns"]).sum())
    winners = np.argmax(work_arr, axis=0)[busiest > 0]
    counts = {names[i]: int(c) for i, c in zip(*np.unique(winners, return_counts=True))}
    return latency, counts
