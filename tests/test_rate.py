"""Rate-coded networks: the fixed-point neuron, lowering, quantization, the integer reference, artifacts.

The float/torch side is tested in test_rate_torch.py and the Lava side in test_lava_rate.py; here the
compile pipeline and the integer rules users rely on (docs/rate.md).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.artifact import load_artifact, save_artifact
from tnas_deploy.schemes import CompileOptions
from tnas_deploy.compiler import compile_network, load_inputs
from tnas_deploy.data import save_dataset
from tnas_deploy.errors import DeployError, OverflowReport
from tnas_deploy.fixed_point import CubaParams, cuba_step, decay, encode_rate_input
from tnas_deploy.genome import load_genome
from tnas_deploy.schemes.rate.lowering import lower_rate
from tnas_deploy.schemes.rate.layers import CubaLayer
from tnas_deploy.schemes.rate.refsim import simulate_rate
from tnas_deploy.runner import simulate
from tnas_deploy.summary import summarize
from tnas_deploy.weights import expected_shapes, save_weights

I = np.int64


# -- the integer neuron --------------------------------------------------------------------------------

def test_decay_truncates_towards_zero_like_loihi():
    x = np.array([4097, -4097, 100, -100, 0], dtype=I)
    assert decay(x, 0).tolist() == x.tolist()                  # d = 0 keeps the state exactly
    assert decay(x, 4096).tolist() == [0, 0, 0, 0, 0]          # d = 4096 clears it
    assert decay(x, 2048).tolist() == [2048, -2048, 50, -50, 0]  # halves, truncating |x| * 2048 >> 12


def test_cuba_step_threshold_is_strict_and_resets():
    p = CubaParams(du=4096, dv=0, threshold=100, reset_subtract=False, state_bits=24)
    u, v = np.zeros(3, I), np.array([0, 0, 0], I)
    u, v, s, _, _ = cuba_step(u, v, np.array([100, 101, 250], I), np.zeros(3, I), p)
    assert s.tolist() == [False, True, True]                   # v == threshold does not spike
    assert v.tolist() == [100, 0, 0]                           # reset to zero
    sub = CubaParams(du=4096, dv=0, threshold=100, reset_subtract=True, state_bits=24)
    _, v2, s2, _, _ = cuba_step(np.zeros(1, I), np.zeros(1, I), np.array([250], I), np.zeros(1, I), sub)
    assert s2.tolist() == [True] and v2.tolist() == [150]      # reset by subtraction keeps the excess


def test_cuba_step_saturates_and_reports_the_peak():
    p = CubaParams(du=4096, dv=0, threshold=2 ** 30, reset_subtract=False, state_bits=8)
    u, v, _, pu, pv = cuba_step(np.zeros(1, I), np.array([120], I), np.array([100], I), np.zeros(1, I), p)
    assert u.tolist() == [100] and v.tolist() == [127]         # clipped to the 8-bit range, never wrapped
    assert pu == 100 and pv == 220


def test_rate_input_encoding_rounds_half_up():
    assert encode_rate_input(np.array([0.0, 1.0, 0.5, 1 / 255 * 0.5])).tolist() == [0, 255, 128, 1]


# -- genomes ------------------------------------------------------------------------------------------

def _genome(nodes: list[dict], shape=(1, 6, 6), classes=3, steps=4) -> dict:
    return {"format": "tnas-genome", "version": 2, "name": "rate_test",
            "task": {"input_shape": list(shape), "classes": [str(i) for i in range(classes)]},
            "coding": {"scheme": "rate", "steps": steps}, "nodes": nodes}


CNN = [
    {"id": "x", "type": "input"},
    {"id": "c1", "type": "conv2d", "inputs": ["x"], "out_channels": 3, "kernel": 3, "padding": 1},
    {"id": "bn1", "type": "batchnorm", "inputs": ["c1"], "neuron": {"model": "if", "threshold": 1.0}},
    {"id": "p1", "type": "maxpool2d", "inputs": ["bn1"], "kernel": 2},
    {"id": "f", "type": "flatten", "inputs": ["p1"]},
    {"id": "h", "type": "dense", "inputs": ["f", {"node": "h", "recurrent": True}], "units": 27,
     "neuron": {"model": "lif", "tau": 2.0, "threshold": 1.0, "reset": "subtract"}},
    {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
    {"id": "out", "type": "readout", "inputs": ["o"]},
]


def _write(tmp: Path, genome: dict, seed: int = 0, scale: float = 0.6, samples: int = 40) -> tuple[Path, Path, Path]:
    gpath = tmp / "g.json"
    gpath.write_text(json.dumps(genome))
    g = load_genome(gpath)
    rng = np.random.default_rng(seed)
    weights = {}
    for node_id, shapes in expected_shapes(g).items():
        weights[node_id] = {k: rng.normal(0, scale, s).astype(np.float32) for k, s in shapes.items()}
        if "running_var" in weights[node_id]:
            weights[node_id]["running_var"] = np.abs(weights[node_id]["running_var"]) + 0.5
    save_weights(weights, tmp / "w.h5")
    save_dataset(tmp / "cal.npz", rng.uniform(0, 1, (samples,) + tuple(g.task.input_shape)))
    return gpath, tmp / "w.h5", tmp / "cal.npz"


def _compile(tmp: Path, genome: dict, calibration: bool = True, **kw):
    g, w, cal = _write(tmp, genome)
    inputs = load_inputs(g, w, "loihi2", cal if calibration else None)
    return inputs, compile_network(inputs, CompileOptions(**kw))


def test_lowering_composes_batchnorm_pooling_and_the_recurrent_delay(tmp_path):
    inputs, net = _compile(tmp_path, _genome(CNN))
    kinds = [(layer.id, layer.kind, getattr(layer, "role", None)) for layer in net.layers]
    assert kinds == [("x", "rate_input", None), ("bn1", "cuba", "neuron"), ("p1", "cuba", "or_pool"),
                     ("h", "cuba", "neuron"), ("out", "rate_readout", None)]
    h = net.by_id["h"]
    assert sorted((p.source, p.kind, p.delay) for p in h.projections) == [("h", "identity", 2), ("p1", "dense", 1)]
    # input -> bn1 -> p1 -> h -> readout: 4 forward hops after the 4 input steps
    assert net.run_steps == 4 + 4
    assert net.by_id["h"].dv == 2048 and net.by_id["bn1"].dv == 0 and net.by_id["p1"].threshold == 0


def test_integer_reference_tracks_the_float_model(tmp_path):
    inputs, net = _compile(tmp_path, _genome(CNN))
    x = np.random.default_rng(1).uniform(0, 1, (60, 1, 6, 6))
    layers, _ = lower_rate(inputs.genome, inputs.weights)
    exact = simulate_rate(layers, x, net.steps, net.input_shape, integer=False)
    chip = simulate(net, x)
    for layer_id, raster in exact.spike_times.items():
        assert chip.spike_times[layer_id].shape == raster.shape
        assert (chip.spike_times[layer_id] != raster).mean() < 0.01, layer_id   # 8-bit weights: rare flips
    # a flipped spike moves a logit by one weight, so compare typical errors and the decisions
    assert np.median(np.abs(chip.logits - exact.logits)) < 0.05 * np.abs(exact.logits).max()
    assert (chip.predictions == exact.predictions).mean() >= 0.9


def test_artifact_round_trip_is_exact_and_deterministic(tmp_path):
    inputs, net = _compile(tmp_path, _genome(CNN))
    save_artifact(net, tmp_path / "a.tdart", summarize(net))
    save_artifact(compile_network(inputs), tmp_path / "b.tdart", summarize(net))
    assert (tmp_path / "a.tdart").read_bytes() == (tmp_path / "b.tdart").read_bytes()
    loaded, summary = load_artifact(tmp_path / "a.tdart")
    assert loaded.coding == "rate" and loaded.run_steps == net.run_steps and summary["coding"] == "rate"
    x = np.random.default_rng(2).uniform(0, 1, (20, 1, 6, 6))
    a, b = simulate(net, x), simulate(loaded, x)
    assert all(np.array_equal(a.spike_times[k], b.spike_times[k]) for k in a.spike_times)
    assert np.array_equal(a.readout, b.readout)


def test_spike_count_readout_counts_its_population(tmp_path):
    nodes = [{"id": "x", "type": "input"}, {"id": "f", "type": "flatten", "inputs": ["x"]},
             {"id": "h", "type": "dense", "inputs": ["f"], "units": 3, "neuron": {"model": "if", "threshold": 0.5}},
             {"id": "out", "type": "readout", "inputs": ["h"], "mode": "spike_count"}]
    _, net = _compile(tmp_path, _genome(nodes, steps=5))
    x = np.random.default_rng(3).uniform(0, 1, (10, 1, 6, 6))
    r = simulate(net, x)
    assert net.run_steps == 5 + 1
    assert np.array_equal(r.readout, r.spike_times["h"].reshape(10, net.run_steps, 3).sum(axis=1))
    assert np.array_equal(r.predictions, np.argmax(r.readout, axis=1))


def test_time_varying_input_is_sent_step_by_step(tmp_path):
    nodes = [{"id": "x", "type": "input"}, {"id": "f", "type": "flatten", "inputs": ["x"]},
             {"id": "h", "type": "dense", "inputs": ["f"], "units": 4, "neuron": {"model": "if", "threshold": 1.0}},
             {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["o"]}]
    genome = _genome(nodes, shape=(2, 3, 3), steps=3)
    genome["coding"]["input"] = "counts"
    _, net = _compile(tmp_path, genome, calibration=False)
    counts = np.zeros((2, 3, 2, 3, 3))
    counts[0, 1, 0, 1, 1] = 2       # sample 0: two events in bin 1
    r = simulate(net, counts)
    raster = r.spike_times["x"]     # the input's raster marks non-zero payloads
    assert raster.shape == (2, net.run_steps, 2, 3, 3)
    assert raster[0, :, 0, 1, 1].tolist() == [False, True] + [False] * (net.run_steps - 2)
    assert not raster[1].any()


def test_analog_maxpool_is_refused_unless_replaced_explicitly(tmp_path):
    nodes = [dict(n) for n in CNN]
    nodes[2] = {"id": "bn1", "type": "batchnorm", "inputs": ["c1"]}                       # no neuron before the pool
    nodes[3] = {"id": "p1", "type": "maxpool2d", "inputs": ["bn1"], "kernel": 2}
    nodes[4] = {"id": "f", "type": "flatten", "inputs": ["p1"]}
    with pytest.raises(DeployError) as err:
        _compile(tmp_path, _genome(nodes))
    assert "p1" in str(err.value) and "--analog-maxpool avgpool" in str(err.value)
    _, net = _compile(tmp_path, _genome(nodes), analog_maxpool="avgpool")
    assert any(n["layer"] == "p1" and "different network" in n["message"] for n in net.notes)
    assert [p.kind for p in net.by_id["h"].projections if p.source == "x"] == ["sparse"]  # conv-bn-avgpool-dense


def test_a_backward_edge_loop_without_a_neuron_is_refused(tmp_path):
    nodes = [{"id": "x", "type": "input"}, {"id": "f", "type": "flatten", "inputs": ["x"]},
             {"id": "a", "type": "add", "inputs": ["f", {"node": "a", "recurrent": True}]},
             {"id": "h", "type": "dense", "inputs": ["a"], "units": 3, "neuron": {"model": "if"}},
             {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["o"]}]
    with pytest.raises(DeployError) as err:
        _compile(tmp_path, _genome(nodes))
    assert "'a'" in str(err.value) and "passes through no neuron" in str(err.value)


def test_overflow_names_the_layer_and_saturate_clips(tmp_path):
    # a 12-bit state cannot hold an IF membrane driven for 64 steps: compile must say where, or clip on request
    import tnas_deploy
    bundled = (Path(tnas_deploy.__file__).parent.parent / "hw_profiles" / "loihi2.toml").read_text()
    small = tmp_path / "small.toml"
    small.write_text(bundled.replace('name = "loihi2"', 'name = "small"')
                     .replace("[format.state_bits]\nvalue = 24", "[format.state_bits]\nvalue = 12"))
    nodes = [{"id": "x", "type": "input"}, {"id": "f", "type": "flatten", "inputs": ["x"]},
             {"id": "h", "type": "dense", "inputs": ["f"], "units": 3, "neuron": {"model": "if", "threshold": 1.0}},
             {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["o"]}]
    g, w, cal = _write(tmp_path, _genome(nodes, steps=64), scale=3.0)
    inputs = load_inputs(g, w, str(small), cal)
    with pytest.raises(OverflowReport) as err:
        compile_network(inputs)
    assert "layer h" in str(err.value) and "12-bit state" in str(err.value) and "--saturate" in str(err.value)
    net = compile_network(inputs, CompileOptions(saturate=True))
    assert any(n["layer"] == "h" and n["message"].startswith("saturated") for n in net.notes)
    assert simulate(net, inputs.calibration.x).saturated["h"]


def test_tau_current_with_bias_is_refused(tmp_path):
    nodes = [{"id": "x", "type": "input"}, {"id": "f", "type": "flatten", "inputs": ["x"]},
             {"id": "h", "type": "dense", "inputs": ["f"], "units": 3,
              "neuron": {"model": "lif", "tau": 2.0, "tau_current": 4.0}},
             {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["o"]}]
    with pytest.raises(OverflowReport) as err:
        _compile(tmp_path, _genome(nodes))
    assert "tau_current" in str(err.value) and "h" in str(err.value)


def test_decays_twelve_bits_cannot_hold_are_reported(tmp_path):
    nodes = [{"id": "x", "type": "input"}, {"id": "f", "type": "flatten", "inputs": ["x"]},
             {"id": "h", "type": "dense", "inputs": ["f"], "units": 3, "neuron": {"model": "lif", "tau": 3.0}},
             {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["o"]}]
    _, net = _compile(tmp_path, _genome(nodes))
    assert net.by_id["h"].dv == 1365
    assert any(n["layer"] == "h" and n["variable"] == "dv" for n in net.notes)


def test_cuba_layers_keep_float_and_integer_parameters(tmp_path):
    _, net = _compile(tmp_path, _genome(CNN))
    h = net.by_id["h"]
    assert isinstance(h, CubaLayer)
    assert h.threshold % 64 == 0 and h.threshold == round(h.threshold_float * h.scale)
    assert h.reset == "subtract" and h.leak == 0.5


def test_views_of_rate_genomes_and_artifacts_are_valid_onnx(tmp_path):
    import onnx

    from tnas_deploy.interop.netron_view import write_view
    inputs, net = _compile(tmp_path, _genome(CNN))
    save_artifact(net, tmp_path / "a.tdart", summarize(net))
    for source in (tmp_path / "g.json", tmp_path / "a.tdart"):
        model = onnx.load(write_view(source, tmp_path / f"{source.stem}.onnx"))
        onnx.checker.check_model(model)
        ops = [n.op_type for n in model.graph.node]
        assert "CubaNeuron" in ops
    h = next(n for n in model.graph.node if n.name == "h")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in h.attribute}
    assert attrs["recurrent_sources"] == [b"h (delay 2)"]       # drawn acyclic, the loop named on the node


LIF43 = {"model": "lif", "tau": 4 / 3, "threshold": 1.0}
SNAS = [
    {"id": "x", "type": "input"},
    {"id": "stem", "type": "conv2d", "inputs": ["x"], "out_channels": 3, "kernel": 3, "padding": 1, "bias": False},
    {"id": "stem_bn", "type": "batchnorm", "inputs": ["stem"]},
    {"id": "cell", "type": "snas_cell", "inputs": ["stem_bn"], "matrix": [[0, 2, 3, 1], [4, 0, 2, 3], [0, 1, 0, 4],
                                                                         [0, 0, 2, 0]], "neuron": LIF43},
    {"id": "n", "type": "neuron", "inputs": ["cell"], "neuron": LIF43},
    {"id": "pool", "type": "avgpool2d", "inputs": ["n"], "kernel": 2},
    {"id": "f", "type": "flatten", "inputs": ["pool"]},
    {"id": "o", "type": "dense", "inputs": ["f"], "units": 3},
    {"id": "out", "type": "readout", "inputs": ["o"]},
]


@pytest.mark.parametrize("nodes", [CNN, SNAS], ids=["cnn", "snas_cell"])
def test_lowered_network_equals_the_graph_model_users_train(tmp_path, nodes):
    """Composition (batch norm folding, sparse chains, recurrent delays, OR pools) changes nothing: the
    lowered float network gives the same spikes and logits as the torch model built from the genome graph."""
    import torch

    from tnas_deploy.schemes.rate.torch_model import build_rate_snn, run_length
    g, w, _ = _write(tmp_path, _genome(nodes, steps=5))
    inputs = load_inputs(g, w, "loihi2", None)
    layers, _ = lower_rate(inputs.genome, inputs.weights)
    x = np.random.default_rng(4).uniform(0, 1, (30, 1, 6, 6))
    lowered = simulate_rate(layers, x, 5, (1, 6, 6), integer=False)
    model = build_rate_snn(inputs.genome, inputs.weights).double().eval()
    with torch.no_grad():
        logits, spikes = model(torch.as_tensor(x), record=True)
    assert run_length(inputs.genome) == lowered.spike_times["x"].shape[1]
    for layer_id, raster in lowered.spike_times.items():
        assert np.array_equal(spikes[layer_id].numpy().astype(bool), raster), layer_id
    assert np.allclose(logits.numpy(), lowered.logits, rtol=1e-9, atol=1e-9)


def test_verify_names_the_step_and_neuron_of_a_rate_mismatch(tmp_path):
    from tnas_deploy.verify import compare, result_dict
    _, net = _compile(tmp_path, _genome(CNN))
    x = np.random.default_rng(5).uniform(0, 1, (4, 1, 6, 6))
    a, b = simulate(net, x), simulate(net, x)
    same = compare(result_dict(a), result_dict(b), [layer.id for layer in net.layers])
    assert same.bit_exact and same.spikes_compared == sum(int(r.sum()) for r in a.spike_times.values())
    b.spike_times["h"][2, 5, 7] = ~b.spike_times["h"][2, 5, 7]
    diff = compare(result_dict(a), result_dict(b), [layer.id for layer in net.layers])
    assert not diff.bit_exact and diff.identical_samples == 3
    assert diff.first.describe("reference", "lava").startswith("first mismatch: spike at step 5 at layer h, neuron 7, "
                                                               "sample 2")


def test_time_binned_counts_are_accepted_as_rate_input(tmp_path):
    from tnas_deploy.data import load_dataset
    counts = np.zeros((3, 4, 1, 6, 6))
    counts[0, 1, 0, 2, 2] = 3
    save_dataset(tmp_path / "binned.npz", counts, np.array([0, 1, 2]))
    data = load_dataset(tmp_path / "binned.npz", (1, 6, 6), 3, rate_steps=4, rate_values="counts")
    assert data.x.shape == (3, 4, 1, 6, 6) and data.y.tolist() == [0, 1, 2]
    save_dataset(tmp_path / "bad.npz", counts - 0.5)
    with pytest.raises(DeployError) as err:
        load_dataset(tmp_path / "bad.npz", (1, 6, 6), 3, rate_steps=4, rate_values="counts")
    assert "non-negative integer event counts" in str(err.value) and "bad.npz" in str(err.value)
    # a network that takes intensities reads the same layout as one frame in [0, 1] per step, and says why not
    with pytest.raises(DeployError) as err:
        load_dataset(tmp_path / "binned.npz", (1, 6, 6), 3, rate_steps=4)
    assert "expected values in [0, 1]" in str(err.value)
    save_dataset(tmp_path / "frames.npz", counts / 3)
    assert load_dataset(tmp_path / "frames.npz", (1, 6, 6), 3, rate_steps=4).x.shape == (3, 4, 1, 6, 6)


def test_counts_and_intensities_mean_what_the_genome_says(tmp_path):
    """coding.input decides the real value of a payload: an intensity x is sent as round(255 x) (one unit is
    1/255), an event count as itself (one unit is 1); float and integer models agree on it."""
    nodes = [{"id": "x", "type": "input"}, {"id": "f", "type": "flatten", "inputs": ["x"]},
             {"id": "h", "type": "dense", "inputs": ["f"], "units": 4, "neuron": {"model": "if", "threshold": 1.0}},
             {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["o"]}]
    genome = _genome(nodes, shape=(2, 3, 3), steps=3)
    genome["coding"]["input"] = "counts"
    inputs, net = _compile(tmp_path, genome, calibration=False)
    assert net.layers[0].values == "counts" and net.layers[0].scale == 1.0
    counts = np.random.default_rng(7).integers(0, 4, (20, 3, 2, 3, 3)).astype(np.float64)
    layers, _ = lower_rate(inputs.genome, inputs.weights)
    exact = simulate_rate(layers, counts, 3, (2, 3, 3), integer=False)
    chip = simulate(net, counts)
    assert (chip.spike_times["h"] != exact.spike_times["h"]).mean() < 0.02
    with pytest.raises(ValueError):
        simulate(net, counts[:, 0])               # counts need their time bins
    with pytest.raises(DeployError) as err:       # an intensity network refuses event files, and says what to do
        from tnas_deploy.data import load_dataset
        (tmp_path / "ev.npz").write_bytes(b"")
        np.savez(tmp_path / "ev.npz", x=np.array([0, 1]), y=np.array([0, 1]), t=np.array([0, 5]), p=np.array([1, 0]))
        load_dataset(tmp_path / "ev.npz", (2, 3, 3), 3, rate_steps=3)
    assert '"input": "counts"' in str(err.value)


def test_each_projection_keeps_its_own_precision(tmp_path):
    """A weak path next to a strong one (here the graded input beside spike paths) gets its own shift, so its
    mantissas still use the full 8 bits."""
    inputs, net = _compile(tmp_path, _genome(SNAS, steps=5))
    layer = net.by_id["cell_n0_lif"]
    shifts = {p.source: p.shift for p in layer.projections}
    assert len(set(shifts.values())) > 1 and layer.shift == min(shifts.values())
    for p in layer.projections:
        top = int(abs(p.weight).max()) if p.kind == "sparse" else int(np.abs(p.weight).max())
        assert 64 <= top <= 127, (p.source, top)       # every projection's largest mantissa is in the top bit


def test_options_of_the_other_coding_are_refused(tmp_path):
    g, w, cal = _write(tmp_path, _genome(CNN))
    inputs = load_inputs(g, w, "loihi2", cal)
    with pytest.raises(DeployError) as err:
        compile_network(inputs, CompileOptions(margin=2.0))
    assert "--margin" in str(err.value) and "TTFS genomes only" in str(err.value)


def test_a_max_pool_of_a_max_pool_of_spikes_is_exact_too(tmp_path):
    nodes = [{"id": "x", "type": "input"},
             {"id": "c1", "type": "conv2d", "inputs": ["x"], "out_channels": 2, "kernel": 3, "padding": 1,
              "neuron": {"model": "if"}},
             {"id": "p1", "type": "maxpool2d", "inputs": ["c1"], "kernel": 2},
             {"id": "p2", "type": "maxpool2d", "inputs": ["p1"], "kernel": 3},
             {"id": "f", "type": "flatten", "inputs": ["p2"]},
             {"id": "o", "type": "dense", "inputs": ["f"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["o"]}]
    _, net = _compile(tmp_path, _genome(nodes))
    assert [net.by_id[k].role for k in ("p1", "p2")] == ["or_pool", "or_pool"]
    x = np.random.default_rng(6).uniform(0, 1, (5, 1, 6, 6))
    r = simulate(net, x)
    c1, p2 = r.spike_times["c1"], r.spike_times["p2"]
    # one step per hop: p2 at step t is the OR of c1 over its 6x6 window at step t - 2
    assert np.array_equal(p2[:, 2:, :, 0, 0], c1[:, :-2].reshape(5, -1, 2, 36).any(axis=3))
