"""The report's opening: the header (what was benchmarked, with which inputs) and the energy, latency and
cores summary of every profile, with the comparison charts."""
from __future__ import annotations

from typing import Any

from .builder import DocumentBuilder, code_list, placement_status, share_suffix
from .document import Inline, Run, band_pair, fmt_band, fmt_banded, fmt_num, fmt_unit, short_sha
from .plots import KIND_COLORS, KIND_LEGEND, HBar, plot_cores, plot_hbar
from .sections_model import STATIC_MODE_TEXT, validation_summary


def add_header(doc: DocumentBuilder) -> None:
    """The title block: network, artifact, data, backend, tool, provenance and inputs."""
    r = doc.report
    art, data = r.get("artifact") or {}, r.get("data") or {}
    items: list[Inline] = [
        [("b", "Network: "), ("code", str(r.get("network", "unknown")))],
        [("b", "Artifact: "), ("code", str(art.get("path", "unknown"))),
         ("", f" (sha256 {short_sha(art.get('sha256'))})")],
        [("b", "Compiled for: "), ("code", str(art.get("compiled_for", "unknown"))),
         ("", f" ({fmt_num(art.get('steps_per_window'))} steps per window, "
              f"{fmt_num(art.get('total_steps'))} time steps per inference)")],
        [("b", "Data: "), ("code", str(data.get("path", "unknown"))),
         ("", f" (sha256 {short_sha(data.get('sha256'))}): {fmt_num(data.get('samples'))} samples, "
              + ("labelled" if data.get("labelled") else "no labels"))],
        [("b", "Backend: "), ("", str(r.get("backend", "unknown")))],
        [("b", "Tool: "), ("", f"tnas-deploy {r.get('tool_version', 'unknown')} (report "
                               f"{r.get('format', 'unknown')} v{r.get('version', '?')})")],
    ]
    prov = r.get("provenance") or {}
    if prov:
        runs: list[Run] = [("b", "Provenance: ")]
        for i, (k, v) in enumerate(sorted(prov.items())):
            runs += [("", "; " if i else ""), ("em", str(k)), ("", f": {v}")]
        items.append(runs)
    inputs = r.get("inputs") or {}
    if inputs:
        runs = [("b", "Inputs (sha256): ")]
        for i, (k, v) in enumerate(sorted(inputs.items())):
            runs += [("", ", " if i else ""), ("", f"{k} "), ("code", short_sha(v))]
        items.append(runs)
    doc.bullets(items)
    doc.para("Every number is per inference (one sample), averaged over the samples of the run, unless stated "
             "otherwise. \"unknown\" means a profile does not give a number the estimate needs; it is never "
             "taken as zero.", note=True)


