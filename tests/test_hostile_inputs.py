"""Huge and extreme inputs, and damaged files: every one gets a clear one-line error (exit 2) or works.

A fuzzing user found: genome loading slower than quadratic (a 420k-node genome never finished), deep JSON
ending in a RecursionError, schema-valid extreme numbers (tau and threshold 1e300: a math domain error;
one weight of 3e38: a silent 7 %-accuracy artifact), a corrupted .npz giving a zlib traceback, a golden
file of another model compared anyway, a profile name leading the default output out of build/, a lone
surrogate in a class name crashing `bench`, and long compiles silent when stderr is not a terminal.
Each case goes through the command line (`tnas_deploy.cli.main`) and checks the exit code and the message.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tnas_deploy.artifact import load_artifact
from tnas_deploy.cli import main
from tnas_deploy.errors import DeployError
from tnas_deploy.genome import genome_from_json, load_genome
from tnas_deploy.genome.schema_check import schema
from tnas_deploy.json_input import MAX_NESTING
from tnas_deploy.progress import Progress
from tnas_deploy.weights import save_weights

ROOT = Path(__file__).resolve().parents[1]
TEST_PROFILE = ROOT / "tests" / "profiles" / "testchip.toml"


# --------------------------------------------------------------------------------------------------------
# Small networks written to tmp_path
# --------------------------------------------------------------------------------------------------------

def _write_network(tmp_path: Path, name: str, coding: dict[str, Any], hidden: dict[str, Any], out_neuron: Any,
                   readout: dict[str, Any], weights: dict[str, dict[str, np.ndarray]] | None = None,
                   classes: list[str] | None = None, hidden_units: int = 8) -> Path:
    """input [4] -> h (dense) -> o (dense, 3) -> readout, random weights (seeded); returns the genome path."""
    genome = {"format": "tnas-genome", "version": 2, "name": name,
              "task": {"input_shape": [4], "classes": classes or ["a", "b", "c"]}, "coding": coding,
              "weights": f"{name}.h5",
              "nodes": [{"id": "x", "type": "input"},
                        {"id": "h", "type": "dense", "inputs": ["x"], "units": hidden_units, "neuron": hidden},
                        {"id": "o", "type": "dense", "inputs": ["h"], "units": 3, "neuron": out_neuron},
                        {"id": "out", "type": "readout", "inputs": ["o"], **readout}]}
    if coding["scheme"] == "ttfs":
        genome["time"] = {"steps_per_window": 8}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(genome), encoding="utf-8")
    save_weights(weights or seeded_weights(hidden_units), tmp_path / f"{name}.h5")
    return path


def ttfs_network(tmp_path: Path, name: str = "tiny_ttfs", **kw: Any) -> Path:
    return _write_network(tmp_path, name, {"scheme": "ttfs"}, {"model": "ttfs"}, None, {}, **kw)


LIF = {"model": "lif", "tau": 2.0, "threshold": 1.0}


def rate_network(tmp_path: Path, name: str = "tiny_rate", hidden: dict[str, Any] | None = None, steps: int = 4,
                 membrane: bool = False, **kw: Any) -> Path:
    """Rate coding, LIF neurons; the readout counts o's spikes, or (`membrane`) reads o's potential."""
    out_neuron, readout = (None, {"mode": "membrane"}) if membrane else (LIF, {"mode": "spike_count"})
    return _write_network(tmp_path, name, {"scheme": "rate", "steps": steps}, hidden or LIF, out_neuron, readout, **kw)


def data_file(tmp_path: Path, n: int = 24, name: str = "data.npz") -> Path:
    rng = np.random.default_rng(3)
    path = tmp_path / name
    np.savez(path, x=rng.random((n, 4)), y=np.arange(n) % 3)
    return path


def seeded_weights(hidden_units: int = 8) -> dict[str, dict[str, np.ndarray]]:
    """The weights `_write_network` writes by default."""
    rng = np.random.default_rng(7)
    return {"h": {"weight": rng.normal(0, 0.5, (hidden_units, 4)), "bias": np.full(hidden_units, 0.05)},
            "o": {"weight": rng.normal(0, 0.5, (3, hidden_units)), "bias": np.zeros(3)}}


def weights_with(value: float, node: str = "h", at: tuple[int, int] = (2, 1)) -> dict[str, dict[str, np.ndarray]]:
    """The seeded weights with one entry of `node`'s weight replaced by `value`."""
    weights = seeded_weights()
    weights[node]["weight"][at] = value
    return weights


