"""The float model of rate-coded genomes (`tnas_deploy.rate.torch_model`) computes docs/rate.md exactly:
chip time (one step per population hop), IF/LIF dynamics, strict threshold, resets, recurrent edges,
OR max-pooling, the run length, and the bundled rate models' recorded accuracies."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tnas_deploy.genome import Genome, genome_from_json, load_genome
from tnas_deploy.schemes.rate.torch_model import (NeuronParams, NeuronState, build_rate_snn, neuron_step,
                                                  population_ids, run_length, spike)
from tnas_deploy.weights import expected_shapes, load_weights

MODELS = Path(__file__).resolve().parent.parent / "models"


def IF(threshold: float = 1.0, reset: str = "zero") -> dict:
    return {"model": "if", "threshold": threshold, "reset": reset}


def LIF(tau: float, **kw) -> dict:
    return {"model": "lif", "tau": tau, **kw}


def genome(nodes: list[dict], shape: list[int], classes: int = 2, steps: int = 3) -> Genome:
    return genome_from_json({"format": "tnas-genome", "version": 2, "name": "t",
                             "task": {"input_shape": shape, "classes": [str(i) for i in range(classes)]},
                             "coding": {"scheme": "rate", "steps": steps}, "nodes": nodes})


def dense(w: float, b: float) -> dict[str, np.ndarray]:
    """Two units, each fed by the same-index input only (a task has at least two classes, so the small
    networks below carry two independent copies; the tests look at the first)."""
    return {"weight": w * np.eye(2), "bias": np.full(2, b)}


def run(g: Genome, weights: dict, x: list[list[float]] | np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Float64 run of one sample; x is (T, *input_shape) (time-varying) or (*input_shape) (static)."""
    model = build_rate_snn(g, weights).double()
    with torch.no_grad():
        logits, spikes = model(torch.as_tensor(np.asarray(x, dtype=np.float64))[None], record=True)
    return logits[0].numpy(), {k: v[0].numpy() for k, v in spikes.items()}


def neuron_chain(neuron: dict, steps: int, readout: str = "spike_count") -> Genome:
    """x (1 value) -> neuron node n -> readout: n's input current at step t is what x emitted at t - 1."""
    return genome([{"id": "x", "type": "input"},
                   {"id": "n", "type": "neuron", "inputs": ["x"], "neuron": neuron},
                   {"id": "out", "type": "readout", "inputs": ["n"], "mode": readout}], [2], steps=steps)


def spikes_of(neuron: dict, currents: list[float]) -> list[int]:
    """The neuron's spikes at steps 1 .. len(currents) for input currents I[1..] (sent by x at 0..)."""
    g = neuron_chain(neuron, len(currents))
    _, rec = run(g, {}, [[c, 0.0] for c in currents])
    return rec["n"][1:, 0].astype(int).tolist()


