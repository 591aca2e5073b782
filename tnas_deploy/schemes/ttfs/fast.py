"""The fast exact path of TTFS cost estimates: compile without the stepwise headroom pass where it cannot change
the network, then run the quantized integer network in one batched forward pass (torch) instead of stepping it.

Why it is exact. A TTFS neuron's membrane after its integrate window is v = v_init + sum_j (m_j q_j << s), with
q_j = K - (source j's spike step) (0: no spike), as long as no state saturates on the way; its fire step is then
`ttfs_fire_closed_form(v)`. The reference simulator uses the same closed form for every layer compile proved
safe (`bounds.provably_safe`); here it is used for every layer, and a layer that is not proved safe has its
per-step states computed (all K steps at once, without saturation) to check that none leaves the state range:
then nothing saturated and its peaks equal the reference simulator's. When a state would saturate the fast
path gives up and the reference simulator runs (`method` says which). Sums of mantissas run in float32 on the CPU
when every partial sum is an integer below 2**24, else (and on the GPU) in float64, and are rounded to integers
before the shift into the state (`_exact_float`).

Compile: the headroom rounds (`compilation.fit_state_scales`) only change a network whose calibration data
overflows a state. A layer proved safe never does, so only the other layers are measured, by the same check;
a measured overflow falls back to the compile's own measurement (`compile.measure_headroom`). The network is
then the one `compile` builds, layer for layer (its `headroom` table is left empty: nobody reads it here).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ...compilation import CompileInputs, fit_state_scales, record_headroom
from ...compiled import CompiledNetwork
from ...fixed_point import INT, encode_ttfs_input
from ...projection import Projection, expand_per_channel
from ...result import SPIKE_TIMES, SimResult
from ..base import CompileOptions
from .bounds import provably_safe
from .compile import lower_for_compile, measure_headroom, quantized_network
from .layers import (
    ConcatLayer,
    FlattenLayer,
    InputLayer,
    MaxPoolLayer,
    ReadoutLayer,
    TtfsLayer,
)
from .refsim import assemble_result, simulate

#: Elements (samples x steps x neurons) of one chunk of per-step states of a layer not proved safe.
STEP_CHUNK_ELEMENTS = 1 << 22

METHOD_FAST = "closed-form"
METHOD_REFERENCE = "reference-simulator"


def device() -> Any:
    """Where the forward pass runs: the GPU when torch has one, else the CPU."""
    import torch
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def compile_and_run(inputs: CompileInputs, options: CompileOptions, x: np.ndarray, counts: bool = True
                    ) -> tuple[CompiledNetwork, SimResult, str]:
    """The network `compile` builds from `inputs`, its result on samples `x` and which path computed it
    (`METHOD_FAST`, or `METHOD_REFERENCE` when a state saturates on `x`). Without `counts` the result's per-sample
    `counts` are left empty (the energy model reads spike times only); spike times, readout and predictions are
    the reference simulator's either way."""
    low = lower_for_compile(inputs, options)
    calib = inputs.calibration
    cache: list[tuple[CompiledNetwork, Any]] = []     # the forward pass on x when x is the calibration data
    proofs: list[tuple[CompiledNetwork, dict[str, bool]]] = []      # the last network's `proved_safe`

    def safety(net: CompiledNetwork) -> dict[str, bool]:
        if not proofs or proofs[0][0] is not net:
            proofs[:] = [(net, proved_safe(net))]
        return proofs[0][1]

    def measure(net: CompiledNetwork) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, int]]]:
        if calib is None or all(safety(net).values()):
            return {}, {}
        forward = integer_forward(net, calib.x, safety(net))
        if forward is None:                      # an overflow: the compile's own measurement decides the drops
            return measure_headroom(net, calib)
        if calib.x is x:
            cache[:] = [(net, forward)]
        return {}, {}

    fmt = inputs.profile.require_format()
    net, headroom, drops, overflows = fit_state_scales(
        lambda drops: quantized_network(inputs, low, options.saturate, drops), measure, fmt)
    record_headroom(net, headroom, drops, overflows, options.saturate, inputs.genome.source)
    forward = cache[0][1] if cache and cache[0][0] is net else integer_forward(net, x, safety(net))
    if forward is None:
        return net, simulate(net, x), METHOD_REFERENCE
    local, readout = forward
    return net, (assemble_result(net, local, readout) if counts else spikes_result(net, local, readout)), METHOD_FAST


