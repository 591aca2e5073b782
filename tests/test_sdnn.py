"""Sigma-delta coding (SDNN, docs/sdnn.md): the fixed-point rule, lowering, compile, the reference simulator,
artifacts, refusals and the digits model's accuracy against its ANN."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.ann import ann_activations
from tnas_deploy.artifact import load_artifact, save_artifact
from tnas_deploy.cli import main
from tnas_deploy.compilation import CompileInputs
from tnas_deploy.compiler import compile_network, load_inputs
from tnas_deploy.dataset import Dataset
from tnas_deploy.fixed_point import delta_encode_step, encode_sdnn_input, graded_synapse, sigma_delta_step
from tnas_deploy.genome import genome_from_json
from tnas_deploy.profiles import load_profile
from tnas_deploy.random_genome import random_weights
from tnas_deploy.runner import simulate
from tnas_deploy.schemes import CompileOptions, scheme_for
from tnas_deploy.schemes.sdnn.float_model import simulate_float
from tnas_deploy.schemes.sdnn.refsim import run_sdnn
from tnas_deploy.summary import summarize
from tnas_deploy.verify import compare, result_dict

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def _i(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# -- the fixed-point rule, step by step against numbers worked out by hand --------------------------------------

def test_sigma_delta_step_literal() -> None:
    """Lava's order: sigma += a_in; act = relu(sigma + bias); delta = act - act_prev + residue; send if |delta|
    >= vth; residue keeps what was not sent; payload = s >> state_exp."""
    sigma, act, residue = _i(0, 0, 0), _i(0, 0, 0), _i(0, 0, 0)
    bias = _i(0, 2, -5)
    # step 1: a_in 10, 1, 3 -> sigma 10, 1, 3; act relu(10, 3, -2) = 10, 3, 0; delta 10, 3, 0; vth 4: 10 sent only
    sigma, act, residue, out, peak = sigma_delta_step(sigma, act, residue, _i(10, 1, 3), bias, vth=4)
    assert sigma.tolist() == [10, 1, 3] and act.tolist() == [10, 3, 0]
    assert out.tolist() == [10, 0, 0] and residue.tolist() == [0, 3, 0] and peak == 10
    # step 2: a_in -4, 1, 0 -> sigma 6, 2, 3; act 6, 4, 0; delta -4 + 0, 1 + 3, 0 = -4, 4, 0: both reach |4|
    sigma, act, residue, out, _ = sigma_delta_step(sigma, act, residue, _i(-4, 1, 0), bias, vth=4)
    assert act.tolist() == [6, 4, 0] and out.tolist() == [-4, 4, 0] and residue.tolist() == [0, 0, 0]
    # UNIT mode keeps negative values; state_exp 2 shifts the payload arithmetically (-7 >> 2 = -2)
    _, a, r, out, _ = sigma_delta_step(_i(0), _i(0), _i(0), _i(-7), _i(0), vth=0, state_exp=2, relu=False)
    assert a.tolist() == [-7] and out.tolist() == [-2] and r.tolist() == [0]


def test_graded_synapse_and_input() -> None:
    assert graded_synapse(_i(5, -5, 12), -2).tolist() == [1, -2, 3]          # floor, as numpy's >> on int32
    assert graded_synapse(_i(5, -5), 3).tolist() == [40, -40]
    assert graded_synapse(_i(5, -5), 0).tolist() == [5, -5]
    assert encode_sdnn_input(np.array([0.0, 0.5, 1.0, 1.7, -0.2])).tolist() == [0, 128, 255, 255, 0]
    act, residue, s = delta_encode_step(_i(3, 5), _i(0, 0), _i(3, 9), 0)
    assert act.tolist() == [3, 9] and s.tolist() == [0, 4] and residue.tolist() == [0, 0]


# -- the digits model -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    inputs = load_inputs(MODELS / "digits_ttfs.json", None, "loihi2", MODELS / "digits_calib.npz")
    net = compile_network(inputs, CompileOptions(coding="sdnn"))
    test = scheme_for(net).load_data(MODELS / "digits_test.npz", net)
    return inputs, net, test


def test_digits_accuracy_within_one_point_of_the_ann(digits) -> None:
    inputs, net, test = digits
    assert net.coding == "sdnn" and net.steps == 5 == net.run_steps      # 4 hops: the readout settles at step 4
    ann = ann_activations(inputs.genome, inputs.weights, test.x)[inputs.genome.readout.id]
    ann_acc = float((ann.argmax(1) == test.y).mean())
    ref = simulate(net, test.x)
    acc = float((ref.predictions == test.y).mean())
    assert acc >= ann_acc - 0.01, (acc, ann_acc)
    assert ref.spike_total() > 0
    # logits in value units track the ANN's closely once settled
    assert np.abs(ref.logits - ann).max() < 1.0


def test_settling_float_model_is_the_ann_with_zero_thresholds(digits) -> None:
    """With vth 0 the float sigma-delta network is the ANN exactly once a static input has crossed every layer;
    one step earlier the readout has not received anything yet."""
    inputs, _, test = digits
    x = test.x[:40]
    ann = ann_activations(inputs.genome, inputs.weights, x)[inputs.genome.readout.id]
    zero = compile_network(inputs, CompileOptions(coding="sdnn", delta_threshold=0.0))
    history = simulate_float(inputs, zero, x, zero.steps + 1)
    np.testing.assert_allclose(history[zero.steps - 1], ann, atol=1e-9)
    np.testing.assert_allclose(history[zero.steps], ann, atol=1e-9)
    assert np.abs(history[zero.steps - 2] - ann).max() > 1.0
    assert all(layer.vth == 0 for layer in zero.layers if hasattr(layer, "vth"))


def test_thresholds_trade_spikes(digits) -> None:
    inputs, net, test = digits
    zero = compile_network(inputs, CompileOptions(coding="sdnn", delta_threshold=0.0))
    x = test.x[:50]
    assert simulate(net, x).spike_total() < simulate(zero, x).spike_total()


def test_artifact_round_trip_and_summary(digits, tmp_path: Path) -> None:
    _, net, test = digits
    path = tmp_path / "d.tdart"
    save_artifact(net, path, summarize(net))
    again, summary = load_artifact(path)
    assert again.coding == "sdnn" and summary["coding"] == "sdnn"
    x = test.x[:20]
    a, b = simulate(net, x), simulate(again, x)
    assert compare(result_dict(a), result_dict(b), [layer.id for layer in net.layers]).bit_exact
    path2 = tmp_path / "e.tdart"
    save_artifact(again, path2, summarize(again))
    assert path.read_bytes() == path2.read_bytes()          # deterministic, and nothing lost on the way


def test_peaks_within_registers(digits) -> None:
    _, net, _ = digits
    for layer_id, entry in net.headroom.items():
        for var, figures in entry.items():
            assert figures["calibration_peak"] <= figures["limit"], (layer_id, var)


# -- the command line -------------------------------------------------------------------------------------------

def test_cli_compile_and_refusals(tmp_path: Path, capsys) -> None:
    genome, calib = str(MODELS / "digits_ttfs.json"), str(MODELS / "digits_calib.npz")
    out = tmp_path / "d.tdart"
    assert main(["compile", genome, "--coding", "sdnn", "--calibration", calib, "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "sigma-delta coding: 5 time steps per inference" in text and out.exists()
    cases = [
        (["--coding", "rate", "--calibration", calib], "--coding", "rate coding needs a trained rate model"),
        (["--coding", "bogus", "--calibration", calib], "--coding", "unknown coding 'bogus'"),
        (["--coding", "sdnn"], "--calibration", "pass --calibration"),
        (["--coding", "sdnn", "--calibration", calib, "--margin", "2"], "--margin", "window margins"),
        (["--coding", "sdnn", "--calibration", calib, "--saturate"], "--saturate", "cannot saturate"),
        (["--coding", "sdnn", "--calibration", calib, "--delta-threshold", "1.5"], "--delta-threshold", "[0, 1)"),
        (["--delta-threshold", "0.1"], "--delta-threshold", "sigma-delta coding only"),
    ]
    for extra, field, words in cases:
        assert main(["compile", genome, "-o", str(tmp_path / "x.tdart")] + extra) == 2, extra
        err = capsys.readouterr().err
        assert field in err and words in err, (extra, err)
        assert "Traceback" not in err


def test_short_run_is_noted(tmp_path: Path) -> None:
    inputs = load_inputs(MODELS / "digits_ttfs.json", None, "loihi2", MODELS / "digits_calib.npz")
    net = compile_network(inputs, CompileOptions(coding="sdnn", steps=3))
    assert net.steps == 3 and any(n["variable"] == "steps" for n in net.notes)


# -- a small network with what digits lacks: a residual add, a UNIT population, average pooling --------------------

def small_sdnn(seed: int = 0):
    genome = genome_from_json({
        "format": "tnas-genome", "version": 1, "name": "sdnn-small", "coding": {"scheme": "ttfs"},
        "task": {"input_shape": [2, 6, 6], "classes": ["a", "b", "c"]}, "time": {"steps_per_window": 8},
        "nodes": [{"id": "x", "type": "input"},
                  {"id": "c1", "type": "conv2d", "inputs": ["x"], "out_channels": 4, "kernel": 3, "padding": 1,
                   "neuron": {"model": "ttfs"}},
                  {"id": "c2", "type": "conv2d", "inputs": ["c1"], "out_channels": 4, "kernel": 3, "padding": 1,
                   "neuron": {"model": "ttfs"}},
                  {"id": "sum", "type": "add", "inputs": ["c1", "c2"], "neuron": {"model": "ttfs"}},
                  {"id": "avg", "type": "avgpool2d", "inputs": ["sum"], "kernel": 2, "neuron": None},
                  {"id": "f", "type": "flatten", "inputs": ["avg"]},
                  {"id": "d", "type": "dense", "inputs": ["f"], "units": 3},
                  {"id": "out", "type": "readout", "inputs": ["d"]}]})
    weights = random_weights(genome, seed)
    rng = np.random.default_rng(seed)
    x = rng.random((24, 2, 6, 6))
    net = compile_network(CompileInputs(genome, weights, Path(__file__), load_profile("loihi2"),
                                        Dataset(x, None, None, None)), CompileOptions(coding="sdnn"))
    return genome, weights, net, x


def test_small_network_lowering_and_settling() -> None:
    genome, weights, net, x = small_sdnn()
    kinds = {layer.id: layer.kind for layer in net.layers}
    assert kinds["avg"] == "sigma_delta" and not net.by_id["avg"].relu           # a UNIT population
    assert net.steps == net.readout.window + 1
    # the add hears c1 at hop 2 and c2 at hop 3: it sends twice, and the result still settles to the ANN's
    ann = ann_activations(genome, weights, x)["out"]
    _, readout, _, _ = run_sdnn(net.layers, x, net.steps, integer=True)
    assert np.abs(readout / net.readout.scale - ann).max() < 0.05 * np.abs(ann).max()
    sent = simulate(net, x).spike_times["sum"]
    assert (sent[:, 2] != 0).any() and (sent[:, 3] != 0).any()


# -- genome version 4: a genome that declares sigma-delta coding ------------------------------------------------

def _v4_digits(tmp_path: Path, **coding) -> Path:
    import json
    obj = json.loads((MODELS / "digits_ttfs.json").read_text())
    obj.update(version=4, coding={"scheme": "sdnn", **coding}, weights=str(MODELS / "digits_ttfs.h5"))
    del obj["time"]
    for node in obj["nodes"]:
        if node.get("neuron"):
            node["neuron"] = {"model": "sigma_delta"}
    path = tmp_path / "digits_sdnn.json"
    path.write_text(json.dumps(obj))
    return path


def test_genome_v4_sdnn_compiles_like_coding_sdnn(tmp_path: Path, digits) -> None:
    from tnas_deploy.genome import load_genome

    path = _v4_digits(tmp_path, delta_threshold=1 / 64)
    genome = load_genome(path)
    assert genome.coding == "sdnn" and genome.steps is None and genome.delta_threshold == 1 / 64
    assert genome_from_json(genome.to_json()) == genome
    inputs = load_inputs(path, None, "loihi2", MODELS / "digits_calib.npz")
    net = compile_network(inputs)
    _, lowered, test = digits
    x = test.x[:30]
    a, b = simulate(net, x), simulate(lowered, x)
    np.testing.assert_array_equal(a.readout, b.readout)   # the same network as --coding sdnn of the TTFS genome
    stepped = compile_network(load_inputs(_v4_digits(tmp_path, steps=7), None, "loihi2", MODELS / "digits_calib.npz"))
    assert stepped.steps == 7


def test_genome_v4_refusals(tmp_path: Path, capsys) -> None:
    import json
    path = _v4_digits(tmp_path)
    obj = json.loads(path.read_text())
    cases = [
        (lambda o: o.update(version=3), "version", "coding 'sdnn' needs genome version 4"),
        (lambda o: o["nodes"][2].update(neuron={"model": "ttfs"}), "neuron.model", "sigma_delta"),
        (lambda o: o.update(time={"steps_per_window": 8}), "time", "no time block"),
        (lambda o: o["coding"].update(delta_threshold=1), "coding.delta_threshold", ""),
        (lambda o: o["nodes"][2].update(neuron={"model": "sigma_delta", "tau": 2.0}), "neuron", "tau"),
    ]
    for change, field, words in cases:
        bad = json.loads(json.dumps(obj))
        change(bad)
        path.write_text(json.dumps(bad))
        assert main(["compile", str(path), "--calibration", str(MODELS / "digits_calib.npz"),
                     "-o", str(tmp_path / "x.tdart")]) == 2
        err = capsys.readouterr().err
        assert field in err and words in err, err
    path.write_text(json.dumps(obj))
    assert main(["compile", str(path), "--coding", "ttfs", "-o", str(tmp_path / "x.tdart")]) == 2
    assert "--coding" in capsys.readouterr().err


# -- bench: one network in several codings, side by side ---------------------------------------------------------

def test_bench_codings_side_by_side(tmp_path: Path, capsys) -> None:
    import json
    args = ["bench", str(MODELS / "digits_ttfs.json"), "--coding", "ttfs,sdnn", "--input",
            str(MODELS / "digits_test.npz"), "--calibration", str(MODELS / "digits_calib.npz"), "--samples", "12",
            "--profile", "loihi2", "--profile", "loihi1", "--no-progress"]
    assert main(args + ["-o", str(tmp_path / "a")]) == 0
    text = capsys.readouterr().out
    assert "| ttfs |" in text and "| sdnn |" in text and "| loihi2 |" in text
    comparison = json.loads((tmp_path / "a" / "codings.json").read_text())
    sdnn, ttfs = comparison["codings"]["sdnn"], comparison["codings"]["ttfs"]
    assert sdnn["time_steps"] == 5 and ttfs["time_steps"] > sdnn["time_steps"]
    assert sdnn["chips"]["loihi2"]["energy_uj"] > 0 and sdnn["spikes"] > 0
    # Loihi 1 sends binary spikes: the TTFS network has a number there, the sigma-delta network does not fit
    assert ttfs["chips"]["loihi1"]["energy_uj"] > 0 and sdnn["chips"]["loihi1"]["energy_uj"] is None
    assert sdnn["chips"]["loihi1"]["note"].startswith("does not fit: the network's spikes carry 16-bit graded")
    assert "| loihi1 | " in text and "| does not fit | does not fit |" in text
    assert (tmp_path / "a" / "sdnn" / "report.md").exists() and (tmp_path / "a" / "codings.png").exists()
    artifact = tmp_path / "d.tdart"
    assert main(["compile", str(MODELS / "digits_ttfs.json"), "--coding", "sdnn", "--calibration",
                 str(MODELS / "digits_calib.npz"), "-o", str(artifact)]) == 0
    capsys.readouterr()
    assert main(["bench", str(artifact), "--coding", "ttfs,sdnn", "--input", str(MODELS / "digits_test.npz"),
                 "--no-progress"]) == 2
    assert "give a genome .json" in capsys.readouterr().err


def test_compare_names_a_differing_payload(digits) -> None:
    _, net, test = digits
    ref = simulate(net, test.x[:3])
    other = result_dict(ref)
    other = {**other, "spike_times": {k: v.copy() for k, v in other["spike_times"].items()}}
    other["spike_times"]["conv2"][1, 2, 5, 0, 0] += 1
    comparison = compare(result_dict(ref), other, [layer.id for layer in net.layers])
    assert not comparison.bit_exact and comparison.identical_samples == 2
    assert comparison.first.layer == "conv2" and comparison.first.what == "payload at step 2"
