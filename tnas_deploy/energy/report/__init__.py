"""The bench report for people: `report.md` (Markdown, plots as PNG files in `plots/`) and `report.html`
(one self-contained page: inline CSS, plots embedded as base64 PNG, nothing fetched from the network).

Both documents are rendered from one list of blocks (headings, paragraphs, lists, tables, figures) built
from the report dict that `bench.py` also writes as report.json, so they carry the same content.
A number a profile does not give is shown as "unknown", never as zero. The output is deterministic:
the same report gives byte-identical files (no dates or timings in the text, fixed plot metadata).
Every file is written atomically.

Modules, each importing only those before it: `document` (block model, number formatting), `plots`
(matplotlib figures), `markdown` and `html` (renderers), `builder` (the document being built and shared
section helpers), `sections_summary`, `sections_network`, `sections_profiles` (the sections), `sections`
(their order: `build_document`); this module writes the files.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ...io_utils import atomic_path, write_text_atomic
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


def write_reports(report: dict[str, Any], out_dir: Path) -> None:
    """Write report.md, report.html and plots/*.png into `out_dir` (each file atomically)."""
    out_dir = Path(out_dir)
    blocks, plots = build_document(report)
    plot_dir = out_dir / PLOTS_DIR
    for plot in plots:
        with atomic_path(plot_dir / plot.name) as tmp:
            tmp.write_bytes(plot.png)
    current = {p.name for p in plots}
    if plot_dir.is_dir():
        for stale in sorted(plot_dir.iterdir()):
            if stale.is_file() and _OWN_PLOT.match(stale.name) and stale.name not in current:
                stale.unlink()
    title = f"Energy benchmark: {report.get('network', 'unknown')}"
    write_text_atomic(out_dir / "report.md", render_markdown(blocks))
    write_text_atomic(out_dir / "report.html", render_html(blocks, title))
