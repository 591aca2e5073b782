"""The report's sections per hardware profile: each neuromorphic chip (placement, energy per layer),
each ANN baseline, and every number each profile gives with its source."""
from __future__ import annotations

import re
from typing import Any

from .builder import (PROFILE_DEFAULTS, DocumentBuilder, code_list, missing_keys, ordered_keys, placement_status,
                      share_suffix)
from .document import (COMPONENT_LABELS, Inline, Run, energy_unit, fmt_banded, fmt_energy, fmt_num, fmt_unit,
                       short_sha, slug)
from .plots import plot_energy_layers
from .sections_model import add_how_made, static_text


def add_chip_sections(doc: DocumentBuilder) -> None:
    """One section per neuromorphic profile: placement, energy, latency, missing numbers."""
    if not doc.chips:
        return
    doc.heading(2, "Neuromorphic profiles")
    for name, b in doc.chips.items():
        doc.heading(3, f"Profile {name}", f"profile-{slug(name)}")
        doc.bullets([[("b", "Chip: "), ("", str(b.get("chip", "unknown")))],
                     [("b", "Profile file: "), ("code", str(b.get("file", "unknown"))),
                      ("", f" (sha256 {short_sha(b.get('sha256'))})")]])
        status, reason = placement_status(b)
        placement = b.get("placement") or {}
        if status == "yes":
            doc.para(f"Fits: uses {fmt_num(placement.get('cores_used'))} of "
                     f"{fmt_num(placement.get('cores_available'))} cores.")
        elif status == "no":
            doc.para([("", "The network "), ("bad", "does not fit"), ("", f" on {name}: {reason}.")])
        else:
            doc.para(f"Placement unknown: {reason}.")
            if str(b.get("note") or "").startswith("energy"):     # why no energy, even with a placement
                doc.para(_sentence(b["note"]))
        players = placement.get("layers") or {}
        if players:
            doc.table(["Layer", "Cores", "First core", "Limited by"],
                      [[[("code", l)], fmt_num(players[l].get("cores")), fmt_num(players[l].get("first_core")),
                        [("code", str(players[l].get("limited_by")))]]
                       for l in ordered_keys(players, doc.order)], "lrrl")
        e = b.get("energy")
        if e is None:
            why = "the network does not fit" if status == "no" else "the placement is unknown"
            doc.para(f"Energy and latency not estimated: {why}; no energy chart for {name}.")
        else:
            if b.get("note") and e.get("total_pj") is None:
                doc.para(_sentence(b["note"]))
            _add_chip_energy(doc, name, e, placement)
            add_how_made(doc, name, b)
        if not _add_unknown_numbers(doc, b, (e or {}).get("unknown_profile_numbers") or []):
            doc.para("The profile gives every number of [resources], [energy] and [time].", note=True)


def _sentence(note: Any) -> str:
    """A profile's note as a sentence: capital first letter, full stop."""
    text = str(note)
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _add_chip_energy(doc: DocumentBuilder, name: str, e: dict[str, Any], placement: dict[str, Any]) -> None:
    total = e.get("total_pj")
    busiest = e.get("busiest_layer_steps") or {}
    items: list[Inline] = [
        [("b", "Energy per inference: "), ("", fmt_banded(total, "uJ", e.get("band_uj"), 1e6))],
        [("b", "Dynamic: "), ("", fmt_unit(e.get("dynamic_pj"), "uJ", 1e6) + share_suffix(e.get("dynamic_pj"), total))],
        [("b", "Static: "), ("", fmt_unit(e.get("static_pj"), "uJ", 1e6) + share_suffix(e.get("static_pj"), total)
                             + f"; {static_text(e, placement) or 'static power x latency'}")],
        [("b", "Latency: "), ("", fmt_banded(e.get("latency_ns"), "ms", e.get("latency_band_ms"), 1e6))],
    ]
    if busiest:
        runs: list[Run] = [("b", "Busiest layer "), ("", "(time steps in which it set the pace): ")]
        for i, l in enumerate(sorted(busiest, key=lambda k: (-busiest[k], k))):
            runs += [("", ", " if i else ""), ("code", l), ("", f" {busiest[l]}")]
        items.append(runs)
    doc.bullets(items)
    layers_pj = e.get("layers_pj") or {}
    if not layers_pj:
        return
    from ..model import COMPONENTS
    comps = list(COMPONENTS) + sorted({c for v in layers_pj.values() for c in v} - set(COMPONENTS))
    known = [v for l in layers_pj.values() for v in l.values() if v is not None]
    unit, scale = energy_unit(max(known) if known else 0.0)
    rows: list[list[Inline]] = []
    col_totals: list[float | None] = [0.0] * (len(comps) + 1)
    for l in ordered_keys(layers_pj, doc.order):
        vals = [layers_pj[l].get(c) for c in comps]
        row_total = None if any(v is None for v in vals) else sum(vals)
        for i, v in enumerate([*vals, row_total]):
            col_totals[i] = None if v is None or col_totals[i] is None else col_totals[i] + v
        rows.append([[("code", l)], *[fmt_unit(v, unit, scale) for v in vals], fmt_unit(row_total, unit, scale)])
    rows.append([[("b", "all layers")], *[fmt_unit(v, unit, scale) for v in col_totals]])
    doc.table(["Layer", *[COMPONENT_LABELS.get(c, c) for c in comps], "dynamic total"], rows,
              "l" + "r" * (len(comps) + 1))
    fig, unknown = plot_energy_layers(doc.plotter, name, e, doc.order)
    if fig is None:
        doc.para(f"No energy chart for {name}: every component is unknown.")
        return
    caption = f"Dynamic energy per inference of each layer on {name}, by component."
    if unknown:
        caption += f" Not drawn (unknown): {', '.join(COMPONENT_LABELS.get(c, c) for c in unknown)}."
    if e.get("static_pj") is not None:
        charged = {"per-core": "charged for the cores used"}.get(e.get("static_mode"), "chip-wide")
        caption += f" Static energy ({fmt_energy(e['static_pj'])}) is {charged} and not drawn per layer."
    doc.figure(f"energy_layers_{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}", fig,
               f"Energy per layer on {name} (per inference)", caption)