def add_summary(doc: DocumentBuilder) -> None:
    """Energy, latency and cores of every profile: the table, its notes and the charts."""
    doc.heading(2, "Energy and latency per profile")
    if not doc.profiles:
        doc.para("No profile was benchmarked.")
        return
    rows: list[list[Inline]] = []
    for name, b in doc.profiles.items():
        if b.get("kind") == "baseline":
            base = b.get("baseline") or {}
            total = base.get("total_pj")
            rows.append([[("code", name)], "ANN baseline", "n/a", "n/a", fmt_unit(total, "uJ", 1e6),
                         fmt_unit(base.get("dynamic_pj"), "uJ", 1e6) + share_suffix(base.get("dynamic_pj"), total),
                         fmt_unit(base.get("static_pj"), "uJ", 1e6) + share_suffix(base.get("static_pj"), total),
                         fmt_unit(base.get("latency_ns"), "ms", 1e6)])
            continue
        status, _ = placement_status(b)
        placement = b.get("placement") or {}
        e = b.get("energy")
        used, avail = placement.get("cores_used"), placement.get("cores_available")
        cores = f"{fmt_num(used)} / {fmt_num(avail)}" if used is not None else "unknown"
        fits: Inline = {"yes": "yes", "unknown": "unknown"}.get(status) or [("bad", "does not fit")]
        if e is None:
            why = "unknown" if status == "unknown" else "not estimated"
            rows.append([[("code", name)], "neuromorphic", fits, cores, why, why, why, why])
        else:
            total = e.get("total_pj")
            rows.append([[("code", name)], "neuromorphic", fits, cores,
                         fmt_banded(total, "uJ", e.get("band_uj"), 1e6),
                         fmt_unit(e.get("dynamic_pj"), "uJ", 1e6) + share_suffix(e.get("dynamic_pj"), total),
                         fmt_unit(e.get("static_pj"), "uJ", 1e6) + share_suffix(e.get("static_pj"), total),
                         fmt_banded(e.get("latency_ns"), "ms", e.get("latency_band_ms"), 1e6)])
    doc.table(["Profile", "Kind", "Fits", "Cores used / available", "Energy / inference [band]", "Dynamic",
               "Static", "Latency [band]"], rows, "lllrrrrr")
    _add_static_mode(doc)
    notes: list[Inline] = []
    for name, b in doc.chips.items():
        status, reason = placement_status(b)
        if status == "no":
            notes.append([("code", name), ("", ": "), ("bad", "does not fit"), ("", f": {reason}")])
        elif status == "unknown":
            note = str(b.get("note") or "")
            notes.append([("code", name), ("", f": {note}" if note.startswith("energy") else
                                               f": placement unknown: {reason}")])
        elif b.get("energy") and b["energy"].get("unknown_profile_numbers"):
            notes.append([("code", name), ("", ": unknown because the profile does not give ")]
                         + code_list(b["energy"]["unknown_profile_numbers"]))
        elif b.get("energy") and b["energy"].get("total_pj") is None and b.get("note"):
            notes.append([("code", name), ("", f": {b['note']}")])
        if status == "yes" and b.get("energy"):
            checked = validation_summary(name, b["energy"])
            if checked:
                notes.append(checked)
    for name, b in doc.baselines.items():
        missing = (b.get("baseline") or {}).get("unknown_profile_numbers") or []
        if missing:
            notes.append([("code", name), ("", ": unknown because the profile does not give ")]
                         + code_list(missing))
    doc.bullets(notes)
    _add_energy_comparison(doc)
    _add_latency_chart(doc)
    _add_cores_chart(doc)


def _add_static_mode(doc: DocumentBuilder) -> None:
    """How the chips' static power was charged (the `--static` mode) and what the brackets are, when the
    report says."""
    energies = {n: b.get("energy") or {} for n, b in doc.chips.items()}
    modes = {n: str(e["static_mode"]) for n, e in energies.items() if e.get("static_mode")}
    runs: list[Run] = []
    if len(set(modes.values())) == 1:
        mode = next(iter(modes.values()))
        runs += [("", f"Static energy of the neuromorphic chips: {STATIC_MODE_TEXT.get(mode, mode)} ("),
                 ("code", f"--static {mode}"), ("", "). ")]
    elif modes:
        runs += [("", "Static energy charged per profile as: ")] + code_list(list(modes), modes) + [("", ". ")]
    if any(fmt_band(e.get("band_uj")) or fmt_band(e.get("latency_band_ms")) for e in energies.values()):
        runs.append(("", "Brackets [low, high]: the uncertainty band of an estimate; each profile's \"How this "
                         "number was made\" says how it was derived."))
    if runs:
        doc.para(runs, note=True)


def _energy_bar(name: str, block: dict[str, Any]) -> list[HBar]:
    """The bars of one profile in the energy chart: the total with its static part and band, or the dynamic
    part alone as a lower bound; for a baseline also the total with weights from DRAM. None when unknown."""
    baseline = block.get("kind") == "baseline"
    e = (block.get("baseline") if baseline else block.get("energy")) or {}
    label, kind = (f"{name} (ANN)", "baseline") if baseline else (name, "neuromorphic")
    static = e.get("static_pj")
    if e.get("total_pj") is not None:
        band = band_pair(e.get("band_uj"))
        bars = [HBar(label, e["total_pj"] / 1e6, kind, None if static is None else static / 1e6, band)]
    elif e.get("dynamic_pj") is not None:
        bars = [HBar(f"{label}, dynamic only", e["dynamic_pj"] / 1e6, f"{kind}_dynamic")]
    else:
        return []
    if baseline and e.get("total_with_dram_weights_pj") is not None:
        bars.append(HBar(f"{name} (ANN, DRAM weights)", e["total_with_dram_weights_pj"] / 1e6, "baseline_dram",
                         None if static is None else static / 1e6))
    return bars


