"""The Python API gives the CLI's numbers and the CLI's error messages, and its results pickle."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from tnas_deploy import api
from tnas_deploy.cli import main
from tnas_deploy.data import load_dataset
from tnas_deploy.summary import summarize

MODELS = Path(__file__).resolve().parents[1] / "models"
DIGITS = MODELS / "digits_ttfs.json"
TEST = MODELS / "digits_test.npz"
CALIB = MODELS / "digits_calib.npz"


def _cli_json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("api") / "digits.tdart"
    assert main(["compile", str(DIGITS), "--calibration", str(CALIB), "-o", str(path), "--json"]) == 0
    return path


def test_compile_equals_the_cli(artifact: Path, capsys) -> None:
    cli = _cli_json(capsys, ["compile", str(DIGITS), "--calibration", str(CALIB), "-o", str(artifact.parent / "b.tdart"),
                             "--json"])
    cli.pop("artifact")
    net = api.compile(DIGITS, calibration=CALIB)
    assert summarize(net) == cli


def test_compile_accepts_loaded_objects() -> None:
    from tnas_deploy.genome import load_genome
    from tnas_deploy.profiles import load_profile
    from tnas_deploy.weights import load_weights
    genome = load_genome(DIGITS)
    data = load_dataset(CALIB, (1, 8, 8))
    by_path = api.compile(DIGITS, calibration=CALIB)
    by_object = api.compile(genome, weights=load_weights(genome), profile=load_profile("loihi2"),
                            calibration=(data.x, data.y))
    assert summarize(by_object)["layers"] == summarize(by_path)["layers"]


def test_run_equals_the_cli(artifact: Path, capsys) -> None:
    cli = _cli_json(capsys, ["run", str(artifact), "--input", str(TEST), "--samples", "50", "--json", "--no-progress"])
    got = api.run(artifact, TEST, samples=50).to_dict()
    for report in (cli, got):
        report.pop("seconds")
    cli.pop("artifact")
    assert got == cli


def test_progress_goes_to_the_callback(artifact: Path, capsys) -> None:
    done: list[float] = []
    api.run(artifact, TEST, samples=20, progress=done.append)
    assert sum(done) == 20
    assert capsys.readouterr() == ("", "")


def test_evaluate_equals_bench(artifact: Path, tmp_path: Path) -> None:
    report = api.bench(DIGITS, TEST, profiles=["loihi2", "loihi1"], output=tmp_path / "r", samples=60).report
    ev = api.evaluate(DIGITS, data=TEST, profiles=["loihi2", "loihi1"], samples=60)
    assert ev.war == report["accuracy"]["war"] and ev.uar == report["accuracy"]["uar"]
    for layer, block in report["layers"].items():
        assert (ev.layers[layer].spikes, ev.layers[layer].synaptic_events) == (block["spikes"], block["synaptic_events"])
    for name, block in report["profiles"].items():
        assert ev.profiles[name].energy_uj == block["energy"]["total_pj"] * 1e-6
        assert ev.profiles[name].latency_ms == block["energy"]["latency_ns"] * 1e-6
        assert ev.profiles[name].cores_used == block["placement"]["cores_used"]
    fast = api.estimate_cost(DIGITS, data=TEST, profiles=["loihi2", "loihi1"], samples=60)
    assert fast.to_dict() | {"method": "reference"} == ev.to_dict()


def test_evaluation_pickles_and_serialises() -> None:
    ev = api.estimate_cost(DIGITS, data=TEST, profiles=["loihi2"], samples=10)
    assert pickle.loads(pickle.dumps(ev)) == ev
    json.dumps(ev.to_dict(), allow_nan=False)


def test_verify_reference_against_itself(artifact: Path) -> None:
    check = api.verify(artifact, TEST, backend="reference", samples=10)
    assert check.bit_exact and check.summary == "bit-exact: 10/10 samples, " + f"{check.spikes_compared} spikes compared"


@pytest.mark.parametrize("call, argv", [
    (lambda tmp: api.compile(tmp / "missing.json"), lambda tmp: ["compile", str(tmp / "missing.json")]),
    (lambda tmp: api.compile(DIGITS, profile="no_such_chip"), lambda tmp: ["compile", str(DIGITS), "--profile",
                                                                           "no_such_chip"]),
    (lambda tmp: api.compile(DIGITS, calibration=TEST.with_name("nope.npz")),
     lambda tmp: ["compile", str(DIGITS), "--calibration", str(TEST.with_name("nope.npz"))]),
])
def test_errors_carry_the_cli_messages(call, argv, tmp_path: Path, capsys) -> None:
    with pytest.raises(api.DeployError) as info:
        call(tmp_path)
    assert main(argv(tmp_path)) == 2
    assert capsys.readouterr().err.strip() == f"tnas-deploy: error: {info.value}"


def test_bad_arrays_and_options_are_deploy_errors() -> None:
    with pytest.raises(api.DeployError, match=r"values in \[0, 1\]"):
        api.estimate_cost(DIGITS, data=np.full((2, 1, 8, 8), 3.0))
    with pytest.raises(api.DeployError, match="unknown compile option"):
        api.compile(DIGITS, calibration=CALIB, sature=True)
    with pytest.raises(api.DeployError, match="unknown backend"):
        api.run(api.compile(DIGITS), TEST, backend="gpu", samples=2)


def test_workers_split_only_lava_runs_with_the_cli_message(artifact: Path) -> None:
    with pytest.raises(api.DeployError) as error:
        api.run(artifact, TEST, backend="reference", samples=2, workers=2)
    assert error.value.field == "--workers" and "split --backend lava runs" in str(error.value)
    with pytest.raises(api.DeployError, match="expected a number of workers >= 1, got 0"):
        api.run(artifact, TEST, backend="lava", samples=2, workers=0)
