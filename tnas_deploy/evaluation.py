"""What a search loop gets back for one candidate: accuracy (WAR, UAR), per-layer spikes and synaptic events, and
energy, latency and fit on each hardware profile, as frozen dataclasses of plain types (picklable, `.to_dict()`
for JSON). `api.evaluate` and `fast_cost.estimate_cost` both return an `Evaluation`; `method` says how the
activity was obtained.

The numbers are the bench report's (`energy/bench.py`): the same activity measurement, mapping, energy model and
uncertainty bands, taken from the same profile blocks.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .compiled import CompiledNetwork
from .dataset import Dataset
from .energy.activity import LayerActivity
from .energy.bench import accuracy_block, profile_block
from .errors import DeployError
from .regression import regression_outputs
from .result import SimResult


@dataclass(frozen=True)
class LayerCost:
    """One population's activity per sample (means over the samples)."""

    kind: str
    neurons: int
    synapses: int
    spikes: float
    synaptic_events: float
    effective_synaptic_events: float


@dataclass(frozen=True)
class ProfileCost:
    """One hardware profile's verdict. `fits` None: unknown (the profile lacks the limits); `binding`: what does
    not fit (the mapper's reason) when `fits` is False. Energies in microjoules, latencies in milliseconds; a band
    is (low, high) or None when the profile has none; None values are unknown."""

    name: str
    kind: str
    fits: bool | None
    cores_used: int | None
    cores_available: int | None
    binding: str | None
    energy_uj: float | None
    energy_band_uj: tuple[float, float] | None
    dynamic_uj: float | None
    static_uj: float | None
    latency_ms: float | None
    latency_band_ms: tuple[float, float] | None
    note: str | None


@dataclass(frozen=True)
class Evaluation:
    """One candidate network on one data set. `war`/`uar` are None without labels (or for a regression readout)."""

    network: str
    method: str
    samples: int
    weights: str
    war: float | None
    uar: float | None
    spikes: float
    synaptic_events: float
    layers: dict[str, LayerCost] = field(default_factory=dict)
    profiles: dict[str, ProfileCost] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (bands as lists)."""
        return asdict(self)


#: `fast_cost.estimate_cost` returns the same type as `api.evaluate`: a search can switch between them.
CostEstimate = Evaluation


def _band(value: Any, scale: float = 1.0) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return (float(value[0]) * scale, float(value[1]) * scale)
    return None


def _scaled(value: Any, scale: float) -> float | None:
    return None if value is None else float(value) * scale


def profile_cost(block: dict[str, Any]) -> ProfileCost:
    """A bench report's profile block in plain fields."""
    if block["kind"] == "baseline":
        base = block["baseline"]
        return ProfileCost(block["name"], "baseline", None, None, None, None, _scaled(base["total_pj"], 1e-6), None,
                           _scaled(base.get("dynamic_pj"), 1e-6), _scaled(base.get("static_pj"), 1e-6),
                           _scaled(base.get("latency_ns"), 1e-6), None, block.get("note"))
    placement = block["placement"]
    energy = block["energy"] or {}
    problem = placement["problem"] or ""
    fits = True if placement["fits"] else (None if problem.startswith("unknown") or not problem else False)
    return ProfileCost(block["name"], block["kind"], fits, placement["cores_used"], placement["cores_available"],
                       problem if fits is False else None, _scaled(energy.get("total_pj"), 1e-6),
                       _band(energy.get("band_uj")), _scaled(energy.get("dynamic_pj"), 1e-6),
                       _scaled(energy.get("static_pj"), 1e-6), _scaled(energy.get("latency_ns"), 1e-6),
                       _band(energy.get("latency_band_ms")), block.get("note"))


def build_evaluation(net: CompiledNetwork, result: SimResult, activity: dict[str, LayerActivity], data: Dataset,
                     profiles: list[str], method: str, weights: str, static_mode: str = "whole-chip") -> Evaluation:
    """An `Evaluation` from a run's result and activity, with the bench report's profile blocks."""
    war = uar = None
    if data.y is not None and not regression_outputs(net):
        acc = accuracy_block(result.predictions, data.y, net.classes)
        war, uar = acc["war"], acc["uar"]
    layers = {k: LayerCost(a.kind, int(a.neurons), int(a.synapses), float(a.spikes), float(a.synaptic_events),
                           float(a.effective_synaptic_events)) for k, a in activity.items()}
    costs = {}
    for name in profiles:
        block = profile_block(net, activity, name, static_mode)
        if block["name"] in costs:
            raise DeployError(f"two profiles are named {block['name']!r}", block["file"], "profile.name")
        costs[block["name"]] = profile_cost(block)
    return Evaluation(network=net.name, method=method, samples=int(result.samples), weights=weights, war=war, uar=uar,
                      spikes=float(sum(a.spikes for a in activity.values())),
                      synaptic_events=float(sum(a.synaptic_events for a in activity.values())),
                      layers=layers, profiles=costs)
