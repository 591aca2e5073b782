"""The report's opening: the header (what was benchmarked, with which inputs) and the energy, latency and
cores summary of every profile, with the comparison charts."""
from __future__ import annotations

from .builder import DocumentBuilder, code_list, placement_status, share_suffix
from .document import Inline, Run, fmt_num, fmt_unit, short_sha
from .plots import KIND_COLORS, KIND_LEGEND, plot_cores, plot_hbar


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
            rows.append([[("code", name)], "neuromorphic", fits, cores, fmt_unit(total, "uJ", 1e6),
                         fmt_unit(e.get("dynamic_pj"), "uJ", 1e6) + share_suffix(e.get("dynamic_pj"), total),
                         fmt_unit(e.get("static_pj"), "uJ", 1e6) + share_suffix(e.get("static_pj"), total),
                         fmt_unit(e.get("latency_ns"), "ms", 1e6)])
    doc.table(["Profile", "Kind", "Fits", "Cores used / available", "Energy / inference", "Dynamic", "Static",
               "Latency"], rows, "lllrrrrr")
    notes: list[Inline] = []
    for name, b in doc.chips.items():
        status, reason = placement_status(b)
        if status == "no":
            notes.append([("code", name), ("", ": "), ("bad", "does not fit"), ("", f": {reason}")])
        elif status == "unknown":
            notes.append([("code", name), ("", f": placement unknown: {reason}")])
        elif b.get("energy") and b["energy"].get("unknown_profile_numbers"):
            notes.append([("code", name), ("", ": unknown because the profile does not give ")]
                         + code_list(b["energy"]["unknown_profile_numbers"]))
    for name, b in doc.baselines.items():
        missing = (b.get("baseline") or {}).get("unknown_profile_numbers") or []
        if missing:
            notes.append([("code", name), ("", ": unknown because the profile does not give ")]
                         + code_list(missing))
    doc.bullets(notes)
    _add_energy_comparison(doc)
    _add_latency_chart(doc)
    _add_cores_chart(doc)


def _add_energy_comparison(doc: DocumentBuilder) -> None:
    """Total energy per profile; where only the static part is unknown, the dynamic part as a lower bound."""
    entries: list[tuple[str, float, str]] = []
    unknown: list[str] = []
    partial: list[str] = []
    for name, b in doc.profiles.items():
        baseline = b.get("kind") == "baseline"
        e = (b.get("baseline") if baseline else b.get("energy")) or {}
        label, kind = (f"{name} (ANN)", "baseline") if baseline else (name, "neuromorphic")
        if e.get("total_pj") is not None:
            entries.append((label, e["total_pj"] / 1e6, kind))
        elif e.get("dynamic_pj") is not None:
            entries.append((f"{label}, dynamic only", e["dynamic_pj"] / 1e6, f"{kind}_dynamic"))
            partial.append(name)
        else:
            unknown.append(name)
        if baseline and e.get("total_with_dram_weights_pj") is not None:
            entries.append((f"{name} (ANN, DRAM weights)", e["total_with_dram_weights_pj"] / 1e6, "baseline_dram"))
    zero = [label for label, v, _ in entries if v <= 0]
    entries = [e for e in entries if e[1] > 0]
    if zero:
        doc.para([("", "Energy 0 (not drawn on the log scale): ")] + code_list(zero) + [("", ".")])
    if entries:
        fig = plot_hbar(doc.plotter, entries, "Energy per inference (uJ, log scale)", "energy per inference (uJ)",
                        KIND_COLORS, KIND_LEGEND, log=True)
        caption = ("Energy per inference on each profile, neuromorphic chips running the SNN and conventional "
                   "processors running the ReLU ANN counterpart (uJ, log scale).")
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
    entries: list[tuple[str, float, str]] = []
    unknown: list[str] = []
    for name, b in doc.profiles.items():
        if b.get("kind") == "baseline":
            ms = (b.get("baseline") or {}).get("latency_ms")
            kind = "baseline"
        else:
            ms = (b.get("energy") or {}).get("latency_ms")
            kind = "neuromorphic"
        if ms is None:
            unknown.append(name)
        else:
            entries.append((name, ms, kind))
    if entries:
        vals = [e[1] for e in entries]
        log = min(vals) > 0 and max(vals) / min(vals) > 100
        fig = plot_hbar(doc.plotter, entries, "Latency per inference (ms" + (", log scale)" if log else ")"),
                        "latency per inference (ms)", KIND_COLORS, KIND_LEGEND, log=log)
        doc.figure("latency", fig, "Latency per inference per profile (ms)",
                   "Latency of one inference on each profile (ms).")
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
