"""The `tnas-deploy` command line, called in-process (`tnas_deploy.cli.main`) and once as a real process.

Every user error must exit with 2, print exactly one `tnas-deploy: error: ...` line naming the file and
the field, print no traceback and leave nothing at (or beside) the requested output path.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.cli import main

TTFS = {"model": "ttfs"}
N_CLASSES = 3
INPUT_SHAPE = (1, 6, 6)


def genome_obj() -> dict:
    """The shared small CNN (tests/genomes/small_cnn.json) with a weights file and provenance."""
    obj = json.loads((Path(__file__).resolve().parent / "genomes" / "small_cnn.json").read_text())
    obj.update(name="cli-test", weights="w.h5", provenance={"generation": 1})
    assert tuple(obj["task"]["input_shape"]) == INPUT_SHAPE and len(obj["task"]["classes"]) == N_CLASSES
    return obj


@dataclass
class Project:
    dir: Path
    genome: Path
    weights: Path
    cal: Path
    test: Path
    out_dir: Path
    raw_weights: dict

    @property
    def out(self) -> Path:
        return self.out_dir / "net.tdart"

    def write_genome(self, obj) -> Path:
        self.genome.write_text(json.dumps(obj, indent=1), encoding="utf-8")
        return self.genome


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    import torch
    from tnas_deploy.ann import build_ann
    from tnas_deploy.data import save_dataset
    from tnas_deploy.genome import genome_from_json
    from tnas_deploy.weights import save_weights

    monkeypatch.chdir(tmp_path)          # a default output path would land here, never in the repository
    monkeypatch.delenv("TNAS_DEPLOY_PROFILES", raising=False)
    src = tmp_path / "src"
    src.mkdir()
    obj = genome_obj()
    genome_path = src / "genome.json"
    genome_path.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    torch.manual_seed(0)
    model = build_ann(genome_from_json(obj))
    with torch.no_grad():
        bn = model.layers["bn1"]
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
    weights = model.export_weights()
    save_weights(weights, src / "w.h5")
    rng = np.random.default_rng(0)
    save_dataset(src / "cal.npz", rng.uniform(0, 1, (24, *INPUT_SHAPE)), rng.integers(0, N_CLASSES, 24))
    save_dataset(src / "test.npz", rng.uniform(0, 1, (30, *INPUT_SHAPE)), rng.integers(0, N_CLASSES, 30))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    return Project(tmp_path, genome_path, src / "w.h5", src / "cal.npz", src / "test.npz", out_dir, weights)


def compile_args(p: Project, *extra: str, out: Path | None = None) -> list[str]:
    return ["compile", str(p.genome), "--calibration", str(p.cal), "-o", str(out or p.out), *extra]


def expect_user_error(capsys, argv: list[str], out: Path) -> str:
    """Run `argv`; it must fail cleanly. Returns the single error line."""
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 2, (captured.out, captured.err)
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("tnas-deploy: error: "), lines[0]
    assert captured.out == ""
    assert not out.exists()
    assert sorted(q.name for q in out.parent.iterdir()) == []       # no temp files left beside it
    return lines[0]


# -- errors ------------------------------------------------------------------------------------------

def test_malformed_json(project, capsys):
    project.genome.write_text('{"format": "tnas-genome",\n "version": 1\n "name": "x"}', encoding="utf-8")
    line = expect_user_error(capsys, compile_args(project), project.out)
    assert str(project.genome) in line and "malformed JSON" in line and "line 3" in line and "column" in line


def test_schema_violation(project, capsys):
    obj = genome_obj()
    obj["time"]["steps_per_window"] = 0
    project.write_genome(obj)
    line = expect_user_error(capsys, compile_args(project), project.out)
    assert str(project.genome) in line and "time.steps_per_window" in line


def test_unknown_node_type(project, capsys):
    obj = genome_obj()
    obj["nodes"][3]["type"] = "maxpool3d"
    project.write_genome(obj)
    line = expect_user_error(capsys, compile_args(project), project.out)
    assert str(project.genome) in line and "nodes[3]" in line and "'p1'" in line and "'maxpool3d'" in line


def test_shape_mismatch(project, capsys):
    obj = genome_obj()
    del obj["nodes"][4]                           # no flatten: d1 is fed [4, 3, 3]
    obj["nodes"][4]["inputs"] = ["p1"]
    project.write_genome(obj)
    line = expect_user_error(capsys, compile_args(project), project.out)
    assert str(project.genome) in line and "nodes[4] (id 'd1').inputs" in line and "[4, 3, 3]" in line


def test_missing_weights_file_from_genome(project, capsys):
    project.weights.unlink()
    line = expect_user_error(capsys, compile_args(project), project.out)
    assert str(project.weights) in line and "not found" in line


def test_missing_weights_file_from_option(project, capsys):
    missing = project.dir / "src" / "other.h5"
    line = expect_user_error(capsys, compile_args(project, "--weights", str(missing)), project.out)
    assert str(missing) in line and "not found" in line


def test_misshaped_weights(project, capsys):
    from tnas_deploy.weights import save_weights
    w = project.raw_weights
    w["d1"]["weight"] = np.zeros((8, 35), dtype=np.float32)
    save_weights(w, project.weights)
    line = expect_user_error(capsys, compile_args(project), project.out)
    assert str(project.weights) in line and "d1/weight" in line and "[8, 36]" in line and "[8, 35]" in line


def test_nan_weights(project, capsys):
    from tnas_deploy.weights import save_weights
    w = project.raw_weights
    w["c1"]["weight"] = w["c1"]["weight"].copy()
    w["c1"]["weight"][0, 0, 1, 1] = np.nan
    save_weights(w, project.weights)
    line = expect_user_error(capsys, compile_args(project), project.out)
    assert str(project.weights) in line and "c1/weight" in line and "NaN" in line


def test_unknown_profile(project, capsys):
    line = expect_user_error(capsys, compile_args(project, "--profile", "nosuchchip"), project.out)
    assert "--profile" in line and "'nosuchchip'" in line and "loihi2" in line


def test_profile_number_without_source(project, capsys):
    from tnas_deploy.profiles import BUNDLED_DIR
    text = (BUNDLED_DIR / "loihi2.toml").read_text()
    start, end = text.index("[format.state_bits]"), text.index("[format.threshold_bits]")
    mine = project.dir / "src" / "mine.toml"
    mine.write_text(text[:start] + "[format.state_bits]\nvalue = 24\n\n" + text[end:])
    line = expect_user_error(capsys, compile_args(project, "--profile", str(mine)), project.out)
    assert str(mine) in line and "format.state_bits" in line


def test_calibration_of_wrong_shape(project, capsys):
    from tnas_deploy.data import save_dataset
    save_dataset(project.cal, np.zeros((5, 6, 6)))
    line = expect_user_error(capsys, compile_args(project), project.out)
    assert str(project.cal) in line and ": x:" in line and "[5, 6, 6]" in line


def test_calibration_labels_out_of_range(project, capsys):
    from tnas_deploy.data import save_dataset
    save_dataset(project.cal, np.zeros((5, *INPUT_SHAPE)), np.array([0, 1, 2, 3, 0]))
    line = expect_user_error(capsys, compile_args(project), project.out)
    assert str(project.cal) in line and ": y:" in line


def test_compile_overflow_then_saturate(project, capsys):
    from tnas_deploy.weights import save_weights
    w = project.raw_weights
    w["d1"]["bias"] = np.full(8, -1e6, dtype=np.float32)   # v_init = r D / Delta far beyond the 24-bit membrane
    save_weights(w, project.weights)
    line = expect_user_error(capsys, compile_args(project), project.out)
    assert "layer d1: bias" in line and "--saturate" in line and str(project.genome) in line

    assert main(compile_args(project, "--saturate")) == 0
    captured = capsys.readouterr()
    assert project.out.is_file()
    assert "note: layer d1, bias: saturated" in captured.out
    assert [q.name for q in project.out_dir.iterdir()] == ["net.tdart"]


def test_run_with_bad_input_data(project, capsys):
    from tnas_deploy.data import save_dataset
    assert main(compile_args(project)) == 0
    capsys.readouterr()
    bad = project.dir / "src" / "bad.npz"
    save_dataset(bad, np.full((3, *INPUT_SHAPE), 2.0))
    result = project.dir / "res" / "r.npz"
    result.parent.mkdir()
    line = expect_user_error(capsys, ["run", str(project.out), "--input", str(bad), "-o", str(result),
                                      "--no-progress"], result)
    assert str(bad) in line and ": x:" in line


@pytest.mark.parametrize("n", ["0", "-5"])
def test_run_with_bad_sample_count(project, capsys, n):
    assert main(compile_args(project)) == 0
    capsys.readouterr()
    result = project.dir / "res" / "r.npz"
    result.parent.mkdir()
    line = expect_user_error(capsys, ["run", str(project.out), "--input", str(project.test), "--samples", n,
                                      "-o", str(result), "--no-progress"], result)
    assert "--samples" in line and n in line


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_infinite_margin_is_a_user_error(project, capsys):
    expect_user_error(capsys, compile_args(project, "--margin", "inf"), project.out)


def test_output_path_is_a_directory(project, capsys):
    target = project.out_dir / "adir"
    target.mkdir()
    rc = main(compile_args(project, out=target))
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("tnas-deploy: error: ") and str(target) in err


def test_inspect_not_an_artifact(project, capsys):
    rc = main(["inspect", str(project.genome)])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("tnas-deploy: error: ") and str(project.genome) in err
    assert "Traceback" not in err


def test_real_process_exit_code(project):
    project.genome.write_text("{\n  \"format\": \"tnas-genome\",\n  oops\n}\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "tnas_deploy.cli", *compile_args(project)],
                          capture_output=True, text=True, cwd=project.dir, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("tnas-deploy: error: ") and str(project.genome) in proc.stderr
    assert "line 3" in proc.stderr
    assert not project.out.exists() and list(project.out_dir.iterdir()) == []


# -- success -----------------------------------------------------------------------------------------

LAYER_KEYS = ("neurons", "synapses", "weight_bits", "weight_exp", "window_steps", "headroom_bits")


def test_compile_and_inspect_print_the_same_table(project, capsys):
    assert main(compile_args(project)) == 0
    out = capsys.readouterr().out
    assert project.out.is_file()
    assert [q.name for q in project.out_dir.iterdir()] == ["net.tdart"]
    lines = out.rstrip("\n").splitlines()
    assert lines[-1] == f"wrote {project.out}"
    table = "\n".join(lines[:-1])
    assert lines[0].startswith("cli-test on loihi2")
    assert re.search(r"^layer\s+kind\s+shape\s+neurons\s+synapses", table, re.M)
    for layer_id in ("c1", "p1", "d1", "out"):
        assert re.search(rf"^{layer_id}\s", table, re.M), layer_id
    assert re.search(r"^total: \d+ neurons, \d+ synapses, \d+ windows x 8 steps = \d+ time steps", table, re.M)

    assert main(["inspect", str(project.out)]) == 0
    assert capsys.readouterr().out.rstrip("\n") == table


def test_json_summaries(project, capsys):
    assert main(compile_args(project, "--json")) == 0
    compiled = json.loads(capsys.readouterr().out)
    assert main(["inspect", str(project.out), "--json"]) == 0
    inspected = json.loads(capsys.readouterr().out)
    assert compiled == inspected
    assert compiled["artifact"] == str(project.out)
    assert compiled["steps_per_window"] == 8
    assert compiled["total_steps"] == compiled["windows"] * 8
    layers = {r["layer"]: r for r in compiled["layers"]}
    assert [r["kind"] for r in compiled["layers"]] == ["input", "ttfs", "maxpool2d", "flatten", "ttfs", "readout"]
    for layer_id in ("c1", "d1", "out"):
        row = layers[layer_id]
        for key in LAYER_KEYS:
            assert key in row, (layer_id, key)
        assert row["weight_bits"] == 8 and row["window_steps"] == 8
        assert isinstance(row["weight_exp"], int)
        assert set(row["headroom_bits"]) >= {"u", "v"}
    for row in compiled["layers"]:
        assert "neurons" in row and "synapses" in row
    # counts follow from the genome: conv 4x6x6 with a 3x3 kernel (padding 1) over one channel, etc.
    assert layers["c1"]["neurons"] == 4 * 6 * 6
    assert layers["c1"]["synapses"] == 4 * (6 * 6 * 9 - 4 * 6 * 3 + 4)    # border pixels see fewer taps
    assert layers["d1"]["neurons"] == 8 and layers["d1"]["synapses"] == 36 * 8
    assert layers["out"]["neurons"] == N_CLASSES and layers["out"]["synapses"] == 8 * N_CLASSES
    assert compiled["neurons"] == sum(r["neurons"] for r in compiled["layers"])
    assert compiled["synapses"] == sum(r["synapses"] for r in compiled["layers"])


def test_compile_is_deterministic(project, capsys):
    a, b = project.out_dir / "a.tdart", project.dir / "elsewhere" / "b.tdart"
    assert main(compile_args(project, out=a)) == 0
    assert main(compile_args(project, out=b)) == 0
    capsys.readouterr()
    assert a.read_bytes() == b.read_bytes()


def test_compile_with_state_dict_weights_matches_hdf5(project, capsys):
    import torch
    from tnas_deploy.ann import build_ann
    from tnas_deploy.genome import load_genome
    model = build_ann(load_genome(project.genome), project.raw_weights)
    pt = project.dir / "src" / "w.pt"
    torch.save(model.state_dict(), pt)
    a, b = project.out_dir / "h5.tdart", project.out_dir / "pt.tdart"
    assert main(compile_args(project, "--json", out=a)) == 0
    s_h5 = json.loads(capsys.readouterr().out)
    assert main(compile_args(project, "--json", "--weights", str(pt), out=b)) == 0
    s_pt = json.loads(capsys.readouterr().out)
    assert s_h5["layers"] == s_pt["layers"]


def test_run_writes_predictions_and_accuracy(project, capsys):
    from tnas_deploy.artifact import load_artifact
    from tnas_deploy.runner import simulate
    assert main(compile_args(project)) == 0
    capsys.readouterr()
    result = project.dir / "results" / "r.npz"
    assert main(["run", str(project.out), "--input", str(project.test), "-o", str(result), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert result.is_file()
    with np.load(result) as r:
        predictions, labels = r["predictions"], r["labels"]
        assert r["logits"].shape == (30, N_CLASSES)
    with np.load(project.test) as t:
        np.testing.assert_array_equal(labels, t["y"])
        x = t["x"]
    assert predictions.shape == (30,) and predictions.min() >= 0 and predictions.max() < N_CLASSES
    net, _ = load_artifact(project.out)
    np.testing.assert_array_equal(predictions, simulate(net, x).predictions)
    correct = int((predictions == labels).sum())
    assert f"accuracy: {correct / 30 * 100:.2f} % ({correct}/30)" in captured.out
    assert f"wrote {result}" in captured.out
    assert "Traceback" not in captured.err
    assert "reference" not in captured.err          # --no-progress: no progress bar

    assert main(["run", str(project.out), "--input", str(project.test), "--samples", "5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 5
    assert report["accuracy"] == pytest.approx(float((predictions[:5] == labels[:5]).mean()))


def test_run_without_labels_prints_no_accuracy(project, capsys):
    from tnas_deploy.data import save_dataset
    assert main(compile_args(project)) == 0
    capsys.readouterr()
    nolabels = project.dir / "src" / "x.npz"
    save_dataset(nolabels, np.random.default_rng(1).uniform(0, 1, (4, *INPUT_SHAPE)))
    result = project.dir / "r.npz"
    assert main(["run", str(project.out), "--input", str(nolabels), "-o", str(result), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" not in out
    with np.load(result) as r:
        assert r["predictions"].shape == (4,) and "labels" not in r.files
