"""The bench report for people (report.md, report.html, plots/) from real `run_bench` runs on a tiny network.

Profiles are written here: a chip with every number (testchip), an ANN baseline (testcpu), a chip the network
does not fit (tinychip), a chip with some energy numbers and no timing (vaguechip) and one with no placement
numbers at all (blankchip).
"""
from __future__ import annotations

import base64
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.artifact import save_artifact
from tnas_deploy.compilation import CompileInputs
from tnas_deploy.compiler import compile_network
from tnas_deploy.dataset import Dataset
from tnas_deploy.data import save_dataset
from tnas_deploy.energy.bench import run_bench
from tnas_deploy.energy.report import fmt_num, write_reports
from tnas_deploy.genome import genome_from_json
from tnas_deploy.profiles import load_profile
from tnas_deploy.random_genome import random_inputs, random_weights
from tnas_deploy.summary import summarize

TTFS = {"model": "ttfs"}
#: the shared small CNN (tests/genomes/small_cnn.json), renamed
GENOME = {**json.loads((Path(__file__).resolve().parent / "genomes" / "small_cnn.json").read_text()),
          "name": "report-test"}
CLASSES = GENOME["task"]["classes"]

#: test profiles shared with tests/test_energy.py
PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
PROFILES = {
    "testchip": (PROFILE_DIR / "testchip.toml").read_text(),
    "testcpu": (PROFILE_DIR / "testcpu.toml").read_text(),
    "tinychip": """
[profile]
name = "tinychip"
chip = "Tiny chip that cannot hold the network (test)"
kind = "neuromorphic"
[resources]
cores = { value = 1, estimate = "test" }
neurons_per_core = { value = 256, estimate = "test" }
""",
    "vaguechip": """
[profile]
name = "vaguechip"
chip = "Chip with a synaptic energy and nothing else (test)"
kind = "neuromorphic"
[resources]
cores = { value = 64, estimate = "test" }
neurons_per_core = { value = 512, estimate = "test" }
[energy]
synaptic_op_pj = { value = 10, estimate = "test" }
""",
    "blankchip": """
[profile]
name = "blankchip"
chip = "Chip whose placement numbers nobody knows (test)"
kind = "neuromorphic"
[resources]
cores = { value = 8, estimate = "test" }
""",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _project(root: Path) -> tuple[Path, Path, Path, list[str]]:
    """A compiled artifact, labelled and unlabelled data, and the profile files, all under `root`."""
    genome = genome_from_json(GENOME)
    weights = random_weights(genome, 7)
    x = random_inputs(genome, 24, 7)
    weights_file = root / "weights.bin"          # compile records the weights file's sha256
    weights_file.write_bytes(b"random weights of the report test")
    net = compile_network(CompileInputs(genome, weights, weights_file, load_profile("loihi2"),
                                        Dataset(x, None, None, None)))
    artifact = root / "net.tdart"
    save_artifact(net, artifact, summarize(net))
    labelled, unlabelled = root / "data.npz", root / "nolabels.npz"
    save_dataset(labelled, x, np.random.default_rng(7).integers(0, len(CLASSES), len(x)))
    save_dataset(unlabelled, x)
    paths = []
    for name, text in PROFILES.items():
        path = root / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    return artifact, labelled, unlabelled, paths


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("report")
    artifact, labelled, unlabelled, profiles = _project(root)
    out = {}
    for key in ("first", "second"):
        report, out_dir = run_bench(artifact, labelled, profiles, out_dir=root / key, progress=False)
        out[key] = (report, out_dir)
    out["inputs"] = (artifact, labelled, unlabelled, profiles, root)
    return out


def _md(out_dir: Path) -> str:
    return (out_dir / "report.md").read_text(encoding="utf-8")


def _section(md: str, heading: str) -> str:
    """The text from `heading` to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = md.index(heading + "\n")
    m = re.compile(rf"^#{{1,{level}}} ", re.M).search(md, start + len(heading))
    return md[start:m.start() if m else len(md)]


def _summary_row(md: str, profile: str) -> list[str]:
    line = next(l for l in md.splitlines() if l.startswith(f"| `{profile}` |"))
    return [c.strip() for c in line.strip("|").split(" | ")]


# -- report.json -------------------------------------------------------------------------------------

def test_report_json_has_every_section(runs):
    report, out_dir = runs["first"]
    loaded = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    for key in ("format", "version", "tool_version", "network", "artifact", "data", "backend", "provenance",
                "summary", "metrics", "layers", "profiles", "accuracy"):
        assert key in loaded, key
    assert loaded["format"] == "tnas-bench-report"
    assert set(loaded["profiles"]) == set(PROFILES)
    assert loaded["profiles"]["testchip"]["energy"]["total_pj"] > 0
    assert loaded["profiles"]["testcpu"]["baseline"]["total_pj"] > 0
    assert loaded["profiles"]["tinychip"]["placement"]["fits"] is False
    assert loaded["profiles"]["vaguechip"]["energy"]["total_pj"] is None
    assert loaded["profiles"]["blankchip"]["energy"] is None
    assert loaded["accuracy"]["classes"] == CLASSES
    # how far each estimate can be trusted (docs/energy.md, "Reading the report"): testchip was never fitted
    energy = loaded["profiles"]["testchip"]["energy"]
    assert {"band_uj", "latency_band_ms", "static_mode", "static_share", "validation", "latency_validation",
            "fitted_on", "model"} <= set(energy)
    assert energy["band_uj"] is None and energy["validation"] is None and energy["fitted_on"] == []
    assert energy["static_mode"] == "whole-chip" and energy["static_share"] == 1.0
    assert {"summary", "calibration", "band_rule"} <= set(energy["model"])


# -- report.md ---------------------------------------------------------------------------------------

def test_markdown_mentions_every_profile_and_section(runs):
    report, out_dir = runs["first"]
    md = _md(out_dir)
    for name in PROFILES:
        assert f"`{name}`" in md, name
    for heading in ("## Energy and latency per profile", "## Accuracy", "## NeuroBench metrics",
                    "## Activity per layer", "## Neuromorphic profiles", "## ANN baseline",
                    "### Confusion matrix"):
        assert heading + "\n" in md, heading
    assert report["network"] in md
    assert report["artifact"]["sha256"][:12] in md
    assert f"{report['data']['samples']} samples" in md
    for layer in report["layers"]:
        assert f"`{layer}`" in md
    assert "WAR" in md and "UAR" in md
    for key in report["metrics"]:
        assert f"`{key}`" in md


def test_unknown_numbers_are_unknown_never_zero(runs):
    report, out_dir = runs["first"]
    md = _md(out_dir)
    # summary table: energy / inference, dynamic, static, latency
    assert _summary_row(md, "vaguechip")[4:] == ["unknown"] * 4
    assert _summary_row(md, "blankchip")[2:] == ["unknown"] * 6
    assert _summary_row(md, "testchip")[4].endswith(" uJ") and "unknown" not in _summary_row(md, "testchip")
    vague = _section(md, "### Profile vaguechip")
    for key in report["profiles"]["vaguechip"]["energy"]["unknown_profile_numbers"]:
        assert f"`{key}`" in vague, key
    assert "`time.barrier_ns`" in vague and "`energy.static_power_mw`" in vague
    assert "unknown" in vague and " 0 uJ" not in vague
    blank = _section(md, "### Profile blankchip")
    assert "Placement unknown" in blank and "`resources.neurons_per_core`" in blank


def test_does_not_fit_with_the_reason(runs):
    report, out_dir = runs["first"]
    md = _md(out_dir)
    problem = report["profiles"]["tinychip"]["placement"]["problem"]
    assert problem.startswith("needs ") and "the profile has 1" in problem
    tiny = _section(md, "### Profile tinychip")
    assert "does not fit" in tiny and problem in tiny
    assert "does not fit" in _summary_row(md, "tinychip")[2]
    assert "Energy and latency not estimated" in tiny


def test_plots_are_pngs_referenced_from_markdown(runs):
    _, out_dir = runs["first"]
    md = _md(out_dir)
    pngs = sorted(p.name for p in (out_dir / "plots").iterdir())
    assert set(pngs) == {"energy_comparison.png", "latency.png", "cores.png", "spikes_per_layer.png",
                         "spike_times.png", "confusion.png", "energy_layers_testchip.png",
                         "energy_layers_vaguechip.png"}
    for name in pngs:
        data = (out_dir / "plots" / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert f"](plots/{name})" in md, name
    for ref in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (out_dir / ref).is_file(), ref
    # the charts the report cannot draw are explained in text
    assert "no energy chart for tinychip" in md and "no energy chart for blankchip" in md


# -- report.html -------------------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class StrictParser(HTMLParser):
    """Checks that every element is closed in order, and collects the attributes that load resources."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.refs: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()
        self.style = ""
        self._in_style = False
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster", "action") and value is not None:
                self.refs.append((tag, name, value))
            if name == "style" and value and "url(" in value:
                self.errors.append(f"inline style loads a resource: {value[:60]}")
        if tag not in VOID:
            self.stack.append(tag)
        self._in_style = tag == "style"

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            self.errors.append(f"end tag for void element <{tag}>")
        elif not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
        else:
            self.stack.pop()
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data
        else:
            self.text.append(data)


def _parse(path: Path) -> StrictParser:
    parser = StrictParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def test_html_is_well_formed_and_self_contained(runs):
    _, out_dir = runs["first"]
    html_text = (out_dir / "report.html").read_text(encoding="utf-8")
    assert html_text.startswith("<!DOCTYPE html>")
    parser = _parse(out_dir / "report.html")
    assert parser.errors == []
    assert parser.stack == [], parser.stack
    assert {"html", "head", "body", "style", "table", "figure", "img"} <= parser.tags
    assert not parser.tags & {"script", "link", "iframe", "object", "embed"}
    for tag, attr, value in parser.refs:
        assert value.startswith(("data:image/png;base64,", "#")), (tag, attr, value[:80])
    assert not re.search(r"(https?:)?//", parser.style) and "@import" not in parser.style
    assert "url(" not in parser.style
    # every plot is embedded, byte for byte
    embedded = [base64.b64decode(v.split(",", 1)[1]) for t, a, v in parser.refs if t == "img" and a == "src"]
    pngs = sorted((out_dir / "plots").iterdir())
    assert len(embedded) == len(pngs)
    assert sorted(embedded) == sorted(p.read_bytes() for p in pngs)
    # same content as the Markdown: every profile, "unknown", the reason the tiny chip does not fit
    text = " ".join(parser.text)
    for name in PROFILES:
        assert name in text
    assert "unknown" in text and "does not fit" in text


# -- determinism and the unlabelled case -----------------------------------------------------------

def test_two_runs_give_identical_reports(runs):
    (_, first), (_, second) = runs["first"], runs["second"]
    assert _md(first) == _md(second)
    assert (first / "report.html").read_bytes() == (second / "report.html").read_bytes()
    assert (first / "report.json").read_bytes() == (second / "report.json").read_bytes()   # no timings inside
    names = sorted(p.name for p in (first / "plots").iterdir())
    assert names == sorted(p.name for p in (second / "plots").iterdir())
    for name in names:
        assert (first / "plots" / name).read_bytes() == (second / "plots" / name).read_bytes(), name


def test_write_reports_is_deterministic_and_leaves_no_temp_files(runs, tmp_path):
    report, out_dir = runs["first"]
    write_reports(report, tmp_path)
    assert (tmp_path / "report.md").read_bytes() == (out_dir / "report.md").read_bytes()
    assert (tmp_path / "report.html").read_bytes() == (out_dir / "report.html").read_bytes()
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []


def test_unlabelled_data_has_no_accuracy_and_stale_plots_go(runs):
    artifact, _, unlabelled, profiles, root = runs["inputs"]
    out_dir = root / "unlabelled"
    shutil.copytree(runs["first"][1], out_dir)           # an earlier, labelled report in the same directory
    report, _ = run_bench(artifact, unlabelled, profiles, out_dir=out_dir, progress=False)
    assert "accuracy" not in report
    md = _md(out_dir)
    assert "no labels" in md and "### Confusion matrix" not in md
    pngs = sorted(p.name for p in (out_dir / "plots").iterdir())
    assert "confusion.png" not in pngs
    for name in pngs:
        assert f"](plots/{name})" in md


def test_static_per_core_charges_the_cores_used(runs, capsys):
    """`bench --static per-core` reaches the estimate: static power x cores used / cores, dynamic unchanged."""
    from tnas_deploy.cli import main
    artifact, labelled, _, profiles, root = runs["inputs"]
    testchip = next(p for p in profiles if p.endswith("testchip.toml"))
    out_dir = root / "per-core"
    assert main(["bench", str(artifact), "--input", str(labelled), "--profile", testchip, "--static", "per-core",
                 "-o", str(out_dir), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    assert "static: static power x cores used / cores on chip (--static per-core)" in stdout
    whole = runs["first"][0]["profiles"]["testchip"]
    part = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))["profiles"]["testchip"]
    used = part["placement"]["cores_used"]
    assert part["energy"]["static_mode"] == "per-core" and part["energy"]["static_share"] == used / 128
    assert part["energy"]["static_pj"] == pytest.approx(whole["energy"]["static_pj"] * used / 128)
    assert part["energy"]["dynamic_pj"] == whole["energy"]["dynamic_pj"]
    md = _md(out_dir)
    assert "`--static per-core`" in md and f"({used} of 128 cores)" in md


def test_number_formatting():
    assert fmt_num(None) == "unknown"
    assert fmt_num(0) == "0" and fmt_num(0.0) == "0"
    assert fmt_num(65536.0) == "65,536"
    assert fmt_num(50450.5) == "50,500"
    assert fmt_num(0.8380558) == "0.838"
    assert fmt_num(0.99962) == "1.00"
    assert fmt_num(34563987.85) == "3.46e7"
    assert fmt_num(9.4364e-4) == "9.44e-4"
    assert fmt_num(2.376539) == "2.38"