def next_largest_ratio(weights: dict[str, dict[str, np.ndarray]], node: str, at: tuple[int, int]) -> str:
    """How the message states |weight[at]| / the next largest |weight| of the node."""
    w = np.abs(weights[node]["weight"])
    return f"{w[at] / np.max(np.delete(w.reshape(-1), np.ravel_multi_index(at, w.shape))):.3g}"


def user_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI; it must exit 2 with one error line and no traceback. Returns the line."""
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 2, (captured.out, captured.err)
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("tnas-deploy: error: ")
    return lines[0]


def chain_genome(n: int) -> dict[str, Any]:
    """A valid version 1 chain: input [4] -> n dense TTFS layers -> dense -> readout."""
    nodes: list[dict[str, Any]] = [{"id": "x", "type": "input"}]
    for i in range(n):
        nodes.append({"id": f"d{i}", "type": "dense", "inputs": [nodes[-1]["id"]], "units": 4,
                      "neuron": {"model": "ttfs"}})
    nodes += [{"id": "fc", "type": "dense", "inputs": [nodes[-1]["id"]], "units": 2},
              {"id": "out", "type": "readout", "inputs": ["fc"]}]
    return {"format": "tnas-genome", "version": 1, "name": "chain", "task": {"input_shape": [4], "classes": ["a", "b"]},
            "coding": {"scheme": "ttfs"}, "time": {"steps_per_window": 8}, "nodes": nodes}


# --------------------------------------------------------------------------------------------------------
# 1. Size: loading is linear, nesting is bounded
# --------------------------------------------------------------------------------------------------------

def test_a_10k_node_chain_loads(tmp_path) -> None:
    """Loading was worse than quadratic (1,000 nodes: 4.7 s, so 10,000 would take minutes); it is linear now
    (benchmarks/genome_load.py has the figures). The result is the same graph, in order."""
    path = tmp_path / "chain.json"
    path.write_text(json.dumps(chain_genome(10_000)), encoding="utf-8")
    genome = load_genome(path)
    assert len(genome.nodes) == 10_003
    assert genome.order[:3] == ("x", "d0", "d1") and genome.order[-2:] == ("fc", "out")
    assert genome.shapes["d9999"] == (4,) and genome.shapes["out"] == (2,)
    assert [n.id for n in genome.consumers("d4999")] == ["d5000"]


def test_a_long_chain_of_snas_cells_expands_without_recursion() -> None:
    """The cell expansion followed a chain of cells recursively (Python's limit: about 1,000 frames)."""
    lif = {"model": "lif", "tau": 2.0, "threshold": 1.0}
    nodes: list[dict[str, Any]] = [{"id": "x", "type": "input"}]
    for i in range(1_500):
        nodes.append({"id": f"cell{i}", "type": "snas_cell", "inputs": [nodes[-1]["id"]],
                      "matrix": [[0, 2], [0, 0]], "neuron": lif})
    nodes += [{"id": "f", "type": "flatten", "inputs": [nodes[-1]["id"]]},
              {"id": "fc", "type": "dense", "inputs": ["f"], "units": 2},
              {"id": "out", "type": "readout", "inputs": ["fc"]}]
    genome = genome_from_json({"format": "tnas-genome", "version": 2, "name": "cells",
                               "task": {"input_shape": [2, 4, 4], "classes": ["a", "b"]},
                               "coding": {"scheme": "rate", "steps": 4}, "nodes": nodes})
    assert len(genome.nodes) == 1 + 3 * 1_500 + 3
    assert genome.by_id["f"].forward_inputs == ("cell1499_e01_bn",)


def test_schema_errors_of_a_large_genome_name_the_node_as_before() -> None:
    """Large genomes are validated by node templates; an invalid node is still found and named exactly."""
    obj = chain_genome(2_000)
    obj["nodes"][1234]["units"] = 0
    with pytest.raises(DeployError) as err:
        genome_from_json(obj)
    assert err.value.field == "nodes[1234] (id 'd1233').units"
    assert err.value.message == "0 is less than the minimum of 1"
    obj = chain_genome(2_000)
    obj["nodes"][777]["inputs"] = ["bad id"]
    with pytest.raises(DeployError) as err:
        genome_from_json(obj)
    assert err.value.field == "nodes[777] (id 'd776').inputs[0]"


@pytest.mark.parametrize("version", [1, 2])
def test_the_schemas_keep_the_shape_the_template_check_relies_on(version: int) -> None:
    """schema_check replaces valid ids, edge sources and labels by placeholders: sound only while the schema
    constrains them by `$defs/id` (a string and a pattern) and `label` (any string), and nothing else."""
    s = schema(version)
    assert s["$defs"]["id"] == {"type": "string", "pattern": s["$defs"]["id"]["pattern"]}
    assert s["$defs"]["node"]["properties"]["label"] == {"type": "string"}
    refs: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            if value.get("$ref") == "#/$defs/id":
                refs.append(path)
            for k, v in value.items():
                walk(v, f"{path}/{k}")
                if k == "label" and path.endswith("properties"):
                    assert v in (True, {"type": "string"}), f"{path}/label"
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}/{i}")
    walk(s, "")
    assert sorted(refs) == ["/$defs/edge/oneOf/0", "/$defs/edge/oneOf/1/properties/node",
                            "/$defs/node/properties/id"]


