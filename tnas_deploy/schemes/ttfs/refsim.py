"""Integer reference simulator of a compiled TTFS network, vectorised over a batch of samples.

It steps every TTFS layer through its integrate window and its fire window with the functions of
`tnas_deploy.fixed_point` (the same ones the Lava process models call), so its spike steps, readout
values and predictions are the bit-exact expectation for any backend.

Stepping a window takes `ttfs_integrate_step` only at the steps at which some source spikes and
`ttfs_integrate_idle` for the steps between (no input: a closed form), and the fire window in closed form
(`ttfs_fire_window`) unless its peak shows that a state saturated (then `ttfs_fire_step` K times): the
same integers as every step, at a cost that grows with the spikes rather than the steps (docs/fixed_point.md
section 10). A step's synaptic input is its one-hot spike tensor through the projection's weight mantissas
in float32 when every partial sum stays below 2**24 (exact), else in float64 (exact below 2**53); the shift
into the state is applied in int64. Layers whose worst case provably fits the state use the closed form
v = v_init + sum w q instead (the same integers), unless peaks are tracked.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ...compiled import CompiledNetwork
from ...fixed_point import (INT, encode_ttfs_input, readout_value, ttfs_fire_closed_form, ttfs_fire_step,
                            ttfs_fire_window, ttfs_integrate_idle, ttfs_integrate_step, weight_to_state)
from .bounds import provably_safe
from .layers import ConcatLayer, FlattenLayer, InputLayer, MaxPoolLayer, ReadoutLayer, TtfsLayer
from ...layers import Layer
from ...result import SPIKE_TIMES, SimResult, concat_results
from ...projection import Projection, expand_per_channel, max_pool_min

#: Elements of a step's synaptic input (samples x neurons, or a convolution's input windows) built at once;
#: bounds memory (8 bytes each).
CHUNK_ELEMENTS = 1 << 24

COUNTS = ("spikes", "synaptic_events", "neuron_updates")


def _exact_dtype(proj: Projection, src_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> type:
    """float32 when every partial sum of mantissas is an integer below 2**24 (exact), else float64."""
    bound = float(np.max(proj.abs_row_sum(src_shape, out_shape), initial=0.0))
    return np.float32 if bound < 2 ** 24 else np.float64


def _step_inputs(proj: Projection, steps_src: np.ndarray, event_steps: list[int], steps: int,
                 shift: int | np.ndarray, out_shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    """a_in at each of `event_steps` (ascending): (B, *out_shape) int64 each.

    The one-hot spike tensor of each step goes through the projection's mantissas (exact, see `_exact_dtype`;
    `Projection.apply_per_code` with code K - step, 0 = no spike); the shift into the state is applied
    afterwards in int64 (`weight_to_state`), per output neuron when the projection has precision groups.
    """
    dtype = _exact_dtype(proj, steps_src.shape[1:], out_shape)
    codes = (steps - steps_src).astype(np.uint8 if steps < 256 else np.uint16 if steps < 65536 else np.int32)
    for value in proj.apply_per_code(codes, [steps - k for k in event_steps], dtype):
        yield weight_to_state(np.rint(value), shift)


def _closed_form_input(proj: Projection, steps_src: np.ndarray, steps: int, shift: int | np.ndarray,
                       out_shape: tuple[int, ...]) -> np.ndarray:
    """v after the integrate window when nothing can saturate: sum_j w_j q_j (q = K - step), exactly.

    Only called for provably safe layers, whose worst case K x sum |w| is below the state limit (2**23), so
    every partial sum is an integer far below 2**53 and float64 is exact.
    """
    return weight_to_state(np.rint(proj.apply(steps - steps_src, np.float64)), shift)


def _integrate(layer: TtfsLayer | ReadoutLayer, local: dict[str, np.ndarray], steps: int, state_bits: int,
               stepwise: bool) -> tuple[np.ndarray, int, int]:
    """The integrate window from v = v_init (0 for the readout). Stepwise: as `ttfs_integrate_step` K times
    (exact, tracks peaks, saturates). Otherwise (only for layers whose worst case provably fits the state)
    its closed form, v = v_init + sum w q."""
    v0 = expand_per_channel(layer.v_init, layer.shape) if isinstance(layer, TtfsLayer) else 0
    if not stepwise:
        v = v0 + sum(_closed_form_input(p, local[p.source], steps, p.neuron_shifts(layer.shift, layer.shape),
                                        layer.shape) for p in layer.projections)
        v = v.reshape(v.shape[0], -1) if isinstance(layer, ReadoutLayer) else v
        return v, -1, -1
    # Samples are independent: step them in chunks so the per-step input (chunk x neurons) stays bounded. Only
    # steps at which some source spikes change u; the steps between them have a closed form (no input).
    batch = local[layer.projections[0].source].shape[0]
    # per sample: the neurons, each source, and a convolution's input windows (`Projection.apply_per_code`)
    widest = max([layer.size] + [local[p.source][0].size for p in layer.projections]
                 + [p.fan_in(local[p.source].shape[1:]) * layer.size // layer.shape[0]
                    for p in layer.projections if p.kind == "conv2d"])
    chunk = max(1, CHUNK_ELEMENTS // max(1, widest))
    parts, peak_u, peak_v = [], 0, 0
    for start in range(0, max(batch, 1), chunk):
        sources = [local[p.source][start:start + chunk] for p in layer.projections]
        events = sorted(set().union(*(np.unique(s[s < steps]).tolist() for s in sources)))
        inputs = [_step_inputs(p, s, events, steps, p.neuron_shifts(layer.shift, layer.shape), layer.shape)
                  for p, s in zip(layer.projections, sources)]
        n = sources[0].shape[0]
        u = np.zeros((n,) + ((layer.size,) if isinstance(layer, ReadoutLayer) else tuple(layer.shape)), dtype=INT)
        v = u + v0                                          # v_init per neuron, broadcast over samples
        done = 0                                            # steps integrated so far
        for k in events + [steps]:
            u, v, pu, pv = ttfs_integrate_idle(u, v, k - done, state_bits)
            peak_u, peak_v = max(peak_u, pu), max(peak_v, pv)
            if k == steps:
                break
            a_in = sum(next(i) for i in inputs)
            u, v, pu, pv = ttfs_integrate_step(u, v, a_in.reshape(u.shape), state_bits)
            peak_u, peak_v = max(peak_u, pu), max(peak_v, pv)
            done = k + 1
        parts.append(v)
    return np.concatenate(parts), peak_u, peak_v


def _fire(layer: TtfsLayer, v: np.ndarray, steps: int, state_bits: int, stepwise: bool) -> tuple[np.ndarray, int]:
    """The fire window: its closed form when nothing can saturate or, tracking peaks, when the peak shows that
    nothing did (`ttfs_fire_window`); otherwise `ttfs_fire_step` K times."""
    threshold = expand_per_channel(layer.threshold, layer.shape)
    if not stepwise:
        return ttfs_fire_closed_form(v, layer.ramp, threshold, steps), -1
    if layer.ramp > 0:
        fire, peak = ttfs_fire_window(v, layer.ramp, threshold, steps)
        if peak <= 2 ** (state_bits - 1) - 1:
            return fire, peak
    fired = np.zeros(v.shape, dtype=bool)
    step = np.full(v.shape, steps, dtype=INT)
    peak = 0
    for k in range(steps):
        v, spikes, fired, pv = ttfs_fire_step(v, fired, layer.ramp, threshold, state_bits)
        step[spikes] = k
        peak = max(peak, pv)
    return step, peak


def simulate(net: CompiledNetwork, x: np.ndarray, batch_size: int = 256,
             progress: Callable[[float], None] | None = None, track_peaks: bool = False) -> SimResult:
    """Run samples `x` (N, *input_shape), values in [0, 1]; `progress(n)` is called after each batch of n.

    With `track_peaks`, every layer is stepped and `peaks` holds each state's largest magnitude; otherwise
    layers whose worst case provably fits the state use the closed form (same integers, faster) and
    report peak -1.
    """
    stepwise = {layer.id: track_peaks or not provably_safe(net, layer) for layer in net.layers}
    parts: list[SimResult] = []
    for start in range(0, len(x), batch_size):
        parts.append(_simulate_batch(net, x[start:start + batch_size], stepwise))
        if progress is not None:
            progress(len(parts[-1].predictions))
    return concat_results(parts) if parts else _simulate_batch(net, x[:0], stepwise)


def _simulate_batch(net: CompiledNetwork, x: np.ndarray, stepwise: dict[str, bool]) -> SimResult:
    K = net.steps
    bits = net.fmt.state_bits
    n = x.shape[0]
    local: dict[str, np.ndarray] = {}          # spike step within the layer's window, K = no spike
    peaks: dict[str, dict[str, int]] = {}
    readout = np.zeros((n, 0), dtype=INT)
    for layer in net.layers:
        if isinstance(layer, InputLayer):
            local[layer.id] = encode_ttfs_input(x, K)
        elif isinstance(layer, TtfsLayer):
            v, pu, pv = _integrate(layer, local, K, bits, stepwise[layer.id])
            local[layer.id], pf = _fire(layer, v, K, bits, stepwise[layer.id])
            peaks[layer.id] = {"u": pu, "v": max(pv, pf)} if stepwise[layer.id] else {"u": -1, "v": -1}
        elif isinstance(layer, ReadoutLayer):
            v, pu, pv = _integrate(layer, local, K, bits, stepwise[layer.id])
            readout, pr = readout_value(v, expand_per_channel(layer.bias, layer.shape), bits)
            peaks[layer.id] = {"u": pu, "v": max(pv, pr)} if stepwise[layer.id] else {"u": -1, "v": -1}
        else:
            local[layer.id] = _view(layer, local, n)
    result = assemble_result(net, local, readout)
    result.peaks = peaks
    result.saturated = {k: max(p.values()) > net.fmt.state_max for k, p in peaks.items()}  # -1: provably not
    return result


def _view(layer: Layer, local: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Max-pool (earliest spike) and the routing layers, on spike steps."""
    if isinstance(layer, MaxPoolLayer):
        return max_pool_min(local[layer.source], layer.kernel, layer.stride)
    if isinstance(layer, FlattenLayer):
        return local[layer.source].reshape(n, -1)
    if isinstance(layer, ConcatLayer):
        return np.concatenate([local[s] for s in layer.sources], axis=1)
    raise TypeError(layer.kind)  # pragma: no cover


