"""The compile's fast headroom pass gives exactly the numbers of stepping every time step.

Each closed form and block rule of `fixed_point` is compared with the single-step rule it replaces (saturating
cases included), and the fast peak measurement of both schemes with the stepwise simulators on random networks.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.compilation import CompileInputs
from tnas_deploy.compiler import compile_network, load_inputs
from tnas_deploy.dataset import Dataset
from tnas_deploy.profiles import load_profile
from tnas_deploy.projection import expand_per_channel, max_pool_min
from tnas_deploy.random_genome import random_genome, random_inputs
from tnas_deploy.schemes import CompileOptions
from tnas_deploy.schemes.ttfs.layers import FlattenLayer, InputLayer, MaxPoolLayer, ReadoutLayer, TtfsLayer
from tnas_deploy.schemes.ttfs import refsim as ttfs_refsim
from tnas_deploy.schemes.ttfs.refsim import simulate
from tnas_deploy.schemes.rate import peaks as rate_peaks
from tnas_deploy.schemes.rate.layers import CubaLayer, RateInputLayer, RateProjection, RateReadoutLayer, run_length
from tnas_deploy.schemes.rate.lowering import lower_rate
from tnas_deploy.schemes.rate.quantize import quantize_rate
from tnas_deploy.schemes.rate.refsim import simulate_rate
from tnas_deploy.fixed_point import (INT, CubaParams, cuba_constant_input, cuba_run, cuba_step, encode_ttfs_input,
                                     readout_value, ttfs_fire_step, ttfs_fire_window, ttfs_integrate_idle,
                                     ttfs_integrate_step, weight_to_state)


MODELS = Path(__file__).resolve().parent.parent / "models"


def _step_cuba(u, v, a_steps, bias, p):
    """`cuba_step` once per step (the definition); a_steps (steps, batch, neurons)."""
    spikes, peak_u, peak_v = [], 0, 0
    for a in a_steps:
        u, v, s, pu, pv = cuba_step(u, v, a, bias, p)
        spikes.append(s)
        peak_u, peak_v = max(peak_u, pu), max(peak_v, pv)
    stacked = np.stack(spikes) if spikes else np.zeros(a_steps.shape, dtype=bool)
    return u, v, stacked, peak_u, peak_v


def _random_params(rng, bits: int) -> CubaParams:
    lim = 2 ** (bits - 1) - 1
    du = int(rng.choice([4096, 4096, 0, int(rng.integers(1, 4096))]))
    dv = int(rng.choice([0, 0, 4096, int(rng.integers(1, 4096))]))
    threshold = int(rng.choice([0, int(rng.integers(1, lim)), lim, lim + 5]))
    return CubaParams(du, dv, threshold, bool(rng.random() < 0.3), bits)


def _assert_same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


@pytest.mark.parametrize("seed", range(60))
def test_cuba_run_equals_stepping(seed):
    rng = np.random.default_rng(seed)
    bits = int(rng.choice([8, 12, 24, 32]))      # 32: too wide for the int32 stepping of IF membranes
    lim = 2 ** (bits - 1) - 1
    p = _random_params(rng, bits)
    batch, steps, n = int(rng.integers(1, 4)), int(rng.integers(0, 12)), int(rng.integers(1, 6))
    a = rng.integers(-3 * lim, 3 * lim, (steps, batch, n)).astype(INT) // int(rng.choice([1, 8, 64]))
    bias = rng.integers(-lim // 4, lim // 4 + 1, n).astype(INT)
    u = rng.integers(-lim, lim + 1, (batch, n)).astype(INT)
    v = rng.integers(-lim, lim + 1, (batch, n)).astype(INT)
    _assert_same(cuba_run(u, v, a, bias, p), _step_cuba(u, v, a, bias, p))


@pytest.mark.parametrize("seed", range(80))
def test_cuba_constant_input_equals_stepping(seed):
    rng = np.random.default_rng(1000 + seed)
    bits = int(rng.choice([8, 12, 24]))
    lim = 2 ** (bits - 1) - 1
    p = _random_params(rng, bits)
    if rng.random() < 0.6:   # the closed form's case: IF, instantaneous current, reset to zero
        p = CubaParams(4096, 0, p.threshold, False, bits)
    batch, steps, n = int(rng.integers(1, 4)), int(rng.integers(0, 40)), int(rng.integers(1, 8))
    a = rng.integers(-2 * lim, 2 * lim, (batch, n)).astype(INT) // int(rng.choice([1, 16, 256, 4096]))
    bias = rng.integers(-lim // 8, lim // 8 + 1, n).astype(INT) // int(rng.choice([1, 64]))
    u = rng.integers(-lim, lim + 1, (batch, n)).astype(INT)
    v = rng.integers(-lim, min(p.threshold, lim) + 1, (batch, n)).astype(INT)
    if rng.random() < 0.2:
        v[0, 0] = lim          # above the threshold (reachable only by reset-subtract): stepped instead
    want = _step_cuba(u, v, np.broadcast_to(a, (steps, batch, n)), bias, p)
    _assert_same(cuba_constant_input(u, v, a, bias, p, steps), want)


def test_constant_input_closed_form_at_the_threshold_and_the_limits():
    bits, lim = 12, 2047
    p = CubaParams(4096, 0, 100, False, bits)
    c = np.array([[-3000, -1, 0, 1, 50, 100, 101, 2000, 5000, 99]], dtype=INT)
    for v0 in (-lim, -1, 0, 1, 99, 100):
        v = np.full(c.shape, v0, dtype=INT)
        for steps in (1, 2, 3, 7, 101, 300):
            want = _step_cuba(v * 0, v, np.broadcast_to(c, (steps,) + c.shape), np.zeros(10, INT), p)
            _assert_same(cuba_constant_input(v * 0, v, c, np.zeros(10, INT), p, steps), want)


@pytest.mark.parametrize("seed", range(40))
def test_ttfs_integrate_idle_equals_stepping(seed):
    rng = np.random.default_rng(2000 + seed)
    bits = int(rng.choice([8, 12, 24]))
    lim = 2 ** (bits - 1) - 1
    u = rng.integers(-lim, lim + 1, (3, 5)).astype(INT) // int(rng.choice([1, 16, 1024]))
    v = rng.integers(-lim, lim + 1, (3, 5)).astype(INT)
    steps = int(rng.integers(0, 50))
    su, sv, peak_u, peak_v = u, v, 0, 0
    for _ in range(steps):
        su, sv, pu, pv = ttfs_integrate_step(su, sv, np.zeros_like(u), bits)
        peak_u, peak_v = max(peak_u, pu), max(peak_v, pv)
    _assert_same(ttfs_integrate_idle(u, v, steps, bits), (su, sv, peak_u, peak_v))


@pytest.mark.parametrize("seed", range(40))
def test_ttfs_fire_window_equals_stepping(seed):
    rng = np.random.default_rng(3000 + seed)
    bits = int(rng.choice([12, 24]))
    lim = 2 ** (bits - 1) - 1
    steps = int(rng.integers(1, 40))
    ramp = int(rng.integers(1, lim // steps + 2))
    threshold = rng.integers(0, lim, (4, 6)).astype(INT)
    v = rng.integers(-lim, lim + 1, (4, 6)).astype(INT)
    fired = np.zeros(v.shape, dtype=bool)
    fire = np.full(v.shape, steps, dtype=INT)
    sv, peak = v, 0
    for k in range(steps):
        sv, spikes, fired, pv = ttfs_fire_step(sv, fired, ramp, threshold, bits)
        fire[spikes] = k
        peak = max(peak, pv)
    got_fire, got_peak = ttfs_fire_window(v, ramp, threshold, steps)
    if got_peak <= lim:      # nothing saturated: the closed form is the stepping
        np.testing.assert_array_equal(got_fire, fire)
        assert got_peak == peak
    else:                    # it says so exactly when stepping saturated
        assert peak > lim


# -- rate: the headroom pass (schemes/rate/peaks.py) against stepping the whole network -------------------------

def _random_rate_network(rng):
    """A small quantized rate network with integer parameters drawn directly: conv, OR-pool, dense (with a
    self-connection of some delay), IF / LIF / current-decay neurons, both resets, both readouts."""
    bits = int(rng.choice([10, 12, 16, 24]))
    lim = 2 ** (bits - 1) - 1
    c, side = int(rng.integers(1, 3)), int(rng.choice([4, 6]))
    values = str(rng.choice(["intensity", "counts"]))
    layers = [RateInputLayer(id="x", shape=(c, side, side), window=0, values=values)]

    def neuron(**fixed):
        params = dict(du=int(rng.choice([4096, 4096, int(rng.integers(1, 4096))])),
                      dv=int(rng.choice([0, 0, 2048, 4096, int(rng.integers(1, 4096))])),
                      threshold=int(rng.integers(0, lim)), reset=str(rng.choice(["zero", "zero", "subtract"])))
        params.update(fixed)
        return params

    def weights(shape):
        return rng.integers(-127, 128, shape).astype(INT)

    oc = int(rng.integers(1, 4))
    shift = int(rng.integers(0, 5))
    conv = CubaLayer(id="a", shape=(oc, side, side), window=0, shift=shift,
                     projections=[RateProjection("x", "conv2d", weights((oc, c, 3, 3)), (3, 3), (1, 1), (1, 1),
                                                 delay=1, shift=shift)],
                     bias_q=rng.integers(-lim // 16, lim // 16 + 1, (oc, side, side)).astype(INT), **neuron())
    layers.append(conv)
    source = conv
    if rng.random() < 0.6:
        pool = CubaLayer(id="p", shape=(oc, side // 2, side // 2), window=0, shift=0, role="or_pool",
                         projections=[RateProjection("a", "avgpool2d", np.ones(oc, dtype=INT), (2, 2), (2, 2),
                                                     delay=1, shift=0)],
                         bias_q=np.zeros((oc, side // 2, side // 2), INT), du=4096, dv=4096, threshold=0, reset="zero")
        layers.append(pool)
        source = pool
    n = int(rng.integers(2, 9))
    shift = int(rng.integers(0, 8))
    projections = [RateProjection(source.id, "dense", weights((n, source.size)), delay=1, shift=shift)]
    if rng.random() < 0.5:     # a self-connection (a backward edge): limits the pass's chunks to its delay
        projections.append(RateProjection("h", "identity", weights(n), delay=int(rng.integers(1, 4)), shift=shift))
    hidden = CubaLayer(id="h", shape=(n,), window=0, shift=shift, projections=projections,
                       bias_q=rng.integers(-lim // 16, lim // 16 + 1, n).astype(INT), **neuron())
    layers.append(hidden)
    if rng.random() < 0.5:
        layers.append(RateReadoutLayer(id="out", shape=(3,), window=0, mode="membrane", shift=0,
                                       projections=[RateProjection("h", "dense", weights((3, n)), delay=1, shift=0)],
                                       bias=rng.integers(-50, 51, 3).astype(INT)))
    else:
        layers.append(RateReadoutLayer(id="out", shape=(n,), window=0, mode="spike_count", source="h"))
    return layers, bits, values


@pytest.mark.parametrize("seed", range(60))
def test_rate_peaks_equal_stepping_the_network(seed, monkeypatch):
    rng = np.random.default_rng(4000 + seed)
    layers, bits, values = _random_rate_network(rng)
    steps = int(rng.integers(1, 30))
    shape = tuple(layers[0].shape)
    samples = int(rng.integers(1, 12))
    if values == "counts":
        x = rng.integers(0, 300, (samples, steps) + shape)
    elif rng.random() < 0.5:
        x = rng.uniform(0, 1, (samples,) + shape)               # a static image: one input current per sample
    else:
        x = rng.uniform(0, 1, (samples, steps) + shape)         # a frame per step
    monkeypatch.setattr(rate_peaks, "CHUNK_ELEMENTS", int(rng.choice([1, 50, 400, 1 << 20])))
    monkeypatch.setattr(rate_peaks, "WORKERS", int(rng.integers(1, 3)))
    form = rng.choice(["as chosen", "sparse", "gathered"])     # each form of a projection's matrix
    if form != "as chosen":
        monkeypatch.setattr(rate_peaks, "DENSE_MATRIX_ELEMENTS", 0)
        monkeypatch.setattr(rate_peaks, "GATHER_WIDTH", 0 if form == "sparse" else 1 << 30)
    want = simulate_rate(layers, x, steps, shape, bits).peaks
    got = rate_peaks.measure_peaks(layers, x, steps, bits, batch_size=int(rng.integers(1, 8)))
    assert got == want


def test_rate_peaks_of_a_bundled_model_that_saturates():
    """csnn_digits at 16 steps as the first headroom round sees it: conv1's v saturates, conv2's scale one bit
    lower than the first round's."""
    inputs = load_inputs(MODELS / "csnn_digits.json", None, "loihi2", MODELS / "digits_calib.npz")
    layers, _ = lower_rate(inputs.genome, inputs.weights, "refuse")
    fmt = inputs.profile.require_format()
    q = quantize_rate(layers, fmt, scale_drop={"conv2": 1}, run_steps=run_length(layers, 16)).layers
    x = inputs.calibration.x[:40]
    want = simulate_rate(q, x, 16, tuple(inputs.genome.task.input_shape), fmt.state_bits).peaks
    assert want["conv1"]["v"] > fmt.state_max            # the saturating case the compile must see exactly
    assert rate_peaks.measure_peaks(q, x, 16, fmt.state_bits) == want


