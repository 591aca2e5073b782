"""Uncertainty bands, validation and the static mode in the bench report and the `bench` command line.

Rendered from hand-made report dicts shaped like report.json (docs/energy.md, "Reading the report: bands and
validation"), so every case is here whatever the bundled profiles currently give: a fitted chip with bands and
a held-out validation, an unfitted one without, one whose energy is unknown with a note, one the network does
not fit, and an ANN baseline; and the same report with none of the band fields (an earlier report version).
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from tnas_deploy.cli import main
from tnas_deploy.cli.bench import summary_lines
from tnas_deploy.cli.parser import STATIC_MODES
from tnas_deploy.energy.model import STATIC_MODES as MODEL_STATIC_MODES
from tnas_deploy.energy.report import build_document, render_html, render_markdown
from tnas_deploy.energy.report.document import fmt_band, fmt_banded
from tnas_deploy.energy.report.plots import HBar, Plotter, plot_hbar

BAND_FIELDS = ("band_uj", "latency_band_ms", "static_mode", "static_share", "validation", "latency_validation",
               "fitted_on", "latency_fitted_on", "validations", "model")
HELD_OUT = {"source": "Made-up et al. 2031, Table 2", "published": 42.0, "modelled": 41.2, "unit": "uJ",
            "error_pct": -1.9, "kind": "held-out", "note": "worst of 1 held-out point(s)"}
REPORTED = {"source": "Authors et al. 2030, abstract", "published": None, "modelled": None, "unit": None,
            "error_pct": 25, "kind": "reported-by-authors", "note": "their runs are not published"}


def _chip(total_pj: float | None, dynamic_pj: float | None, latency_ns: float | None, **fields: Any) -> dict:
    static = None if total_pj is None or dynamic_pj is None else total_pj - dynamic_pj
    layer = {c: None if dynamic_pj is None else dynamic_pj * s
             for c, s in (("synaptic", 0.6), ("neuron_active", 0.1), ("neuron_idle", 0.1), ("spike_out", 0.05),
                          ("routing", 0.15))}
    energy = {"layers_pj": {"fc1": layer}, "dynamic_pj": dynamic_pj, "static_pj": static, "total_pj": total_pj,
              "total_uj": None if total_pj is None else total_pj / 1e6, "latency_ns": latency_ns,
              "latency_ms": None if latency_ns is None else latency_ns / 1e6, "busiest_layer_steps": {"fc1": 3},
              "unknown_profile_numbers": [], "assumptions": [], **fields}
    return {"kind": "neuromorphic", "chip": "made-up chip", "file": "made_up.toml", "sha256": "0" * 64,
            "numbers": {}, "energy": energy,
            "placement": {"fits": True, "problem": None, "cores_used": 6, "cores_available": 128,
                          "layers": {"fc1": {"cores": 6, "first_core": 0, "limited_by": "neurons"}}}}


def _report(static_mode: str = "whole-chip") -> dict:
    share = 1.0 if static_mode == "whole-chip" else 6 / 128
    fitted = _chip(42.7e6, 17.8e6, 0.859e6, band_uj=[38.1, 47.3], latency_band_ms=[0.80, 0.95],
                   static_mode=static_mode, static_share=share, validation=HELD_OUT, latency_validation=REPORTED,
                   fitted_on=[{"source": "Notebook A (commit abc)", "published": 1.09, "unit": "mJ"},
                              {"source": "Paper B, Table 3", "published": 0.56, "unit": "mJ"}],
                   latency_fitted_on=[{"source": "Paper C, Fig. 4", "published": 2.5, "unit": "ms"}],
                   validations=[HELD_OUT, REPORTED, {**HELD_OUT, "source": "Paper D, Table 1", "error_pct": 0.8}],
                   model={"summary": "Counts x per-event costs; two costs fitted by least squares.",
                          "calibration": "hw_profiles/calibration/made_up.toml",
                          "band_rule": "dynamic x [0.9, 1.1]: published / modelled over 3 measurements"})
    plain = _chip(5.0e6, 4.0e6, 0.1e6, band_uj=None, latency_band_ms=None, static_mode=static_mode,
                  static_share=share, validation=None, latency_validation=None, fitted_on=[],
                  model={"summary": "Per-event numbers as the profile gives them.", "calibration": None,
                         "band_rule": "no band: not validated"})
    unknown = {**_chip(None, 2.0e6, None), "note": "energy per inference unknown: no published measurement of it"}
    nofit = {"kind": "neuromorphic", "chip": "small chip", "file": "small.toml", "numbers": {}, "energy": None,
             "placement": {"fits": False, "problem": "layer fc1: fan-in 144 exceeds resources.max_fan_in 63 (by 81)",
                           "cores_used": 7, "cores_available": 1, "layers": {}},
             "note": "does not fit: layer fc1: fan-in 144 exceeds resources.max_fan_in 63 (by 81)"}
    cpu = {"kind": "baseline", "chip": "cpu", "file": "cpu.toml", "numbers": {},
           "baseline": {"macs": 1000, "dynamic_pj": 0.5e6, "static_pj": 0.2e6, "total_pj": 0.7e6, "total_uj": 0.7,
                        "total_with_dram_weights_pj": 1.5e6, "latency_ns": 0.05e6, "latency_ms": 0.05,
                        "unknown_profile_numbers": []}}
    return {"network": "hand-made", "data": {"samples": 10}, "backend": "reference",
            "metrics": {"spikes": 10.0, "synaptic_events": 100.0},
            "profiles": {"fitted": fitted, "plain": plain, "unknown": unknown, "nofit": nofit, "cpu": cpu}}


def _without_bands(report: dict) -> dict:
    """The report as an earlier version wrote it: none of the band, validation or static-mode fields."""
    old = copy.deepcopy(report)
    for block in old["profiles"].values():
        for key in BAND_FIELDS:
            (block.get("energy") or {}).pop(key, None)
    return old


@pytest.fixture(scope="module")
def rendered() -> dict[str, tuple[str, str, list]]:
    out = {}
    for key, report in (("bands", _report()), ("none", _without_bands(_report())), ("per-core", _report("per-core"))):
        blocks, plots = build_document(report)
        out[key] = (render_markdown(blocks), render_html(blocks, "t"), plots)
    return out


def _row(md: str, profile: str) -> list[str]:
    line = next(l for l in md.splitlines() if l.startswith(f"| `{profile}` |"))
    return [c.strip() for c in line.strip("|").split(" | ")]


def _section(md: str, heading: str) -> str:
    level = len(heading) - len(heading.lstrip("#"))
    start = md.index(heading + "\n")
    m = re.compile(rf"^#{{1,{level}}} ", re.M).search(md, start + len(heading))
    return md[start:m.start() if m else len(md)]


# -- report.md / report.html --------------------------------------------------------------------------

def test_summary_table_shows_value_and_band(rendered):
    md = rendered["bands"][0]
    assert "| Energy / inference [band] |" in md and "| Latency [band] |" in md
    fitted = _row(md, "fitted")
    assert fitted[4] == "42.7 uJ [38.1, 47.3]" and fitted[7] == "0.859 ms [0.800, 0.950]"
    assert fitted[5] == "17.8 uJ (41.7 %)" and fitted[6] == "24.9 uJ (58.3 %)"     # parts kept apart
    assert _row(md, "plain")[4] == "5 uJ" and _row(md, "plain")[7] == "0.100 ms"     # no band: the value alone
    assert _row(md, "unknown")[4] == "unknown" and _row(md, "nofit")[4] == "not estimated"
    assert "`--static whole-chip`" in _section(md, "## Energy and latency per profile")
    assert ("- `fitted`: checked against published measurements: energy error -1.90 % (held-out); latency error "
            "within +-25 % (as its authors report) (sources: "
            "[profile fitted](#profile-fitted)).") in md


def test_band_formatting():
    assert fmt_banded(42.7e6, "uJ", [38.1, 47.3], 1e6) == "42.7 uJ [38.1, 47.3]"
    assert fmt_banded(8.25e9, "uJ", [8250.0, 8660.0], 1e6) == "8250 uJ [8250, 8660]"   # no "8,250, 8,660"
    assert fmt_banded(8.25e9, "uJ", None, 1e6) == "8,250 uJ"
    assert fmt_banded(None, "uJ", [1.0, 2.0]) == "unknown"           # no band without a value
    assert fmt_band([1, None]) == fmt_band("x") == fmt_band([1.0]) == ""


def test_chip_section_shows_value_band_and_parts(rendered):
    chip = _section(rendered["bands"][0], "### Profile fitted")
    for line in ("- **Energy per inference:** 42.7 uJ [38.1, 47.3]", "- **Dynamic:** 17.8 uJ (41.7 %)",
                 "- **Static:** 24.9 uJ (58.3 %); whole chip, as measured: the chip's static power x latency",
                 "- **Latency:** 0.859 ms [0.800, 0.950]"):
        assert line + "\n" in chip, line


def test_how_this_number_was_made(rendered):
    md = rendered["bands"][0]
    how = _section(_section(md, "### Profile fitted"), "#### How this number was made")
    assert "Counts x per-event costs; two costs fitted by least squares." in how
    assert "**Fitted on** 3 published measurements. Measurement table: `hw_profiles/calibration/made_up.toml`." in how
    for row in ("| Notebook A (commit abc) | 1.09 mJ | energy |", "| Paper B, Table 3 | 0.560 mJ | energy |",
                "| Paper C, Fig. 4 | 2.50 ms | latency |"):
        assert row in how, row
    assert ("- **Energy:** Made-up et al. 2031, Table 2: published 42 uJ, modelled 41.2 uJ, error **-1.90 %** "
            "(held-out: a published measurement not used in the fit); worst of 1 held-out point(s)") in how
    assert ("- **Latency:** Authors et al. 2030, abstract: error **within +-25 %** (reported by the model's authors, "
            "not re-checked here)") in how
    assert "- **Also:** Paper D, Table 1: published 42 uJ, modelled 41.2 uJ, error **+0.800 %**" in how
    assert ("**Band:** energy 42.7 uJ [38.1, 47.3]; latency 0.859 ms [0.800, 0.950]. Rule: dynamic x [0.9, 1.1]: "
            "published / modelled over 3 measurements") in how
    assert "**Static part:** whole chip, as measured: the chip's static power x latency." in how
    plain = _section(_section(md, "### Profile plain"), "#### How this number was made")
    assert "**Fitted on:** no published measurement" in plain
    assert plain.count("no published measurement to check against") == 2
    assert "energy 5 uJ (no band); latency 0.100 ms (no band). Rule: no band: not validated" in plain


def test_unknown_and_unfit_profiles_keep_their_reason(rendered):
    md = rendered["bands"][0]
    unknown = _section(md, "### Profile unknown")
    assert "Energy per inference unknown: no published measurement of it." in unknown
    assert "#### How this number was made" not in unknown and "[" not in _row(md, "unknown")[4]
    assert "- `unknown`: energy per inference unknown: no published measurement of it" in md
    nofit = _section(md, "### Profile nofit")
    assert "**does not fit** on nofit: layer fc1: fan-in 144" in nofit and "How this number" not in nofit


def test_per_core_static_mode_is_stated(rendered):
    md = rendered["per-core"][0]
    assert "`--static per-core`" in md and "cores used / cores on chip, for a power-gated or shared chip" in md
    line = "per core: static power x latency x cores used / cores on chip = 4.69 % (6 of 128 cores)"
    assert f"- **Static:** 24.9 uJ (58.3 %); {line}" in md
    assert f"**Static part:** {line}." in md
    assert "Static energy (24.9 uJ) is charged for the cores used" in md


def test_a_report_without_bands_renders_as_before(rendered):
    md = rendered["none"][0]
    assert "| Energy / inference [band] |" in md          # the header stays; the cells carry the value alone
    assert _row(md, "fitted")[4] == "42.7 uJ" and _row(md, "fitted")[7] == "0.859 ms"
    assert "How this number was made" not in md and "Brackets" not in md and "--static" not in md
    assert "checked against" not in md and "Error bars" not in md
    assert "- **Static:** 24.9 uJ (58.3 %); static power x latency" in md


def test_html_carries_the_same_content(rendered):
    html = rendered["bands"][1]
    assert '<h4 id="how-fitted">How this number was made</h4>' in html
    assert "42.7 uJ [38.1, 47.3]" in html and "0.859 ms [0.800, 0.950]" in html
    assert "Made-up et al. 2031, Table 2: published 42 uJ, modelled 41.2 uJ, error <strong>-1.90 %</strong>" in html
    assert "<code>hw_profiles/calibration/made_up.toml</code>" in html
    assert '<a href="#profile-fitted">profile fitted</a>' in html and 'id="profile-fitted"' in html


def test_charts_say_what_their_error_bars_are(rendered):
    md = rendered["bands"][0]
    energy = md[md.index("](plots/energy_comparison.png)"):md.index("](plots/latency.png)")]
    assert "Error bars and [brackets]: the uncertainty band of the estimate (fitted); no error bar where" in energy
    assert "lighter shade at the end of a bar: the static part" in energy
    assert "Error bars" in md[md.index("](plots/latency.png)"):md.index("](plots/cores.png)")]


def test_rendering_is_deterministic(rendered):
    blocks, plots = build_document(_report())
    md, _, first = rendered["bands"]
    assert render_markdown(blocks) == md
    assert [(p.name, p.png) for p in plots] == [(p.name, p.png) for p in first]


# -- plots ------------------------------------------------------------------------------------------

COLORS = {"neuromorphic": "#4c72b0", "baseline": "#dd8452"}
LEGEND = {"neuromorphic": "chip", "baseline": "cpu"}


@pytest.mark.parametrize("log", [True, False])
def test_error_bars_are_the_bands_and_static_parts_are_stacked(log):
    bars = [HBar("a", 40.0, "neuromorphic", static=25.0, band=(30.0, 47.0)),
            HBar("b", 5.0, "neuromorphic", static=1.0),                       # no band: no error bar
            HBar("c", 0.7, "baseline", band=(0.69, 0.9))]
    plotter = Plotter()
    with plotter.context():
        fig = plot_hbar(plotter, bars, "t", "x", COLORS, LEGEND, log=log)
    ax = fig.axes[0]
    (errorbar,) = ax.containers[2:]                 # bars, static parts, then one error bar container
    segments = sorted(tuple(round(v, 9) for point in s for v in point) for s in errorbar.lines[2][0].get_segments())
    assert segments == [(0.69, 0.0, 0.9, 0.0), (30.0, 2.0, 47.0, 2.0)]   # asymmetric; the first bar on top (y 2)
    widths = sorted((round(p.get_x(), 6), round(p.get_width(), 6)) for p in ax.containers[1].patches)
    assert widths == [(4.0, 1.0), (15.0, 25.0)]     # static parts start where the dynamic part ends
    assert ax.get_xlim()[1] > 47.0
    assert [t.get_text() for t in ax.texts] == ["0.700 [0.690, 0.900]", "5", "40 [30, 47]"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "chip", "cpu", "static part (lighter shade at the bar's end)"]


# -- the command line --------------------------------------------------------------------------------

def test_cli_table_shows_value_band_and_static():
    lines = summary_lines(_report())
    table = lines[1:8]
    header = table[0]
    assert header.split() == ["profile", "kind", "fits", "cores", "energy/inference", "[band]", "static", "latency",
                              "[band]"]
    columns = [m.start() - 2 for m in re.finditer(r"(?<=  )\S", "  " + header)]
    for row in table[2:]:                          # every cell starts under its header
        assert all(row[c] != " " and (c == 0 or row[c - 2:c] == "  ") for c in columns), row
    rows = {r.split()[0]: r for r in table[2:]}
    # each value in the unit that suits it, its band in the same unit
    assert re.search(r"  42\.7 uJ \[38\.1, 47\.3\] +24\.9 uJ \(58 %\)  859 us \[800, 950\]$", rows["fitted"])
    assert re.search(r"  5 uJ +1 uJ \(20 %\) +100 us$", rows["plain"])
    assert re.search(r"  >= 2 uJ \(dynamic\) +unknown +unknown$", rows["unknown"])
    assert re.search(r"  NO +7/1 +unknown +unknown +unknown$", rows["nofit"])
    assert re.search(r"  700 nJ +200 nJ \(29 %\) +50 us$", rows["cpu"])
    assert lines[8:] == [
        "static: the whole chip's measured static power (--static whole-chip, as measured); --static per-core "
        "charges only the cores used",
        "fitted: energy error -1.9 %, modelled 41.2 uJ, published 42 uJ (held-out); checked against Made-up et al. "
        "2031, Table 2",
        "fitted: latency error within +-25 % (reported-by-authors); checked against Authors et al. 2030, abstract",
        "unknown: energy per inference unknown: no published measurement of it",
        "nofit: does not fit: layer fc1: fan-in 144 exceeds resources.max_fan_in 63 (by 81)"]


def test_cli_table_without_bands():
    lines = summary_lines(_without_bands(_report()))
    assert lines[1].split()[4:] == ["energy/inference", "static", "latency"]
    assert not any("[" in l or "checked against" in l or l.startswith("static:") for l in lines)
    assert re.search(r"  42\.7 uJ +24\.9 uJ \(58 %\) +859 us$", lines[3])
    per_core = summary_lines(_report("per-core"))
    assert ("static: static power x cores used / cores on chip (--static per-core); the default --static "
            "whole-chip charges the whole chip") in per_core


@pytest.fixture()
def fake_bench(monkeypatch, tmp_path) -> list[dict]:
    """`energy.bench.run_bench` replaced by one that records its keywords and returns the hand-made report."""
    calls: list[dict] = []

    def run_bench(*args, **kwargs):
        calls.append(kwargs)
        return _report(kwargs["static_mode"]), tmp_path

    monkeypatch.setattr("tnas_deploy.energy.bench.run_bench", run_bench)
    return calls


@pytest.mark.parametrize("argv, mode", [([], "whole-chip"), (["--static", "per-core"], "per-core"),
                                        (["--static", "whole-chip"], "whole-chip")])
def test_static_flag_reaches_run_bench(fake_bench, capsys, argv, mode):
    assert main(["bench", "net.tdart", "--input", "data.npz", "--no-progress", *argv]) == 0
    assert len(fake_bench) == 1 and fake_bench[0]["static_mode"] == mode
    out = capsys.readouterr().out
    assert f"(--static {mode}" in out and "fitted  " in out


def test_static_flag_refuses_other_modes(fake_bench, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["bench", "net.tdart", "--input", "data.npz", "--static", "half"])
    assert stop.value.code == 2 and fake_bench == []
    assert "tnas-deploy: error: argument --static: invalid choice: 'half' (choose from 'whole-chip', 'per-core')" \
        in capsys.readouterr().err


def test_static_flag_help(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["bench", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--static {whole-chip,per-core}" in text
    assert ("how a chip's static power is charged: whole-chip (default, as measured) charges the whole chip's "
            "measured static power; per-core charges static power x cores used / cores on chip (a power-gated or "
            "shared chip)") in text
    assert STATIC_MODES == list(MODEL_STATIC_MODES)       # the parser offers exactly the model's modes


def test_cli_units_and_shares():
    """Units that keep 3 digits without an exponent; a tiny static share is not shown as 0 %."""
    report = _report()
    energy = report["profiles"]["fitted"]["energy"]
    energy.update(total_pj=8.25e9, dynamic_pj=8.06e4, static_pj=8.25e9 - 8.06e4, band_uj=[8250.0, 8660.0],
                  latency_ns=1.28e8, latency_band_ms=None)
    row = next(l for l in summary_lines(report) if l.startswith("fitted "))
    assert re.search(r"  8\.25 mJ \[8\.25, 8\.66\] +8\.25 mJ \(100 %\) +128 ms$", row)
    energy.update(total_pj=3.66e6, dynamic_pj=3.66e6 - 940.0, static_pj=940.0, band_uj=[2.75, 7.33], latency_ns=2240.0)
    row = next(l for l in summary_lines(report) if l.startswith("fitted "))
    assert re.search(r"  3\.66 uJ \[2\.75, 7\.33\] +940 pJ \(0\.026 %\) +2\.24 us$", row)


def test_no_band_fields_are_invented_for_a_chip_that_has_none():
    """The hand-made `plain` chip: its value alone, in the table, the document and the chart labels."""
    report = _report()
    report["profiles"] = {"plain": report["profiles"]["plain"]}
    assert not any("[" in l for l in summary_lines(report))
    blocks, _ = build_document(report)
    md = render_markdown(blocks)
    assert "Brackets" not in md and "Error bars" not in md and _row(md, "plain")[4] == "5 uJ"


def test_docs_explain_the_band_fields():
    """docs/energy.md explains every field the report reads."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "energy.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Reading the report: bands and validation"):doc.index("## What the model leaves out")]
    for field in ("band_uj", "latency_band_ms", "static_mode", "static_share", "validation", "latency_validation",
                  "fitted_on", "model", "--static"):
        assert f"`{field}" in section, field
