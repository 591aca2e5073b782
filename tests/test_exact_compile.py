"""Genome version 3 `chip_integers`: a rate genome whose numbers are a chip's integers compiles to exactly those
integers (no quantization search), and what the profile's registers cannot hold is refused naming the layer and
the field (schemes/rate/exact.py)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.cli import main
from tnas_deploy.compiler import compile_network, load_inputs
from tnas_deploy.errors import DeployError, OverflowReport
from tnas_deploy.genome import load_genome
from tnas_deploy.runner import simulate
from tnas_deploy.schemes import CompileOptions
from tnas_deploy.weights import save_weights

W1 = np.array([[3.0, -2.0, 0.0, 5.0], [1.0, 1.0, -4.0, 2.0], [0.0, 7.0, 1.0, -1.0]])   # stored integers (3 x 4)
W2 = np.array([[2.0, -3.0, 1.0], [-1.0, 4.0, 2.0]])


def _write(tmp_path: Path, *, h: dict | None = None, w1: np.ndarray = W1, bias: np.ndarray | None = None,
           scales: dict | None = None) -> Path:
    """input (4) -> h (dense, LIF tau 4, threshold 10) -> o (dense 2) -> membrane readout, in units of 64 state
    units per genome unit (the input is graded: its weights are per intensity, W x 255)."""
    neuron = {"model": "lif", "tau": 4.0, "decay_input": False, "threshold": 10.0, **(h or {})}
    obj = {"format": "tnas-genome", "version": 3, "name": "exact", "weights": "w.h5",
           "task": {"input_shape": [4], "classes": ["a", "b"]}, "coding": {"scheme": "rate", "steps": 6},
           "chip_integers": {"state_scales": scales if scales is not None else {"h": 64.0, "out": 64.0}},
           "nodes": [{"id": "x", "type": "input"},
                     {"id": "h", "type": "dense", "inputs": ["x"], "units": 3, "bias": bias is not None,
                      "neuron": neuron},
                     {"id": "o", "type": "dense", "inputs": ["h"], "units": 2, "bias": False},
                     {"id": "out", "type": "readout", "inputs": ["o"]}]}
    (tmp_path / "g.json").write_text(json.dumps(obj))
    weights = {"h": {"weight": w1 * 255}, "o": {"weight": W2}}
    if bias is not None:
        weights["h"]["bias"] = bias
    save_weights(weights, tmp_path / "w.h5")
    return tmp_path / "g.json"


def test_chip_integers_compile_to_exactly_those_integers(tmp_path) -> None:
    net = compile_network(load_inputs(_write(tmp_path, bias=np.array([2.0, -1.0, 0.0])), None, "loihi2", None))
    h, readout = net.by_id["h"], net.readout
    (p,) = h.projections
    np.testing.assert_array_equal(np.asarray(p.weight) << p.shift, W1.astype(np.int64) << 6)
    assert (h.threshold, h.du, h.dv) == (10 << 6, 4096, 1024)
    np.testing.assert_array_equal(h.bias_q, np.array([2, -1, 0]) << 6)
    (q,) = readout.projections
    np.testing.assert_array_equal(np.asarray(q.weight) << q.shift, W2.astype(np.int64) << 6)
    assert readout.scale == 1 / 64 and net.options["chip_integers"]
    assert any("not quantized again" in n["message"] for n in net.notes)
    # the same integers run: the logits are the readout's state over 64
    result = simulate(net, np.random.default_rng(0).uniform(0, 1, (3, 4)))
    np.testing.assert_array_equal(result.logits, result.readout / 64)


@pytest.mark.parametrize("changes, field, words", [
    ({"w1": W1 + 0.001}, "layer h: weight", "is not an integer number of state units"),
    ({"h": {"threshold": 10.5}}, "layer h: threshold", "not a multiple of 64"),
    ({"h": {"tau": 3.0}}, "layer h: dv", "not a multiple of 1/4096"),
    ({"bias": np.array([0.01, 0.0, 0.0])}, "layer h: bias", "is not an integer number of state units"),
    ({"w1": np.where(W1 == 7, 129, W1)}, "layer h: weight", "8-bit mantissas"),     # 129 and 3: no shift holds both
])
def test_what_the_registers_cannot_hold_is_refused(tmp_path, capsys, changes, field, words) -> None:
    path = _write(tmp_path, **changes)
    assert main(["compile", str(path), "-o", str(tmp_path / "g.tdart")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tnas-deploy: error: {path}: {field}: ") and words in err, err
    assert len(err.splitlines()) == 1 and not (tmp_path / "g.tdart").exists()


def test_a_population_without_a_state_scale_is_refused(tmp_path) -> None:
    with pytest.raises(DeployError) as err:
        compile_network(load_inputs(_write(tmp_path, scales={"h": 64.0}), None, "loihi2", None))
    assert err.value.field == "chip_integers.state_scales" and "no state scale for layer 'out'" in err.value.message


def test_chip_integers_name_nodes_of_a_rate_genome(tmp_path) -> None:
    with pytest.raises(DeployError) as err:
        load_genome(_write(tmp_path, scales={"h": 64.0, "zz": 1.0}))
    assert err.value.field == "chip_integers.state_scales.zz" and "unknown node 'zz'" in err.value.message


def test_a_state_scale_cannot_be_lowered_for_calibration_data(tmp_path) -> None:
    """Headroom: the scales are fixed, so calibration data that overflows fails the compile naming the layer (the
    quantizer would lower the scale), and --saturate compiles it with the clipping noted."""
    path = _write(tmp_path, w1=W1 * 60, h={"threshold": 120000.0})     # one step takes v past 2**23
    np.savez(tmp_path / "c.npz", x=np.ones((2, 4)))
    with pytest.raises(OverflowReport) as err:
        compile_network(load_inputs(path, None, "loihi2", tmp_path / "c.npz"))
    assert err.value.field.startswith("layer h: ") and "beyond the 24-bit state limit" in err.value.message
    net = compile_network(load_inputs(path, None, "loihi2", tmp_path / "c.npz"), CompileOptions(saturate=True))
    assert any(n["message"].startswith("saturated:") for n in net.notes)
