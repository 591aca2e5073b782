"""The bench report for people: `report.md` (Markdown, plots as PNG files in `plots/`) and `report.html`
(one self-contained page: inline CSS, plots embedded as base64 PNG, nothing fetched from the network).

Both documents are rendered from one list of blocks (headings, paragraphs, lists, tables, figures) built
from the report dict that `bench.py` also writes as report.json, so they carry the same content.
A number a profile does not give is shown as "unknown", never as zero. The output is deterministic:
the same report gives byte-identical files (no dates or timings in the text, fixed plot metadata).
Every file is written atomically.
"""
from __future__ import annotations

import base64
import html
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from ..io_utils import atomic_path, write_text_atomic
from ..profiles import TABLE_KEYS

PLOTS_DIR = "plots"
#: Files in plots/ that this module writes; stale ones (e.g. of a profile no longer benchmarked) are removed.
_OWN_PLOT = re.compile(r"^(energy_layers_.+|energy_comparison|spikes_per_layer|spike_times|latency|cores|"
                       r"confusion)\.png$")
#: Profile keys with a default, so their absence changes nothing but is still worth saying.
_DEFAULTS = {"resources.chips": "1 chip assumed", "resources.mesh_columns": "square mesh assumed",
             "baseline.dram_access_pj_per_byte": "no DRAM figure", "baseline.process_node_nm": "for information only"}
_COMPONENT_LABELS = {"synaptic": "synaptic ops", "neuron_active": "neuron updates (active)",
                     "neuron_idle": "neuron updates (idle)", "routing": "spike routing"}
_COMPONENT_COLORS = {"synaptic": "#4c72b0", "neuron_active": "#dd8452", "neuron_idle": "#b8b8b8",
                     "routing": "#55a868"}
_METRICS = {
    "synaptic_events": "synaptic events: spikes delivered through synapses (spike x fan-out), per sample",
    "effective_synaptic_ops": "effective synaptic operations: events through non-zero weights (ACs), per sample",
    "dense_synaptic_ops": "synaptic operations of a dense pass (every synapse once)",
    "spikes": "spikes of all on-chip layers, per sample",
    "input_spikes": "input spikes injected by the host, per sample",
    "activation_sparsity": "share of on-chip neurons that do not spike in a sample",
    "activation_sparsity_per_step": "share of (neuron, time step) pairs without a spike",
    "neurons": "on-chip neurons (readout not counted)",
    "synapses": "synapses",
    "time_steps": "time steps per inference",
}
_RC = {"svg.hashsalt": "tnas-deploy", "svg.fonttype": "path", "font.family": "DejaVu Sans", "font.size": 8.5,
       "axes.titlesize": 9.5, "axes.titleweight": "bold", "axes.spines.top": False, "axes.spines.right": False,
       "axes.grid": True, "axes.grid.axis": "y", "grid.color": "#e4e4e4", "grid.linewidth": 0.6, "axes.axisbelow": True,
       "legend.fontsize": 8, "legend.frameon": False, "figure.dpi": 100, "image.cmap": "Blues"}
_DPI = 110


# -- number formatting ---------------------------------------------------------------------------------

