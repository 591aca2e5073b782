"""The report's document model and the text helpers shared by its renderers and section builders.

A report is a flat list of blocks (`Heading`, `Para`, `Bullets`, `Table`, `FigureBlock`) whose text is either
a plain string or a list of styled runs; `markdown` and `html` render the same list, so both documents carry
the same content. The number formatters here show a number a profile does not give as "unknown", never as 0.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Union

#: Folder (inside the report's output folder) that holds the plots as PNG files.
PLOTS_DIR = "plots"
#: Display names of the energy components of `energy.model.COMPONENTS`.
COMPONENT_LABELS = {"synaptic": "synaptic ops", "neuron_active": "neuron updates (active)",
                    "neuron_idle": "neuron updates (idle)", "spike_out": "spikes sent", "routing": "spike routing"}


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
    """`value / scale` with its unit, e.g. "1.23 uJ"; "unknown" for None."""
    return "unknown" if value is None else f"{fmt_num(value / scale)} {unit}"


def fmt_band(band: Any) -> str:
    """" [9.1, 15.0]": an uncertainty band [low, high] (already in the value's unit) to follow the value;
    empty when there is none (or it is not a pair of numbers)."""
    if not isinstance(band, (list, tuple)) or len(band) != 2 or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) for v in band):
        return ""
    return f" [{fmt_num(band[0]).replace(',', '')}, {fmt_num(band[1]).replace(',', '')}]"  # no 1,000 in [a, b]


def fmt_banded(value: float | None, unit: str, band: Any, scale: float = 1.0) -> str:
    """`value / scale` with its unit and its band (already in that unit): "42.7 uJ [38.1, 47.3]"; without
    thousands separators when there is a band, whose ends a comma separates; the value alone without one."""
    text = fmt_unit(value, unit, scale)
    band_text = fmt_band(band) if value is not None else ""
    return text.replace(",", "") + band_text if band_text else text


def band_pair(band: Any) -> tuple[float, float] | None:
    """The band as (low, high) floats; None when there is none (or it is not a pair of finite numbers)."""
    if not fmt_band(band):
        return None
    low, high = float(band[0]), float(band[1])
    return (low, high) if math.isfinite(low) and math.isfinite(high) else None


def fmt_signed_pct(value: float | None) -> str:
    """A percentage with its sign, e.g. "+3.21 %" or "-0.540 %"; "unknown" for None."""
    if value is None:
        return "unknown"
    return ("+" if value > 0 else "") + f"{fmt_num(value)} %"


def fmt_pct(share: float | None) -> str:
    """A share (0..1) as a percentage, e.g. "12.5 %"; "unknown" for None."""
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
    """An energy in picojoules, in the unit that suits its size; "unknown" for None."""
    if pj is None:
        return "unknown"
    unit, scale = energy_unit(pj)
    return f"{fmt_num(pj / scale)} {unit}"


def short_sha(sha: str | None) -> str:
    """The first 12 hex digits of a digest; "unknown" when there is none."""
    return "unknown" if not sha else sha[:12]


#: Characters no document should carry: lone surrogates, and control characters other than tab and newline.
_UNWRITABLE = re.compile("[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")


def encodable(value: Any) -> Any:
    """`value` (report.json's dict) with every lone surrogate and control character (but tab and newline) in
    its strings, keys included, replaced by U+FFFD.

    JSON may escape half of a UTF-16 pair ("\\ud800" in a class name); Python keeps it as a lone surrogate,
    which no UTF-8 file and no font can hold, and a NUL is no text for HTML or Markdown. report.json escapes
    them (ASCII JSON); the documents show the replacement character instead.
    """
    if isinstance(value, str):
        return _UNWRITABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {encodable(k): encodable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(encodable(v) for v in value)
    return value


def slug(text: str) -> str:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", text.lower()).strip().replace(" ", "-")


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


def runs_of(content: Inline) -> list[Run]:
    """Inline content as styled runs (a plain string is one unstyled run)."""
    return [("", content)] if isinstance(content, str) else content
