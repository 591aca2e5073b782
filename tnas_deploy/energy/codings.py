"""`tnas-deploy bench genome.json --coding ttfs,sdnn`: one network in several codings, side by side.

Each coding is compiled from the genome (`compile --coding`), run and benchmarked as `bench` does (its full report
in `OUT/<coding>/`); `OUT/codings.json`, `OUT/codings.md` and `OUT/codings.png` then put them side by side:
accuracy, spikes, synaptic events, time steps, and per chip the energy and latency per inference. Like every
report: no timestamps or timings, the same inputs give the same files.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import DeployError
from ..io_utils import write_files_atomic

CODINGS_FORMAT = "tnas-bench-codings"


def run_codings_bench(genome: Path, data: Path, codings: list[str], out_dir: Path, **bench: Any
                      ) -> dict[str, Any]:
    """Bench `genome` compiled in each of `codings` (keyword arguments as `bench.run_bench`); returns the comparison."""
    from .bench import run_bench

    if genome.suffix != ".json":
        raise DeployError("comparing codings compiles a genome in each; give a genome .json, not an artifact",
                          genome, "--coding")
    if len(set(codings)) != len(codings) or not codings:
        raise DeployError(f"expected distinct coding names separated by commas, got {','.join(codings)!r}",
                          None, "--coding")
    rows: dict[str, Any] = {}
    for coding in codings:
        report, _ = run_bench(genome, data, out_dir=out_dir / coding, coding=coding, **bench)
        rows[coding] = _row(report)
    comparison = {"format": CODINGS_FORMAT, "version": 1, "tool_version": __version__, "genome": str(genome),
                  "data": str(data), "codings": rows}
    files = {"codings.json": (json.dumps(comparison, indent=2, sort_keys=True, allow_nan=False) + "\n").encode(),
             "codings.md": render_markdown(comparison).encode()}
    png = plot_codings(comparison)
    if png is not None:
        files["codings.png"] = png
    write_files_atomic({out_dir / name: data for name, data in files.items()})
    return comparison


def _row(report: dict[str, Any]) -> dict[str, Any]:
    chips: dict[str, Any] = {}
    for name, block in sorted(report["profiles"].items()):
        energy = block.get("energy") or {}
        chips[name] = {"energy_uj": energy.get("total_uj"), "dynamic_pj": energy.get("dynamic_pj"),
                       "latency_us": None if energy.get("latency_ns") is None else energy["latency_ns"] / 1000.0,
                       "note": block.get("note")}
    acc = report.get("accuracy")
    return {"accuracy": None if acc is None else acc["war"], "samples": report["data"]["samples"],
            "spikes": report["metrics"]["spikes"], "synaptic_events": report["metrics"]["synaptic_events"],
            "time_steps": report["artifact"]["total_steps"], "report": f"{report['summary']['coding']}/report.md",
            "chips": chips}


def _num(value: float | None, unit: str = "", digits: int = 3, note: str | None = None) -> str:
    if value is not None:
        return f"{value:.{digits}g}{unit}"
    return "does not fit" if (note or "").startswith("does not fit") else "unknown"


def render_markdown(comparison: dict[str, Any]) -> str:
    rows = comparison["codings"]
    codings = list(rows)
    lines = [f"# One network in {len(codings)} codings", "",
             f"`{comparison['genome']}` on `{comparison['data']}`, each coding compiled from the genome and run on "
             "the reference simulator; full reports in the folders named after the codings.", "",
             "| coding | accuracy | spikes / sample | synaptic events / sample | time steps |",
             "| --- | --- | --- | --- | --- |"]
    for c in codings:
        r = rows[c]
        acc = "n/a" if r["accuracy"] is None else f"{r['accuracy'] * 100:.2f} %"
        lines.append(f"| {c} | {acc} | {r['spikes']:.1f} | {r['synaptic_events']:.1f} | {r['time_steps']} |")
    chips = sorted({chip for r in rows.values() for chip in r["chips"]})
    lines += ["", "Energy and latency per inference:", "",
              "| chip | " + " | ".join(f"{c} energy | {c} latency" for c in codings) + " |",
              "| --- |" + " --- | --- |" * len(codings)]
    for chip in chips:
        cells = []
        for c in codings:
            cell = rows[c]["chips"].get(chip, {})
            note = cell.get("note")
            cells += [_num(cell.get("energy_uj"), " uJ", note=note), _num(cell.get("latency_us"), " us", note=note)]
        lines.append(f"| {chip} | " + " | ".join(cells) + " |")
    if any(cell["energy_uj"] for r in rows.values() for cell in r["chips"].values()):
        lines += ["", "![energy per inference, one bar per coding](codings.png)"]
    notes = [f"- {c} on {chip}: {cell['note']}" for c in codings for chip, cell in rows[c]["chips"].items()
             if cell.get("note")]
    if notes:
        lines += ["", "Why a chip has no number:", ""] + notes
    return "\n".join(lines) + "\n"


def plot_codings(comparison: dict[str, Any]) -> bytes | None:
    """Energy per inference per chip, one bar per coding, labelled; None when no chip has an energy."""
    from .report.plots import Plotter

    rows = comparison["codings"]
    codings = list(rows)
    chips = sorted({chip for r in rows.values() for chip, cell in r["chips"].items() if cell["energy_uj"]})
    if not chips:
        return None
    pl = Plotter()
    with pl.context():
        fig = pl.figure(6.4, 3.2)
        ax = fig.add_subplot(1, 1, 1)
        width = 0.8 / len(codings)
        for i, c in enumerate(codings):
            values = [rows[c]["chips"].get(chip, {}).get("energy_uj") or 0.0 for chip in chips]
            bars = ax.bar([k + (i - (len(codings) - 1) / 2) * width for k in range(len(chips))], values, width,
                          label=c)
            ax.bar_label(bars, labels=[f"{v:.3g}" if v else "?" for v in values], fontsize=7)
        ax.set_xticks(range(len(chips)), chips)
        ax.set_ylabel("energy per inference (uJ)")
        ax.set_title("one network, several codings")
        ax.legend()
        fig.subplots_adjust(left=0.11, right=0.98, bottom=0.12, top=0.9)
        return pl.png(fig)
