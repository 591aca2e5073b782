"""The document being built from report.json's dict, and the helpers the section modules share.

`DocumentBuilder` holds the report, the growing list of blocks and the plots (with unique file names);
the `sections_*` modules add their sections to it. The helpers read the report's profile blocks
(placement status, numbers a profile leaves out) and format small pieces of text.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from ...profiles import TABLE_KEYS
from .document import Block, Bullets, FigureBlock, Heading, Inline, Para, Plot, Run, Table, fmt_num, slug
from .plots import Plotter

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Profile keys with a default, so their absence changes nothing but is still worth saying.
PROFILE_DEFAULTS = {"resources.chips": "1 chip assumed", "resources.mesh_columns": "square mesh assumed",
                    "baseline.dram_access_pj_per_byte": "no DRAM figure",
                    "baseline.process_node_nm": "for information only"}


def layer_order(report: dict[str, Any]) -> list[str]:
    """Network order from the summary (report.json sorts dict keys; the summary's list keeps the order)."""
    order = [l.get("layer") for l in (report.get("summary") or {}).get("layers", []) if isinstance(l, dict)]
    layers = report.get("layers") or {}
    return [l for l in order if l in layers] + [l for l in layers if l not in order]


def ordered_keys(keys: Iterable[str], order: list[str]) -> list[str]:
    """`keys` in network order, then those not in `order` as they come."""
    keys = list(keys)
    return [k for k in order if k in keys] + [k for k in keys if k not in order]


def placement_status(block: dict[str, Any]) -> tuple[str, str | None]:
    """("yes" | "no" | "unknown", reason)."""
    placement = block.get("placement") or {}
    if placement.get("fits"):
        return "yes", None
    problem = placement.get("problem") or block.get("note") or "no reason given"
    if problem.startswith("unknown"):
        return "unknown", problem.removeprefix("unknown:").strip()
    return "no", problem.removeprefix("does not fit:").strip()


def missing_keys(block: dict[str, Any]) -> list[str]:
    """The table keys ("table.key") a profile block does not give."""
    tables = ("baseline",) if block.get("kind") == "baseline" else ("resources", "energy", "time")
    given = set(block.get("numbers") or {})
    return [f"{t}.{k}" for t in tables for k in TABLE_KEYS.get(t, ()) if f"{t}.{k}" not in given]


def code_list(keys: list[str], notes: dict[str, str] | None = None) -> list[Run]:
    """The keys as code, comma separated, each followed by its note (in parentheses) if it has one."""
    runs: list[Run] = []
    for i, k in enumerate(keys):
        if i:
            runs.append(("", ", "))
        runs.append(("code", k))
        if notes and k in notes:
            runs.append(("", f" ({notes[k]})"))
    return runs


def share_suffix(part: float | None, total: float | None) -> str:
    """" (12.5 %)": `part` as a percentage of `total`; empty when either is unknown (or the total is 0)."""
    if part is None or not total:
        return ""
    return f" ({fmt_num(100 * part / total)} %)"


class DocumentBuilder:
    """The report dict, the blocks and plots built from it so far, and the profiles split by kind."""

    def __init__(self, report: dict[str, Any], plotter: Plotter) -> None:
        self.report = report
        self.plotter = plotter
        self.blocks: list[Block] = []
        self.plots: list[Plot] = []
        self.order = layer_order(report)
        self.profiles: dict[str, Any] = report.get("profiles") or {}
        self.chips = {k: v for k, v in self.profiles.items() if v.get("kind") != "baseline"}
        self.baselines = {k: v for k, v in self.profiles.items() if v.get("kind") == "baseline"}
        self._names: set[str] = set()

    def heading(self, level: int, text: str, anchor: str | None = None) -> None:
        self.blocks.append(Heading(level, text, anchor or slug(text)))

    def para(self, content: Inline, note: bool = False) -> None:
        self.blocks.append(Para(content, note))

    def bullets(self, items: list[Inline]) -> None:
        """A bulleted list; nothing when `items` is empty."""
        if items:
            self.blocks.append(Bullets(items))

    def table(self, header: list[str], rows: list[list[Inline]], align: str) -> None:
        self.blocks.append(Table(header, rows, align))

    def figure(self, stem: str, fig: Figure, title: str, caption: str = "") -> None:
        """The figure as plot `stem`.png (`stem`_2.png, ... if the name is taken) and its block."""
        name = stem
        i = 2
        while name in self._names:
            name = f"{stem}_{i}"
            i += 1
        self._names.add(name)
        plot = Plot(f"{name}.png", title, caption, self.plotter.png(fig))
        self.plots.append(plot)
        self.blocks.append(FigureBlock(plot))

    def why_missing(self, latency: bool = False) -> dict[str, str]:
        """Why a profile has no energy (or latency): it does not fit, or its placement or numbers are unknown."""
        relevant = ("time.", "baseline.macs_per_ns") if latency else ("",)
        why = {}
        for name, b in self.profiles.items():
            if b.get("kind") == "baseline":
                missing = (b.get("baseline") or {}).get("unknown_profile_numbers") or []
            else:
                status, _ = placement_status(b)
                if status != "yes":
                    why[name] = "does not fit" if status == "no" else "unknown: no placement"
                    continue
                missing = (b.get("energy") or {}).get("unknown_profile_numbers") or []
            missing = [k for k in missing if k.startswith(relevant)]
            why[name] = ("unknown: the profile does not give " + ", ".join(missing) if missing
                         else str(b.get("note") or "unknown"))
        return why