def test_json_nested_100k_deep_is_one_line_naming_the_file(tmp_path, capsys) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"format": "tnas-genome",\n "provenance": ' + "[" * 100_000 + "]" * 100_000 + "}",
                    encoding="utf-8")
    line = user_error(capsys, ["compile", str(path), "-o", str(tmp_path / "x.tdart")])
    assert line == (f"tnas-deploy: error: {path}: JSON nested deeper than {MAX_NESTING} levels (at line 2); "
                    "no tnas-deploy file nests that deep")


def test_json_that_parses_but_nests_too_deep_is_refused(tmp_path, capsys) -> None:
    obj = chain_genome(2)
    deep: Any = 1
    for _ in range(MAX_NESTING + 5):
        deep = [deep]
    obj["provenance"] = {"x": deep}
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    line = user_error(capsys, ["compile", str(path), "-o", str(tmp_path / "x.tdart")])
    assert f"{path}: JSON nested deeper than {MAX_NESTING} levels (at line " in line
    with pytest.raises(DeployError, match=f"nested deeper than {MAX_NESTING} levels"):
        genome_from_json(obj)      # a Python caller's object too, before any recursive walk


def test_a_deeply_nested_profile_is_refused(tmp_path, capsys) -> None:
    genome = ttfs_network(tmp_path)
    profile = tmp_path / "deep.toml"
    profile.write_text(TEST_PROFILE.read_text() + "[profile.extra]\nx = " + "[" * 2_000 + "]" * 2_000 + "\n")
    line = user_error(capsys, ["compile", str(genome), "--profile", str(profile), "-o", str(tmp_path / "x.tdart")])
    assert line == (f"tnas-deploy: error: {profile}: TOML nested deeper than {MAX_NESTING} levels; no profile "
                    "nests that deep")


