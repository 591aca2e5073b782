"""The sigma-delta reference simulator: batched numpy, step by step, in the order Lava runs the processes.

Time (docs/sdnn.md): the input sends its graded payloads at step 0; a graded synapse delivers at step t what its
source sent at step t - 1 (Lava's Dense and Sparse send last step's buffer before computing this step's); a
max-pool and a flatten pass their source's payloads on in the same step. A layer at hop h (`layer.window`) thus
first receives at step h, and a feed-forward network with a static input settles at the readout's hop.

`integer=True` runs the compiled integers through `fixed_point.sigma_delta_step` and `graded_synapse` (the
bit-exact expectation for Lava); `integer=False` runs the same network in float64 on the lowered float weights with
real-valued thresholds `float_vth` (per layer, in units of value): the float sigma-delta network (`float_sdnn`).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...fixed_point import (INT, SDNN_ACCUMULATOR_LIMIT, delta_encode_step, encode_sdnn_input, graded_synapse,
                            sigma_delta_step)
from ...compiled import CompiledNetwork
from ...layers import Layer
from ...projection import max_pool_min
from ...result import SPIKE_PAYLOADS, SimResult, concat_results
from .layers import SdnnFlattenLayer, SdnnInputLayer, SdnnMaxPoolLayer, SdnnReadoutLayer, SigmaDeltaLayer

#: Peaks the integer run tracks per layer: sigma/act/delta states, payloads sent, Lava's int32 synaptic sums.
PEAK_VARIABLES = ("state", "payload", "accumulator")


def max_pool(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Max over each pooling window (B, C, H, W) -> (B, C, H', W'), exact for integers."""
    return -max_pool_min(-x, kernel, stride)


def run_sdnn(layers: list[Layer], x: np.ndarray, steps: int, integer: bool = True,
             float_vth: dict[str, float] | None = None, track_peaks: bool = False
             ) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, dict[str, int]], list[np.ndarray]]:
    """Run `steps` steps on a batch x (N, *input_shape) in [0, 1].

    Returns (payloads {layer: (N, steps, *shape)}, the readout's act at the last step (N, classes), peaks per layer,
    the readout's act after every step). Integer runs hold int64 payloads, float runs float64 ones."""
    n = x.shape[0]
    dtype = INT if integer else np.float64
    sent: dict[str, np.ndarray] = {}          # layer -> payloads (N, steps, *shape)
    state: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    peaks: dict[str, dict[str, int]] = {}
    history: list[np.ndarray] = []
    for layer in layers:
        if not isinstance(layer, SdnnFlattenLayer):
            sent[layer.id] = np.zeros((n, steps) + tuple(layer.shape), dtype=dtype)
        if isinstance(layer, (SigmaDeltaLayer, SdnnReadoutLayer, SdnnMaxPoolLayer)):
            zeros = np.zeros((n,) + tuple(layer.shape), dtype=dtype)
            state[layer.id] = (zeros, zeros.copy(), zeros.copy())
            peaks[layer.id] = dict.fromkeys(PEAK_VARIABLES, 0)
    by_id = {layer.id: layer for layer in layers}

    def payload(layer_id: str, t: int) -> np.ndarray:
        layer = by_id[layer_id]
        if isinstance(layer, SdnnFlattenLayer):
            return payload(layer.source, t).reshape((n,) + tuple(layer.shape))
        return sent[layer_id][:, t]

    readout = np.zeros((n, layers[-1].size), dtype=dtype)
    for t in range(steps):
        for layer in layers:
            if isinstance(layer, SdnnInputLayer):
                if t == 0:
                    sent[layer.id][:, 0] = encode_sdnn_input(x) if integer else np.asarray(x, dtype=np.float64)
            elif isinstance(layer, (SigmaDeltaLayer, SdnnReadoutLayer)):
                a_in = np.zeros((n, layer.size), dtype=dtype)
                if t > 0:
                    for i, proj in enumerate(layer.projections):
                        src = payload(proj.source, t - 1)
                        if not src.any():
                            continue
                        acc = proj.apply(src).reshape(n, -1)
                        if integer:
                            acc = np.rint(acc).astype(INT)
                            if track_peaks:
                                peaks[layer.id]["accumulator"] = max(peaks[layer.id]["accumulator"],
                                                                     int(np.abs(acc).max()))
                            a_in += graded_synapse(acc, layer.weight_exps[i])
                        else:
                            a_in += acc
                sigma, act, residue = state[layer.id]
                if integer:
                    sigma, act, residue, out, peak = sigma_delta_step(
                        sigma, act, residue, a_in.reshape(sigma.shape), layer.bias_q.reshape(sigma.shape[1:]),
                        layer.vth, layer.state_exp, layer.relu)
                else:
                    sigma, act, residue, out = _float_sigma_delta(
                        sigma, act, residue, a_in.reshape(sigma.shape), layer.bias.reshape(sigma.shape[1:]),
                        (float_vth or {}).get(layer.id, 0.0), layer.relu)
                    peak = 0
                state[layer.id] = (sigma, act, residue)
                sent[layer.id][:, t] = out
                if track_peaks:
                    p = peaks[layer.id]
                    p["state"] = max(p["state"], int(peak))
                    p["payload"] = max(p["payload"], int(np.abs(out).max(initial=0)))
                if isinstance(layer, SdnnReadoutLayer):
                    readout = act.reshape(n, -1)
                    history.append(readout.copy())
            elif isinstance(layer, SdnnMaxPoolLayer):
                recon, act, residue = state[layer.id]
                recon = _grow(recon, payload(layer.source, t))
                new = max_pool(recon, layer.kernel, layer.stride)
                if integer:
                    act, residue, out = delta_encode_step(act, residue, new, 0)
                else:
                    act, residue, out = new, residue * 0, new - act
                state[layer.id] = (recon, act, residue)
                sent[layer.id][:, t] = out
                if track_peaks:
                    p = peaks[layer.id]
                    p["state"] = max(p["state"], int(np.abs(recon).max(initial=0)))
                    p["payload"] = max(p["payload"], int(np.abs(out).max(initial=0)))
    return sent, readout, peaks, history


