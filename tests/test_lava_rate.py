"""Rate-coded networks on Lava's CPU simulator: bit-exact against the integer reference (`simulate_rate`).

Every test runs several samples through one Lava run (state reset at each sample period) and compares
every spike raster, readout value and prediction with the rate reference simulator (`tnas_deploy.runner.simulate`); each test also
checks that its populations really spike, so the comparison is not between two silent networks.
"""
from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.artifact import save_artifact
from tnas_deploy.cli import main
from tnas_deploy.schemes import CompileOptions
from tnas_deploy.compiled import CompiledNetwork
from tnas_deploy.compilation import CompileInputs
from tnas_deploy.compiler import compile_network
from tnas_deploy.dataset import Dataset
from tnas_deploy.data import save_dataset
from tnas_deploy.errors import DeployError
from tnas_deploy.genome import genome_from_json
from tnas_deploy.schemes.rate.lava.runner import rate_synapses
from tnas_deploy.runner import run_lava
from tnas_deploy.profiles import load_profile
from tnas_deploy.random_genome import random_weights
from tnas_deploy.schemes.rate.layers import CubaLayer, RateInputLayer, RateProjection, RateReadoutLayer, run_length
from tnas_deploy.result import SimResult
from tnas_deploy.runner import simulate
from tnas_deploy.verify import compare, result_dict


def _compile(nodes: list[dict], input_shape: tuple[int, ...], x: np.ndarray, steps: int, gain: float = 3.0,
             seed: int = 0, version: int = 2) -> CompiledNetwork:
    """A rate genome (version 2 unless said) with random weights (conv and dense weights times `gain`, for
    activity), compiled end to end with `x` as calibration data."""
    values = "counts" if x.shape[1:] == (steps, *input_shape) else "intensity"    # event counts per bin, or images
    genome = genome_from_json({
        "format": "tnas-genome", "version": version, "name": "rate-test",
        "coding": {"scheme": "rate", "steps": steps, "input": values},
        "task": {"input_shape": list(input_shape), "classes": ["a", "b", "c"]}, "nodes": nodes})
    weights = random_weights(genome, seed)
    for tensors in weights.values():
        if "weight" in tensors and tensors["weight"].ndim >= 2:
            tensors["weight"] = tensors["weight"] * gain
    net = compile_network(CompileInputs(genome, weights, Path(__file__), load_profile("loihi2"),
                                        Dataset(x, None, None, None)), CompileOptions(saturate=True))
    assert net.coding == "rate"
    return net


def _assert_bit_exact(net: CompiledNetwork, x: np.ndarray) -> tuple[SimResult, SimResult]:
    ref = simulate(net, x)
    lava, timing = run_lava(net, x)
    assert timing.steps == len(x) * net.run_steps
    comparison = compare(result_dict(ref), result_dict(lava), [layer.id for layer in net.layers])
    assert comparison.bit_exact, comparison.first
    # the same structure and values as the reference's result, beyond what `compare` looks at
    assert set(lava.spike_times) == set(ref.spike_times)
    for layer_id, raster in ref.spike_times.items():
        assert lava.spike_times[layer_id].dtype == bool and raster.shape == lava.spike_times[layer_id].shape
    np.testing.assert_array_equal(lava.logits, ref.logits)
    assert lava.counts.keys() == ref.counts.keys()
    for layer_id, counts in ref.counts.items():
        for name, values in counts.items():
            np.testing.assert_array_equal(lava.counts[layer_id][name], values, err_msg=f"{layer_id}/{name}")
    # every population spikes, in more than one sample (state really is reset between samples)
    for layer in net.layers:
        if isinstance(layer, CubaLayer):
            per_sample = ref.spike_times[layer.id].reshape(len(x), -1).sum(axis=1)
            assert (per_sample > 0).sum() >= 2, f"{layer.id} hardly spikes: the test would prove little"
    assert not multiprocessing.active_children()
    return ref, lava


X_STATIC = np.random.default_rng(1).random((4, 6))
X_STATIC[X_STATIC < 0.15] = 0.0


