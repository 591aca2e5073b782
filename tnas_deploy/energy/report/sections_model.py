"""How each neuromorphic estimate was made, for the report: its uncertainty band, the published measurements
its model was fitted on, its validation against a published point, and how the chip's static power is
charged (the whole chip, as measured, or the share of the cores used).

Reads the fields `bench.py` writes into a profile's `energy` block: `band_uj`, `latency_band_ms`,
`static_mode`, `static_share`, `validation`, `latency_validation`, `fitted_on` and `model` (`summary`,
`calibration`, `band_rule`). Any of them may be missing (a report of an earlier version) or None (no band,
nothing to check against); the text then says so, or leaves the part out, and never invents a number.
"""
from __future__ import annotations

from typing import Any

from .builder import DocumentBuilder
from .document import Inline, Run, fmt_band, fmt_banded, fmt_num, fmt_pct, fmt_signed_pct, fmt_unit, slug

#: What each kind of validation means, as the report says it.
VALIDATION_KINDS = {"held-out": "held-out: a published measurement not used in the fit",
                    "reported-by-authors": "reported by the model's authors, not re-checked here",
                    "bound": "a published bound, not a point measurement"}
#: The same, short, for the summary's one line per profile.
VALIDATION_SHORT = {"held-out": "held-out", "reported-by-authors": "as its authors report",
                    "bound": "a published bound"}
#: How each `--static` mode charges the chip's static power.
STATIC_MODE_TEXT = {"whole-chip": "the whole chip's static power x latency, as measured",
                    "per-core": "static power x latency x cores used / cores on chip, for a power-gated or shared "
                                "chip"}


def static_text(energy: dict[str, Any], placement: dict[str, Any]) -> str:
    """How the static part was charged, e.g. "per core: static power x latency x cores used / cores on chip
    = 4.69 % (6 of 128 cores)"; empty when the report does not say."""
    mode = energy.get("static_mode")
    if mode is None:
        return ""
    share = energy.get("static_share")
    if mode == "whole-chip":
        text = "whole chip, as measured: the chip's static power x latency"
        return text if share is None or share == 1 else f"{text} x {fmt_pct(share)}"
    text = "per core: static power x latency x cores used / cores on chip" if mode == "per-core" else str(mode)
    if share is None:
        return text
    used, available = placement.get("cores_used"), placement.get("cores_available")
    cores = f" ({fmt_num(used)} of {fmt_num(available)} cores)" if mode == "per-core" and used is not None else ""
    return f"{text} = {fmt_pct(share)}{cores}"


def fmt_error(check: dict[str, Any]) -> str:
    """A validation's error: signed for a point the model was run on ("-1.90 %"), "within +-12 %" for an error
    its authors report without the published and modelled numbers."""
    error = check.get("error_pct")
    if check.get("published") is None and check.get("modelled") is None and error is not None:
        return f"within +-{fmt_num(abs(error))} %"
    return fmt_signed_pct(error)


def validation_runs(check: dict[str, Any] | None) -> list[Run]:
    """One validation as text: source, published against modelled (when the report has them), error, kind
    and note."""
    if not check:
        return [("", "no published measurement to check against")]
    unit = str(check.get("unit") or "")
    runs: list[Run] = [("", f"{check.get('source', 'unknown source')}: ")]
    if check.get("published") is not None or check.get("modelled") is not None:
        runs.append(("", f"published {fmt_unit(check.get('published'), unit)}, modelled "
                         f"{fmt_unit(check.get('modelled'), unit)}, "))
    runs += [("", "error "), ("b", fmt_error(check))]
    kind = check.get("kind")
    if kind:
        runs.append(("", f" ({VALIDATION_KINDS.get(kind, kind)})"))
    if check.get("note"):
        runs.append(("", f"; {check['note']}"))
    return runs


def validation_summary(name: str, energy: dict[str, Any]) -> Inline | None:
    """A one-line note for the summary: the error of each validation and a link to the profile's section,
    which names the sources; None when the profile was not checked against anything."""
    checks = [(what, energy.get(key)) for what, key in (("energy", "validation"), ("latency", "latency_validation"))]
    checks = [(what, c) for what, c in checks if c]
    if not checks:
        return None
    runs: list[Run] = [("code", name), ("", ": checked against published measurements: ")]
    for i, (what, c) in enumerate(checks):
        kind = c.get("kind")
        runs.append(("", ("; " if i else "") + f"{what} error {fmt_error(c)}"
                     + (f" ({VALIDATION_SHORT.get(kind, kind)})" if kind else "")))
    runs += [("", " (sources: "), (f"link:#profile-{slug(name)}", f"profile {name}"), ("", ").")]
    return runs


def add_how_made(doc: DocumentBuilder, name: str, block: dict[str, Any]) -> None:
    """The "How this number was made" subsection of a profile: model, fit, validation, band, static power.
    Nothing when the energy block carries no `model` (a report of an earlier version)."""
    energy = block.get("energy") or {}
    model = energy.get("model")
    if not isinstance(model, dict):
        return
    doc.heading(4, "How this number was made", f"how-{slug(name)}")
    if model.get("summary"):
        doc.para(str(model["summary"]))
    fitted = [(what, f) for what, key in (("energy", "fitted_on"), ("latency", "latency_fitted_on"))
              for f in energy.get(key) or [] if isinstance(f, dict)]
    calibration: list[Run] = [("", " Measurement table: "), ("code", str(model["calibration"])), ("", ".")] \
        if model.get("calibration") else []
    if fitted:
        doc.para([("b", "Fitted on "), ("", f"{len(fitted)} published measurement{'s' if len(fitted) > 1 else ''}"
                                            ".")] + calibration)
        doc.table(["Source", "Published", "Fits"],
                  [[str(f.get("source", "unknown source")), fmt_unit(f.get("published"), str(f.get("unit") or "")),
                    what] for what, f in fitted], "lrl")
    else:
        doc.para([("b", "Fitted on: "), ("", "no published measurement; the profile's numbers are used as they "
                                             "are (their sources are listed under Profile numbers and sources).")]
                 + calibration)
    doc.para([("b", "Validation")])
    shown = [energy.get("validation"), energy.get("latency_validation")]
    seen = {_check_key(v) for v in shown if v}
    others = [v for v in energy.get("validations") or [] if isinstance(v, dict) and _check_key(v) not in seen]
    doc.bullets([[("b", "Energy: ")] + validation_runs(shown[0]), [("b", "Latency: ")] + validation_runs(shown[1])]
                + [[("b", "Also: ")] + validation_runs(v) for v in others])
    bands = [f"{what} {fmt_banded(energy.get(value), unit, energy.get(band))}"
             + ("" if fmt_band(energy.get(band)) else " (no band)")
             for what, value, band, unit in (("energy", "total_uj", "band_uj", "uJ"),
                                             ("latency", "latency_ms", "latency_band_ms", "ms"))]
    band_rule = model.get("band_rule")
    doc.para([("b", "Band: "), ("", "; ".join(bands) + "." + (f" Rule: {band_rule}" if band_rule else ""))])
    static = static_text(energy, block.get("placement") or {})
    if static:
        doc.para([("b", "Static part: "), ("", static + ". Dynamic and static energy are estimated and shown apart; "
                                                  "the band is on their sum.")])


def _check_key(check: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two validations the same check (their notes may differ)."""
    return tuple(str(check.get(k)) for k in ("source", "kind", "published", "modelled", "error_pct"))
