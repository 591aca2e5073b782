"""The exact ReLU -> TTFS mapping (Stanojevic et al. 2023/2024), in float: windows, spike times, error bound.

A TTFS layer n owns a window of length B_n (real time) split into K steps of Delta_n = B_n / K.
A neuron's value x is coded by its spike time t = t_max - x; no spike codes 0. With the B1 neuron
(slopes W_ij after each input spike, then a unit ramp from t_min(n), threshold B_n - D_i) its spike
codes exactly ReLU(sum_j W_ij x_j + D_i) (continuous time, no clipping when B_n covers the output).

In discrete time the neuron can only fire on the step grid: it fires at the first step k with
V + D + Delta_n (k + 1) >= Delta_n (K + 1/2), so its value is q Delta_n with q = floor(y / Delta_n + 1/2)
clipped to [0, K]: round-to-nearest of the ANN activation y. `error_bound` propagates that rounding
(<= Delta_n / 2 per layer) through |W| to a guaranteed bound on the readout (see docs/ttfs.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layers import ConcatLayer, FlattenLayer, InputLayer, MaxPoolLayer, ReadoutLayer, TtfsLayer
from ...layers import Layer
from ...projection import expand_per_channel, max_pool_min


@dataclass(frozen=True)
class Windows:
    """Window length B_n of every TTFS layer, and how they were chosen."""

    length: dict[str, float]
    method: str            # "calibration" | "interval-bound"
    peak: dict[str, float]  # largest activation seen (calibration) or proven (interval bound)


def _linear(layer: TtfsLayer | ReadoutLayer, values: dict[str, np.ndarray], weight_transform=None) -> np.ndarray:
    total = 0.0
    for p in layer.projections:
        if weight_transform is not None:
            p = type(p)(p.source, p.kind, weight_transform(p.weight), p.kernel, p.stride, p.padding, p.delay_windows)
        total = total + p.apply(values[p.source])
    bias = np.asarray(layer.bias, dtype=np.float64)
    shape = layer.shape
    if isinstance(layer, ReadoutLayer):
        return total.reshape(total.shape[0], -1) + bias
    return total + expand_per_channel(bias, shape)


def forward_float(layers: list[Layer], x: np.ndarray) -> dict[str, np.ndarray]:
    """The lowered network as a plain ReLU ANN (float64): equals the genome's ANN counterpart."""
    values: dict[str, np.ndarray] = {}
    for layer in layers:
        values[layer.id] = _route(layer, values, x, lambda lay, v: np.maximum(_linear(lay, v), 0.0),
                                  lambda lay, v: _linear(lay, v))
    return values


def _route(layer: Layer, values: dict[str, np.ndarray], x: np.ndarray, ttfs, readout) -> np.ndarray:
    if isinstance(layer, InputLayer):
        return np.asarray(x, dtype=np.float64)
    if isinstance(layer, TtfsLayer):
        return ttfs(layer, values)
    if isinstance(layer, ReadoutLayer):
        return readout(layer, values)
    if isinstance(layer, MaxPoolLayer):
        return -max_pool_min(-values[layer.source], layer.kernel, layer.stride)
    if isinstance(layer, FlattenLayer):
        v = values[layer.source]
        return v.reshape(v.shape[0], -1)
    if isinstance(layer, ConcatLayer):
        return np.concatenate([values[s] for s in layer.sources], axis=1)
    raise TypeError(layer.kind)


def calibrate_windows(layers: list[Layer], x: np.ndarray | None, margin: float) -> Windows:
    """B_n = margin x the largest ReLU output of layer n on calibration data `x`.

    Without data, B_n is a proven upper bound of the layer's output for any input in [0, 1]
    (interval arithmetic through the positive weights): never clipped, but coarser time resolution.
    With data, B_n is also capped at that bound, since no input can need a longer window.
    """
    bound: dict[str, float] = {}
    upper: dict[str, np.ndarray] = {}
    for layer in layers:
        upper[layer.id] = _route(
            layer, upper, np.ones((1, *layers[0].shape)),
            lambda lay, v: np.maximum(_linear(lay, v, lambda w: np.maximum(w, 0.0)), 0.0),
            lambda lay, v: _linear(lay, v))
        if isinstance(layer, TtfsLayer):
            bound[layer.id] = float(upper[layer.id].max())
    if x is None:
        length = {k: (v if v > 0 else 1.0) for k, v in bound.items()}
        return Windows(length=length, method="interval-bound", peak=bound)
    values = forward_float(layers, x)
    peak = {layer.id: float(values[layer.id].max()) if values[layer.id].size else 0.0
            for layer in layers if isinstance(layer, TtfsLayer)}
    # margin x peak, but never longer than the proven bound (no input can need more: finer steps for free)
    length = {k: (min(v * margin, bound[k]) if v > 0 else 1.0) for k, v in peak.items()}
    return Windows(length=length, method="calibration", peak=peak)


