"""The leaky membrane readout (genome version 3, `readout.tau`): each step acc = acc (1 - 1/tau) + y, the logits
are acc after T + D steps; on the chip dv = round(4096 / tau) on the readout's accumulating neurons.

Here: the fixed-point rule stepped by hand, the genome checks (versions, modes, codings, values), the float model
against the rule written out, the compiled network against the float model, the artifact round trip (and that a
readout without leak writes the same artifact fields as before), and the exports. Lava against the reference:
tests/test_lava_rate.py::test_leaky_membrane_readout; NIR's LI readouts: tests/test_nir_producers.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tnas_deploy.artifact import load_artifact, save_artifact
from tnas_deploy.compilation import CompileInputs
from tnas_deploy.compiler import compile_network
from tnas_deploy.dataset import Dataset
from tnas_deploy.errors import DeployError
from tnas_deploy.fixed_point import INT, accumulate_step, readout_decay
from tnas_deploy.genome import genome_from_json, load_genome
from tnas_deploy.profiles import load_profile
from tnas_deploy.random_genome import random_weights
from tnas_deploy.runner import simulate
from tnas_deploy.schemes.rate.torch_model import build_rate_snn
from tnas_deploy.summary import summarize
from tnas_deploy.weights import save_weights

STEPS = 6


def _genome(readout: dict, version: int = 3, coding: dict | None = None) -> dict:
    return {"format": "tnas-genome", "version": version, "name": "leaky",
            "task": {"input_shape": [5], "classes": ["a", "b", "c"]},
            "coding": coding or {"scheme": "rate", "steps": STEPS},
            "nodes": [{"id": "x", "type": "input"},
                      {"id": "h", "type": "dense", "inputs": ["x"], "units": 8,
                       "neuron": {"model": "lif", "tau": 2.0, "threshold": 0.4}},
                      {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
                      {"id": "out", "type": "readout", "inputs": ["o"], **readout}]}


def _load(tmp_path: Path, obj: dict):
    path = tmp_path / "g.json"
    path.write_text(json.dumps(obj))
    return load_genome(path)


def test_the_fixed_point_rule_by_hand() -> None:
    """dv = round(4096 / tau); each step v = sign(v) (|v| (4096 - dv) >> 12) + input + bias, saturated."""
    assert [readout_decay(t) for t in (None, 1, 2, 3, 8, 10, 8192, 10000)] == [0, 4096, 2048, 1365, 512, 410, 1, 0]
    v = np.array([1000, -1000, 7], dtype=INT)
    v, peak = accumulate_step(v, np.array([5, 5, 0], dtype=INT), np.array([1, 1, 1], dtype=INT), 24, 1365)
    # 1000 * 2731 >> 12 = 666 (2731000 / 4096 = 666.7); -1000 -> -666; 7 * 2731 >> 12 = 4
    assert v.tolist() == [666 + 6, -666 + 6, 4 + 1] and peak == 672
    v, _ = accumulate_step(np.array([2 ** 23 - 1], dtype=INT), np.array([2 ** 22], dtype=INT), np.zeros(1, INT), 24,
                           4096)      # tau = 1: only this step's input is kept
    assert v.tolist() == [2 ** 22]
    v, _ = accumulate_step(np.array([2 ** 23 - 10], dtype=INT), np.array([100], dtype=INT), np.zeros(1, INT), 24)
    assert v.tolist() == [2 ** 23 - 1]          # without dv: the accumulator of version 2, saturating


def test_genome_checks(tmp_path) -> None:
    genome = _load(tmp_path, _genome({"tau": 4}))
    assert genome.readout.tau == 4.0 and genome.readout.to_json()["tau"] == 4.0
    assert "tau" not in _load(tmp_path, _genome({})).readout.to_json()       # no leak: written as before
    assert _load(tmp_path, _genome({"tau": None})).readout.tau is None
    cases = [(_genome({"tau": 4}, version=2), "tau"),                                 # a version 3 field
             (_genome({"tau": 0.5}), "0.5 is less than the minimum of 1"),
             (_genome({"tau": 4, "mode": "spike_count"}), "a 'spike_count' readout counts spikes and does not leak")]
    ttfs = _genome({"tau": 4}, coding={"scheme": "ttfs"})
    ttfs["time"] = {"steps_per_window": 8}
    ttfs["nodes"][1]["neuron"] = {"model": "ttfs"}
    cases.append((ttfs, "nodes[3] (id 'out').tau: a leaky readout (tau) is read for rate-coded genomes"))
    for obj, words in cases:
        with pytest.raises(DeployError) as exc:
            _load(tmp_path, obj)
        text = str(exc.value)
        assert text.startswith(str(tmp_path / "g.json")) and "nodes[3]" in text and "tau" in text, text
        assert words in text and "\n" not in text, text


def _compile(genome, weights, tmp_path: Path, x: np.ndarray | None):
    save_weights(weights, tmp_path / "w.h5")
    calibration = None if x is None else Dataset(x, None, None, None)
    return compile_network(CompileInputs(genome, weights, tmp_path / "w.h5", load_profile("loihi2"), calibration))


def _weights(genome):
    weights = random_weights(genome, 1)
    for tensors in weights.values():
        tensors["weight"] = tensors["weight"] * 3.0
    return weights


def test_float_model_is_the_rule_and_the_compiled_network_follows_it(tmp_path) -> None:
    """The float model's logits are sum_t (1 - 1/tau)^(run - 1 - t) y_t of the readout's input y (read from the
    same model without leak, step by step); the integer reference within the tolerance stated below."""
    genome = genome_from_json(_genome({"tau": 2.5}))
    plain = genome_from_json(_genome({}))
    weights = _weights(genome)
    x = np.random.default_rng(2).uniform(0, 1, (32, 5))
    with torch.no_grad():
        ours = build_rate_snn(genome, weights).double()(torch.tensor(x)).numpy()
        model = build_rate_snn(plain, weights).double()
        run = model.run_steps
        # y_t: the difference of the sums of a model without leak run for t + 1 and t steps
        sums = []
        for t in range(run + 1):
            model.run_steps = t
            sums.append(model(torch.tensor(x)).numpy())
    y = np.diff(np.stack(sums), axis=0)
    expected = sum((1 - 1 / 2.5) ** (run - 1 - t) * y[t] for t in range(run))
    assert not np.allclose(y[0], y[-1])             # the readout's input changes over the run: the order matters
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)
    net = _compile(genome, weights, tmp_path, x)
    assert (net.readout.tau, net.readout.dv) == (2.5, 1638)
    assert any(n["layer"] == "out" and n["variable"] == "dv" and "dv = 1638" in n["message"] for n in net.notes)
    logits = simulate(net, x).logits
    # measured over input seeds 0 to 9 (here 2): mean error 0.0023 to 0.0095 of the largest logit, argmax agreement
    # 0.81 to 0.97 (random weights give close logits; a LIF spike flipped by quantization moves a sample)
    assert np.abs(logits - ours).mean() <= 0.02 * np.abs(ours).max()
    assert np.mean(logits.argmax(1) == ours.argmax(1)) >= 0.8


def test_artifact_round_trip_and_unchanged_fields(tmp_path) -> None:
    x = np.random.default_rng(3).uniform(0, 1, (8, 5))
    nets = {}
    for label, readout in (("leaky", {"tau": 4}), ("plain", {})):
        genome = genome_from_json(_genome(readout))
        net = _compile(genome, _weights(genome), tmp_path, x)
        save_artifact(net, tmp_path / f"{label}.tdart", summarize(net))
        nets[label] = (net, load_artifact(tmp_path / f"{label}.tdart")[0])
    net, back = nets["leaky"]
    assert (back.readout.tau, back.readout.dv) == (4.0, 1024)
    np.testing.assert_array_equal(simulate(back, x).readout, simulate(net, x).readout)
    assert "tau" not in nets["plain"][0].readout.to_json() and nets["plain"][1].readout.dv == 0
    assert set(net.readout.to_json()) - set(nets["plain"][0].readout.to_json()) == {"tau", "dv"}


def test_exports(tmp_path) -> None:
    """NIR: an LI(tau dt, r = tau, v_leak 0), which imports back as the same readout; netx: refused by name."""
    from tnas_deploy.interop.nir_import import graph_to_genome
    from tnas_deploy.schemes.rate.netx import export_netx
    from tnas_deploy.schemes.rate.nir import rate_genome_to_nir

    genome = genome_from_json(_genome({"tau": 4}))
    weights = _weights(genome)
    graph = rate_genome_to_nir(genome, weights, dt=1e-3)
    li = graph.nodes["out"]
    assert type(li).__name__ == "LI" and np.allclose(li.tau, 4e-3) and np.all(li.r == 4.0)
    back = genome_from_json(graph_to_genome(graph, "g.nir").genome)
    assert back.version == 3 and back.readout.tau == 4.0
    net = _compile(genome, weights, tmp_path, None)
    with pytest.raises(DeployError, match="netx cannot express this: a leaky readout"):
        export_netx(net, tmp_path / "n.net")
