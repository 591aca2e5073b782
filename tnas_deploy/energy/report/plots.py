"""The report's plots: matplotlib figures (Agg canvas, no pyplot state) with fixed settings and metadata, so
the same report gives byte-identical PNGs. Margins are set by hand in inches: layout engines are slow."""
from __future__ import annotations

import io
import math
import warnings
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .document import COMPONENT_LABELS, energy_unit, fmt_band, fmt_num

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_COMPONENT_COLORS = {"synaptic": "#4c72b0", "neuron_active": "#dd8452", "neuron_idle": "#b8b8b8",
                     "spike_out": "#8172b3", "routing": "#55a868"}
_RC = {"svg.hashsalt": "tnas-deploy", "svg.fonttype": "path", "font.family": "DejaVu Sans", "font.size": 8.5,
       "axes.titlesize": 9.5, "axes.titleweight": "bold", "axes.spines.top": False, "axes.spines.right": False,
       "axes.grid": True, "axes.grid.axis": "y", "grid.color": "#e4e4e4", "grid.linewidth": 0.6, "axes.axisbelow": True,
       "legend.fontsize": 8, "legend.frameon": False, "figure.dpi": 100, "image.cmap": "Blues",
       # labels are names from the user's files (class names): "$" is a dollar sign, not mathtext to parse
       "text.parse_math": False}
_DPI = 110


class Plotter:
    """Matplotlib (Agg, no pyplot state) with fixed settings, so the same report gives identical PNGs."""

    def __init__(self) -> None:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        self._mpl, self._canvas, self._figure = matplotlib, FigureCanvasAgg, Figure

    def figure(self, width: float, height: float) -> Figure:
        """A new figure of `width` x `height` inches on an Agg canvas."""
        fig = self._figure(figsize=(width, height))   # margins set by hand (_margins): layout engines are slow
        self._canvas(fig)
        return fig

    def png(self, fig: Figure) -> bytes:
        """The figure as PNG bytes (fixed dpi, no software metadata)."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None}, facecolor="white")
        return buf.getvalue()

    def context(self) -> AbstractContextManager[Any]:
        """The report's matplotlib settings, for the duration of a `with` block. A character the font lacks
        (a class name in another script) is drawn as a box, without a warning per glyph on stderr."""
        stack = ExitStack()
        stack.enter_context(self._mpl.rc_context(_RC))
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        return stack


def _layer_colors(names: list[str]) -> dict[str, str]:
    from matplotlib import colormaps
    cmap = colormaps["tab20" if len(names) > 10 else "tab10"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


_CHAR_IN = 0.066          # mean width of a character at the tick label size, inches


def _margins(fig: Figure, left: float, right: float, bottom: float, top: float, **space: float) -> None:
    """Fixed margins in inches (no layout engine: constrained layout costs most of the drawing time)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h, **space)


def _crowded(labels: list[str]) -> bool:
    return len(labels) > 6 or max((len(s) for s in labels), default=0) * len(labels) > 60


def _rotate(ax: Axes) -> None:
    for t in ax.get_xticklabels():
        t.set_rotation(35)
        t.set_ha("right")


def _bottom_for(labels: list[str]) -> float:
    """Bottom margin (inches) for x tick labels, rotated when crowded, plus the axis label."""
    if not _crowded(labels):
        return 0.5
    return 0.35 + 0.6 * _CHAR_IN * max((len(s) for s in labels), default=1)


def plot_energy_layers(pl: Plotter, profile: str, energy: dict[str, Any], order: list[str]
                       ) -> tuple[Figure | None, list[str]]:
    """Stacked bars of energy per layer and component; components unknown in any layer are left out."""
    from ..model import COMPONENTS
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
        ax.bar(layers, vals, bottom=bottom, label=COMPONENT_LABELS.get(c, c), color=_COMPONENT_COLORS.get(c),
               width=0.65)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel(f"energy per inference ({unit})")
    ax.set_title(f"Dynamic energy per layer on {profile} ({unit} per inference)")
    ax.legend(loc="upper right", ncols=2 if len(known) > 2 else 1)
    ax.set_ylim(0, max(bottom) * 1.3 if max(bottom) > 0 else 1)
    if _crowded(layers):
        _rotate(ax)
    return fig, unknown


def plot_spikes(pl: Plotter, layers: dict[str, Any], order: list[str]) -> Figure:
    """Bars of the mean spikes per sample of each layer."""
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


def plot_spike_times(pl: Plotter, layers: dict[str, Any], order: list[str], samples: int) -> Figure | None:
    """One small histogram per layer of its spikes per sample in each step of its window; None without any."""
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


#: Bar colours, hatches and legend entries of the per-profile comparison charts, by kind of entry.
KIND_COLORS = {"neuromorphic": "#4c72b0", "neuromorphic_dynamic": "#9db3d9", "baseline": "#dd8452",
               "baseline_dram": "#f2c09b", "baseline_dynamic": "#f2c09b"}
_KIND_HATCH = {"neuromorphic_dynamic": "///", "baseline_dynamic": "///"}
KIND_LEGEND = {"neuromorphic": "neuromorphic chip (SNN)",
               "neuromorphic_dynamic": "neuromorphic chip, dynamic only (static unknown)",
               "baseline": "ANN baseline", "baseline_dram": "ANN baseline, weights from DRAM",
               "baseline_dynamic": "ANN baseline, dynamic only (static unknown)"}
