"""Reference simulators of a lowered rate network: float (the lowered model) and integer (bit-exact).

Both step all populations through T + D steps (docs/rate.md). The integer one uses
`fixed_point.cuba_step` / `accumulate_step`, the functions the Lava process models call, so its spike
rasters and readout are the bit-exact expectation for every backend. Synaptic input is the integer
mantissa product of each projection, computed in float32 when every partial sum stays below 2**24
(exact) and in float64 otherwise (exact below 2**53), then shifted into the state in int64.

Results are `SimResult`s in `SPIKE_RASTERS` format: `spike_times[layer]` is a boolean raster
(samples, steps, *shape) of the input and every CUBA population.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...fixed_point import (INT, RATE_INPUT_LEVELS, CubaParams, accumulate_step, cuba_step, encode_count_input,
                            encode_rate_input, weight_to_state)
from ...layers import Layer
from ...result import SPIKE_RASTERS, SimResult, concat_results
from .layers import CubaLayer, RateInputLayer, RateProjection, RateReadoutLayer, run_length


def input_payload(x: np.ndarray, layer: RateInputLayer, steps: int) -> np.ndarray:
    """The input's emissions (N, T, *shape), int64 (docs/rate.md section 6).

    Intensities: a static image (N, *shape) in [0, 1] is sent at each of the T steps, time-varying input
    (N, T, *shape) one frame per step, as q = floor(255 x + 1/2). Counts: (N, T, *shape) event counts per
    bin, clipped to 255.
    """
    x = np.asarray(x)
    shape = tuple(layer.shape)
    if layer.values == "counts":
        if x.shape[1:] != (steps,) + shape:
            raise ValueError(f"expected event counts of shape (N, {steps}, {list(shape)}), got {list(x.shape)}")
        return encode_count_input(x)[0]
    if x.shape[1:] == shape:
        q = encode_rate_input(x)
        return np.broadcast_to(q[:, None], (q.shape[0], steps) + q.shape[1:])
    if x.shape[1:] == (steps,) + shape:
        return encode_rate_input(x)
    raise ValueError(f"expected inputs of shape (N, {list(shape)}) or (N, {steps}, {list(shape)}), "
                     f"got {list(x.shape)}")


def _float_input(x: np.ndarray, input_shape: tuple[int, ...], steps: int, layers: list[Layer]) -> np.ndarray:
    """The float model's input in payload units (x / scale): the exact values, not rounded to 8 bits."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[1:] == tuple(input_shape):
        x = np.broadcast_to(x[:, None], (x.shape[0], steps) + x.shape[1:])
    return x / layers[0].scale


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], -1)


