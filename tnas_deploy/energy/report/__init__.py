"""The bench report for people: `report.md` (Markdown, plots as PNG files in `plots/`) and `report.html`
(one self-contained page: inline CSS, plots embedded as base64 PNG, nothing fetched from the network).

Both documents are rendered from one list of blocks (headings, paragraphs, lists, tables, figures) built
from the report dict that `bench.py` also writes as report.json, so they carry the same content.
A number a profile does not give is shown as "unknown", never as zero. The output is deterministic:
the same report gives byte-identical files (no dates or timings in the text, fixed plot metadata).
Every file is written atomically.

Modules, each importing only those before it: `document` (block model, number formatting), `plots`
(matplotlib figures), `markdown` and `html` (renderers), `builder` (the document being built and shared
section helpers), `sections_model` (how each estimate was made: band, fit, validation, static power),
`sections_summary`, `sections_network`, `sections_profiles` (the sections), `sections` (their order:
`build_document`); this module writes the files.

Each estimate is shown as its value and uncertainty band ("42.7 uJ [38.1, 47.3]", error bars in the charts),
with its dynamic and static parts apart; no band is drawn or written where the report has none.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import DeployError
from ...io_utils import write_files_atomic
from .document import (PLOTS_DIR, Block, Bullets, FigureBlock, Heading, Inline, Para, Plot, Run, Table, energy_unit,
                       fmt_energy, fmt_num, fmt_pct, fmt_unit)
from .html import render_html
from .markdown import render_markdown
from .sections import build_document

__all__ = ["PLOTS_DIR", "Block", "Bullets", "FigureBlock", "Heading", "Inline", "Para", "Plot", "Run", "Table",
           "build_document", "energy_unit", "fmt_energy", "fmt_num", "fmt_pct", "fmt_unit", "render_html",
           "render_markdown", "write_reports"]

#: Files in plots/ that this package writes; stale ones (e.g. of a profile no longer benchmarked) are removed.
_OWN_PLOT = re.compile(r"^(energy_layers_.+|energy_comparison|spikes_per_layer|spike_times|latency|cores|"
                       r"confusion)\.png$")


def write_reports(report: dict[str, Any], out_dir: Path, also: Mapping[str, bytes] | None = None) -> None:
    """Write report.md, report.html, plots/*.png and the files of `also` (name in `out_dir`: bytes, e.g.
    report.json) into `out_dir` as one set: every file is complete before the first is renamed into place
    (`io_utils.write_files_atomic`), so a failed write changes none of them."""
    out_dir = Path(out_dir)
    blocks, plots = build_document(report)
    plot_dir = out_dir / PLOTS_DIR
    title = f"Energy benchmark: {report.get('network', 'unknown')}"
    files = {out_dir / name: data for name, data in (also or {}).items()}
    files.update({plot_dir / plot.name: plot.png for plot in plots})
    files[out_dir / "report.md"] = render_markdown(blocks).encode("utf-8")
    files[out_dir / "report.html"] = render_html(blocks, title).encode("utf-8")
    write_files_atomic(files)
    current = {p.name for p in plots}
    stale = sorted(p for p in plot_dir.iterdir() if p.is_file() and _OWN_PLOT.match(p.name)
                   and p.name not in current) if plot_dir.is_dir() else []
    for plot_file in stale:
        try:
            plot_file.unlink()
        except OSError as exc:
            raise DeployError(f"cannot remove this plot of an earlier report ({exc.strerror})", plot_file) from None