def spikes_result(net: CompiledNetwork, local: dict[str, np.ndarray], readout: np.ndarray) -> SimResult:
    """`refsim.assemble_result` without the per-sample counts: global spike times (-1 = none), readout, logits and
    predictions."""
    K = net.steps
    times = {}
    for layer in net.layers:
        if isinstance(layer, (InputLayer, TtfsLayer, MaxPoolLayer)):
            steps = local[layer.id]
            # (step + window * K + 1) x (step < K) - 1: no branch per element (masked stores are slow here)
            global_steps = np.asarray(steps, dtype=INT) + INT(layer.window * K + 1)
            global_steps *= steps < K
            global_steps -= INT(1)
            times[layer.id] = global_steps
    predictions = np.argmax(readout, axis=1).astype(INT) if readout.size else np.zeros(readout.shape[0], dtype=INT)
    return SimResult(spike_times=times, readout=readout, logits=readout * net.readout.scale, predictions=predictions,
                     counts={}, spike_format=SPIKE_TIMES)


def integer_forward(net: CompiledNetwork, x: np.ndarray, safety: dict[str, bool] | None = None
                    ) -> tuple[dict[str, np.ndarray], np.ndarray] | None:
    """Every population's spike step within its window (K = none) and the readout values, exactly as the
    reference simulator computes them; None when some state of a layer not proved safe would saturate.
    `safety`: `proved_safe(net)` when the caller has it."""
    import torch

    dev = device()
    K = net.steps
    limit = net.fmt.state_max
    n = int(x.shape[0])
    safety = proved_safe(net) if safety is None else safety
    local: dict[str, Any] = {}
    readout = torch.zeros((n, 0), dtype=torch.int64, device=dev)
    for layer in net.layers:
        if isinstance(layer, InputLayer):
            local[layer.id] = torch.as_tensor(encode_ttfs_input(x, K), device=dev)
        elif isinstance(layer, (TtfsLayer, ReadoutLayer)):
            safe = safety[layer.id]
            ttfs = isinstance(layer, TtfsLayer)
            v0 = torch.as_tensor(expand_per_channel(layer.v_init, layer.shape), device=dev) if ttfs else None
            v = _membrane(net, layer, local, K, dev)
            if v0 is not None:
                v += v0                                  # `_membrane` returns a new tensor
            if not safe and _integrate_peak(net, layer, local, K, v0, dev) > limit:
                return None
            if ttfs:
                threshold = torch.as_tensor(expand_per_channel(layer.threshold, layer.shape), device=dev)
                fire = _floor_div(threshold - v, int(layer.ramp)).clamp_(0, K)     # K: no spike in the window
                if not safe:
                    top = v + layer.ramp * (torch.clamp(fire, max=K - 1) + 1)
                    if max(_peak(v + layer.ramp), _peak(top)) > limit:
                        return None
                local[layer.id] = fire
            else:
                raw = v.reshape(n, -1) + torch.as_tensor(expand_per_channel(layer.bias, layer.shape), device=dev)
                if _peak(raw) > limit:      # `readout_value` saturates (impossible for a layer proved safe)
                    return None
                readout = raw
        elif isinstance(layer, MaxPoolLayer):
            local[layer.id] = _min_pool(local[layer.source], layer.kernel, layer.stride)
        elif isinstance(layer, FlattenLayer):
            local[layer.id] = local[layer.source].reshape(n, -1)
        elif isinstance(layer, ConcatLayer):
            local[layer.id] = torch.cat([local[s] for s in layer.sources], dim=1)
        else:  # pragma: no cover - every TTFS layer kind is handled above
            raise TypeError(layer.kind)
    keep = {layer.id for layer in net.layers if isinstance(layer, (InputLayer, TtfsLayer, MaxPoolLayer))}
    return ({k: v.cpu().numpy() for k, v in local.items() if k in keep}, readout.cpu().numpy())


def proved_safe(net: CompiledNetwork) -> dict[str, bool]:
    """Per layer: whether compile proves that no input can saturate it (`bounds.provably_safe`)."""
    return {layer.id: provably_safe(net, layer) for layer in net.layers}


