"""Fitting a profile's per-event numbers on published measurements, and the uncertainty that follows.

A calibration table (`hw_profiles/calibration/<chip>.toml`, format in docs/energy_calibration.md) lists, per
calibrated *quantity* (dynamic energy per inference, static power, chip power, time per step), the published
measurements with the activity of each measured workload, split into `fit` points and `held-out` points:

    published  ~=  sum over the profile's numbers k of  value_k x activity[feature of k] x unit factor

The `fitted` numbers are found by least squares on the fit points (relative errors, so each point weighs the
same); the `fixed` numbers are taken from the profile as they are. The profile stores the fitted values
(rounded to 4 significant digits) with `fitted = "..."`, and `check_profile` refuses a profile whose values
no longer follow from its table. Each quantity states its `band` = [low, high]: an estimate x that band is what
the measurements allow. The stated band must hold every point, fit and held-out (published / modelled inside
it), and must not be wider than those ratios rounded outward to the next 0.05: `check_profile` enforces both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import tomli

from ..errors import DeployError
from ..parsed_files import ParsedFiles
from ..profiles import HardwareProfile

#: What each kind of published number is, its unit and how one profile unit x one activity count converts to it.
MEASURES: dict[str, tuple[str, float, float]] = {
    # measures: (unit, factor for pJ or ns numbers, factor for a constant term)
    "power_mw": ("mW", 1e-9, 1.0),        # pJ x events per second -> mW; static_power_mw adds as it is
    "energy_uj": ("uJ", 1e-6, 1.0),       # pJ x events per inference -> uJ
    "step_time_us": ("us", 1e-3, 1e-3),   # ns x events per step on the busiest core -> us; barrier_ns per step
}
#: The activity count each profile number multiplies (None: a constant term, e.g. static power, the barrier).
FEATURES: dict[str, str | None] = {
    "energy.synaptic_op_pj": "effective_synaptic_events",
    "energy.neuron_update_active_pj": "active_updates",
    "energy.neuron_update_idle_pj": "idle_updates",
    "energy.spike_out_pj": "spikes",
    "energy.spike_in_core_pj": "packets",
    "energy.spike_hop_pj": "packet_hops",
    "energy.static_power_mw": None,
    "time.synaptic_op_ns": "effective_synaptic_events",
    "time.neuron_update_ns": "active_updates",
    "time.neuron_update_idle_ns": "idle_updates",
    "time.spike_out_ns": "spikes",
    "time.spike_hop_ns": "packet_hops",
    "time.barrier_ns": None,
}
COVERS = ("dynamic", "static", "total", "latency")
ROLES = ("fit", "held-out")
SIGNIFICANT_DIGITS = 4


def round_significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


@dataclass(frozen=True)
class Point:
    """One published measurement of a workload whose activity is known (published or regenerated)."""

    id: str
    role: str
    source: str
    published: float
    activity: dict[str, float]
    activity_source: str
    note: str = ""


@dataclass(frozen=True)
class Reported:
    """A validation the model's authors report and we cannot reproduce (their measured runs are unpublished)."""

    covers: str
    error_pct: float
    source: str
    note: str


@dataclass(frozen=True)
class Quantity:
    name: str
    measures: str
    covers: str
    fitted: tuple[str, ...]
    fixed: tuple[str, ...]
    points: tuple[Point, ...]
    summary: str
    band: tuple[float, float]                        # stated: [low, high] x estimate

    @property
    def unit(self) -> str:
        return MEASURES[self.measures][0]

    def coefficients(self, point: Point, keys: tuple[str, ...]) -> np.ndarray:
        """published = coefficients . values, for the given profile numbers."""
        _, per_count, per_constant = MEASURES[self.measures]
        out = []
        for key in keys:
            feature = FEATURES[key]
            out.append(per_constant if feature is None else point.activity[feature] * per_count)
        return np.array(out, dtype=np.float64)


@dataclass
class QuantityFit:
    """A quantity's fitted values, and how the model with the profile's (rounded) values meets every point."""

    quantity: Quantity
    fitted: dict[str, float]                         # unrounded least-squares values
    modelled: dict[str, float] = field(default_factory=dict)   # point id -> modelled with the profile's values
    measured_band: tuple[float, float] = (1.0, 1.0)  # range of published / modelled over every point (and 1)

    @property
    def band(self) -> tuple[float, float]:
        return self.quantity.band

    def ratio(self, point: Point) -> float:
        return point.published / self.modelled[point.id]

    def error_pct(self, point: Point) -> float:
        return (self.modelled[point.id] - point.published) / point.published * 100.0

    def worst_held_out(self) -> Point | None:
        held = [p for p in self.quantity.points if p.role == "held-out"]
        return max(held, key=lambda p: abs(self.error_pct(p))) if held else None

    def validation(self) -> dict[str, Any] | None:
        point = self.worst_held_out()
        if point is None:
            return None
        return {"kind": "held-out", "source": point.source, "published": point.published,
                "modelled": round_significant(self.modelled[point.id], 6), "unit": self.quantity.unit,
                "error_pct": round(self.error_pct(point), 2), "point": point.id,
                "note": f"{self.quantity.name}: worst of {sum(p.role == 'held-out' for p in self.quantity.points)} "
                        "held-out point(s)"}

    def fitted_on(self) -> list[dict[str, Any]]:
        return [{"source": p.source, "published": p.published, "unit": self.quantity.unit, "point": p.id}
                for p in self.quantity.points if p.role == "fit"]