def add_baseline_section(doc: DocumentBuilder) -> None:
    """One section per ANN baseline profile: work, energy and latency of the ReLU ANN."""
    doc.heading(2, "ANN baseline")
    if not doc.baselines:
        doc.para("No baseline profile (kind = \"baseline\") was benchmarked, so there is no ANN comparison.")
        return
    doc.para("The ReLU ANN counterpart of the network on a conventional processor: MACs and 8-bit memory traffic "
             "from the genome; energy = MACs x mac_pj + (weight bytes + 2 x activation bytes) x SRAM pJ/byte "
             "+ static power x latency.", note=True)
    for name, b in doc.baselines.items():
        base = b.get("baseline") or {}
        doc.heading(3, f"Baseline {name}", f"baseline-{slug(name)}")
        total = base.get("total_pj")
        doc.bullets([
            [("b", "Processor: "), ("", str(b.get("chip", "unknown"))), ("", " ("), ("code", str(b.get("file"))),
             ("", f", sha256 {short_sha(b.get('sha256'))})")],
            [("b", "Work: "), ("", f"{fmt_num(base.get('macs'))} MACs, {fmt_num(base.get('weight_bytes'))} weight "
                                   f"bytes, {fmt_num(base.get('activation_bytes'))} activation bytes")],
            [("b", "Energy per inference: "), ("", fmt_unit(total, "uJ", 1e6) + " with on-chip weights; "
                                                + fmt_unit(base.get("total_with_dram_weights_pj"), "uJ", 1e6)
                                                + " with weights from DRAM")],
            [("b", "Dynamic / static: "), ("", fmt_unit(base.get("dynamic_pj"), "uJ", 1e6)
                                           + share_suffix(base.get("dynamic_pj"), total) + " / "
                                           + fmt_unit(base.get("static_pj"), "uJ", 1e6)
                                           + share_suffix(base.get("static_pj"), total))],
            [("b", "Latency: "), ("", fmt_unit(base.get("latency_ns"), "ms", 1e6))],
        ])
        per_node = base.get("macs_per_node") or {}
        if per_node:
            macs = sum(per_node.values()) or 1
            doc.table(["Node", "MACs", "Share"],
                      [[[("code", n)], fmt_num(v), f"{fmt_num(100 * v / macs)} %"]
                       for n, v in per_node.items()], "lrr")
        _add_unknown_numbers(doc, b, base.get("unknown_profile_numbers") or [])


def _add_unknown_numbers(doc: DocumentBuilder, block: dict[str, Any], unknown_used: list[str]) -> bool:
    """Name the unknown profile numbers an estimate needs, then the others the profile lacks; False if none."""
    if unknown_used:
        doc.para([("", "Unknown numbers this estimate needs: ")] + code_list(unknown_used) + [("", ".")])
    missing = [k for k in missing_keys(block) if k not in unknown_used]
    if missing:
        doc.para([("", ("Also not" if unknown_used else "Not") + " given by the profile (unknown): ")]
                 + code_list(missing, PROFILE_DEFAULTS) + [("", ".")], note=True)
    return bool(unknown_used or missing)


def add_profile_numbers(doc: DocumentBuilder) -> None:
    """Every number each profile gives, with its source."""
    doc.heading(2, "Profile numbers and sources")
    doc.para("Every number each profile gives, with where it comes from (a published source, or the reasoning "
             "behind an estimate). Units follow the key: pj picojoules, mw milliwatts, ns nanoseconds.", note=True)
    for name, b in doc.profiles.items():
        numbers = b.get("numbers") or {}
        doc.heading(3, f"Numbers of {name}", f"numbers-{slug(name)}")
        if not numbers:
            doc.para(f"{name} gives no numbers for [resources], [energy], [time] or [baseline]: all unknown.")
            continue
        doc.table(["Key", "Value", "Source"],
                  [[[("code", k)], _exact(q.get("value")), str(q.get("provenance", ""))]
                   for k, q in sorted(numbers.items())], "lrl")


def _exact(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:g}" if isinstance(value, float) else str(value)