def _min_pool(steps: Any, kernel: tuple[int, int], stride: tuple[int, int]) -> Any:
    """`max_pool_min` (the earliest spike step of each window, no padding) on int64 steps: the elementwise
    minimum of the window's kh x kw strided views (cheaper than torch's reductions over small windows)."""
    import torch

    h, w = steps.shape[2], steps.shape[3]
    oh, ow = (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1
    out = None
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            view = steps[:, :, i:i + stride[0] * (oh - 1) + 1:stride[0], j:j + stride[1] * (ow - 1) + 1:stride[1]]
            out = view if out is None else torch.minimum(out, view)
    return out


def _floor_div(values: Any, divisor: int) -> Any:
    """floor(values / divisor) of an int64 tensor, in place when the divisor is a power of two (an arithmetic
    right shift, several times cheaper than torch's integer division)."""
    import torch

    if divisor > 0 and divisor & (divisor - 1) == 0:
        return values.bitwise_right_shift_(divisor.bit_length() - 1)
    return torch.div(values, divisor, rounding_mode="floor")


def _peak(t: Any) -> int:
    return int(t.abs().max()) if t.numel() else 0


def _membrane(net: CompiledNetwork, layer: TtfsLayer | ReadoutLayer, local: dict[str, Any], K: int, dev: Any
              ) -> Any:
    """sum over projections of (sum_j m_j q_j) << shift, q = K - spike step (the closed form of the integrate
    window), int64 of the layer's shape (flat for the readout)."""

    total = None
    for p in layer.projections:
        dtype = _exact_float(net, p, layer, K, dev)
        value = _shifted(p, _apply(p, (K - local[p.source]).to(dtype), dev), layer)
        total = value if total is None else total + value
    return total


def _shifted(p: Projection, value: Any, layer: TtfsLayer | ReadoutLayer) -> Any:
    """Exact integer sums (rounded from float64) shifted into the state, per neuron with precision groups."""
    import torch

    mant = torch.round(value).to(torch.int64)
    shift = p.neuron_shifts(layer.shift, layer.shape)
    shift_t = torch.as_tensor(np.asarray(shift, dtype=np.int64), device=mant.device)
    if isinstance(layer, ReadoutLayer):      # the readout's values are flat, as the reference simulator's
        mant = mant.reshape(mant.shape[0], -1)
        shift_t = shift_t.reshape(-1)
    return torch.bitwise_left_shift(mant, shift_t)


def _exact_float(net: CompiledNetwork, p: Projection, layer: TtfsLayer | ReadoutLayer, largest_input: int, dev: Any
                 ) -> Any:
    """float32 on the CPU when every partial sum of mantissa x input (inputs up to `largest_input`) is an integer
    below 2**24, so float32 sums it exactly in any order; else float64 (exact below 2**53). The GPU always gets
    float64: its float32 convolutions may use TF32 or transform-based algorithms, which do not sum exactly."""
    import torch

    if dev.type != "cpu":
        return torch.float64
    bound = float(np.max(p.abs_row_sum(net.by_id[p.source].shape, layer.shape), initial=0.0)) * largest_input
    return torch.float32 if bound < 2 ** 24 else torch.float64


def _apply(p: Projection, x: Any, dev: Any) -> Any:
    """`Projection.apply` in torch, in `x`'s float type (a sparse composed map goes through scipy on the CPU)."""
    import torch
    import torch.nn.functional as F

    if p.kind == "sparse":
        out = p.apply(x.cpu().numpy(), np.float64)
        return torch.as_tensor(out, device=dev)
    w = torch.as_tensor(np.asarray(p.weight), dtype=x.dtype, device=dev)
    if p.kind == "dense":
        return x.reshape(x.shape[0], -1) @ w.T
    if p.kind == "identity":
        return x * w.reshape((-1,) + (1,) * (x.ndim - 2))
    if p.kind == "conv2d":
        return F.conv2d(x, w, stride=p.stride, padding=p.padding)
    # avgpool2d: a depthwise window sum (zero padding counts) with one weight per channel
    channels = x.shape[1]
    ones = torch.ones((channels, 1, *p.kernel), dtype=x.dtype, device=dev)
    return F.conv2d(x, ones, stride=p.stride, padding=p.padding, groups=channels) * w.reshape(1, -1, 1, 1)


def _integrate_peak(net: CompiledNetwork, layer: TtfsLayer | ReadoutLayer, local: dict[str, Any], K: int, v0: Any,
                    dev: Any) -> int:
    """The largest |u| and |v| of the integrate window without saturation, every step computed (u_k: the inputs of
    steps <= k; v_k = v_init + u_0 + ... + u_k), in chunks of samples: what the reference simulator's peaks are
    when neither leaves the state range."""
    import torch

    n = local[layer.projections[0].source].shape[0]
    widest = max([layer.size] + [int(np.prod(local[p.source].shape[1:])) for p in layer.projections])
    chunk = max(1, STEP_CHUNK_ELEMENTS // max(1, K * widest))
    steps = torch.arange(K, device=dev)
    peak = 0
    for start in range(0, n, chunk):
        a_in = None
        for p in layer.projections:
            src = local[p.source][start:start + chunk]
            b = src.shape[0]
            onehot = (src.unsqueeze(1) == steps.reshape((1, K) + (1,) * (src.ndim - 1)))
            onehot = onehot.to(_exact_float(net, p, layer, 1, dev))
            value = _shifted(p, _apply(p, onehot.reshape(b * K, *src.shape[1:]), dev), layer)
            value = value.reshape(b, K, *value.shape[1:])
            a_in = value if a_in is None else a_in + value
        u = torch.cumsum(a_in, dim=1)
        v = torch.cumsum(u, dim=1)
        if v0 is not None:
            v = v + v0
        peak = max(peak, _peak(u), _peak(v))
    return peak