def _add_energy_comparison(doc: DocumentBuilder) -> None:
    """Total energy per profile, dynamic and static parts stacked, with error bars over the bands; where only
    the static part is unknown, the dynamic part as a lower bound."""
    bars: list[HBar] = []
    unknown: list[str] = []
    partial: list[str] = []
    for name, b in doc.profiles.items():
        own = _energy_bar(name, b)
        bars += own
        if not own:
            unknown.append(name)
        elif own[0].kind.endswith("_dynamic"):
            partial.append(name)
    zero = [bar.label for bar in bars if bar.value <= 0]
    bars = [bar for bar in bars if bar.value > 0]
    if zero:
        doc.para([("", "Energy 0 (not drawn on the log scale): ")] + code_list(zero) + [("", ".")])
    if bars:
        fig = plot_hbar(doc.plotter, bars, "Energy per inference (uJ, log scale)", "energy per inference (uJ)",
                        KIND_COLORS, KIND_LEGEND, log=True)
        caption = ("Energy per inference on each profile, neuromorphic chips running the SNN and conventional "
                   "processors running the ReLU ANN counterpart (uJ, log scale).")
        if any(bar.static is not None for bar in bars):
            caption += (" Solid: the dynamic part; lighter shade at the end of a bar: the static part (each "
                        "boundary reads on the axis).")
        banded = [bar.label for bar in bars if bar.band]
        if banded:
            caption += (" Error bars and [brackets]: the uncertainty band of the estimate (" + ", ".join(banded)
                        + "); no error bar where a profile has no band.")
        if partial:
            caption += (" Hatched: dynamic energy only, a lower bound, because the static energy is unknown ("
                        + ", ".join(partial) + ").")
        doc.figure("energy_comparison", fig, "Energy per inference per profile (uJ, log scale)", caption)
    if unknown:
        doc.para([("", "Not in the comparison: ")] + code_list(unknown, doc.why_missing()) + [("", ".")])
    ratios: list[Inline] = []
    for name, b in doc.chips.items():
        total = (b.get("energy") or {}).get("total_pj")
        for base_name, base in doc.baselines.items():
            bt = (base.get("baseline") or {}).get("total_pj")
            if total is not None and bt:
                ratios.append([("code", name), ("", f" uses {fmt_num(total / bt)} x the energy of the ANN on "),
                               ("code", base_name), ("", " (on-chip weights).")])
    doc.bullets(ratios)


def _add_latency_chart(doc: DocumentBuilder) -> None:
    bars: list[HBar] = []
    unknown: list[str] = []
    for name, b in doc.profiles.items():
        if b.get("kind") == "baseline":
            ms, band, kind = (b.get("baseline") or {}).get("latency_ms"), None, "baseline"
        else:
            e = b.get("energy") or {}
            ms, band, kind = e.get("latency_ms"), band_pair(e.get("latency_band_ms")), "neuromorphic"
        if ms is None:
            unknown.append(name)
        else:
            bars.append(HBar(name, ms, kind, band=band))
    if bars:
        vals = [bar.value for bar in bars] + [v for bar in bars if bar.band for v in bar.band]
        log = min(vals) > 0 and max(vals) / min(vals) > 100
        fig = plot_hbar(doc.plotter, bars, "Latency per inference (ms" + (", log scale)" if log else ")"),
                        "latency per inference (ms)", KIND_COLORS, KIND_LEGEND, log=log)
        caption = "Latency of one inference on each profile (ms)."
        banded = [bar.label for bar in bars if bar.band]
        if banded:
            caption += (" Error bars and [brackets]: the uncertainty band of the estimate (" + ", ".join(banded)
                        + "); no error bar where a profile has no band.")
        doc.figure("latency", fig, "Latency per inference per profile (ms)", caption)
    if unknown:
        doc.para([("", "Latency not in the chart: ")] + code_list(unknown, doc.why_missing(latency=True))
                 + [("", ".")])


def _add_cores_chart(doc: DocumentBuilder) -> None:
    entries = [(name, b["placement"]) for name, b in doc.chips.items()
               if (b.get("placement") or {}).get("cores_used") is not None]
    if entries:
        doc.figure("cores", plot_cores(doc.plotter, entries, doc.order), "Cores used per profile, by layer (cores)",
                   "Cores each layer takes on each chip, stacked, with the cores the chip has (dashed mark).")
    unknown = [name for name, b in doc.chips.items() if (b.get("placement") or {}).get("cores_used") is None]
    if unknown:
        doc.para([("", "Cores used unknown (no placement): ")] + code_list(unknown) + [("", ".")])