# --------------------------------------------------------------------------------------------------------
# 2. Extreme but schema-valid numbers
# --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("neuron", [{"model": "lif", "tau": 1e300, "threshold": 1.0},
                                    {"model": "lif", "tau": 2.0, "threshold": 1e300},
                                    {"model": "lif", "tau": 1e300, "threshold": 1e300}],
                         ids=["tau", "threshold", "both"])
def test_tau_or_threshold_of_1e300_is_refused_naming_layer_and_variable(tmp_path, capsys, neuron) -> None:
    """Was `ValueError: math domain error` (both) or an artifact whose every weight of the layer is 0. A tau of
    1e300 gives the input gain 1/tau = 1e-300 (decay_input), a threshold of 1e300 a state scale of 1e-294: at
    either, no weight of the layer keeps a mantissa."""
    genome = rate_network(tmp_path, hidden=neuron)
    line = user_error(capsys, ["compile", str(genome), "-o", str(tmp_path / "x.tdart")])
    assert line.startswith(f"tnas-deploy: error: {genome}: layer h: threshold: 32 of 32 non-zero weights (100 %) "
                           "round to 0 in the synapses from 'x': the threshold ")
    assert "the threshold register holds at most 1048575 state units" in line
    assert "a weight needs |w| >= " in line and "pass --saturate" in line
    assert main(["compile", str(genome), "-o", str(tmp_path / "x.tdart"), "--saturate", "--json"]) == 0
    capsys.readouterr()
    net, _ = load_artifact(tmp_path / "x.tdart")
    notes = [n for n in net.notes if n["layer"] == "h" and n["variable"] == "threshold"]
    assert len(notes) == 1 and notes[0]["message"].startswith("compiled anyway (--saturate): 32 of 32 non-zero")


def test_tau_of_1e300_without_input_decay_is_a_neuron_without_leak(tmp_path, capsys) -> None:
    """A huge tau means no leak: the decay register dv = round(4096 / tau) = 0, exactly what tau -> infinity
    means, so it compiles (only decay_input's gain 1/tau would make the weights vanish)."""
    genome = rate_network(tmp_path, hidden={"model": "lif", "tau": 1e300, "threshold": 1.0, "decay_input": False})
    out = tmp_path / "x.tdart"
    assert main(["compile", str(genome), "-o", str(out), "--json"]) == 0
    capsys.readouterr()
    net, _ = load_artifact(out)
    assert net.by_id["h"].dv == 0 and net.by_id["h"].threshold > 0
    assert not [n for n in net.notes if n["layer"] == "h" and n["variable"] != "weight_exponent"]   # groups: a finding


def test_one_weight_of_3e38_in_a_ttfs_layer_is_refused_and_saturate_notes_it(tmp_path, capsys) -> None:
    """Was a silent chance-accuracy artifact: with the mantissas scaled to 3e38, every other weight is 0."""
    weights = weights_with(3e38)
    genome = ttfs_network(tmp_path, weights=weights)
    argv = ["compile", str(genome), "--calibration", str(data_file(tmp_path)), "-o", str(tmp_path / "x.tdart")]
    line = user_error(capsys, argv)
    assert line == (f"tnas-deploy: error: {genome}: layer h: weight: 31 of 32 non-zero weights (96.88 %) round to 0 "
                    "in the synapses from 'x': the weight at index [2, 1] (3e+38 as compiled, batch norm folded in) "
                    f"is {next_largest_ratio(weights, 'h', (2, 1))} times the next largest |weight|, and 8-bit "
                    "mantissas scaled to it keep only weights above about 1/254 of it; check the weights, or pass "
                    "--saturate to compile the layer anyway (a note records it)")
    assert main(argv + ["--saturate", "--json"]) == 0
    capsys.readouterr()
    net, _ = load_artifact(tmp_path / "x.tdart")
    notes = [n for n in net.notes if n["variable"] == "weight"]
    assert [n["layer"] for n in notes] == ["h"]
    assert notes[0]["message"].startswith("compiled anyway (--saturate): 31 of 32 non-zero weights (96.88 %)")