# -- TTFS: the headroom pass (event steps, idle gaps and the fire window in closed form) against stepping ---------

def _ttfs_stepwise(net, x):
    """Every step of every window, as the simulator stepped before the fast pass: a_in for all K steps from the
    one-hot spike tensors, `ttfs_integrate_step` K times, `ttfs_fire_step` K times. Returns each layer's local
    spike steps, the readout and the peaks."""
    K, bits = net.steps, net.fmt.state_bits
    local, peaks, readout = {}, {}, None
    for layer in net.layers:
        if isinstance(layer, InputLayer):
            local[layer.id] = encode_ttfs_input(x, K)
        elif isinstance(layer, (TtfsLayer, ReadoutLayer)):
            n = x.shape[0]
            u = np.zeros((n, layer.size), dtype=INT)
            v = u + (expand_per_channel(layer.v_init, layer.shape).reshape(-1) if isinstance(layer, TtfsLayer) else 0)
            peak_u = peak_v = 0
            for k in range(K):
                a_in = sum(weight_to_state(np.rint(p.apply((local[p.source] == k).astype(np.float64))),
                                           p.neuron_shifts(layer.shift, layer.shape)).reshape(n, -1)
                           for p in layer.projections)      # per channel with precision groups
                u, v, pu, pv = ttfs_integrate_step(u, v, a_in, bits)
                peak_u, peak_v = max(peak_u, pu), max(peak_v, pv)
            if isinstance(layer, ReadoutLayer):
                readout, pr = readout_value(v, layer.bias.reshape(-1), bits)
                peaks[layer.id] = {"u": peak_u, "v": max(peak_v, pr)}
                continue
            threshold = expand_per_channel(layer.threshold, layer.shape).reshape(-1)
            fired = np.zeros(v.shape, dtype=bool)
            step = np.full(v.shape, K, dtype=INT)
            for k in range(K):
                v, spikes, fired, pv = ttfs_fire_step(v, fired, layer.ramp, threshold, bits)
                step[spikes] = k
                peak_v = max(peak_v, pv)
            local[layer.id] = step.reshape((n,) + tuple(layer.shape))
            peaks[layer.id] = {"u": peak_u, "v": peak_v}
        elif isinstance(layer, MaxPoolLayer):
            local[layer.id] = max_pool_min(local[layer.source], layer.kernel, layer.stride)
        elif isinstance(layer, FlattenLayer):
            local[layer.id] = local[layer.source].reshape(x.shape[0], -1)
        else:
            local[layer.id] = np.concatenate([local[s] for s in layer.sources], axis=1)
    return local, readout, peaks


