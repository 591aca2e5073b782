"""The report of a population batch: `population.md` (a table, plots linked from `plots/`) and
`population.html` (one self-contained page, plots embedded), rendered from the blocks of the energy report
(`energy/report`), and the table `tnas-deploy bench --population` prints.

Rows come sorted by genome path, so the same results give the same files whatever order the workers finished
in. Per chip, the report draws the Pareto fronts of accuracy (WAR and UAR) against energy per inference and
against latency (`pareto.py`); a genome whose accuracy or cost is unknown (failed, does not fit, no labels)
is on no front and not drawn.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..energy.report import (PLOTS_DIR, Block, FigureBlock, Heading, Para, Plot, Table, fmt_num,
                             render_html, render_markdown)
from ..errors import DeployError
from ..io_utils import write_files_atomic
from .pareto import pareto_front

#: The accuracies and costs a front is drawn for: (row key, label).
ACCURACIES = (("war", "WAR"), ("uar", "UAR"))
COSTS = (("energy_uj", "energy per inference (uJ)"), ("latency_ms", "latency per inference (ms)"))


def chips(rows: list[dict[str, Any]]) -> list[str]:
    """The profiles of the rows (in the order first seen), baselines left out: they are no chip to deploy on."""
    names: list[str] = []
    for row in rows:
        for name, block in (row.get("profiles") or {}).items():
            if block.get("kind") != "baseline" and name not in names:
                names.append(name)
    return names


def fronts(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[str]]:
    """(chip, accuracy key, cost key) -> the genomes on that Pareto front, sorted."""
    out = {}
    for chip in chips(rows):
        for acc, _ in ACCURACIES:
            for cost, _ in COSTS:
                points = [_point(row, chip, acc, cost) for row in rows]
                out[(chip, acc, cost)] = sorted(rows[i]["genome"] for i in pareto_front(points))
    return out


def _point(row: dict[str, Any], chip: str, acc: str, cost: str) -> tuple[float | None, float | None]:
    block = (row.get("profiles") or {}).get(chip) or {}
    if row.get("status") != "ok" or block.get("fits") is False:
        return (None, None)
    return (row.get(acc), block.get(cost))


def accuracy_pct(share: float | None) -> str:
    """An accuracy as a percentage with one decimal, so a column of them lines up ("95.0 %", not "95 %")."""
    return "n/a" if share is None else f"{100.0 * share:.1f} %"


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The header and cells of the population table: one row a genome."""
    names = chips(rows)
    on_front = {g for members in fronts(rows).values() for g in members}
    header = ["genome", "status", "WAR", "UAR", "spikes"]
    for chip in names:
        header += [f"{chip} energy", f"{chip} latency"]
    header.append("on a front")
    cells = []
    for row in rows:
        ok = row.get("status") == "ok"
        line = [row["genome"], "ok" if ok else "FAILED", accuracy_pct(row.get("war")) if ok else "-",
                accuracy_pct(row.get("uar")) if ok else "-", fmt_num(row.get("spikes")) if ok else "-"]
        for chip in names:
            block = (row.get("profiles") or {}).get(chip) or {}
            if not ok:
                line += ["-", "-"]
            elif block.get("fits") is False:
                line += ["does not fit", "-"]
            else:
                line += [_scaled(block.get("energy_uj"), _ENERGY_UNITS), _scaled(block.get("latency_ms"), _TIME_UNITS)]
        line.append("yes" if row["genome"] in on_front else "")
        cells.append(line)
    return header, cells


def text_table(rows: list[dict[str, Any]]) -> list[str]:
    """The population table as aligned text lines, then one line per failed genome with its error."""
    header, cells = table_rows(rows)
    widths = [max(len(r[i]) for r in [header] + cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header] + cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"failed: {row['error']}" for row in rows if row.get("status") != "ok"]
    return lines


_ENERGY_UNITS = (("pJ", 1e-6), ("nJ", 1e-3), ("uJ", 1.0), ("mJ", 1e3), ("J", 1e6))        # sizes in uJ
_TIME_UNITS = (("ns", 1e-6), ("us", 1e-3), ("ms", 1.0), ("s", 1e3))                       # sizes in ms


def _scaled(value: float | None, units: tuple[tuple[str, float], ...]) -> str:
    """`value` (in the units' base) in the unit that puts it between 1 and 1000: "526 nJ"; "unknown" for None."""
    if value is None:
        return "unknown"
    name, size = units[0]
    for candidate in units:
        if abs(value) >= candidate[1]:
            name, size = candidate
    return f"{fmt_num(value / size)} {name}"