def test_one_weight_of_3e38_in_a_rate_readout_is_refused(tmp_path, capsys) -> None:
    weights = weights_with(3e38, node="o", at=(1, 6))
    genome = rate_network(tmp_path, membrane=True, weights=weights)
    line = user_error(capsys, ["compile", str(genome), "-o", str(tmp_path / "x.tdart")])
    assert line == (f"tnas-deploy: error: {genome}: layer out: weight: 23 of 24 non-zero weights (95.83 %) round to 0 "
                    "in the synapses from 'h': the weight at index [1, 6] (3e+38 as compiled) is "
                    f"{next_largest_ratio(weights, 'o', (1, 6))} times the next largest |weight|, and 8-bit mantissas "
                    "scaled to it keep only weights above about 1.18e+36; check the weights, threshold and tau, or "
                    "pass --saturate to compile the layer anyway (a note records it)")


def test_one_weight_of_3e38_in_a_rate_hidden_layer_is_named(tmp_path, capsys) -> None:
    """Here the weights (per input level: 1.5e38 / 255) dwarf the threshold, which the compile already refused;
    the message now names the weight that does it."""
    weights = weights_with(3e38)
    genome = rate_network(tmp_path, weights=weights)
    line = user_error(capsys, ["compile", str(genome), "-o", str(tmp_path / "x.tdart")])
    assert line == (f"tnas-deploy: error: {genome}: layer h: threshold: threshold 1.0 cannot be represented next to "
                    "weights up to 5.882e+35 (threshold register step 64); in the synapses from 'x', the weight at "
                    f"index [2, 1] (1.5e+38 as compiled) is {next_largest_ratio(weights, 'h', (2, 1))} times the next "
                    "largest |weight|: a damaged weight?")


def test_normal_weights_lose_nothing_to_the_rule(tmp_path, capsys) -> None:
    """The rule only refuses projections left with (nearly) nothing: the seeded network compiles without notes."""
    for network in (ttfs_network, rate_network):
        out = tmp_path / f"{network.__name__}.tdart"
        assert main(["compile", str(network(tmp_path)), "-o", str(out), "--json"]) == 0
        net, _ = load_artifact(out)
        assert not [n for n in net.notes if n["variable"] in ("weight", "threshold")]
    capsys.readouterr()


# --------------------------------------------------------------------------------------------------------
# 3. Damaged files, mixed-up files, unsafe names, any Unicode, progress
# --------------------------------------------------------------------------------------------------------

def corrupt_member(src: Path, dst: Path, member: str = "x.npy") -> None:
    """Copy an .npz with the first bytes of one member's compressed data overwritten: an invalid deflate block,
    which zlib reports when the array is read (the user's `zlib.error` traceback)."""
    raw = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = z.getinfo(member)
    assert info.compress_type == zipfile.ZIP_DEFLATED
    h = info.header_offset            # the local header: 30 bytes, then the name and its own extra field
    start = h + 30 + int.from_bytes(raw[h + 26:h + 28], "little") + int.from_bytes(raw[h + 28:h + 30], "little")
    raw[start:start + 2] = b"\xff\xff"
    dst.write_bytes(bytes(raw))