def fmt_num(value: Any, digits: int = 3) -> str:
    """3 significant digits; exact for integer counts; "unknown" for None (never 0)."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    if v.is_integer() and abs(v) < 1e7:
        return f"{int(v):,}"
    v = float(f"{v:.{digits}g}")              # round first: 0.9996 -> 1.0 decides the decimals below
    a = abs(v)
    if a >= 1e7 or a < 1e-3:
        mant, exp = f"{v:.{digits - 1}e}".split("e")
        return f"{mant}e{int(exp)}"
    decimals = digits - 1 - math.floor(math.log10(a))
    return f"{v:,.{decimals}f}" if decimals > 0 else f"{v:,.0f}"


def fmt_unit(value: float | None, unit: str, scale: float = 1.0) -> str:
    return "unknown" if value is None else f"{fmt_num(value / scale)} {unit}"


def fmt_pct(share: float | None) -> str:
    return "unknown" if share is None else f"{fmt_num(100.0 * share)} %"


_ENERGY_UNITS = (("pJ", 1.0), ("nJ", 1e3), ("uJ", 1e6), ("mJ", 1e9), ("J", 1e12))


def energy_unit(max_pj: float) -> tuple[str, float]:
    """The unit (and its size in pJ) that puts `max_pj` between 1 and 1000."""
    unit = _ENERGY_UNITS[0]
    for candidate in _ENERGY_UNITS:
        if abs(max_pj) >= candidate[1]:
            unit = candidate
    return unit


def fmt_energy(pj: float | None) -> str:
    if pj is None:
        return "unknown"
    unit, scale = energy_unit(pj)
    return f"{fmt_num(pj / scale)} {unit}"


def _short(sha: str | None) -> str:
    return "unknown" if not sha else sha[:12]


# -- document model ------------------------------------------------------------------------------------

Run = tuple[str, str]                   # (style, text): "" plain, "b" bold, "code", "em", "bad", "link:#anchor"
Inline = Union[str, list[Run]]


@dataclass
class Heading:
    level: int
    text: str
    anchor: str


@dataclass
class Para:
    content: Inline
    note: bool = False                  # a secondary remark (smaller, muted in HTML)


@dataclass
class Bullets:
    items: list[Inline]


@dataclass
class Table:
    header: list[str]
    rows: list[list[Inline]]
    align: str                          # one letter per column: l(eft) or r(ight)


@dataclass
class Plot:
    name: str                           # file name inside plots/
    title: str
    caption: str
    png: bytes


@dataclass
class FigureBlock:
    plot: Plot


Block = Union[Heading, Para, Bullets, Table, FigureBlock]


def _slug(text: str) -> str:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", text.lower()).strip().replace(" ", "-")


def _runs(content: Inline) -> list[Run]:
    return [("", content)] if isinstance(content, str) else content


# -- Markdown ------------------------------------------------------------------------------------------

_MD_ESCAPE = re.compile(r"([\\`*<>|])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def _md_text(text: str) -> str:
    return _MD_ESCAPE.sub(lambda m: "\\" + m.group(0), text)


def _md_inline(content: Inline, in_table: bool = False) -> str:
    out = []
    for style, text in _runs(content):
        if style == "code":
            fence = "``" if "`" in text else "`"
            body = text.replace("|", "\\|") if in_table else text
            out.append(f"{fence}{body}{fence}" if fence == "`" else f"{fence} {body} {fence}")
        elif style in ("b", "bad", "em"):
            # CommonMark: no space just inside the markers, so keep the runs' outer spaces outside them
            core = text.strip()
            mark = "*" if style == "em" else "**"
            lead, trail = text[:len(text) - len(text.lstrip())], text[len(text.rstrip()):]
            out.append(f"{lead}{mark}{_md_text(core)}{mark}{trail}" if core else text)
        elif style.startswith("link:"):
            out.append(f"[{_md_text(text)}]({style[5:]})")
        else:
            out.append(_md_text(text))
    s = "".join(out)
    return s.replace("\n", " ") if in_table else s


def render_markdown(blocks: list[Block]) -> str:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {_md_text(block.text)}")
        elif isinstance(block, Para):
            text = _md_inline(block.content)
            parts.append(f"*{text}*" if block.note and isinstance(block.content, str) else text)
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {_md_inline(item)}" for item in block.items))
        elif isinstance(block, Table):
            lines = ["| " + " | ".join(_md_text(h) for h in block.header) + " |",
                     "|" + "|".join(" ---: " if a == "r" else " --- " for a in block.align) + "|"]
            lines += ["| " + " | ".join(_md_inline(c, in_table=True) for c in row) + " |" for row in block.rows]
            parts.append("\n".join(lines))
        elif isinstance(block, FigureBlock):
            p = block.plot
            parts.append(f"![{_md_text(p.title)}]({PLOTS_DIR}/{p.name})\n\n*{_md_text(p.caption)}*" if p.caption
                         else f"![{_md_text(p.title)}]({PLOTS_DIR}/{p.name})")
    return "\n\n".join(parts) + "\n"


# -- HTML ----------------------------------------------------------------------------------------------

_CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --alt: #f6f8fa; --accent: #0969da; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--fg);
       font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 28px 36px 72px; }
h1 { font-size: 1.75em; margin: 0 0 .6em; padding-bottom: .3em; border-bottom: 2px solid var(--line); }
h2 { font-size: 1.35em; margin: 2.2em 0 .6em; padding-bottom: .25em; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.08em; margin: 1.8em 0 .5em; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
ul { padding-left: 1.4em; }
li { margin: .15em 0; }
code { font: .86em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
       background: var(--alt); border: 1px solid #e6eaef; border-radius: 4px; padding: .05em .35em;
       overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; margin: .8em 0 1.2em; }
table { border-collapse: collapse; font-size: .88em; }
th, td { border: 1px solid var(--line); padding: 4px 10px; vertical-align: top; }
th { background: var(--alt); font-weight: 600; text-align: left; white-space: nowrap; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
.unknown { color: var(--muted); font-style: italic; }
.bad { color: var(--bad); font-weight: 600; }
.note { color: var(--muted); font-size: .9em; }
figure { margin: 1.2em 0 1.6em; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: .88em; margin-top: .35em; }
nav.toc ul { columns: 2; list-style: none; padding-left: 0; }
@media print { main { max-width: none; padding: 0; } h2 { break-after: avoid; } figure { break-inside: avoid; } }
""".strip()


def _html_inline(content: Inline) -> str:
    out = []
    for style, text in _runs(content):
        t = html.escape(text, quote=True)
        if style == "code":
            out.append(f"<code>{t}</code>")
        elif style == "b":
            out.append(f"<strong>{t}</strong>")
        elif style == "em":
            out.append(f"<em>{t}</em>")
        elif style == "bad":
            out.append(f'<span class="bad">{t}</span>')
        elif style.startswith("link:"):
            out.append(f'<a href="{html.escape(style[5:], quote=True)}">{t}</a>')
        elif text.startswith("unknown"):
            out.append(f'<span class="unknown">{t}</span>')
        else:
            out.append(t)
    return "".join(out)


def render_html(blocks: list[Block], title: str) -> str:
    body: list[str] = []
    in_toc = False
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f'<h{block.level} id="{html.escape(block.anchor, quote=True)}">'
                        f"{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            cls = ' class="note"' if block.note else ""
            body.append(f"<p{cls}>{_html_inline(block.content)}</p>")
        elif isinstance(block, Bullets):
            items = "".join(f"<li>{_html_inline(item)}</li>" for item in block.items)
            toc = all(isinstance(i, list) and len(i) == 1 and i[0][0].startswith("link:") for i in block.items)
            body.append(f'<nav class="toc"><ul>{items}</ul></nav>' if toc and not in_toc else f"<ul>{items}</ul>")
            in_toc = in_toc or toc
        elif isinstance(block, Table):
            head = "".join(f'<th{_cls(a)} scope="col">{html.escape(h)}</th>' for h, a in zip(block.header, block.align))
            rows = []
            for row in block.rows:
                cells = "".join(f"<td{_cls(a)}>{_html_inline(c)}</td>" for c, a in zip(row, block.align))
                rows.append(f"<tr>{cells}</tr>")
            body.append(f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
                        f"<tbody>{''.join(rows)}</tbody></table></div>")
        elif isinstance(block, FigureBlock):
            p = block.plot
            data = base64.b64encode(p.png).decode("ascii")
            cap = f"<figcaption>{html.escape(p.caption)}</figcaption>" if p.caption else ""
            body.append(f'<figure id="plot-{html.escape(p.name[:-4], quote=True)}">'
                        f'<img alt="{html.escape(p.title, quote=True)}" src="data:image/png;base64,{data}">'
                        f"{cap}</figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body>\n</html>\n")


def _cls(align: str) -> str:
    return ' class="r"' if align == "r" else ""


# -- plots ---------------------------------------------------------------------------------------------