@dataclass
class Calibration:
    path: Path
    chip: str
    summary: str
    quantities: tuple[Quantity, ...]
    reported: tuple[Reported, ...]

    def fit(self, profile: HardwareProfile) -> dict[str, QuantityFit]:
        """Fit every quantity; the modelled values and bands use the profile's stored (rounded) numbers."""
        return {q.name: fit_quantity(q, profile, self.path) for q in self.quantities}

    def check_profile(self, profile: HardwareProfile) -> dict[str, QuantityFit]:
        """The fits, after checking that the profile holds exactly the rounded fitted values."""
        fits = self.fit(profile)
        for fit in fits.values():
            _check_band(fit, self.path)
            for key, value in fit.fitted.items():
                stored = profile.get(key)
                if stored is None or stored != round_significant(value):
                    raise DeployError(f"{key} = {stored} but the calibration table {self.path.name} fits "
                                      f"{round_significant(value)}; write the refitted value into the profile",
                                      profile.path, key)
        return fits


def fit_quantity(quantity: Quantity, profile: HardwareProfile, path: Path) -> QuantityFit:
    fit_points = [p for p in quantity.points if p.role == "fit"]
    fixed = np.array([_profile_number(profile, k, path) for k in quantity.fixed])
    rows, targets = [], []
    for point in fit_points:
        rest = float(quantity.coefficients(point, quantity.fixed) @ fixed) if quantity.fixed else 0.0
        rows.append(quantity.coefficients(point, quantity.fitted) / point.published)
        targets.append((point.published - rest) / point.published)
    solution, *_ = np.linalg.lstsq(np.array(rows), np.array(targets), rcond=None)
    fitted = {k: float(v) for k, v in zip(quantity.fitted, solution)}
    negative = [k for k, v in fitted.items() if v < 0]
    if negative:
        raise DeployError(f"quantity {quantity.name!r}: the fit makes {negative} negative; the measurements cannot "
                          "carry these parameters", path, f"quantity.{quantity.name}.fitted")
    keys = quantity.fitted + quantity.fixed
    values = np.array([round_significant(fitted[k]) for k in quantity.fitted] + list(fixed))
    result = QuantityFit(quantity, fitted)
    for point in quantity.points:
        result.modelled[point.id] = float(quantity.coefficients(point, keys) @ values)
    ratios = [result.ratio(p) for p in quantity.points]
    result.measured_band = (min(1.0, *ratios), max(1.0, *ratios))
    return result


def outward(band: tuple[float, float], step: float = 0.05) -> tuple[float, float]:
    """A band rounded outward to multiples of `step` (the widest band a table may state for these ratios)."""
    return (math.floor(band[0] / step + 1e-9) * step, math.ceil(band[1] / step - 1e-9) * step)


def _check_band(fit: QuantityFit, path: Path) -> None:
    low, high = fit.quantity.band
    where = f"quantity.{fit.quantity.name}.band"
    for point in fit.quantity.points:
        if not low <= fit.ratio(point) <= high:
            raise DeployError(f"point {point.id!r}: published / modelled = {fit.ratio(point):.4g} lies outside the "
                              f"stated band [{low:g}, {high:g}]; widen the band or revisit the fit", path, where)
    widest = outward(fit.measured_band)
    if low < widest[0] - 1e-9 or high > widest[1] + 1e-9:
        raise DeployError(f"the stated band [{low:g}, {high:g}] is wider than the measurements allow "
                          f"([{widest[0]:.2f}, {widest[1]:.2f}] rounded outward)", path, where)


def _profile_number(profile: HardwareProfile, key: str, path: Path) -> float:
    value = profile.get(key)
    if value is None:
        raise DeployError(f"the calibration keeps {key} fixed, but the profile {profile.name} does not give it",
                          path, key)
    return value


# ---- reading the table ----------------------------------------------------------------------------------

#: Parsed tables, remembered by file content (`parsed_files`): every energy estimate on a calibrated profile reads
#: its table. Callers get copies (`_copied`).
CALIBRATION_CACHE_SIZE = 32
_tables: ParsedFiles[Calibration] = ParsedFiles(CALIBRATION_CACHE_SIZE)


def load_calibration(path: Path) -> Calibration:
    """A calibration table (`parse_calibration`), parsed once per file content."""
    return _copied(_tables.get(path, parse_calibration))