def deltas(layers: list[Layer], windows: Windows, steps: int) -> dict[str, np.ndarray]:
    """Value of one time step (Delta) for every spike-carrying layer, per channel (or per feature)."""
    out: dict[str, np.ndarray] = {}
    for layer in layers:
        if isinstance(layer, InputLayer):
            out[layer.id] = np.full(layer.channels, 1.0 / steps)
        elif isinstance(layer, TtfsLayer):
            out[layer.id] = np.full(layer.channels, windows.length[layer.id] / steps)
        elif isinstance(layer, MaxPoolLayer):
            out[layer.id] = out[layer.source]
        elif isinstance(layer, FlattenLayer):
            src = out[layer.source]
            out[layer.id] = np.repeat(src, layer.size // src.size)
        elif isinstance(layer, ConcatLayer):
            out[layer.id] = np.concatenate([out[s] for s in layer.sources])
    return out


@dataclass
class FloatTtfsResult:
    values: dict[str, np.ndarray]       # decoded value of every layer's spikes (x = t_max - t), and logits
    spike_times: dict[str, np.ndarray]  # spike time within the layer's window (B_n - x); NaN = no spike
    logits: np.ndarray


def simulate_float(layers: list[Layer], windows: Windows, x: np.ndarray, steps: int | None) -> FloatTtfsResult:
    """Run the TTFS network in float: continuous time (`steps=None`) or on a grid of `steps` per window.

    Spike times are computed event by event from the B1 dynamics: at the start of its window a neuron's
    membrane is V = sum_j W_ij (t_end(src) - t_j) over input spikes, it then rises with slope 1 and
    fires when it reaches B_n - D_i (continuous) or at the first grid step past that level (discrete).
    """
    values: dict[str, np.ndarray] = {}
    times: dict[str, np.ndarray] = {}

    def encode(value: np.ndarray, length: float) -> np.ndarray:
        # value -> spike time within the window (NaN: no spike); grid: round to nearest step value
        if steps is None:
            t = length - np.clip(value, 0.0, length)
            return np.where(value > 0, t, np.nan)
        delta = length / steps
        q = np.clip(np.floor(value / delta + 0.5), 0, steps)
        return np.where(q > 0, (steps - q) * delta, np.nan)

    def decode(t: np.ndarray, length: float) -> np.ndarray:
        return np.where(np.isnan(t), 0.0, length - np.nan_to_num(t, nan=length))

    def ttfs(layer: TtfsLayer, vals: dict[str, np.ndarray]) -> np.ndarray:
        length = windows.length[layer.id]
        membrane_plus_bias = _linear(layer, vals)     # V(t_min) + D_i: integral of the input slopes
        if steps is None:
            # fires at t = B_n - (V + D) if that lies in [0, B_n]; earlier crossings fire at the window start
            t = length - membrane_plus_bias
            t = np.where(t <= 0, 0.0, t)
            t = np.where(t >= length, np.nan, t)
        else:
            delta = length / steps
            # first k >= 0 with V + D + delta (k + 1) >= delta (K + 1/2)
            k = np.ceil((delta * (steps + 0.5) - membrane_plus_bias) / delta - 1.0)
            k = np.maximum(k, 0.0)
            t = np.where(k >= steps, np.nan, k * delta)
        times[layer.id] = t
        return decode(t, length)

    for layer in layers:
        if isinstance(layer, InputLayer):
            t = encode(np.asarray(x, dtype=np.float64), 1.0)
            times[layer.id] = t
            values[layer.id] = decode(t, 1.0)
            continue
        values[layer.id] = _route(layer, values, x, ttfs, lambda lay, v: _linear(lay, v))
    readout = layers[-1]
    return FloatTtfsResult(values=values, spike_times=times, logits=values[readout.id])


def error_bound(layers: list[Layer], windows: Windows, steps: int) -> np.ndarray:
    """Per-logit bound on |discrete-time TTFS logits - ANN logits|, valid for inputs in [0, 1] whose
    activations stay inside the windows (guaranteed on the calibration data by the margin >= 1).

    e_input = 1 / (2K); e_n = |W_n| e_src + Delta_n / 2 for TTFS layers (ReLU and rounding are
    1-Lipschitz, rounding adds at most half a step); max-pool takes the max of e over its window;
    the readout gives |W| e_src.
    """
    err: dict[str, np.ndarray] = {}
    for layer in layers:
        if isinstance(layer, InputLayer):
            err[layer.id] = np.full((1, *layer.shape), 0.5 / steps)
            continue
        if isinstance(layer, (TtfsLayer, ReadoutLayer)):
            total = 0.0
            for p in layer.projections:
                q = type(p)(p.source, p.kind, np.abs(p.weight), p.kernel, p.stride, p.padding, p.delay_windows)
                total = total + q.apply(err[p.source])
            if isinstance(layer, TtfsLayer):
                err[layer.id] = total + 0.5 * windows.length[layer.id] / steps
            else:
                err[layer.id] = np.asarray(total).reshape(1, -1)
            continue
        err[layer.id] = _route(layer, err, err[layers[0].id], None, None)
    return err[layers[-1].id][0]