def assemble_result(net: CompiledNetwork, local: dict[str, np.ndarray], readout: np.ndarray) -> SimResult:
    """Spike times, counts and predictions from each population's local spike steps (K = none) and the readout.

    Backends that only report populations (input, TTFS, max-pool) get the routing layers filled in here.
    """
    K = net.steps
    n = readout.shape[0]
    local = dict(local)
    spike_times: dict[str, np.ndarray] = {}
    counts: dict[str, dict[str, np.ndarray]] = {}
    zeros = np.zeros(n, dtype=INT)
    for layer in net.layers:
        if isinstance(layer, (FlattenLayer, ConcatLayer)) and layer.id not in local:
            local[layer.id] = _view(layer, local, n)
        if isinstance(layer, InputLayer):
            counts[layer.id] = {"spikes": _spike_count(local[layer.id], K), "synaptic_events": zeros,
                                "neuron_updates": zeros}
        else:
            counts[layer.id] = _counts(net, layer, local, n, K)
        if isinstance(layer, (InputLayer, TtfsLayer, MaxPoolLayer)):
            s = local[layer.id]
            spike_times[layer.id] = np.where(s < K, layer.window * K + s, -1).astype(INT)
    predictions = np.argmax(readout, axis=1).astype(INT) if readout.size else np.zeros(n, dtype=INT)
    return SimResult(spike_times=spike_times, readout=readout, logits=readout * net.readout.scale,
                     predictions=predictions, counts=counts, spike_format=SPIKE_TIMES)