def _copied(calibration: Calibration) -> Calibration:
    """A remembered table with its own copies of everything a caller could change."""
    quantities = tuple(replace(q, points=tuple(replace(p, activity=dict(p.activity)) for p in q.points))
                       for q in calibration.quantities)
    return Calibration(calibration.path, calibration.chip, calibration.summary, quantities, calibration.reported)


def parse_calibration(path: Path) -> Calibration:
    """Read and check a calibration table (`load_calibration` remembers the result)."""
    try:
        raw = tomli.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomli.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DeployError(f"cannot read the calibration table: {exc}", path) from None
    head = raw.get("calibration")
    if not isinstance(head, dict):
        raise DeployError("expected a [calibration] table with chip and summary", path, "calibration")
    quantities = tuple(_quantity(q, path, i) for i, q in enumerate(_list(raw, "quantity", path)))
    reported = tuple(_reported(r, path, i) for i, r in enumerate(_list(raw, "reported", path)))
    if not quantities and not reported:
        raise DeployError("a calibration table needs at least one [[quantity]] or [[reported]]", path, "quantity")
    return Calibration(path, _text(head, "chip", path, "calibration"), _text(head, "summary", path, "calibration"),
                       quantities, reported)


def _list(raw: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise DeployError(f"expected [[{key}]] tables", path, key)
    return value


def _text(table: dict[str, Any], key: str, path: Path, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DeployError("expected a non-empty string", path, f"{where}.{key}")
    return value


def _number(table: dict[str, Any], key: str, path: Path, where: str, positive: bool = True) -> float:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
            positive and value <= 0):
        raise DeployError(f"expected a finite number{' > 0' if positive else ''}, got {value!r}", path,
                          f"{where}.{key}")
    return float(value)


def _quantity(q: dict[str, Any], path: Path, index: int) -> Quantity:
    where = f"quantity[{index}]"
    name = _text(q, "name", path, where)
    where = f"quantity.{name}"
    measures, covers = q.get("measures"), q.get("covers")
    if measures not in MEASURES:
        raise DeployError(f"expected one of {list(MEASURES)}, got {measures!r}", path, f"{where}.measures")
    if covers not in COVERS:
        raise DeployError(f"expected one of {list(COVERS)}, got {covers!r}", path, f"{where}.covers")
    keys: dict[str, tuple[str, ...]] = {}
    for part in ("fitted", "fixed"):
        value = q.get(part, [])
        if not isinstance(value, list) or any(k not in FEATURES for k in value):
            raise DeployError(f"expected a list of profile numbers among {sorted(FEATURES)}", path, f"{where}.{part}")
        keys[part] = tuple(value)
    if not keys["fitted"]:
        raise DeployError("a quantity fits at least one number", path, f"{where}.fitted")
    points = tuple(_point(p, path, f"{where}.point[{i}]") for i, p in enumerate(_list(q, "point", path)))
    needed = {FEATURES[k] for k in keys["fitted"] + keys["fixed"]} - {None}
    for point in points:
        absent = sorted(f for f in needed if f not in point.activity)
        if absent:
            raise DeployError(f"point {point.id!r} lacks the activity count(s) {absent}", path, f"{where}.point")
    fit_count = sum(p.role == "fit" for p in points)
    if fit_count < len(keys["fitted"]):
        raise DeployError(f"{len(keys['fitted'])} fitted number(s) need at least as many fit points, got {fit_count}",
                          path, f"{where}.point")
    band = q.get("band")
    if (not isinstance(band, list) or len(band) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                                                                 for b in band) or not 0 < band[0] <= 1 <= band[1]):
        raise DeployError("expected band = [low, high] with 0 < low <= 1 <= high (multiplies the estimate)", path,
                          f"{where}.band")
    return Quantity(name, measures, covers, keys["fitted"], keys["fixed"], points, _text(q, "summary", path, where),
                    (float(band[0]), float(band[1])))


def _point(p: dict[str, Any], path: Path, where: str) -> Point:
    role = p.get("role")
    if role not in ROLES:
        raise DeployError(f"expected one of {list(ROLES)}, got {role!r}", path, f"{where}.role")
    activity = p.get("activity")
    if not isinstance(activity, dict):
        raise DeployError("expected an inline table of activity counts", path, f"{where}.activity")
    counts = {k: _number(activity, k, path, f"{where}.activity", positive=False) for k in activity}
    return Point(_text(p, "id", path, where), role, _text(p, "source", path, where),
                 _number(p, "published", path, where), counts, _text(p, "activity_source", path, where),
                 str(p.get("note", "")))


def _reported(r: dict[str, Any], path: Path, index: int) -> Reported:
    where = f"reported[{index}]"
    covers = r.get("covers")
    if covers not in COVERS:
        raise DeployError(f"expected one of {list(COVERS)}, got {covers!r}", path, f"{where}.covers")
    return Reported(covers, _number(r, "error_pct", path, where), _text(r, "source", path, where),
                    _text(r, "note", path, where))