def _project(p: RateProjection, src: np.ndarray, src_shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """One projection applied to a batch of flat emissions; returns flat (B, outputs)."""
    x = src.reshape((src.shape[0],) + tuple(src_shape)).astype(dtype, copy=False)
    return _flat(p.apply(x, dtype))


def exact_dtype(p: RateProjection, src_shape: tuple[int, ...], out_shape: tuple[int, ...], payload_max: int) -> type:
    """float32 when every partial sum of mantissas times payloads stays below 2**24 (exact), else float64."""
    bound = float(np.max(p.abs_row_sum(src_shape, out_shape), initial=0.0)) * payload_max
    return np.float32 if bound < 2 ** 24 else np.float64


class _Runner:
    """Steps one batch; `integer` selects the fixed-point rules, else the float model of docs/rate.md."""

    def __init__(self, layers: list[Layer], steps: int, state_bits: int, integer: bool, track_peaks: bool):
        self.layers = layers
        self.by_id = {layer.id: layer for layer in layers}
        self.steps = steps
        self.run = run_length(layers, steps)
        self.integer = integer
        self.state_bits = state_bits
        # every projection as parts of one delay each (a projection with per-neuron axonal delays has several)
        self.parts: dict[str, list[tuple[RateProjection, type]]] = {}
        for layer in layers:
            parts = []
            for p in getattr(layer, "projections", []):
                src = self.by_id[p.source]
                payload = RATE_INPUT_LEVELS if isinstance(src, RateInputLayer) else 1
                for part in p.arrival_parts(src.shape, layer.shape):
                    parts.append((part, exact_dtype(part, src.shape, layer.shape, payload) if integer else np.float64))
            self.parts[layer.id] = parts

    def synaptic_input(self, layer: CubaLayer | RateReadoutLayer, emitted: dict[str, list[np.ndarray]], t: int,
                       batch: int) -> np.ndarray:
        total = np.zeros((batch, layer.size), dtype=INT if self.integer else np.float64)
        for p, dtype in self.parts[layer.id]:
            if t - p.delay < 0:
                continue
            src = emitted[p.source][t - p.delay]
            if not src.any():
                continue
            value = _project(p, src, self.by_id[p.source].shape, dtype)
            shift = p.neuron_shifts(p.state_shift(layer.shift), layer.shape, flat=True)   # per channel: groups
            total = total + (weight_to_state(np.rint(value), shift) if self.integer else value)
        return total

    def simulate(self, payload: np.ndarray, on_step: Callable[[], None] | None = None
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, dict[str, int]] | None]:
        """Step the batch through the run; `on_step()` after each time step (for progress)."""
        batch = payload.shape[0]
        emitted: dict[str, list[np.ndarray]] = {}
        state: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        peaks: dict[str, dict[str, int]] = {}
        readout_layer = self.layers[-1]
        assert isinstance(readout_layer, RateReadoutLayer)
        acc = np.zeros((batch, readout_layer.size), dtype=INT if self.integer else np.float64)
        for layer in self.layers:
            if isinstance(layer, CubaLayer):
                zero = np.zeros((batch, layer.size), dtype=INT if self.integer else np.float64)
                state[layer.id] = (zero, zero.copy())
                peaks[layer.id] = {"u": 0, "v": 0}
            emitted[layer.id] = []
        peaks[readout_layer.id] = {"u": 0, "v": 0}
        for t in range(self.run):
            for layer in self.layers:
                if isinstance(layer, RateInputLayer):
                    q = payload[:, t] if t < self.steps else np.zeros_like(payload[:, 0])
                    if not self.integer:
                        q = q * layer.scale
                    emitted[layer.id].append(_flat(q))
                elif isinstance(layer, CubaLayer):
                    a_in = self.synaptic_input(layer, emitted, t, batch)
                    u, v = state[layer.id]
                    if self.integer:
                        params = CubaParams(layer.du, layer.dv, layer.threshold, layer.reset == "subtract",
                                            self.state_bits)
                        u, v, spikes, pu, pv = cuba_step(u, v, a_in, layer.bias_q.reshape(-1), params)
                        peaks[layer.id] = {"u": max(peaks[layer.id]["u"], pu), "v": max(peaks[layer.id]["v"], pv)}
                    else:
                        u, v, spikes = float_cuba_step(u, v, a_in, layer)
                    state[layer.id] = (u, v)
                    emitted[layer.id].append(spikes)
                elif layer.mode == "membrane":
                    a_in = self.synaptic_input(layer, emitted, t, batch)
                    if self.integer:
                        acc, pr = accumulate_step(acc, a_in, np.asarray(layer.bias, dtype=INT), self.state_bits,
                                                  layer.dv)
                        peaks[layer.id]["v"] = max(peaks[layer.id]["v"], pr)
                    elif layer.tau is None:
                        acc = acc + a_in + layer.bias
                    else:           # the leaky readout of genome version 3
                        acc = acc * layer.leak + a_in + layer.bias
            if on_step is not None:
                on_step()
        # the input's raster marks non-zero payloads (graded events), the populations' their spikes
        rasters = {layer.id: np.stack(emitted[layer.id], axis=1).reshape((batch, self.run) + tuple(layer.shape)) != 0
                   for layer in self.layers if isinstance(layer, (RateInputLayer, CubaLayer))}
        return rasters, acc, peaks