_STATIC_TINT = 0.6        # a bar's static part: its kind's colour this far towards white
_STATIC_SWATCH = "#59636e"
_STATIC_LEGEND = "static part (lighter shade at the bar's end)"
_BAND_COLOR = "#1f2328"


@dataclass
class HBar:
    """One bar of a comparison chart: `value` (the total), its `kind` (colour and legend entry), the `static`
    part drawn lighter at the bar's end when it is known, and the uncertainty `band` (low, high) drawn as an
    error bar when there is one."""
    label: str
    value: float
    kind: str
    static: float | None = None
    band: tuple[float, float] | None = None


def _tint(color: str, amount: float) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb
    return tuple(c + (1.0 - c) * amount for c in to_rgb(color))  # type: ignore[return-value]


def _bar_text(bar: HBar) -> str:
    return fmt_num(bar.value).replace(",", "") + fmt_band(bar.band) if bar.band else fmt_num(bar.value)


def plot_hbar(pl: Plotter, bars: list[HBar], title: str, xlabel: str, colors: dict[str, str],
              legend: dict[str, str], log: bool) -> Figure:
    """Horizontal bars coloured by kind, the known static part of each stacked lighter after its dynamic part,
    asymmetric error bars over the uncertainty bands, each bar labelled with its value and band, and a legend
    when more than one kind of bar is drawn."""
    bars = bars[::-1]                                         # the first entry on top
    kinds = [k for k in colors if any(b.kind == k for b in bars)]
    stacked = any(b.static is not None for b in bars)
    names = [legend[k] for k in kinds] + ([_STATIC_LEGEND] if stacked else [])
    legend_in = 0.7 + _CHAR_IN * max(len(n) for n in names) if len(names) > 1 else 0.2
    left_in = 0.25 + _CHAR_IN * max(len(b.label) for b in bars)
    label_in = 0.15 + 0.9 * _CHAR_IN * max(len(_bar_text(b)) for b in bars)   # value labels are smaller
    width = max(6.8, left_in + legend_in + label_in + 3.4)
    fig = pl.figure(width, max(1.7, 0.36 * len(bars) + 1.05))
    _margins(fig, left_in, legend_in, 0.5, 0.35)
    ax = fig.add_subplot()
    y = list(range(len(bars)))
    dynamic = [b.value - (b.static or 0.0) for b in bars]
    ax.barh(y, dynamic, color=[colors[b.kind] for b in bars], height=0.6,
            hatch=[_KIND_HATCH.get(b.kind) for b in bars], edgecolor="white", linewidth=0)
    parts = [(i, b) for i, b in enumerate(bars) if b.static]
    if parts:
        ax.barh([i for i, _ in parts], [b.static for _, b in parts], left=[dynamic[i] for i, _ in parts],
                color=[_tint(colors[b.kind], _STATIC_TINT) for _, b in parts], height=0.6, edgecolor="white",
                linewidth=0)
    banded = [(i, b) for i, b in enumerate(bars) if b.band]
    if banded:      # asymmetric: value - low to the left, high - value to the right (never negative)
        ax.errorbar([b.value for _, b in banded], [i for i, _ in banded], fmt="none", ecolor=_BAND_COLOR,
                    elinewidth=1.0, capsize=3, capthick=1.0,
                    xerr=[[max(0.0, b.value - b.band[0]) for _, b in banded],
                          [max(0.0, b.band[1] - b.value) for _, b in banded]])
    ends = [max(b.value, b.band[1]) if b.band else b.value for b in bars]
    for i, (b, end) in enumerate(zip(bars, ends)):
        ax.annotate(_bar_text(b), (end, i), xytext=(4, 0), textcoords="offset points", va="center", fontsize=7.5)
    ax.set_yticks(y, labels=[b.label for b in bars])
    room = label_in / max(0.5, width - left_in - legend_in - label_in)   # label room, as a share of the data span
    if log:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
        ax.set_xscale("log")
        lows = [v for b, d in zip(bars, dynamic) for v in (b.value, d, b.band[0] if b.band else b.value) if v > 0]
        lo, hi = min(lows) / 3, max(ends) * 1.5
        ax.set_xlim(lo, hi * (hi / lo) ** room)
        ax.xaxis.set_major_locator(LogLocator(base=10, numticks=8))
        ax.xaxis.set_minor_locator(NullLocator())          # minor log ticks cost time and add nothing here
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}".replace("e+0", "e").replace("e+", "e")))
    else:                                                                     # 0.1, 1, 10, 1e6 (no mathtext)
        hi = max(ends) * 1.05 if max(ends) > 0 else 1.0
        ax.set_xlim(0, hi * (1 + room))
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", visible=True)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    if len(names) > 1:
        from matplotlib.patches import Patch
        handles = [Patch(facecolor=colors[k], hatch=_KIND_HATCH.get(k), edgecolor="white", label=legend[k])
                   for k in kinds]
        if stacked:
            handles.append(Patch(facecolor=_tint(_STATIC_SWATCH, _STATIC_TINT), edgecolor="white",
                                 label=_STATIC_LEGEND))
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def plot_cores(pl: Plotter, entries: list[tuple[str, dict[str, Any]]], order: list[str]) -> Figure:
    """Cores used per profile (placement dicts), stacked by layer, with the cores each chip has."""
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


def plot_confusion(pl: Plotter, matrix: list[list[int]], classes: list[str]) -> Figure:
    """The confusion matrix as a heat map (rows: true class, columns: predicted class)."""
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