def test_a_corrupted_compressed_npz_is_one_line(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    good = tmp_path / "good.npz"
    np.savez_compressed(good, x=rng.random((200, 4)), y=np.arange(200) % 3)
    bad = tmp_path / "bad.npz"
    corrupt_member(good, bad)
    genome = ttfs_network(tmp_path)
    line = user_error(capsys, ["compile", str(genome), "--calibration", str(bad), "-o", str(tmp_path / "x.tdart")])
    assert line == (f"tnas-deploy: error: {bad}: not a readable .npz file: array 'x' is damaged (zlib.error: Error -3 "
                    "while decompressing data: invalid block type); expected an .npz archive with arrays 'x' and "
                    "optionally 'y' (np.savez(path, x=..., y=...))")
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes(good.read_bytes()[:500])
    argv = ["compile", str(genome), "--calibration", str(truncated), "-o", str(tmp_path / "x.tdart")]
    line = user_error(capsys, argv)
    assert line.startswith(f"tnas-deploy: error: {truncated}: not a readable .npz file (zipfile.BadZipFile: ")


def compiled(tmp_path: Path, capsys: pytest.CaptureFixture[str], genome: Path, name: str) -> Path:
    out = tmp_path / f"{name}.tdart"
    assert main(["compile", str(genome), "-o", str(out), "--profile", "loihi2", "--json"]) == 0
    capsys.readouterr()
    return out


def test_a_golden_file_of_another_network_names_both_files_and_the_difference(tmp_path, capsys) -> None:
    first = compiled(tmp_path, capsys, ttfs_network(tmp_path, "first"), "first")
    second = compiled(tmp_path, capsys, ttfs_network(tmp_path, "second", hidden_units=5), "second")
    data = data_file(tmp_path)
    golden = tmp_path / "first.golden.npz"
    assert main(["golden", str(first), "--input", str(data), "-o", str(golden), "--no-progress"]) == 0
    capsys.readouterr()
    line = user_error(capsys, ["verify", str(second), "--golden", str(golden), "--no-progress"])
    assert line == (f"tnas-deploy: error: {golden}: was recorded from another network than {second}: layer 'h' has "
                    "shape [8] per sample in the golden file and [5] in the artifact; record a golden file from this "
                    "artifact with `tnas-deploy golden`")
    bad = tmp_path / "bad.golden.npz"
    corrupt_member(golden, bad, "readout.npy")
    line = user_error(capsys, ["verify", str(first), "--golden", str(bad), "--no-progress"])
    assert line.startswith(f"tnas-deploy: error: {bad}: not a readable .npz file: array 'readout' is damaged (zlib.")


@pytest.mark.parametrize("name", ["../evil", ".hidden", "a..b", "a/b", "x" * 65, "sp ace", "é"])
def test_an_unsafe_profile_name_is_refused(tmp_path, capsys, name) -> None:
    """The profile name is part of the default artifact path build/<genome>.<profile>.tdart."""
    profile = tmp_path / "p.toml"
    profile.write_text(TEST_PROFILE.read_text().replace('name = "testchip"', f"name = {json.dumps(name)}"),
                       encoding="utf-8")
    line = user_error(capsys, ["compile", str(ttfs_network(tmp_path)), "--profile", str(profile)])
    assert line == (f"tnas-deploy: error: {profile}: profile.name: {name!r} is not a safe profile name; use 1 to 64 "
                    "of A-Z a-z 0-9 . _ -, not starting with a dot and without '..'")
    assert not (tmp_path / "build").exists() and not (ROOT / "evil.tdart").exists()


def test_bench_survives_any_unicode_in_class_names(tmp_path, capsys) -> None:
    """A lone surrogate crashed matplotlib after report.json was written; "$" was parsed as mathtext."""
    classes = ["\ud800", "$\\frac$ \x00 日本\u200f<b>&|\n", "\udfff🙂"]
    artifact = compiled(tmp_path, capsys, ttfs_network(tmp_path, classes=classes), "unicode")
    out = tmp_path / "report"
    rc = main(["bench", str(artifact), "--input", str(data_file(tmp_path)), "--profile", str(TEST_PROFILE),
               "-o", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "Traceback" not in captured.err and "Glyph" not in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["plots", "report.html", "report.json", "report.md"]
    assert (out / "plots" / "confusion.png").is_file()
    text = (out / "report.json").read_text(encoding="ascii")            # ASCII JSON: the surrogate escaped
    assert "\\ud800" in text and json.loads(text)["accuracy"]["classes"] == classes
    for doc in ("report.md", "report.html"):
        written = (out / doc).read_text(encoding="utf-8")                # valid UTF-8 throughout
        assert "\ufffd" in written and "日本" in written and "\x00" not in written


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_prints_plain_lines_with_an_estimate_when_not_a_terminal(tmp_path) -> None:
    clock = FakeClock()
    stream = (tmp_path / "err.txt").open("w+", encoding="utf-8")
    with Progress(360, "headroom on calibration data", stream=stream, clock=clock) as progress:
        for _ in range(36):
            clock.now += 1.0
            progress.update(10)
    stream.seek(0)
    lines = stream.read().splitlines()
    assert lines[0] == "headroom on calibration data: 50/360 samples, 14 %, about 31 s left"
    assert lines[1] == "headroom on calibration data: 100/360 samples, 28 %, about 26 s left"
    assert len(lines) == 8 and lines[-1] == "headroom on calibration data: 360/360 samples, done in 36 s"
    quiet = (tmp_path / "quiet.txt").open("w+", encoding="utf-8")
    with Progress(10, "x", enabled=False, stream=quiet, clock=clock) as progress:
        clock.now += 100
        progress.update(10)
    assert quiet.tell() == 0


def test_long_rate_work_shows_progress_lines_on_a_non_terminal(tmp_path, capsys, monkeypatch) -> None:
    """Progress was a tqdm bar, disabled when stderr is no terminal, and the rate simulator reported once per
    batch of 64 samples (at 1 s per step and 1,000 steps: once per 17 minutes). Now: plain lines, and the
    reference simulator reports every time step, so even one sample shows its progress."""
    monkeypatch.setenv("TNAS_DEPLOY_PROGRESS_INTERVAL", "0")          # a line per update
    genome = rate_network(tmp_path, steps=12)
    artifact = tmp_path / "x.tdart"
    argv = ["compile", str(genome), "--calibration", str(data_file(tmp_path, n=10)), "-o", str(artifact)]
    assert main(argv) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("headroom on calibration")]
    assert len(lines) >= 2 and lines[-1].startswith("headroom on calibration data: 10/10 samples, done in ")
    np.savez(tmp_path / "one.npz", x=np.full((1, 4), 0.5))
    assert main(["run", str(artifact), "--input", str(tmp_path / "one.npz")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("reference tiny_rate: ")]
    within = [line for line in lines if line.startswith("reference tiny_rate: 0/1 samples, ")]
    assert len(within) >= 12 - 1                      # one line per time step before the sample is done
    assert lines[-1].startswith("reference tiny_rate: 1/1 samples, done in ")
    monkeypatch.setenv("TNAS_DEPLOY_PROGRESS_INTERVAL", "soon")
    line = user_error(capsys, argv)
    assert line == "tnas-deploy: error: TNAS_DEPLOY_PROGRESS_INTERVAL: expected a number of seconds >= 0, got 'soon'"


def test_imports_survive_absurdly_nested_metadata(tmp_path, capsys) -> None:
    """A netx file whose tnas-deploy metadata record nests 100k deep imports like one without a record (the record
    is ignored), instead of a RecursionError traceback."""
    import h5py

    net = tmp_path / "csnn.net"
    assert main(["export", str(ROOT / "models/csnn_digits.json"), "--format", "netx", "-o", str(net),
                 "--calibration", str(ROOT / "models/digits_calib.npz")]) == 0
    with h5py.File(net, "r+") as f:
        del f["tnas_deploy"]
        f["tnas_deploy"] = np.bytes_("[" * 100_000 + "]" * 100_000)
    capsys.readouterr()
    code = main(["import", str(net), "-o", str(tmp_path / "back.json")])
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err and "RecursionError" not in err, err
    if code == 2:
        assert err.count("\n") == 1 and str(net) in err