class _Plotter:
    """Matplotlib (Agg, no pyplot state) with fixed settings, so the same report gives identical PNGs."""

    def __init__(self) -> None:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        self._mpl, self._canvas, self._figure = matplotlib, FigureCanvasAgg, Figure

    def figure(self, width: float, height: float):
        fig = self._figure(figsize=(width, height))   # margins set by hand (_margins): layout engines are slow
        self._canvas(fig)
        return fig

    def png(self, fig) -> bytes:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None}, facecolor="white")
        return buf.getvalue()

    def context(self):
        return self._mpl.rc_context(_RC)


def _layer_colors(names: list[str]) -> dict[str, str]:
    from matplotlib import colormaps
    cmap = colormaps["tab20" if len(names) > 10 else "tab10"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


_CHAR_IN = 0.066          # mean width of a character at the tick label size, inches


def _margins(fig, left: float, right: float, bottom: float, top: float, **space: float) -> None:
    """Fixed margins in inches (no layout engine: constrained layout costs most of the drawing time)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h, **space)


def _crowded(labels: list[str]) -> bool:
    return len(labels) > 6 or max((len(s) for s in labels), default=0) * len(labels) > 60


def _rotate(ax) -> None:
    for t in ax.get_xticklabels():
        t.set_rotation(35)
        t.set_ha("right")


def _bottom_for(labels: list[str]) -> float:
    """Bottom margin (inches) for x tick labels, rotated when crowded, plus the axis label."""
    if not _crowded(labels):
        return 0.5
    return 0.35 + 0.6 * _CHAR_IN * max((len(s) for s in labels), default=1)


def plot_energy_layers(pl: _Plotter, profile: str, energy: dict[str, Any], order: list[str]) -> tuple[Any, list[str]]:
    """Stacked bars of energy per layer and component; components unknown in any layer are left out."""
    from .model import COMPONENTS
    layers_pj = energy.get("layers_pj") or {}
    layers = [l for l in order if l in layers_pj] + [l for l in layers_pj if l not in order]
    comps = list(COMPONENTS) + sorted({c for v in layers_pj.values() for c in v} - set(COMPONENTS))
    unknown = [c for c in comps if any(layers_pj[l].get(c) is None for l in layers)]
    known = [c for c in comps if c not in unknown]
    if not layers or not known:
        return None, unknown
    totals = [sum(layers_pj[l][c] for c in known) for l in layers]
    unit, scale = energy_unit(max(totals) if totals else 0.0)
    bottom_in = _bottom_for(layers)
    fig = pl.figure(max(5.6, 0.7 * len(layers) + 3.0), 3.1 + bottom_in)
    _margins(fig, 0.8, 0.2, bottom_in, 0.4)
    ax = fig.add_subplot()
    bottom = [0.0] * len(layers)
    for c in known:
        vals = [layers_pj[l][c] / scale for l in layers]
        ax.bar(layers, vals, bottom=bottom, label=_COMPONENT_LABELS.get(c, c), color=_COMPONENT_COLORS.get(c),
               width=0.65)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel(f"energy per inference ({unit})")
    ax.set_title(f"Dynamic energy per layer on {profile} ({unit} per inference)")
    ax.legend(loc="upper right", ncols=2 if len(known) > 2 else 1)
    ax.set_ylim(0, max(bottom) * 1.3 if max(bottom) > 0 else 1)
    if _crowded(layers):
        _rotate(ax)
    return fig, unknown


def plot_spikes(pl: _Plotter, layers: dict[str, Any], order: list[str]):
    names = [l for l in order if l in layers]
    vals = [layers[l].get("spikes") or 0.0 for l in names]
    bottom_in = _bottom_for(names)
    fig = pl.figure(max(5.6, 0.7 * len(names) + 2.5), 2.8 + bottom_in)
    _margins(fig, 0.8, 0.2, bottom_in, 0.4)
    ax = fig.add_subplot()
    bars = ax.bar(names, vals, color="#4c72b0", width=0.65)
    ax.bar_label(bars, labels=[fmt_num(v) for v in vals], padding=2, fontsize=7.5)
    ax.set_ylabel("spikes per sample")
    ax.set_title("Spikes per layer (mean spikes per sample)")
    ax.set_ylim(0, max(vals) * 1.18 if vals and max(vals) > 0 else 1)
    if _crowded(names):
        _rotate(ax)
    return fig


def plot_spike_times(pl: _Plotter, layers: dict[str, Any], order: list[str], samples: int):
    names = [l for l in order if l in layers and layers[l].get("spike_step_histogram")]
    if not names:
        return None
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = pl.figure(2.5 * cols + 0.9, 1.75 * rows + 0.55)
    _margins(fig, 0.75, 0.15, 0.45, 0.5, wspace=0.38, hspace=0.75)
    axes = fig.subplots(rows, cols, squeeze=False)
    from matplotlib.ticker import MaxNLocator
    n = max(1, samples)
    for i, ax in enumerate(axes.flat):
        if i >= len(names):
            ax.set_axis_off()
            continue
        hist = layers[names[i]]["spike_step_histogram"]
        ax.bar(range(len(hist)), [h / n for h in hist], width=1.0, color="#4c72b0", linewidth=0)
        ax.set_title(names[i], fontsize=8.5)
        ax.set_xlim(-0.5, len(hist) - 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.tick_params(labelsize=7)
        if i % cols == 0:
            ax.set_ylabel("spikes / sample", fontsize=7.5)
        if i // cols == rows - 1 or i + cols >= len(names):
            ax.set_xlabel("step within window", fontsize=7.5)
    fig.suptitle("Spike times per layer (spikes per sample in each step of the layer's window)",
                 fontsize=9.5, fontweight="bold")
    return fig


def _hbar(pl: _Plotter, entries: list[tuple[str, float, str]], title: str, xlabel: str, colors: dict[str, str],
          legend: dict[str, str], log: bool):
    labels = [e[0] for e in entries][::-1]
    kinds = {e[2] for e in entries}
    legend_in = 0.7 + _CHAR_IN * max(len(legend[k]) for k in kinds) if len(kinds) > 1 else 0.2
    left_in = 0.25 + _CHAR_IN * max(len(s) for s in labels)
    fig = pl.figure(max(6.8, left_in + legend_in + 4.2), max(1.7, 0.36 * len(entries) + 1.05))
    _margins(fig, left_in, legend_in, 0.5, 0.35)
    ax = fig.add_subplot()
    vals = [e[1] for e in entries][::-1]
    kinds_in_order = [e[2] for e in entries][::-1]
    bars = ax.barh(labels, vals, color=[colors[k] for k in kinds_in_order], height=0.6,
                   hatch=[_KIND_HATCH.get(k) for k in kinds_in_order], edgecolor="white", linewidth=0)
    ax.bar_label(bars, labels=[fmt_num(v) for v in vals], padding=3, fontsize=7.5)
    if log:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
        ax.set_xscale("log")
        lo, hi = min(vals), max(vals)
        ax.set_xlim(lo / 3, hi * 8)
        ax.xaxis.set_major_locator(LogLocator(base=10, numticks=8))
        ax.xaxis.set_minor_locator(NullLocator())          # minor log ticks cost time and add nothing here
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))     # 0.1, 1, 10 (no mathtext)
    else:
        ax.set_xlim(0, max(vals) * 1.25 if max(vals) > 0 else 1)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", visible=True)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    if len(kinds) > 1:
        from matplotlib.patches import Patch
        ax.legend(handles=[Patch(facecolor=colors[k], hatch=_KIND_HATCH.get(k), edgecolor="white", label=legend[k])
                           for k in legend if k in kinds],
                  loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


_KIND_COLORS = {"neuromorphic": "#4c72b0", "neuromorphic_dynamic": "#9db3d9", "baseline": "#dd8452",
                "baseline_dram": "#f2c09b", "baseline_dynamic": "#f2c09b"}
_KIND_HATCH = {"neuromorphic_dynamic": "///", "baseline_dynamic": "///"}
_KIND_LEGEND = {"neuromorphic": "neuromorphic chip (SNN)",
                "neuromorphic_dynamic": "neuromorphic chip, dynamic only (static unknown)",
                "baseline": "ANN baseline", "baseline_dram": "ANN baseline, weights from DRAM",
                "baseline_dynamic": "ANN baseline, dynamic only (static unknown)"}


def plot_cores(pl: _Plotter, entries: list[tuple[str, dict[str, Any]]], order: list[str]):
    all_layers = [l for l in order if any(l in p["layers"] for _, p in entries)]
    all_layers += sorted({l for _, p in entries for l in p["layers"]} - set(all_layers))
    colors = _layer_colors(all_layers)
    crowded = _crowded([n for n, _ in entries])
    names = [n if p.get("fits") else f"{n}{' ' if crowded else chr(10)}(does not fit)" for n, p in entries]
    legend_in = 0.75 + _CHAR_IN * max((len(s) for s in all_layers), default=5)
    bottom_in = _bottom_for(names) if crowded else 0.5 + (0 if all(p.get("fits") for _, p in entries) else 0.15)
    fig = pl.figure(max(5.0, 1.3 * len(entries) + 2.0 + legend_in), 2.9 + bottom_in)
    _margins(fig, 0.6, legend_in, bottom_in, 0.4)
    ax = fig.add_subplot()
    used = [p["cores_used"] for _, p in entries]
    top = max(used) * 1.35 if max(used) > 0 else 1
    bottom = [0] * len(entries)
    for layer in all_layers:
        vals = [p["layers"].get(layer, {}).get("cores", 0) for _, p in entries]
        ax.bar(names, vals, bottom=bottom, label=layer, color=colors[layer], width=0.55, edgecolor="white",
               linewidth=0.5)
        bottom = [b + v for b, v in zip(bottom, vals)]
    for i, (_, p) in enumerate(entries):
        avail = p.get("cores_available")
        if avail is None:
            ax.annotate("available: unknown", (i, used[i]), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=7)
        elif avail <= top:
            ax.hlines(avail, i - 0.4, i + 0.4, colors="#1f2328", linewidth=1.8, linestyles=(0, (3, 1.5)))
            ax.annotate(f"available: {avail:,}", (i + 0.44, avail), va="center", fontsize=7, color="#1f2328")
        else:
            ax.annotate(f"{used[i]:,} of {avail:,} available", (i, used[i]), xytext=(0, 3),
                        textcoords="offset points", ha="center", fontsize=7)
    ax.set_xlim(-0.6, len(entries) - 0.4 + 0.6)
    ax.set_ylim(0, top)
    ax.set_ylabel("cores")
    ax.set_title("Cores used per profile, by layer (cores; dashes: cores available)")
    if crowded:
        _rotate(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, title="layer", title_fontsize=7.5)
    return fig


def plot_confusion(pl: _Plotter, matrix: list[list[int]], classes: list[str]):
    n = len(classes)
    side = min(6.5, max(3.0, 0.36 * n))                  # the matrix itself, inches
    label_in = 0.35 + _CHAR_IN * max((len(c) for c in classes), default=1)
    fig = pl.figure(side + label_in + 1.3, side + label_in + 0.5)
    _margins(fig, label_in + 0.1, 1.2, label_in, 0.45)
    ax = fig.add_subplot()
    ax.grid(False)
    vmax = max((max(r) for r in matrix), default=0) or 1
    im = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=vmax, interpolation="nearest")
    ax.set_xticks(range(n), labels=classes, fontsize=7.5)
    ax.set_yticks(range(n), labels=classes, fontsize=7.5)
    if n > 8 or max((len(c) for c in classes), default=0) > 3:
        for t in ax.get_xticklabels():
            t.set_rotation(45)
            t.set_ha("right")
    if n <= 20:
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                if v:
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                            color="white" if v > 0.55 * vmax else "#1f2328")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Confusion matrix (samples)")
    cax = fig.add_axes((1 - 1.0 / fig.get_size_inches()[0], ax.get_position().y0,
                        0.14 / fig.get_size_inches()[0], ax.get_position().height))
    fig.colorbar(im, cax=cax, label="samples")
    return fig


# -- content -------------------------------------------------------------------------------------------

def _layer_order(report: dict[str, Any]) -> list[str]:
    """Network order from the summary (report.json sorts dict keys; the summary's list keeps the order)."""
    order = [l.get("layer") for l in (report.get("summary") or {}).get("layers", []) if isinstance(l, dict)]
    layers = report.get("layers") or {}
    return [l for l in order if l in layers] + [l for l in layers if l not in order]


def _ordered(keys, order: list[str]) -> list[str]:
    keys = list(keys)
    return [k for k in order if k in keys] + [k for k in keys if k not in order]


def _placement_status(block: dict[str, Any]) -> tuple[str, str | None]:
    """("yes" | "no" | "unknown", reason)."""
    placement = block.get("placement") or {}
    if placement.get("fits"):
        return "yes", None
    problem = placement.get("problem") or block.get("note") or "no reason given"
    if problem.startswith("unknown"):
        return "unknown", problem.removeprefix("unknown:").strip()
    return "no", problem.removeprefix("does not fit:").strip()


def _missing_keys(block: dict[str, Any]) -> list[str]:
    tables = ("baseline",) if block.get("kind") == "baseline" else ("resources", "energy", "time")
    given = set(block.get("numbers") or {})
    return [f"{t}.{k}" for t in tables for k in TABLE_KEYS.get(t, ()) if f"{t}.{k}" not in given]


def _code_list(keys: list[str], notes: dict[str, str] | None = None) -> list[Run]:
    runs: list[Run] = []
    for i, k in enumerate(keys):
        if i:
            runs.append(("", ", "))
        runs.append(("code", k))
        if notes and k in notes:
            runs.append(("", f" ({notes[k]})"))
    return runs


def _share(part: float | None, total: float | None) -> str:
    if part is None or not total:
        return ""
    return f" ({fmt_num(100 * part / total)} %)"


class _Builder:
    def __init__(self, report: dict[str, Any], pl: _Plotter) -> None:
        self.r = report
        self.pl = pl
        self.blocks: list[Block] = []
        self.plots: list[Plot] = []
        self.order = _layer_order(report)
        self.profiles: dict[str, Any] = report.get("profiles") or {}
        self.chips = {k: v for k, v in self.profiles.items() if v.get("kind") != "baseline"}
        self.baselines = {k: v for k, v in self.profiles.items() if v.get("kind") == "baseline"}
        self._names: set[str] = set()

    # helpers
    def h(self, level: int, text: str, anchor: str | None = None) -> None:
        self.blocks.append(Heading(level, text, anchor or _slug(text)))

    def p(self, content: Inline, note: bool = False) -> None:
        self.blocks.append(Para(content, note))

    def ul(self, items: list[Inline]) -> None:
        if items:
            self.blocks.append(Bullets(items))

    def table(self, header: list[str], rows: list[list[Inline]], align: str) -> None:
        self.blocks.append(Table(header, rows, align))

    def fig(self, stem: str, fig, title: str, caption: str = "") -> None:
        name = stem
        i = 2
        while name in self._names:
            name = f"{stem}_{i}"
            i += 1
        self._names.add(name)
        plot = Plot(f"{name}.png", title, caption, self.pl.png(fig))
        self.plots.append(plot)
        self.blocks.append(FigureBlock(plot))

    def _why_missing(self, latency: bool = False) -> dict[str, str]:
        """Why a profile has no energy (or latency): it does not fit, or its placement or numbers are unknown."""
        relevant = ("time.", "baseline.macs_per_ns") if latency else ("",)
        why = {}
        for name, b in self.profiles.items():
            if b.get("kind") == "baseline":
                missing = (b.get("baseline") or {}).get("unknown_profile_numbers") or []
            else:
                status, _ = _placement_status(b)
                if status != "yes":
                    why[name] = "does not fit" if status == "no" else "unknown: no placement"
                    continue
                missing = (b.get("energy") or {}).get("unknown_profile_numbers") or []
            missing = [k for k in missing if k.startswith(relevant)]
            why[name] = "unknown: the profile does not give " + ", ".join(missing) if missing else "unknown"
        return why

    # sections
    def build(self) -> None:
        r = self.r
        self.h(1, f"Energy benchmark: {r.get('network', 'unknown')}")
        self.header()
        sections = [("Energy and latency per profile", True), ("Accuracy", True), ("NeuroBench metrics", True),
                    ("Activity per layer", True), ("Neuromorphic profiles", bool(self.chips)),
                    ("ANN baseline", True), ("Profile numbers and sources", True)]
        self.ul([[(f"link:#{_slug(s)}", s)] for s, shown in sections if shown])
        self.summary()
        self.accuracy()
        self.metrics()
        self.activity()
        self.chip_sections()
        self.baseline_section()
        self.numbers()

    def header(self) -> None:
        r = self.r
        art, data = r.get("artifact") or {}, r.get("data") or {}
        items: list[Inline] = [
            [("b", "Network: "), ("code", str(r.get("network", "unknown")))],
            [("b", "Artifact: "), ("code", str(art.get("path", "unknown"))),
             ("", f" (sha256 {_short(art.get('sha256'))})")],
            [("b", "Compiled for: "), ("code", str(art.get("compiled_for", "unknown"))),
             ("", f" ({fmt_num(art.get('steps_per_window'))} steps per window, "
                  f"{fmt_num(art.get('total_steps'))} time steps per inference)")],
            [("b", "Data: "), ("code", str(data.get("path", "unknown"))),
             ("", f" (sha256 {_short(data.get('sha256'))}): {fmt_num(data.get('samples'))} samples, "
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
                runs += [("", ", " if i else ""), ("", f"{k} "), ("code", _short(v))]
            items.append(runs)
        self.ul(items)
        self.p("Every number is per inference (one sample), averaged over the samples of the run, unless stated "
               "otherwise. \"unknown\" means a profile does not give a number the estimate needs; it is never "
               "taken as zero.", note=True)

    def summary(self) -> None:
        self.h(2, "Energy and latency per profile")
        if not self.profiles:
            self.p("No profile was benchmarked.")
            return
        rows: list[list[Inline]] = []
        for name, b in self.profiles.items():
            if b.get("kind") == "baseline":
                base = b.get("baseline") or {}
                total = base.get("total_pj")
                rows.append([[("code", name)], "ANN baseline", "n/a", "n/a", fmt_unit(total, "uJ", 1e6),
                             fmt_unit(base.get("dynamic_pj"), "uJ", 1e6) + _share(base.get("dynamic_pj"), total),
                             fmt_unit(base.get("static_pj"), "uJ", 1e6) + _share(base.get("static_pj"), total),
                             fmt_unit(base.get("latency_ns"), "ms", 1e6)])
                continue
            status, _ = _placement_status(b)
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
                             fmt_unit(e.get("dynamic_pj"), "uJ", 1e6) + _share(e.get("dynamic_pj"), total),
                             fmt_unit(e.get("static_pj"), "uJ", 1e6) + _share(e.get("static_pj"), total),
                             fmt_unit(e.get("latency_ns"), "ms", 1e6)])
        self.table(["Profile", "Kind", "Fits", "Cores used / available", "Energy / inference", "Dynamic", "Static",
                    "Latency"], rows, "lllrrrrr")
        notes: list[Inline] = []
        for name, b in self.chips.items():
            status, reason = _placement_status(b)
            if status == "no":
                notes.append([("code", name), ("", ": "), ("bad", "does not fit"), ("", f": {reason}")])
            elif status == "unknown":
                notes.append([("code", name), ("", f": placement unknown: {reason}")])
            elif b.get("energy") and b["energy"].get("unknown_profile_numbers"):
                notes.append([("code", name), ("", ": unknown because the profile does not give ")]
                             + _code_list(b["energy"]["unknown_profile_numbers"]))
        for name, b in self.baselines.items():
            missing = (b.get("baseline") or {}).get("unknown_profile_numbers") or []
            if missing:
                notes.append([("code", name), ("", ": unknown because the profile does not give ")]
                             + _code_list(missing))
        self.ul(notes)
        self.energy_comparison()
        self.latency()
        self.cores()

    def energy_comparison(self) -> None:
        """Total energy per profile; where only the static part is unknown, the dynamic part as a lower bound."""
        entries: list[tuple[str, float, str]] = []
        unknown: list[str] = []
        partial: list[str] = []
        for name, b in self.profiles.items():
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
            self.p([("", "Energy 0 (not drawn on the log scale): ")] + _code_list(zero) + [("", ".")])
        if entries:
            fig = _hbar(self.pl, entries, "Energy per inference (uJ, log scale)", "energy per inference (uJ)",
                        _KIND_COLORS, _KIND_LEGEND, log=True)
            caption = ("Energy per inference on each profile, neuromorphic chips running the SNN and conventional "
                       "processors running the ReLU ANN counterpart (uJ, log scale).")
            if partial:
                caption += (" Hatched: dynamic energy only, a lower bound, because the static energy is unknown ("
                            + ", ".join(partial) + ").")
            self.fig("energy_comparison", fig, "Energy per inference per profile (uJ, log scale)", caption)
        if unknown:
            self.p([("", "Not in the comparison: ")] + _code_list(unknown, self._why_missing()) + [("", ".")])
        ratios: list[Inline] = []
        for name, b in self.chips.items():
            total = (b.get("energy") or {}).get("total_pj")
            for base_name, base in self.baselines.items():
                bt = (base.get("baseline") or {}).get("total_pj")
                if total is not None and bt:
                    ratios.append([("code", name), ("", f" uses {fmt_num(total / bt)} x the energy of the ANN on "),
                                   ("code", base_name), ("", " (on-chip weights).")])
        self.ul(ratios)

    def latency(self) -> None:
        entries: list[tuple[str, float, str]] = []
        unknown: list[str] = []
        for name, b in self.profiles.items():
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
            fig = _hbar(self.pl, entries, "Latency per inference (ms" + (", log scale)" if log else ")"),
                        "latency per inference (ms)", _KIND_COLORS, _KIND_LEGEND, log=log)
            self.fig("latency", fig, "Latency per inference per profile (ms)",
                     "Latency of one inference on each profile (ms).")
        if unknown:
            self.p([("", "Latency not in the chart: ")] + _code_list(unknown, self._why_missing(latency=True))
                   + [("", ".")])

    def cores(self) -> None:
        entries = [(name, b["placement"]) for name, b in self.chips.items()
                   if (b.get("placement") or {}).get("cores_used") is not None]
        if entries:
            self.fig("cores", plot_cores(self.pl, entries, self.order), "Cores used per profile, by layer (cores)",
                     "Cores each layer takes on each chip, stacked, with the cores the chip has (dashed mark).")
        unknown = [name for name, b in self.chips.items() if (b.get("placement") or {}).get("cores_used") is None]
        if unknown:
            self.p([("", "Cores used unknown (no placement): ")] + _code_list(unknown) + [("", ".")])

    def accuracy(self) -> None:
        self.h(2, "Accuracy")
        acc = self.r.get("accuracy")
        if not acc:
            self.p("The data has no labels, so accuracy is not reported.")
            return
        samples = sum(sum(row) for row in acc.get("confusion_matrix") or [])
        self.ul([[("b", "WAR "), ("", f"(overall accuracy): {fmt_pct(acc.get('war'))} of {fmt_num(samples)} samples")],
                 [("b", "UAR "), ("", f"(mean recall over the classes present): {fmt_pct(acc.get('uar'))}")]])
        classes = [str(c) for c in acc.get("classes") or []]
        matrix = acc.get("confusion_matrix") or []
        recall = acc.get("per_class_recall") or {}
        rows: list[list[Inline]] = []
        for i, c in enumerate(classes):
            row = matrix[i] if i < len(matrix) else []
            support = sum(row)
            rec = recall.get(c)
            rows.append([[("code", c)], fmt_num(support), fmt_num(row[i] if i < len(row) else None),
                         "no samples" if rec is None and support == 0 else fmt_pct(rec)])
        self.h(3, "Recall per class")
        self.table(["Class", "Samples", "Correct", "Recall"], rows, "lrrr")
        if matrix:
            self.h(3, "Confusion matrix")
            self.p("Rows: true class; columns: predicted class; cells: samples.", note=True)
            self.table(["true / predicted", *classes],
                       [[[("b", c)], *[fmt_num(v) for v in matrix[i]]] for i, c in enumerate(classes)],
                       "l" + "r" * len(classes))
            self.fig("confusion", plot_confusion(self.pl, matrix, classes), "Confusion matrix (samples)",
                     "Samples per true class (rows) and predicted class (columns).")

    def metrics(self) -> None:
        self.h(2, "NeuroBench metrics")
        m = self.r.get("metrics") or {}
        if not m:
            self.p("No metrics in the report.")
            return
        keys = [k for k in _METRICS if k in m] + sorted(k for k in m if k not in _METRICS)
        rows: list[list[Inline]] = []
        for k in keys:
            v = m[k]
            value = fmt_num(v)
            if k.startswith("activation_sparsity") and isinstance(v, (int, float)) and v < 1:
                value += f" ({fmt_num(100 * (1 - v))} % active)"
            rows.append([[("code", k)], value, _METRICS.get(k, "")])
        self.table(["Metric", "Value", "Meaning"], rows, "lrl")

    def activity(self) -> None:
        self.h(2, "Activity per layer")
        layers = self.r.get("layers") or {}
        if not layers:
            self.p("No layer activity in the report.")
            return
        rows: list[list[Inline]] = []
        for name in self.order:
            a = layers[name]
            rows.append([[("code", name)], str(a.get("kind", "")), fmt_num(a.get("neurons")),
                         fmt_num(a.get("synapses")), fmt_num(a.get("spikes")), fmt_num(a.get("spikes_per_neuron")),
                         fmt_num(a.get("synaptic_events")), fmt_num(a.get("effective_synaptic_events")),
                         fmt_num(a.get("active_updates")), fmt_num(a.get("idle_updates")),
                         fmt_pct(a.get("activation_sparsity"))])
        self.table(["Layer", "Kind", "Neurons", "Synapses", "Spikes", "Spikes / neuron", "Synaptic events",
                    "Effective events", "Active updates", "Idle updates", "Silent neurons"], rows, "llrrrrrrrrr")
        self.p("Per sample: spikes sent; synaptic events received (spike x fan-out) and those through non-zero "
               "weights; neuron updates in the layer's own windows (active) and in all other steps (idle); share "
               "of neurons that never spike.", note=True)
        self.fig("spikes_per_layer", plot_spikes(self.pl, layers, self.order), "Spikes per layer (per sample)")
        samples = int((self.r.get("data") or {}).get("samples") or 1)
        fig = plot_spike_times(self.pl, layers, self.order, samples)
        no_hist = [n for n in self.order if not layers[n].get("spike_step_histogram")]
        if fig is not None:
            self.fig("spike_times", fig, "Spike times per layer (spikes per sample per step)",
                     "When in its window each layer spikes (time-to-first-spike: earlier means a larger value); "
                     f"counts over all samples divided by {fmt_num(samples)}.")
        if no_hist:
            self.p([("", "No spike-time histogram (the layer sends no spikes on chip, e.g. the readout): ")]
                   + _code_list(no_hist) + [("", ".")], note=True)

    def chip_sections(self) -> None:
        if not self.chips:
            return
        self.h(2, "Neuromorphic profiles")
        for name, b in self.chips.items():
            self.h(3, f"Profile {name}", f"profile-{_slug(name)}")
            self.ul([[("b", "Chip: "), ("", str(b.get("chip", "unknown")))],
                     [("b", "Profile file: "), ("code", str(b.get("file", "unknown"))),
                      ("", f" (sha256 {_short(b.get('sha256'))})")]])
            status, reason = _placement_status(b)
            placement = b.get("placement") or {}
            if status == "yes":
                self.p(f"Fits: uses {fmt_num(placement.get('cores_used'))} of "
                       f"{fmt_num(placement.get('cores_available'))} cores.")
            elif status == "no":
                self.p([("", "The network "), ("bad", "does not fit"), ("", f" on {name}: {reason}.")])
            else:
                self.p(f"Placement unknown: {reason}.")
            players = placement.get("layers") or {}
            if players:
                self.table(["Layer", "Cores", "First core", "Limited by"],
                           [[[("code", l)], fmt_num(players[l].get("cores")), fmt_num(players[l].get("first_core")),
                             [("code", str(players[l].get("limited_by")))]]
                            for l in _ordered(players, self.order)], "lrrl")
            e = b.get("energy")
            if e is None:
                why = "the network does not fit" if status == "no" else "the placement is unknown"
                self.p(f"Energy and latency not estimated: {why}; no energy chart for {name}.")
            else:
                self.chip_energy(name, e)
            unknown_used = (e or {}).get("unknown_profile_numbers") or []
            if unknown_used:
                self.p([("", "Unknown numbers this estimate needs: ")] + _code_list(unknown_used) + [("", ".")])
            missing = [k for k in _missing_keys(b) if k not in unknown_used]
            if missing:
                self.p([("", ("Also not" if unknown_used else "Not") + " given by the profile (unknown): ")]
                       + _code_list(missing, _DEFAULTS) + [("", ".")], note=True)
            elif not unknown_used:
                self.p("The profile gives every number of [resources], [energy] and [time].", note=True)

    def chip_energy(self, name: str, e: dict[str, Any]) -> None:
        total = e.get("total_pj")
        busiest = e.get("busiest_layer_steps") or {}
        items: list[Inline] = [
            [("b", "Energy per inference: "), ("", fmt_unit(total, "uJ", 1e6))],
            [("b", "Dynamic: "), ("", fmt_unit(e.get("dynamic_pj"), "uJ", 1e6) + _share(e.get("dynamic_pj"), total))],
            [("b", "Static: "), ("", fmt_unit(e.get("static_pj"), "uJ", 1e6) + _share(e.get("static_pj"), total)
                                 + " (static power x latency)")],
            [("b", "Latency: "), ("", fmt_unit(e.get("latency_ns"), "ms", 1e6))],
        ]
        if busiest:
            runs: list[Run] = [("b", "Busiest layer "), ("", "(time steps in which it set the pace): ")]
            for i, l in enumerate(sorted(busiest, key=lambda k: (-busiest[k], k))):
                runs += [("", ", " if i else ""), ("code", l), ("", f" {busiest[l]}")]
            items.append(runs)
        self.ul(items)
        layers_pj = e.get("layers_pj") or {}
        if not layers_pj:
            return
        from .model import COMPONENTS
        comps = list(COMPONENTS) + sorted({c for v in layers_pj.values() for c in v} - set(COMPONENTS))
        known = [v for l in layers_pj.values() for v in l.values() if v is not None]
        unit, scale = energy_unit(max(known) if known else 0.0)
        rows: list[list[Inline]] = []
        col_totals: list[float | None] = [0.0] * (len(comps) + 1)
        for l in _ordered(layers_pj, self.order):
            vals = [layers_pj[l].get(c) for c in comps]
            row_total = None if any(v is None for v in vals) else sum(vals)
            for i, v in enumerate([*vals, row_total]):
                col_totals[i] = None if v is None or col_totals[i] is None else col_totals[i] + v
            rows.append([[("code", l)], *[fmt_unit(v, unit, scale) for v in vals], fmt_unit(row_total, unit, scale)])
        rows.append([[("b", "all layers")], *[fmt_unit(v, unit, scale) for v in col_totals]])
        self.table(["Layer", *[_COMPONENT_LABELS.get(c, c) for c in comps], "dynamic total"], rows,
                   "l" + "r" * (len(comps) + 1))
        fig, unknown = plot_energy_layers(self.pl, name, e, self.order)
        if fig is None:
            self.p(f"No energy chart for {name}: every component is unknown.")
            return
        caption = f"Dynamic energy per inference of each layer on {name}, by component."
        if unknown:
            caption += f" Not drawn (unknown): {', '.join(_COMPONENT_LABELS.get(c, c) for c in unknown)}."
        if e.get("static_pj") is not None:
            caption += f" Static energy ({fmt_energy(e['static_pj'])}) is chip-wide and not drawn per layer."
        self.fig(f"energy_layers_{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}", fig,
                 f"Energy per layer on {name} (per inference)", caption)

    def baseline_section(self) -> None:
        self.h(2, "ANN baseline")
        if not self.baselines:
            self.p("No baseline profile (kind = \"baseline\") was benchmarked, so there is no ANN comparison.")
            return
        self.p("The ReLU ANN counterpart of the network on a conventional processor: MACs and 8-bit memory traffic "
               "from the genome; energy = MACs x mac_pj + (weight bytes + 2 x activation bytes) x SRAM pJ/byte "
               "+ static power x latency.", note=True)
        for name, b in self.baselines.items():
            base = b.get("baseline") or {}
            self.h(3, f"Baseline {name}", f"baseline-{_slug(name)}")
            total = base.get("total_pj")
            self.ul([
                [("b", "Processor: "), ("", str(b.get("chip", "unknown"))), ("", " ("), ("code", str(b.get("file"))),
                 ("", f", sha256 {_short(b.get('sha256'))})")],
                [("b", "Work: "), ("", f"{fmt_num(base.get('macs'))} MACs, {fmt_num(base.get('weight_bytes'))} weight "
                                       f"bytes, {fmt_num(base.get('activation_bytes'))} activation bytes")],
                [("b", "Energy per inference: "), ("", fmt_unit(total, "uJ", 1e6) + " with on-chip weights; "
                                                    + fmt_unit(base.get("total_with_dram_weights_pj"), "uJ", 1e6)
                                                    + " with weights from DRAM")],
                [("b", "Dynamic / static: "), ("", fmt_unit(base.get("dynamic_pj"), "uJ", 1e6)
                                               + _share(base.get("dynamic_pj"), total) + " / "
                                               + fmt_unit(base.get("static_pj"), "uJ", 1e6)
                                               + _share(base.get("static_pj"), total))],
                [("b", "Latency: "), ("", fmt_unit(base.get("latency_ns"), "ms", 1e6))],
            ])
            per_node = base.get("macs_per_node") or {}
            if per_node:
                macs = sum(per_node.values()) or 1
                self.table(["Node", "MACs", "Share"],
                           [[[("code", n)], fmt_num(v), f"{fmt_num(100 * v / macs)} %"]
                            for n, v in per_node.items()], "lrr")
            unknown_used = base.get("unknown_profile_numbers") or []
            if unknown_used:
                self.p([("", "Unknown numbers this estimate needs: ")] + _code_list(unknown_used) + [("", ".")])
            missing = [k for k in _missing_keys(b) if k not in unknown_used]
            if missing:
                self.p([("", ("Also not" if unknown_used else "Not") + " given by the profile (unknown): ")]
                       + _code_list(missing, _DEFAULTS) + [("", ".")], note=True)

    def numbers(self) -> None:
        self.h(2, "Profile numbers and sources")
        self.p("Every number each profile gives, with where it comes from (a published source, or the reasoning "
               "behind an estimate). Units follow the key: pj picojoules, mw milliwatts, ns nanoseconds.", note=True)
        for name, b in self.profiles.items():
            numbers = b.get("numbers") or {}
            self.h(3, f"Numbers of {name}", f"numbers-{_slug(name)}")
            if not numbers:
                self.p(f"{name} gives no numbers for [resources], [energy], [time] or [baseline]: all unknown.")
                continue
            self.table(["Key", "Value", "Source"],
                       [[[("code", k)], _exact(q.get("value")), str(q.get("provenance", ""))]
                        for k, q in sorted(numbers.items())], "lrl")


def _exact(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:g}" if isinstance(value, float) else str(value)


# -- entry point ---------------------------------------------------------------------------------------

def build_document(report: dict[str, Any]) -> tuple[list[Block], list[Plot]]:
    pl = _Plotter()
    with pl.context():
        builder = _Builder(report, pl)
        builder.build()
    return builder.blocks, builder.plots


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