def float_cuba_step(u: np.ndarray, v: np.ndarray, current: np.ndarray, layer: CubaLayer
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The float neuron of docs/rate.md section 2 (gain already folded into weights and bias)."""
    u = u * layer.current_leak + current
    v = v * layer.leak + u + layer.bias.reshape(-1)
    spikes = v > layer.threshold_float
    v = np.where(spikes, v - layer.threshold_float if layer.reset == "subtract" else 0.0, v)
    return u, v, spikes


def simulate_rate(layers: list[Layer], x: np.ndarray, steps: int, input_shape: tuple[int, ...], state_bits: int = 24,
                  integer: bool = True, batch_size: int = 64, progress: Callable[[float], None] | None = None,
                  track_peaks: bool = False, readout_scale: float = 1.0) -> SimResult:
    """Run samples through the lowered (float) or quantized (integer) rate network. Peaks are always tracked
    (they cost nothing here); `track_peaks` is accepted for symmetry with the TTFS simulator."""
    runner = _Runner(layers, steps, state_bits, integer, track_peaks)
    parts: list[SimResult] = []
    for start in range(0, max(len(x), 1), batch_size):
        chunk = x[start:start + batch_size]
        payload = input_payload(chunk, layers[0], steps) if integer else _float_input(chunk, input_shape, steps, layers)
        # progress per time step (a share of each sample of the batch): long runs report while they run
        step_done = None if progress is None else (lambda n=len(chunk): progress(n / runner.run))
        rasters, acc, peaks = runner.simulate(payload, step_done)
        parts.append(rate_result(layers, runner.run, state_bits, rasters, acc, peaks, readout_scale, integer))
        if len(x) == 0:
            break
    return concat_results(parts)


def rate_result(layers: list[Layer], run: int, state_bits: int, rasters: dict[str, np.ndarray],
                acc: np.ndarray | None, peaks: dict[str, dict[str, int]] | None = None, scale: float = 1.0,
                integer: bool = True) -> SimResult:
    """The `SimResult` of a batch from its rasters (N, run, *shape) of the input and every CUBA population and,
    for a membrane readout, its accumulator `acc` (a spike_count readout is counted here from its source's
    raster; `acc` is then ignored). `peaks` None: not tracked (-1). Shared with the Lava backend."""
    readout = layers[-1]
    assert isinstance(readout, RateReadoutLayer)
    n = next(iter(rasters.values())).shape[0]
    if readout.mode == "spike_count":
        acc = rasters[readout.source].reshape(n, run, -1).sum(axis=1).astype(INT)
    assert acc is not None
    if peaks is None:
        peaks = {layer.id: {"u": -1, "v": -1} for layer in layers if isinstance(layer, (CubaLayer, RateReadoutLayer))}
    counts = rate_counts(layers, rasters, acc.shape[0], run)
    logits = acc * scale if integer else acc
    limit = 2 ** (state_bits - 1) - 1
    predictions = (np.argmax(logits, axis=1).astype(INT) if logits.size else np.zeros(acc.shape[0], dtype=INT))
    return SimResult(spike_times=rasters, readout=acc, logits=logits,
                     predictions=predictions, counts=counts, spike_format=SPIKE_RASTERS, peaks=peaks,
                     saturated={k: max(p.values()) > limit for k, p in peaks.items()})


def rate_counts(layers: list[Layer], rasters: dict[str, np.ndarray], n: int, run: int) -> dict[str, dict[str, np.ndarray]]:
    """Per layer and sample: spikes emitted, synaptic events received (each spike times its fan-out), updates."""
    by_id = {layer.id: layer for layer in layers}
    zeros = np.zeros(n, dtype=INT)
    counts: dict[str, dict[str, np.ndarray]] = {}
    for layer in layers:
        events = zeros.copy()
        for p in getattr(layer, "projections", []):   # graded input: one event per non-zero payload per synapse
            src = by_id[p.source]
            for delay, fan, _ in p.fan_out_by_arrival(src.shape, layer.shape):   # events arriving within the run
                spikes = rasters[p.source].reshape(n, run, -1)[:, :max(run - delay, 0)].sum(axis=1)
                events = events + spikes.astype(INT) @ fan.reshape(-1)
        spikes = rasters[layer.id].reshape(n, -1).sum(axis=1).astype(INT) if layer.id in rasters else zeros
        counts[layer.id] = {"spikes": spikes, "synaptic_events": events,
                            "neuron_updates": zeros if isinstance(layer, RateInputLayer) else np.full(n, layer.size * run, INT)}
    return counts
