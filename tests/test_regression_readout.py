"""Regression readouts (genome version 3, `task.outputs`): real-valued outputs instead of classes, with the checks
of the task block, real-valued targets in data files, and error metrics (MAE, RMSE) in `run` and `bench`
instead of accuracy. Versions 1 and 2 keep loading as before."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.cli import main
from tnas_deploy.errors import DeployError
from tnas_deploy.genome import genome_from_json, load_genome
from tnas_deploy.regression import regression_block
from tnas_deploy.weights import expected_shapes, save_weights


def _genome(units: int = 2, task: dict | None = None) -> dict:
    return {"format": "tnas-genome", "version": 3, "name": "reg", "weights": "w.h5",
            "task": {"input_shape": [5], **(task or {"outputs": [f"y{i}" for i in range(units)]})},
            "coding": {"scheme": "rate", "steps": 4},
            "nodes": [{"id": "x", "type": "input"},
                      {"id": "h", "type": "dense", "inputs": ["x"], "units": 6, "neuron": {"model": "if"}},
                      {"id": "o", "type": "dense", "inputs": ["h"], "units": units},
                      {"id": "out", "type": "readout", "inputs": ["o"]}]}


def _write(tmp_path: Path, obj: dict) -> Path:
    path = tmp_path / "reg.json"
    path.write_text(json.dumps(obj))
    genome = load_genome(path)
    rng = np.random.default_rng(3)
    save_weights({k: {n: rng.normal(0.4, 0.5, s) for n, s in v.items()} for k, v in expected_shapes(genome).items()},
                 tmp_path / "w.h5")
    return path


def test_a_regression_genome_loads_and_writes_itself_back(tmp_path) -> None:
    genome = load_genome(_write(tmp_path, _genome(2)))
    assert genome.task.regression and genome.task.outputs == ("y0", "y1") and genome.task.classes == ()
    assert genome.task.names == ("y0", "y1")
    again = genome_from_json(json.loads(genome.dumps()))
    assert again == genome and "classes" not in json.loads(genome.dumps())["task"]


@pytest.mark.parametrize("task, field, words", [
    ({"outputs": ["a"], "classes": ["a", "b"]}, "task", "got both"),
    ({"description": "no names"}, "task", "got neither"),
    ({"outputs": []}, "task.outputs", "should be non-empty"),
    ({"outputs": ["a", "b", "c"]}, "nodes[3] (id 'out')", "task.outputs names 3"),
])
def test_the_task_names_classes_or_outputs(task, field, words) -> None:
    with pytest.raises(DeployError) as err:
        genome_from_json(_genome(2, task), "g.json")
    assert err.value.field == field and words in err.value.message, (err.value.field, err.value.message)


def test_regression_readouts_are_for_rate_genomes_and_version_3() -> None:
    ttfs = {"format": "tnas-genome", "version": 3, "name": "t", "coding": {"scheme": "ttfs"},
            "time": {"steps_per_window": 4}, "task": {"input_shape": [3], "outputs": ["y"]},
            "nodes": [{"id": "x", "type": "input"}, {"id": "o", "type": "dense", "inputs": ["x"], "units": 1},
                      {"id": "out", "type": "readout", "inputs": ["o"]}]}
    with pytest.raises(DeployError) as err:
        genome_from_json(ttfs, "t.json")
    assert err.value.field == "task.outputs" and "rate-coded genomes" in err.value.message
    with pytest.raises(DeployError) as err:
        genome_from_json({**_genome(2), "version": 2}, "v2.json")
    assert err.value.field == "task" and "'classes' is a required property" in err.value.message


def test_real_valued_targets_and_error_metrics(tmp_path, capsys) -> None:
    path = _write(tmp_path, _genome(2))
    x = np.random.default_rng(1).uniform(0, 1, (6, 5))
    y = np.random.default_rng(2).normal(0, 3, (6, 2))
    np.savez(tmp_path / "d.npz", x=x, y=y)
    assert main(["compile", str(path), "-o", str(tmp_path / "reg.tdart")]) == 0
    assert main(["run", str(tmp_path / "reg.tdart"), "--input", str(tmp_path / "d.npz"), "-o", str(tmp_path / "r.npz"),
                 "--json", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["run", str(tmp_path / "reg.tdart"), "--input", str(tmp_path / "d.npz"), "-o", str(tmp_path / "r.npz"),
                 "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    logits = np.load(tmp_path / "r.npz")["logits"]
    assert "accuracy" not in report
    assert report["regression"]["mae"] == pytest.approx(np.abs(logits - y).mean())
    rmse = np.sqrt(np.mean((logits[:, 1] - y[:, 1]) ** 2))
    assert report["regression"]["per_output"]["y1"]["rmse"] == pytest.approx(rmse)
    # bench: the report shows the errors instead of accuracy
    assert main(["bench", str(tmp_path / "reg.tdart"), "--input", str(tmp_path / "d.npz"), "--profile", "loihi2",
                 "-o", str(tmp_path / "rep"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "regression error: mean absolute error" in out and "accuracy" not in out
    bench = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert bench["regression"] == report["regression"] and "accuracy" not in bench
    assert "## Regression outputs" in (tmp_path / "rep" / "report.md").read_text()
    # one output takes targets of shape (N,) too; without targets only the outputs are reported
    assert regression_block(logits[:, :1], None, ("y0",)).keys() == {"outputs", "per_output", "samples"}


@pytest.mark.parametrize("y, words", [
    (np.zeros((6, 3)), "expected real-valued targets of shape [6, 2]"),
    (np.full((6, 2), np.nan), "contains NaN or inf"),
    (np.array(["a"] * 6), "expected real-valued targets"),
])
def test_bad_targets_are_refused(tmp_path, capsys, y, words) -> None:
    path = _write(tmp_path, _genome(2))
    np.savez(tmp_path / "d.npz", x=np.zeros((6, 5)), y=y)
    assert main(["compile", str(path), "-o", str(tmp_path / "reg.tdart")]) == 0
    capsys.readouterr()
    assert main(["run", str(tmp_path / "reg.tdart"), "--input", str(tmp_path / "d.npz"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'd.npz'}: y: " in err and words in err, err


def test_one_output_takes_flat_targets(tmp_path, capsys) -> None:
    path = _write(tmp_path, _genome(1))
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 5)), y=np.arange(4.0))
    assert main(["compile", str(path), "-o", str(tmp_path / "reg.tdart")]) == 0
    assert main(["run", str(tmp_path / "reg.tdart"), "--input", str(tmp_path / "d.npz"), "--no-progress"]) == 0
    assert "regression output 'y0': mean" in capsys.readouterr().out
