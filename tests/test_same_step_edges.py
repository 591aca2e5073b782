"""Backward edges read in the same step (genome version 3, `"same_step": true` on a recurrent edge): a loop through
one population takes one step, as a Loihi synapse from a population to itself and snnTorch's RLeaky do.

Here: the edge checks, the float model (torch) against the lowered network in the reference simulator's float
mode (the same numbers step for step), the run length (a loop never lengthens it), and a loop through no neuron
refused. Lava against the reference: tests/test_lava_rate.py::test_backward_edge_read_in_the_same_step; NIR's
recurrent graphs: tests/test_nir_producers.py::test_recurrent_graph_imports_with_a_backward_edge.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tnas_deploy.errors import DeployError
from tnas_deploy.genome import genome_from_json, load_genome
from tnas_deploy.random_genome import random_weights
from tnas_deploy.schemes.rate.layers import run_length
from tnas_deploy.schemes.rate.lowering import lower_rate
from tnas_deploy.schemes.rate.refsim import simulate_rate
from tnas_deploy.schemes.rate.torch_model import build_rate_snn

STEPS = 8


def _genome(back: dict, loop_through: int = 1, version: int = 3) -> dict:
    """input -> a (LIF) [-> b (LIF)] -> r (dense) -> back into a; a readout of the last population's dense."""
    last = "a" if loop_through == 1 else "b"
    nodes = [{"id": "x", "type": "input"},
             {"id": "a", "type": "dense", "inputs": ["x", {"node": "r", "recurrent": True, **back}], "units": 6,
              "neuron": {"model": "lif", "tau": 3.0, "threshold": 0.6}}]
    if loop_through == 2:
        nodes.append({"id": "b", "type": "dense", "inputs": ["a"], "units": 6, "neuron": {"model": "if"}})
    nodes += [{"id": "r", "type": "dense", "inputs": [last], "units": 6},
              {"id": "o", "type": "dense", "inputs": [last], "units": 3},
              {"id": "out", "type": "readout", "inputs": ["o"]}]
    return {"format": "tnas-genome", "version": version, "name": "loop", "task": {"input_shape": [5],
            "classes": ["p", "q", "r"]}, "coding": {"scheme": "rate", "steps": STEPS}, "nodes": nodes}


def _load(tmp_path, obj: dict):
    path = tmp_path / "g.json"
    path.write_text(json.dumps(obj))
    return load_genome(path)


def test_edge_checks(tmp_path) -> None:
    genome = _load(tmp_path, _genome({"same_step": True}))
    edge = genome.by_id["a"].inputs[1]
    assert edge.same_step and edge.to_json() == {"node": "r", "recurrent": True, "same_step": True}
    assert "same_step" not in json.dumps(_load(tmp_path, _genome({})).to_json())      # a plain edge as before
    for obj, words in [
            (_genome({"same_step": True}, version=2), "nodes[1] (id 'a').inputs[1]: Additional properties are not "
                                                      "allowed ('same_step' was unexpected)"),
            (_genome({"same_step": "yes"}), "nodes[1] (id 'a').inputs[1]: 'yes' is not of type 'boolean'")]:
        with pytest.raises(DeployError) as exc:
            _load(tmp_path, obj)
        assert words in str(exc.value) and str(exc.value).startswith(str(tmp_path / "g.json")), str(exc.value)
    forward = _genome({})
    forward["nodes"][3]["inputs"] = [{"node": "a", "same_step": True}]
    with pytest.raises(DeployError, match=r"nodes\[3\] \(id 'o'\)\.inputs\[0\]\.same_step: same_step is for a "
                                          r"backward edge \(\"recurrent\": true\)"):
        _load(tmp_path, forward)


@pytest.mark.parametrize("loop_through", [1, 2])
def test_float_model_and_lowered_network_agree_and_the_loop_is_shorter(loop_through) -> None:
    """The same numbers in torch and in the lowered network (float mode of the reference simulator); the loop's
    projection (from the last population on the loop) arrives after 1 step, not 2 as through a plain backward
    edge, so the loop takes one step per population on it; the run is T + D either way."""
    x = np.random.default_rng(5).uniform(0, 1, (16, 5))
    readouts = {}
    for label, back in (("same_step", {"same_step": True}), ("plain", {})):
        genome = genome_from_json(_genome(back, loop_through))
        weights = random_weights(genome, 3)
        for tensors in weights.values():
            tensors["weight"] = tensors["weight"] * 3.0
        layers, _ = lower_rate(genome, weights)
        loop = [p.delay for p in layers[1].projections if p.source != "x"]
        assert loop == [1 if label == "same_step" else 2]      # from the last population on the loop
        assert run_length(layers, STEPS) == STEPS + 1 + loop_through
        with torch.no_grad():
            model = build_rate_snn(genome, weights).double()
            ours, trains = model(torch.tensor(x), record=True)
        assert model.run_steps == run_length(layers, STEPS)
        ref = simulate_rate(layers, x, STEPS, (5,), integer=False)
        np.testing.assert_allclose(ref.readout, ours.numpy(), rtol=1e-6)      # torch holds weights in float32
        np.testing.assert_array_equal(ref.spike_times["a"], trains["a"].numpy().astype(bool))
        assert ref.spike_times["a"].sum() > 0
        readouts[label] = ours.numpy()
    assert not np.allclose(readouts["same_step"], readouts["plain"])      # the loop's timing acts here


def test_a_same_step_loop_through_no_neuron_is_refused(tmp_path) -> None:
    obj = _genome({"same_step": True})
    obj["nodes"].insert(2, {"id": "s", "type": "add", "inputs": ["a", {"node": "r2", "recurrent": True,
                                                                        "same_step": True}]})
    obj["nodes"].insert(3, {"id": "r2", "type": "dense", "inputs": ["s"], "units": 6})
    obj["nodes"][-2]["inputs"] = ["s"]          # the readout's dense reads the loop, so it is lowered
    genome = genome_from_json(obj)
    with pytest.raises(DeployError, match="closes a loop that passes through no neuron"):
        lower_rate(genome, random_weights(genome, 1))
