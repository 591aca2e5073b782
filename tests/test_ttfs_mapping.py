"""The exact ReLU -> TTFS mapping: the float TTFS network reproduces the ANN counterpart.

Proven bound (docs/ttfs.md): on a grid of K steps per window, with windows covering every activation,
|TTFS logit - ANN logit| <= e_out, where e_input = 1/(2K), e_n = |W_n| e_src + Delta_n / 2 for each TTFS
layer (max over the window for max-pooling) and e_out = |W_out| e_src. The tests check the bound holds
on random genomes and inputs, and that choosing K from the bound gives agreement to within 1e-5.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tnas_deploy.ann import ann_activations, build_ann
from tnas_deploy.schemes.ttfs.lowering import lower
from tnas_deploy.projection import Projection
from tnas_deploy.random_genome import random_genome, random_inputs
from tnas_deploy.schemes.ttfs.mapping import calibrate_windows, error_bound, forward_float, simulate_float

TOLERANCE = 1e-5
FLOAT_SLACK = 1e-9     # float64 rounding in the event-time arithmetic


def _setup(seed: int, n: int = 12):
    genome, weights = random_genome(seed)
    x = random_inputs(genome, n, seed)
    ann = ann_activations(genome, weights, x)[genome.readout.id]
    layers = lower(genome, weights)
    windows = calibrate_windows(layers, x, margin=1.5)
    return genome, weights, x, ann, layers, windows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_lowered_network_is_the_ann(seed: int) -> None:
    genome, weights, x, ann, layers, _ = _setup(seed)
    np.testing.assert_allclose(forward_float(layers, x)[layers[-1].id], ann, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_continuous_time_ttfs_equals_ann(seed: int) -> None:
    *_, ann, layers, windows = _setup(seed)
    logits = simulate_float(layers, windows, _setup(seed)[2], steps=None).logits
    np.testing.assert_allclose(logits, ann, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), steps=st.sampled_from([4, 16, 64, 1024]))
def test_discrete_ttfs_within_proven_bound(seed: int, steps: int) -> None:
    _, _, x, ann, layers, windows = _setup(seed)
    logits = simulate_float(layers, windows, x, steps).logits
    bound = error_bound(layers, windows, steps)
    assert np.all(np.abs(logits - ann) <= bound + FLOAT_SLACK)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_fine_grid_reproduces_ann_within_1e5(seed: int) -> None:
    _, _, x, ann, layers, windows = _setup(seed)
    # the bound scales as 1/K: pick the power of two that brings it under the tolerance
    steps = 2 ** max(0, math.ceil(math.log2(error_bound(layers, windows, 1).max() / TOLERANCE)))
    bound = error_bound(layers, windows, steps)
    assert bound.max() <= TOLERANCE
    logits = simulate_float(layers, windows, x, steps).logits
    assert np.abs(logits - ann).max() <= TOLERANCE


def test_bound_is_not_vacuous() -> None:
    """On a coarse grid the TTFS network really differs from the ANN, and the bound is what limits it."""
    _, _, x, ann, layers, windows = _setup(3, n=64)
    logits = simulate_float(layers, windows, x, 4).logits
    err = np.abs(logits - ann).max()
    assert err > 1e-3
    assert err <= error_bound(layers, windows, 4).max()


def _b1_stepwise(layers, windows, x, steps):
    """The B1 dynamics literally, step by step in float: slopes after input spikes, then a unit ramp.

    Only for networks of TTFS dense layers on a flat input (enough to pin down the event formula).
    """
    values = {layers[0].id: np.clip(np.floor(x * steps + 0.5), 0, steps) / steps}
    for layer in layers[1:]:
        (proj,) = layer.projections
        src = values[proj.source]
        delta_src = 1.0 / steps if proj.source == layers[0].id else windows.length[proj.source] / steps
        spike_step = np.where(src > 0, steps - np.rint(src / delta_src), steps)
        w = np.asarray(proj.weight)
        slope = np.zeros((x.shape[0], w.shape[0]))
        v = np.zeros_like(slope)
        for k in range(steps):                      # integrate window: each spike adds its slope from its step on
            slope += (spike_step == k).astype(float) @ w.T * delta_src
            v += slope
        if layer.kind == "readout":
            values[layer.id] = v + layer.bias
            continue
        delta = windows.length[layer.id] / steps
        v = v + layer.bias                          # the threshold B - D, moved to the membrane's side
        fired = np.full(v.shape, steps)
        for k in range(steps):                      # fire window: unit ramp, threshold crossing on the grid
            v = v + delta
            fired = np.where((fired == steps) & (v >= delta * (steps + 0.5)), k, fired)
        values[layer.id] = (steps - fired) * delta
    return values[layers[-1].id]


@pytest.mark.parametrize("seed", [1, 2, 5, 8])
def test_event_formula_matches_stepwise_b1_dynamics(seed: int) -> None:
    rng = np.random.default_rng(seed)
    genome_json = {
        "format": "tnas-genome", "version": 1, "name": "mlp", "coding": {"scheme": "ttfs"},
        "task": {"input_shape": [7], "classes": ["a", "b", "c"]}, "time": {"steps_per_window": 16},
        "nodes": [{"id": "x", "type": "input"},
                  {"id": "h", "type": "dense", "inputs": ["x"], "units": 9, "neuron": {"model": "ttfs"}},
                  {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
                  {"id": "out", "type": "readout", "inputs": ["o"]}]}
    from tnas_deploy.genome import genome_from_json
    genome = genome_from_json(genome_json)
    weights = {"h": {"weight": rng.normal(0, 0.6, (9, 7)), "bias": rng.normal(0, 0.1, 9)},
               "o": {"weight": rng.normal(0, 0.6, (3, 9)), "bias": rng.normal(0, 0.1, 3)}}
    x = rng.random((20, 7))
    layers = lower(genome, weights)
    windows = calibrate_windows(layers, x, 1.5)
    expected = _b1_stepwise(layers, windows, x, 16)
    np.testing.assert_allclose(simulate_float(layers, windows, x, 16).logits, expected, atol=1e-9)


@pytest.mark.parametrize("kind", ["conv2d", "avgpool2d"])
def test_projection_maths_matches_torch(kind: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((3, 4, 9, 7))
    if kind == "conv2d":
        w = rng.normal(size=(5, 4, 3, 2))
        p = Projection("s", "conv2d", w, (3, 2), (2, 1), (1, 1))
        ref = torch.nn.functional.conv2d(torch.as_tensor(x), torch.as_tensor(w), stride=(2, 1), padding=(1, 1))
    else:
        p = Projection("s", "avgpool2d", np.full(4, 1 / 6), (2, 3), (2, 3))
        ref = torch.nn.functional.avg_pool2d(torch.as_tensor(x), (2, 3), (2, 3))
    np.testing.assert_allclose(p.apply(x), ref.numpy(), atol=1e-12)


def test_fan_out_counts_every_synapse() -> None:
    """Sum of fan-outs equals the number of (input, output) pairs of the conv, padding and stride included."""
    w = np.ones((3, 2, 3, 3))
    p = Projection("s", "conv2d", w, (3, 3), (2, 2), (1, 1))
    src_shape, out_shape = (2, 7, 7), (3, 4, 4)
    ones = np.ones((1, *src_shape))
    # conv of all-ones input with all-ones kernel counts each output's real (non-padding) synapses
    assert p.fan_out(src_shape, out_shape).sum() == p.apply(ones).sum()


def test_ann_counterpart_uses_relu_where_neurons_are() -> None:
    genome, weights = random_genome(11)
    model = build_ann(genome, weights, torch.float64)
    x = torch.as_tensor(random_inputs(genome, 4, 11))
    acts = model.forward_all(x)
    for node in genome.nodes:
        if node.spiking:
            assert float(acts[node.id].min()) >= 0.0