def _spike_count(local: np.ndarray, steps: int) -> np.ndarray:
    return (local < steps).reshape(local.shape[0], -1).sum(axis=1).astype(INT)


def _counts(net: CompiledNetwork, layer: Layer, local: dict[str, np.ndarray], n: int, K: int
            ) -> dict[str, np.ndarray]:
    """Spikes the layer emits, synaptic events it receives (each input spike times its fan-out), neuron updates."""
    layers = net.by_id
    zeros = np.zeros(n, dtype=INT)
    if isinstance(layer, (TtfsLayer, ReadoutLayer)):
        events = zeros.copy()
        for proj in layer.projections:
            src = layers[proj.source]
            fan = proj.fan_out(src.shape, layer.shape).reshape(-1)
            spiked = (local[proj.source].reshape(n, -1) < K)
            events = events + spiked.astype(INT) @ fan
        # TTFS neurons are updated in both windows; the readout only integrates
        per_neuron = 2 * K if isinstance(layer, TtfsLayer) else K
        spikes = _spike_count(local[layer.id], K) if isinstance(layer, TtfsLayer) else zeros
        return {"spikes": spikes, "synaptic_events": events, "neuron_updates": np.full(n, layer.size * per_neuron, INT)}
    if isinstance(layer, MaxPoolLayer):
        # realised as fire-once neurons that spike on their first input spike
        events = _pool_events(local[layer.source], layer, K)
        return {"spikes": _spike_count(local[layer.id], K), "synaptic_events": events,
                "neuron_updates": np.full(n, layer.size * K, INT)}
    return {"spikes": zeros, "synaptic_events": zeros, "neuron_updates": zeros}


def _pool_events(src_local: np.ndarray, layer: MaxPoolLayer, K: int) -> np.ndarray:
    spiked = (src_local < K).astype(np.float64)
    p = Projection("", "avgpool2d", np.ones(spiked.shape[1]), layer.kernel, layer.stride)
    return np.rint(p.apply(spiked).reshape(spiked.shape[0], -1).sum(axis=1)).astype(INT)