def _grow(recon: np.ndarray, incoming: np.ndarray) -> np.ndarray:
    """The max-pool's reconstruction of its source's activations: the sum of all payloads received (source shape)."""
    if recon.shape != incoming.shape:
        recon = np.zeros_like(incoming)
    return recon + incoming


def _float_sigma_delta(sigma: np.ndarray, act: np.ndarray, residue: np.ndarray, a_in: np.ndarray, bias: np.ndarray,
                       vth: float, relu: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lava's float sigma-delta neuron (PySigmaDeltaModelFloat): the same rule on reals, no shifts."""
    sigma = sigma + a_in
    new = np.maximum(sigma + bias, 0.0) if relu else sigma + bias
    delta = new - act + residue
    s = np.where(np.abs(delta) >= vth, delta, 0.0)
    return sigma, new, delta - s, s


def sdnn_result(layers: list[Layer], sent: dict[str, np.ndarray], readout: np.ndarray, scale: float,
                peaks: dict[str, dict[str, int]] | None = None, limits: dict[str, int] | None = None) -> SimResult:
    """A SimResult of graded payloads (`SPIKE_PAYLOADS`, int32 (N, steps, *shape)) and the readout's act."""
    n = readout.shape[0]
    readout_id = layers[-1].id          # its deltas go nowhere (the host reads its act): not spikes
    spikes = {k: v.astype(np.int32) for k, v in sent.items() if k != readout_id}
    counts: dict[str, dict[str, np.ndarray]] = {}
    steps = next(iter(sent.values())).shape[1]
    by_id = {layer.id: layer for layer in layers}
    for layer in layers:
        if not layer.holds_neurons:
            continue
        events = np.zeros(n)
        for proj in layer.incoming():
            src = proj.source
            while isinstance(by_id[src], SdnnFlattenLayer):       # a view: the payloads of the layer behind it
                src = by_id[src].source
            sends = (sent[src] != 0).reshape(n, sent[src].shape[1], -1).sum(axis=1).astype(np.float64)
            fan = proj.fan_out(by_id[proj.source].shape, layer.shape).reshape(-1).astype(np.float64)
            events += sends @ fan
        own = spikes[layer.id] if layer.id in spikes else np.zeros((n, 0), dtype=np.int32)
        counts[layer.id] = {"spikes": (own != 0).reshape(n, -1).sum(axis=1).astype(np.int64),
                            "synaptic_events": events.astype(np.int64),
                            "neuron_updates": np.full(n, layer.size * steps, dtype=np.int64)}
    readout_int = np.asarray(readout, dtype=INT)
    saturated = {k: any(v[var] > limits[var] for var in limits) for k, v in (peaks or {}).items()} if limits else {}
    return SimResult(spike_times=spikes, readout=readout_int, logits=readout_int / scale,
                     predictions=np.argmax(readout_int, axis=1).astype(np.int64), counts=counts,
                     spike_format=SPIKE_PAYLOADS, peaks=peaks or {}, saturated=saturated)


def simulate(net: CompiledNetwork, x: np.ndarray, progress: Callable[[float], None] | None = None,
             track_peaks: bool = False, batch_size: int = 128) -> SimResult:
    """The integer reference run of a compiled sigma-delta network over `net.steps` steps, in batches."""
    limits = peak_limits(net)
    parts = []
    for start in range(0, len(x), batch_size):
        xb = np.asarray(x[start:start + batch_size])
        sent, readout, peaks, _ = run_sdnn(net.layers, xb, net.steps, integer=True, track_peaks=track_peaks)
        parts.append(sdnn_result(net.layers, sent, readout, net.readout.scale, peaks if track_peaks else None,
                                 limits if track_peaks else None))
        if progress is not None:
            progress(len(xb))
    return concat_results(parts)


def peak_limits(net) -> dict[str, int]:
    """The limit of each tracked peak: the state register, the payload bits (signed), Lava's int32 sums (halved:
    the Lava runner doubles the mantissas, docs/sdnn.md)."""
    return {"state": net.fmt.state_max, "payload": 2 ** (int(net.options["payload_bits"]) - 1) - 1,
            "accumulator": SDNN_ACCUMULATOR_LIMIT // 2}