@pytest.mark.parametrize("seed", range(24))
def test_ttfs_peaks_equal_stepping_every_step(seed, monkeypatch):
    """Random genomes and windows of 1 to 300 steps (sparse in time: most steps have no spike); a third with
    some layers' shift raised so that their states saturate (then the fire window is stepped)."""
    rng = np.random.default_rng(5000 + seed)
    monkeypatch.setattr(ttfs_refsim, "CHUNK_ELEMENTS", int(rng.choice([1, 2000, 1 << 24])))   # samples per chunk
    genome, weights = random_genome(seed)
    x = random_inputs(genome, int(rng.integers(1, 6)), seed)
    steps = int(rng.choice([1, 3, 16, 64, 300]))
    net = compile_network(CompileInputs(genome, weights, Path(__file__), load_profile("loihi2"),
                                        Dataset(x, None, None, None)), CompileOptions(steps=steps, saturate=True))
    if seed % 3 == 0:
        for layer in net.layers:
            if isinstance(layer, (TtfsLayer, ReadoutLayer)) and rng.random() < 0.5:
                layer.shift += int(rng.integers(4, 16))
    local, readout, peaks = _ttfs_stepwise(net, x)
    got = simulate(net, x, track_peaks=True)
    assert got.peaks == peaks
    np.testing.assert_array_equal(got.readout, readout)
    for layer in net.layers:
        if layer.id in got.spike_times:
            s = local[layer.id]
            np.testing.assert_array_equal(got.spike_times[layer.id], np.where(s < steps, layer.window * steps + s, -1))
