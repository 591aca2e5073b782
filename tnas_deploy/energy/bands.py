"""Uncertainty of an estimate: bands, validation and fit sources from a profile's calibration (report.json fields).

Each calibrated part of an estimate (dynamic energy, static power, total power, latency) carries a
multiplicative band from its calibration (`calibration.QuantityFit.band`) or from a validation its model's
authors report (x (1 +- error)). The total energy band combines the parts it is made of:

    total band = dynamic x [d_lo, d_hi] + static power x [s_lo, s_hi] x latency x [t_lo, t_hi] / latency
    (or total x [lo, hi] when the calibration measured total power)

A part without a band counts as exact inside a band made by other parts; with no calibrated part at all the
estimate has no band (`None`), and the report says it was not validated.
"""
from __future__ import annotations

from typing import Any

from ..profiles import HardwareProfile
from .calibration import Calibration, QuantityFit, Reported, load_calibration

UNCALIBRATED = ("per-event numbers as the profile gives them; no published measurement of this chip was used to fit "
                "or check them, so the estimate has no band")


def uncertainty(profile: HardwareProfile, energy: dict[str, Any]) -> dict[str, Any]:
    """The report fields that say how far an estimate can be trusted (see docs/energy.md)."""
    if profile.calibration is None:
        return {"band_uj": None, "latency_band_ms": None, "validation": None, "latency_validation": None,
                "fitted_on": [], "latency_fitted_on": [], "validations": [],
                "model": {"summary": UNCALIBRATED, "calibration": None, "band_rule": "no band: not validated"}}
    calibration = load_calibration(profile.calibration)
    fits = calibration.check_profile(profile)
    factors = _factors(calibration, fits)
    validations = [v for f in fits.values() if (v := f.validation()) is not None] + [
        {**_reported(r), "note": f"{r.covers}: {r.note}"} for r in calibration.reported]
    return {
        "band_uj": _total_band(energy, factors),
        "latency_band_ms": _scaled(energy.get("latency_ms"), factors.get("latency")),
        "validation": _worst(fits, calibration, ("dynamic", "total", "static")),
        "latency_validation": _worst(fits, calibration, ("latency",)),
        "fitted_on": [p for f in fits.values() if f.quantity.covers != "latency" for p in f.fitted_on()],
        "latency_fitted_on": [p for f in fits.values() if f.quantity.covers == "latency" for p in f.fitted_on()],
        "validations": validations,
        "model": {"summary": " ".join([calibration.summary] + [f.quantity.summary for f in fits.values()]),
                  "calibration": _display_path(profile, calibration),
                  "band_rule": _band_rule(fits, calibration)},
    }


def _factors(calibration: Calibration, fits: dict[str, QuantityFit]) -> dict[str, tuple[float, float]]:
    """The widest band per part of the estimate."""
    out: dict[str, tuple[float, float]] = {}

    def widen(part: str, band: tuple[float, float]) -> None:
        low, high = out.get(part, (1.0, 1.0))
        out[part] = (min(low, band[0]), max(high, band[1]))

    for fit in fits.values():
        widen(fit.quantity.covers, fit.band)
    for reported in calibration.reported:
        widen(reported.covers, (1 - reported.error_pct / 100, 1 + reported.error_pct / 100))
    return out


def _scaled(value: float | None, factor: tuple[float, float] | None) -> list[float] | None:
    if value is None or factor is None:
        return None
    return [value * factor[0], value * factor[1]]


def _total_band(energy: dict[str, Any], factors: dict[str, tuple[float, float]]) -> list[float] | None:
    if energy.get("total_uj") is None or not factors:
        return None
    if "total" in factors:
        return _scaled(energy["total_uj"], factors["total"])
    dyn, static = energy["dynamic_pj"] / 1e6, energy["static_pj"] / 1e6
    d, s, t = (factors.get(k, (1.0, 1.0)) for k in ("dynamic", "static", "latency"))
    return [dyn * d[0] + static * s[0] * t[0], dyn * d[1] + static * s[1] * t[1]]


def _worst(fits: dict[str, QuantityFit], calibration: Calibration, parts: tuple[str, ...]) -> dict[str, Any] | None:
    """The held-out point with the largest error among the parts, else the authors' reported validation."""
    held = [v for f in fits.values() if f.quantity.covers in parts and (v := f.validation()) is not None]
    if held:
        return max(held, key=lambda v: abs(v["error_pct"]))
    for r in calibration.reported:
        if r.covers in parts:
            return _reported(r)
    return None


def _reported(r: Reported) -> dict[str, Any]:
    """A validation its model's authors report: an error, but no published or modelled figure of ours."""
    return {"kind": "reported-by-authors", "source": r.source, "published": None, "modelled": None, "unit": None,
            "error_pct": r.error_pct, "note": r.note}


def _band_rule(fits: dict[str, QuantityFit], calibration: Calibration) -> str:
    parts = [f"{f.quantity.covers} x [{f.band[0]:.3g}, {f.band[1]:.3g}]: published / modelled over the "
             f"{len(f.quantity.points)} measurements of {f.quantity.name} (fit and held-out)" for f in fits.values()]
    parts += [f"{r.covers} x [{1 - r.error_pct / 100:.3g}, {1 + r.error_pct / 100:.3g}]: the error its authors report "
              f"({r.source})" for r in calibration.reported]
    return "; ".join(parts)


def _display_path(profile: HardwareProfile, calibration: Calibration) -> str:
    """The table's path as the profile names it (relative, so reports do not depend on the checkout's location)."""
    table = profile.raw.get("calibration", {}).get("table", calibration.path.name)
    return f"{profile.path.parent.name}/{table}"