# -- time: one step per population hop ----------------------------------------------------------
def test_a_spike_reaches_the_next_population_one_step_later_and_the_membrane_readout_after_the_last_hop():
    # x -> h (dense, IF) -> o (dense, no neuron) -> membrane readout: D = 2 (x->h, h->o)
    g = genome([{"id": "x", "type": "input"},
                {"id": "h", "type": "dense", "inputs": ["x"], "units": 2, "neuron": IF()},
                {"id": "o", "type": "dense", "inputs": ["h"], "units": 2},
                {"id": "out", "type": "readout", "inputs": ["o"]}], [2], steps=3)
    assert population_ids(g) == ["x", "h"]
    assert run_length(g) == 3 + 2
    # The input's only value is at its last step T - 1 = 2: h spikes at 3, o (and the readout) see it at 4,
    # the last step of the run.
    logits, rec = run(g, {"h": dense(2.0, 0.0), "o": dense(10.0, 0.5)}, [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    assert rec["x"][:, 0].tolist() == [0, 0, 1, 0, 0]
    assert rec["h"][:, 0].tolist() == [0, 0, 0, 1, 0]
    assert logits.tolist() == [10.0 + 5 * 0.5] * 2   # the spike once, the bias at every one of the 5 steps


def test_spike_count_readout_counts_its_population_as_it_emits():
    g = genome([{"id": "x", "type": "input"},
                {"id": "h", "type": "dense", "inputs": ["x"], "units": 2, "neuron": IF()},
                {"id": "out", "type": "readout", "inputs": ["h"], "mode": "spike_count"}], [2], steps=3)
    assert run_length(g) == 3 + 1
    logits, rec = run(g, {"h": dense(2.0, 0.0)}, [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    assert rec["h"][:, 0].tolist() == [0, 0, 0, 1]     # the last step of the run
    assert logits.tolist() == [1.0, 1.0]


def test_a_static_image_is_emitted_at_each_of_the_T_steps_then_the_input_is_silent():
    g = neuron_chain(IF(), steps=3)
    model = build_rate_snn(g).double()
    static = torch.tensor([[0.25, 0.5]], dtype=torch.float64)
    with torch.no_grad():
        a, rec = model(static, record=True)
        b = model(static[:, None].expand(1, 3, 2))
    assert rec["x"][0, :, 0].tolist() == [0.25, 0.25, 0.25, 0.0]
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="T = 3"):
        model(torch.zeros(1, 4, 2, dtype=torch.float64))


# -- neurons --------------------------------------------------------------------------------------
def test_if_integrates_without_leak_and_resets_to_zero_or_by_subtraction():
    currents = [0.625] * 9
    # zero:     .625, 1.25 s -> 0, .625, 1.25 s -> 0, ...
    # subtract: .625, 1.25 s -> .25, .875, 1.5 s -> .5, 1.125 s -> .125, .75, 1.375 s -> .375, 1.0, 1.625 s
    assert spikes_of(IF(reset="zero"), currents) == [0, 1, 0, 1, 0, 1, 0, 1, 0]
    assert spikes_of(IF(reset="subtract"), currents) == [0, 1, 0, 1, 1, 0, 1, 0, 1]


def test_threshold_is_strict():
    # v reaches exactly 1.0 at the second step: no spike; 1.5 at the third
    assert spikes_of(IF(threshold=1.0), [0.5, 0.5, 0.5]) == [0, 0, 1]
    assert spikes_of(IF(threshold=0.75), [0.75, 0.25]) == [0, 1]


def test_lif_decays_by_one_minus_one_over_tau_with_input_gain_one_over_tau():
    p = NeuronParams.from_spec(genome([{"id": "x", "type": "input"},
                                       {"id": "n", "type": "neuron", "inputs": ["x"], "neuron": LIF(4.0)},
                                       {"id": "out", "type": "readout", "inputs": ["n"], "mode": "spike_count"}],
                                      [2]).by_id["n"].neuron)
    zero = torch.zeros(1, dtype=torch.float64)
    s, state = neuron_step(torch.tensor([2.0], dtype=torch.float64), NeuronState(zero, torch.tensor([0.5]).double()), p)
    assert state.v.item() == 0.5 * 0.75 + 2.0 / 4 and s.item() == 0.0
    no_gain = NeuronParams("lif", 1.0, "zero", tau=4.0, decay_input=False)
    _, state = neuron_step(torch.tensor([0.25]).double(), NeuronState(zero, torch.tensor([0.5]).double()), no_gain)
    assert state.v.item() == 0.5 * 0.75 + 0.25
    # In a genome: tau 2, gain 1/2. A current of 2.5 gives v = 1.25 -> spike; 1.0 twice gives .5 then
    # .25 + .5 = .75 -> no spike, where IF (no leak, gain 1) reaches 2.0 and spikes.
    assert spikes_of(LIF(2.0), [2.5]) == [1]
    assert spikes_of(LIF(2.0), [1.0, 1.0]) == [0, 0]
    assert spikes_of(IF(), [1.0, 1.0]) == [0, 1]
    assert spikes_of(LIF(2.0, decay_input=False), [0.75, 0.75]) == [0, 1]   # .75, .375 + .75 = 1.125


def test_tau_current_keeps_a_decaying_synaptic_current():
    p = NeuronParams("if", 10.0, "zero", tau_current=2.0)
    zero = torch.zeros(1, dtype=torch.float64)
    state = NeuronState(zero, zero)
    us = []
    for i in [1.0, 0.0, 0.0]:
        _, state = neuron_step(torch.tensor([i]).double(), state, p)
        us.append(state.u.item())
    assert us == [1.0, 0.5, 0.25] and state.v.item() == 1.75


def test_surrogate_gradient_is_spikingjellys_atan():
    x = torch.tensor([0.0, 0.5, -1.0], requires_grad=True)
    s = spike(x)
    assert s.tolist() == [0.0, 1.0, 0.0]
    s.sum().backward()
    expected = [1.0 / (1 + (math.pi / 2 * 2.0 * v) ** 2) for v in [0.0, 0.5, -1.0]]   # alpha/2 = 1
    assert np.allclose(x.grad.numpy(), expected)


# -- recurrent edges and max-pooling --------------------------------------------------------------
def test_a_recurrent_edge_delivers_one_step_later_and_reads_the_rest_value_at_step_0():
    # h = IF(a + r[t-1]), r = dense(x) with bias 1.25 (its rest value), weight -2; x sends one value at step 0.
    g = genome([{"id": "x", "type": "input"},
                {"id": "a", "type": "dense", "inputs": ["x"], "units": 2},
                {"id": "r", "type": "dense", "inputs": ["x"], "units": 2},
                {"id": "h", "type": "add", "inputs": ["a", {"node": "r", "recurrent": True}], "neuron": IF()},
                {"id": "o", "type": "dense", "inputs": ["h"], "units": 2},
                {"id": "out", "type": "readout", "inputs": ["o"]}], [2], steps=4)
    assert run_length(g) == 4 + 2
    _, rec = run(g, {"a": dense(0.0, 0.0), "r": dense(-2.0, 1.25), "o": dense(1.0, 0.0)},
                 [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    # r[t] = 1.25 except r[1] = -0.75 (x's value is seen at step 1). h's current is r[t-1], and r's rest
    # value 1.25 at step 0: v = 1.25 s | 1.25 s | -0.75 | 0.5 | 1.75 s | 1.25 s
    assert rec["h"][:, 0].tolist() == [1, 1, 0, 0, 1, 1]


def test_a_recurrent_edge_from_a_population_reads_its_spikes_one_step_later():
    # n = IF(x + n's own spikes of two steps ago, as a forward edge would see them one step later)
    g = genome([{"id": "x", "type": "input"},
                {"id": "n", "type": "add", "inputs": ["x", {"node": "n", "recurrent": True}], "neuron": IF(0.5)},
                {"id": "out", "type": "readout", "inputs": ["n"], "mode": "spike_count"}], [2], steps=1)
    model = build_rate_snn(g).double()
    model.run_steps = 6                                 # look past the run to see the loop repeat
    with torch.no_grad():
        _, rec = model(torch.tensor([[1.0, 0.0]], dtype=torch.float64), record=True)
    assert rec["n"][0, :, 0].tolist() == [0, 1, 0, 1, 0, 1]


def test_maxpool_of_spikes_is_an_or_population_with_its_own_step_of_delay():
    g = genome([{"id": "x", "type": "input"},
                {"id": "n", "type": "neuron", "inputs": ["x"], "neuron": IF(0.5)},
                {"id": "p", "type": "maxpool2d", "inputs": ["n"], "kernel": 2},
                {"id": "f", "type": "flatten", "inputs": ["p"]},
                {"id": "o", "type": "dense", "inputs": ["f"], "units": 2},
                {"id": "out", "type": "readout", "inputs": ["o"]}], [1, 2, 2], steps=1)
    assert population_ids(g) == ["x", "n", "p"]
    assert run_length(g) == 1 + 3
    logits, rec = run(g, {"o": {"weight": np.array([[1.0], [0.0]]), "bias": np.zeros(2)}}, [[[1.0, 1.0], [0.0, 1.0]]])
    assert rec["n"][:, 0].sum(axis=(1, 2)).tolist() == [0, 3, 0, 0]
    assert rec["p"][:, 0, 0, 0].tolist() == [0, 0, 1, 0]    # one spike for the window: OR, not a sum
    assert logits.tolist() == [1.0, 0.0]


def test_analog_maxpool_is_evaluated_within_the_step():
    g = genome([{"id": "x", "type": "input"},
                {"id": "c", "type": "conv2d", "inputs": ["x"], "out_channels": 2, "kernel": 1},
                {"id": "p", "type": "maxpool2d", "inputs": ["c"], "kernel": 2},
                {"id": "f", "type": "flatten", "inputs": ["p"]},
                {"id": "out", "type": "readout", "inputs": ["f"]}], [1, 2, 2], steps=1)
    assert population_ids(g) == ["x"] and run_length(g) == 2
    w = {"c": {"weight": np.array([2.0, -2.0]).reshape(2, 1, 1, 1), "bias": np.array([-1.0, 0.0])}}
    logits, _ = run(g, w, [[[0.5, 1.0], [0.0, 0.25]]])
    # at step 0 the conv sees no input (its rest value), at step 1 the image: max(2x - 1) = 1, max(-2x) = 0
    assert logits.tolist() == [-1.0 + 1.0, 0.0 + 0.0]


# -- training-time behaviour ----------------------------------------------------------------------
def test_batchnorm_trains_the_function_it_deploys_and_learns_statistics_pooled_over_the_run():
    g = genome([{"id": "x", "type": "input"},
                {"id": "c", "type": "conv2d", "inputs": ["x"], "out_channels": 2, "kernel": 1, "bias": False},
                {"id": "bn", "type": "batchnorm", "inputs": ["c"], "neuron": IF()},
                {"id": "f", "type": "flatten", "inputs": ["bn"]},
                {"id": "o", "type": "dense", "inputs": ["f"], "units": 2},
                {"id": "out", "type": "readout", "inputs": ["o"]}], [1, 2, 2], classes=2, steps=2)
    torch.manual_seed(0)
    model = build_rate_snn(g).double()
    x = torch.rand(8, 1, 2, 2, dtype=torch.float64)
    with torch.no_grad():
        evaluated = model.eval()(x)
        trained = model.train()(x)
    assert torch.equal(evaluated, trained)             # training normalises with the inference statistics
    bn = model.layers["bn"]
    with torch.no_grad():
        c = model.layers["c"](x)
    # 4 steps (T + D = 2 + 2); the conv sees the image at steps 1 and 2, nothing at steps 0 and 3
    assert model.run_steps == 4
    pooled = torch.cat([torch.zeros_like(c), c, c, torch.zeros_like(c)])
    assert torch.allclose(bn.running_mean, 0.9 * 0 + 0.1 * pooled.mean((0, 2, 3)))
    assert torch.allclose(bn.running_var, 0.9 * 1 + 0.1 * pooled.var((0, 2, 3), unbiased=True))


def test_gradients_flow_through_spikes_recurrent_edges_and_batchnorm():
    g = load_genome(MODELS / "snasnet_digits.json")
    model = build_rate_snn(g, load_weights(g)).train()
    data = np.load(MODELS / "digits_test.npz")
    loss = torch.nn.functional.cross_entropy(model(torch.as_tensor(data["x"][:16])), torch.as_tensor(data["y"][:16]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_weights_use_the_genome_names_and_round_trip():
    g = load_genome(MODELS / "snasnet_digits.json")
    w = load_weights(g)
    model = build_rate_snn(g, w)
    exported = model.export_weights()
    assert {k: {n: a.shape for n, a in v.items()} for k, v in exported.items()} == expected_shapes(g)
    assert all(np.array_equal(exported[k][n], w[k][n].astype(np.float32)) for k in w for n in w[k])


# -- the bundled rate models ----------------------------------------------------------------------
@pytest.mark.parametrize("name,steps,depth", [("csnn_digits", 4, 7), ("snasnet_digits", 5, 5)])
def test_bundled_rate_model_reproduces_its_recorded_float_accuracy(name, steps, depth):
    g = load_genome(MODELS / f"{name}.json")
    assert g.coding == "rate" and g.steps == steps and run_length(g) == steps + depth
    assert g.provenance["weights_status"] == "trained"
    data = np.load(MODELS / "digits_test.npz")
    model = build_rate_snn(g, load_weights(g)).double()
    with torch.no_grad():
        pred = model(torch.as_tensor(data["x"], dtype=torch.float64)).argmax(1).numpy()
    accuracy = round(float((pred == data["y"]).mean()), 6)
    assert len(pred) == 360
    assert accuracy == g.provenance["float_test_accuracy"] >= 0.95


def test_csnn_digits_has_its_batchnorm_folded_and_a_snas_cell_with_backward_edges_in_snasnet():
    csnn = load_genome(MODELS / "csnn_digits.json")
    assert not any(n.type_tag == "batchnorm" for n in csnn.nodes)
    assert population_ids(csnn) == ["x", "conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"]
    raw = json.loads((MODELS / "snasnet_digits.json").read_text())
    cell = next(n for n in raw["nodes"] if n["type"] == "snas_cell")
    assert any(cell["matrix"][i][j] for i in range(4) for j in range(i))
    snas = load_genome(MODELS / "snasnet_digits.json")
    assert any(e.recurrent for n in snas.nodes for e in n.inputs)