def test_dense_if_zero_and_lif_subtract_membrane_readout() -> None:
    nodes = [{"id": "x", "type": "input"},
             {"id": "h1", "type": "dense", "inputs": ["x"], "units": 8,
              "neuron": {"model": "if", "threshold": 1.0, "reset": "zero"}},
             {"id": "h2", "type": "dense", "inputs": ["h1"], "units": 6,
              "neuron": {"model": "lif", "tau": 2.0, "threshold": 0.5, "reset": "subtract"}},
             {"id": "o", "type": "dense", "inputs": ["h2"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["o"]}]
    net = _compile(nodes, (6,), X_STATIC, steps=6)
    assert net.readout.mode == "membrane"
    assert [(la.dv, la.reset) for la in net.layers if isinstance(la, CubaLayer)] == [(0, "zero"), (2048, "subtract")]
    ref, _ = _assert_bit_exact(net, X_STATIC)
    assert len(np.unique(ref.readout, axis=0)) > 1          # the samples differ


def test_leaky_membrane_readout() -> None:
    """A leaky readout (genome version 3, tau = 3 steps: dv = round(4096 / 3) = 1365) decays on Lava exactly as in
    the reference; a network that differs only in the leak gives other logits (the leak really acts)."""
    nodes = [{"id": "x", "type": "input"},
             {"id": "h1", "type": "dense", "inputs": ["x"], "units": 8,
              "neuron": {"model": "lif", "tau": 2.0, "threshold": 0.5, "reset": "zero"}},
             {"id": "o", "type": "dense", "inputs": ["h1"], "units": 3, "bias": True},
             {"id": "out", "type": "readout", "inputs": ["o"], "tau": 3}]
    net = _compile(nodes, (6,), X_STATIC, steps=6, version=3)
    assert (net.readout.tau, net.readout.dv) == (3.0, 1365)
    ref, _ = _assert_bit_exact(net, X_STATIC)
    plain = _compile(nodes[:-1] + [{"id": "out", "type": "readout", "inputs": ["o"]}], (6,), X_STATIC, steps=6,
                     version=3)
    assert plain.readout.dv == 0 and not np.array_equal(simulate(plain, X_STATIC).readout, ref.readout)


def test_backward_edge_read_in_the_same_step() -> None:
    """A loop through one population read in the same step (genome version 3, same_step): the synapses from the
    population back to itself arrive one step later, like a forward hop, through Lava's own Dense."""
    nodes = [{"id": "x", "type": "input"},
             {"id": "h", "type": "dense", "inputs": ["x", {"node": "r", "recurrent": True, "same_step": True}],
              "units": 6, "neuron": {"model": "lif", "tau": 2.0, "threshold": 0.5}},
             {"id": "r", "type": "dense", "inputs": ["h"], "units": 6},
             {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["o"]}]
    net = _compile(nodes, (6,), X_STATIC, steps=6, version=3)
    assert [(p.source, p.delay) for p in net.by_id["h"].projections] == [("x", 1), ("h", 1)]
    assert net.run_steps == 6 + 2
    _assert_bit_exact(net, X_STATIC)


def test_dense_lif_zero_and_if_subtract_spike_count_readout() -> None:
    nodes = [{"id": "x", "type": "input"},
             {"id": "h1", "type": "dense", "inputs": ["x"], "units": 8,
              "neuron": {"model": "lif", "tau": 4.0, "threshold": 0.5, "reset": "zero"}},
             {"id": "o", "type": "dense", "inputs": ["h1"], "units": 3,
              "neuron": {"model": "if", "threshold": 0.5, "reset": "subtract"}},
             {"id": "out", "type": "readout", "inputs": ["o"], "mode": "spike_count"}]
    net = _compile(nodes, (6,), X_STATIC, steps=6)
    assert net.readout.mode == "spike_count"
    ref, _ = _assert_bit_exact(net, X_STATIC)
    np.testing.assert_array_equal(ref.readout, ref.spike_times["o"].sum(axis=1))


def test_conv_or_maxpool_with_event_count_input() -> None:
    """Graded event counts per bin (some beyond 255, clipped) into a spiking conv, an OR max-pool, a LIF layer."""
    T = 5
    rng = np.random.default_rng(2)
    x = rng.poisson(150, (3, T, 2, 6, 6)).astype(np.float64)
    x[rng.random(x.shape) < 0.5] = 0.0
    x[0, 0, 0, 0, :2] = 400.0
    nodes = [{"id": "x", "type": "input"},
             {"id": "c1", "type": "conv2d", "inputs": ["x"], "out_channels": 3, "kernel": 3, "padding": 1,
              "neuron": {"model": "if", "threshold": 0.3, "reset": "subtract"}},
             {"id": "p1", "type": "maxpool2d", "inputs": ["c1"], "kernel": 2},
             {"id": "f", "type": "flatten", "inputs": ["p1"]},
             {"id": "d1", "type": "dense", "inputs": ["f"], "units": 5,
              "neuron": {"model": "lif", "tau": 2.0, "threshold": 0.1, "reset": "zero"}},
             {"id": "d2", "type": "dense", "inputs": ["d1"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["d2"]}]
    net = _compile(nodes, (2, 6, 6), x, steps=T, gain=2.0)
    pool = net.by_id["p1"]
    assert isinstance(pool, CubaLayer) and pool.role == "or_pool"
    assert net.by_id["c1"].projections[0].kind != "dense"          # through Lava's Sparse
    _assert_bit_exact(net, x)


def test_recurrent_edge_with_delay_two() -> None:
    """A population feeding itself one step later than a forward edge (delay 2 through a SpikeDelay); spikes
    emitted in the last steps of a sample period must not leak into the next sample."""
    nodes = [{"id": "x", "type": "input"},
             {"id": "h", "type": "dense", "inputs": ["x", {"node": "h", "recurrent": True}], "units": 6,
              "neuron": {"model": "if", "threshold": 1.0, "reset": "subtract"}},
             {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["o"]}]
    net = _compile(nodes, (6,), X_STATIC, steps=6)
    assert sorted(p.delay for p in net.by_id["h"].projections) == [1, 2]
    ref, _ = _assert_bit_exact(net, X_STATIC)
    assert ref.spike_times["h"][:-1, -2:].any()     # in flight across a period boundary, flushed


def _hand_built() -> CompiledNetwork:
    """Integer layers built directly: graded input delayed by 3 (through a SpikeDelay), a current decay,
    a recurrent delay 2, two delays from one source into the readout, per-neuron biases."""
    rng = np.random.default_rng(3)
    T = 5
    x_layer = RateInputLayer(id="x", shape=(5,), window=0)
    h = CubaLayer(id="h", shape=(6,), window=0, projections=[
        RateProjection("x", "dense", rng.integers(-3, 4, (6, 5)), delay=1),
        RateProjection("x", "dense", rng.integers(-3, 4, (6, 5)), delay=3),
        RateProjection("h", "dense", rng.integers(-127, 128, (6, 6)), delay=2)],
        reset="subtract", shift=6, du=1024, dv=512, threshold=60_000,
        bias_q=rng.integers(-2000, 2000, 6))
    g = CubaLayer(id="g", shape=(4,), window=0, projections=[
        RateProjection("h", "dense", rng.integers(-127, 128, (4, 6)), delay=1),
        RateProjection("x", "dense", rng.integers(-2, 3, (4, 5)), delay=2)],
        reset="zero", shift=6, du=4096, dv=0, threshold=30_000, bias_q=np.full(4, 500))
    out = RateReadoutLayer(id="out", shape=(3,), window=0, mode="membrane", projections=[
        RateProjection("g", "dense", rng.integers(-127, 128, (3, 4)), delay=1),
        RateProjection("h", "dense", rng.integers(-127, 128, (3, 6)), delay=1),
        RateProjection("h", "dense", rng.integers(-127, 128, (3, 6)), delay=3)],
        bias=rng.integers(-100, 100, 3), shift=6, scale=1.0 / 4096)
    layers = [x_layer, h, g, out]
    fmt = load_profile("loihi2").require_format()
    return CompiledNetwork(name="hand-built", steps=T, layers=layers, fmt=fmt, input_shape=(5,),
                           classes=("a", "b", "c"), windows={}, window_method="none (rate coding)", genome={}, provenance={}, profile={},
                           inputs={}, options={}, tool_version="test", coding="rate", run_steps=run_length(layers, T))


def test_hand_built_delays_graded_delayed_input_and_current_decay() -> None:
    net = _hand_built()
    assert net.run_steps == net.steps + 3
    assert sorted(rate_synapses(net, net.readout)) == [("g", 1), ("h", 1), ("h", 3)]
    x = np.random.default_rng(4).random((4, 5))
    ref, _ = _assert_bit_exact(net, x)
    assert ref.spike_times["h"][:-1, -3:].any() and ref.spike_times["g"][:-1, -2:].any()


def test_lava_int32_accumulation_limit_is_refused() -> None:
    """Lava's Dense/Sparse accumulate in int32: a projection whose sums could wrap is refused, not run inexactly."""
    net = _hand_built()
    fine = CubaLayer(id="h", shape=(6,), window=0, projections=[RateProjection("x", "dense", np.full((6, 5), 127))])
    rate_synapses(net, fine)                                # 5 x 127 x 2 x 255: far below 2**31
    wide = CubaLayer(id="h", shape=(6,), window=0,
                     projections=[RateProjection("x", "dense", np.full((6, 5), 1_000_000))])
    with pytest.raises(DeployError, match="int32"):
        rate_synapses(net, wide)


def test_cli_verify_and_golden_on_lava(tmp_path, capsys) -> None:
    """`tnas-deploy verify` and `verify --golden --backend lava` work unchanged for a rate artifact."""
    nodes = [{"id": "x", "type": "input"},
             {"id": "h1", "type": "dense", "inputs": ["x"], "units": 8,
              "neuron": {"model": "if", "threshold": 1.0, "reset": "zero"}},
             {"id": "o", "type": "dense", "inputs": ["h1"], "units": 3},
             {"id": "out", "type": "readout", "inputs": ["o"]}]
    net = _compile(nodes, (6,), X_STATIC, steps=6)
    art, data, golden = tmp_path / "r.tdart", tmp_path / "d.npz", tmp_path / "g.npz"
    save_artifact(net, art, None)
    save_dataset(data, X_STATIC, np.array([0, 1, 2, 0]))
    assert main(["verify", str(art), "--input", str(data), "--samples", "3", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("bit-exact: 3/3 samples")
    assert main(["golden", str(art), "--input", str(data), "-o", str(golden), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["verify", str(art), "--golden", str(golden), "--backend", "lava", "--no-progress"]) == 0
    assert "bit-exact: 4/4 samples" in capsys.readouterr().out