def build_blocks(rows: list[dict[str, Any]], title: str, settings: dict[str, Any]) -> tuple[list[Block], list[Plot]]:
    """The report's blocks and plots."""
    failed = [row for row in rows if row.get("status") != "ok"]
    blocks: list[Block] = [Heading(1, title, "population"),
                           Para(f"{len(rows)} genomes, {len(rows) - len(failed)} evaluated, {len(failed)} failed; "
                                f"data {settings['data']}, {settings['samples']} samples each, compiled for "
                                f"{settings['compile_profile']}, costs from the {settings['path']}.")]
    header, cells = table_rows(rows)
    blocks += [Heading(2, "Genomes", "genomes"),
               Table(header, cells, "ll" + "r" * (len(header) - 3) + "l")]
    plots: list[Plot] = []
    all_fronts = fronts(rows)
    for chip in chips(rows):
        blocks.append(Heading(2, f"Pareto fronts on {chip}", f"pareto-{chip}"))
        plot = _plot_chip(rows, chip, all_fronts)
        if plot is None:
            blocks.append(Para(f"No genome has a known accuracy and cost on {chip}: nothing to draw.", note=True))
            continue
        plots.append(plot)
        blocks.append(FigureBlock(plot))
        items = []
        for acc, acc_label in ACCURACIES:
            for cost, cost_label in COSTS:
                members = all_fronts[(chip, acc, cost)]
                items.append([f"{acc_label} against {cost_label.split(' (')[0]}",
                              ", ".join(members) if members else "none"])
        blocks.append(Table(["front", "genomes on it (by path)"], items, "ll"))
    if failed:
        blocks.append(Heading(2, "Failed genomes", "failed"))
        blocks.append(Table(["genome", "error"], [[r["genome"], r.get("error") or "unknown"] for r in failed], "ll"))
    return blocks, plots


def _plot_chip(rows: list[dict[str, Any]], chip: str, all_fronts: dict[tuple[str, str, str], list[str]]
               ) -> Plot | None:
    """Accuracy against energy and against latency on one chip: every genome (WAR filled, UAR hollow) and
    each front as a step line through its members."""
    from ..energy.report.plots import Plotter
    if not any(_point(r, chip, a, c)[0] is not None and _point(r, chip, a, c)[1] is not None
               for r in rows for a, _ in ACCURACIES for c, _ in COSTS):
        return None
    pl = Plotter()
    colors = {"war": "#4c72b0", "uar": "#dd8452"}
    with pl.context():
        fig = pl.figure(9.0, 3.6)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.88, wspace=0.22)
        for panel, (cost, cost_label) in enumerate(COSTS):
            ax = fig.add_subplot(1, 2, panel + 1)
            for acc, acc_label in ACCURACIES:
                pts = [(p[1], 100 * p[0], r["genome"]) for r in rows
                       if None not in (p := _point(r, chip, acc, cost)) and p[1] > 0]
                if not pts:
                    continue
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=16, label=acc_label,
                           facecolors=colors[acc] if acc == "war" else "none", edgecolors=colors[acc], linewidths=1)
                members = set(all_fronts[(chip, acc, cost)])
                front = sorted((p for p in pts if p[2] in members), key=lambda p: (p[0], -p[1]))
                for x, y, genome in front if acc == "war" else []:
                    ax.annotate(Path(genome).stem, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
                if front:
                    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color=colors[acc],
                            linewidth=1.2, label=f"{acc_label} front")
            spread = [p for acc, _ in ACCURACIES for r in rows
                      if None not in (p := _point(r, chip, acc, cost)) and p[1] > 0]
            if spread and max(p[1] for p in spread) > 20 * min(p[1] for p in spread):
                _log_axis(ax)
            ax.set_xlabel(cost_label)
            ax.set_ylabel("accuracy (%)")
            ax.grid(axis="x", visible=True)
            ax.set_title(f"{chip}: accuracy against {cost_label.split(' (')[0]}")
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="lower right")
        png = pl.png(fig)
    return Plot(f"pareto_{re.sub(r'[^A-Za-z0-9_.-]', '_', chip)}.png", f"Pareto fronts on {chip}",
                "Each genome as a point (WAR filled, UAR hollow); the lines join the genomes on each front.", png)


def _log_axis(ax: Any) -> None:
    """A log x axis labelled 0.1, 1, 10, 1e6 (plain text: the report's plots parse no mathtext)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=8))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}".replace("e+0", "e").replace("e+", "e")))
    ax.xaxis.set_minor_formatter(NullFormatter())


def write_population_report(rows: list[dict[str, Any]], out_dir: Path, settings: dict[str, Any]) -> list[Path]:
    """Write population.md, population.html and their plots into `out_dir` as one set (atomically);
    returns the two documents' paths."""
    blocks, plots = build_blocks(rows, "Population benchmark", settings)
    md, page = out_dir / "population.md", out_dir / "population.html"
    files = {out_dir / PLOTS_DIR / plot.name: plot.png for plot in plots}
    files[md] = render_markdown(blocks).encode("utf-8")
    files[page] = render_html(blocks, "Population benchmark").encode("utf-8")
    write_files_atomic(files)
    current = {plot.name for plot in plots}
    plot_dir = out_dir / PLOTS_DIR
    stale = sorted(p for p in plot_dir.glob("pareto_*.png") if p.name not in current) if plot_dir.is_dir() else []
    for plot_file in stale:        # a chip of an earlier run of this folder that this run did not cost
        try:
            plot_file.unlink()
        except OSError as exc:
            raise DeployError(f"cannot remove this plot of an earlier report ({exc.strerror})", plot_file) from None
    return [md, page]
