"""Float sigma-delta layers -> integers: scales from calibration peaks, weight mantissas and exponents, biases and
delta thresholds (docs/sdnn.md, "Precision").

Each population's integers are its real values times its scale S (state units per unit of value); with
`state_exp` 0 (what tnas-deploy compiles) its payloads have the same scale. S is a power-of-two multiple of the
input's 255 (so every projection's total shift is a whole number of bits), chosen so the calibration peak of
|sigma + bias| times HEADROOM fits the payload bits (a population's first delta is its whole value) or, for the
readout, which sends nothing, the state register. A projection's weights become 8-bit mantissas m = round(W / 2**e)
with the finest e that fits; Lava's `weight_exp` then shifts the sum of m x payload from the source's scale to S.
Lowering S by `drops[layer]` bits is how the compile's headroom pass makes a calibration overflow fit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ...errors import OverflowReport
from ...fixed_point import INT, SDNN_INPUT_LEVELS, NumericFormat
from ...layers import Layer
from ...projection import Projection
from .layers import SdnnFlattenLayer, SdnnInputLayer, SdnnMaxPoolLayer, SdnnReadoutLayer, SigmaDeltaLayer
from .refsim import max_pool

#: Graded payload bits (signed): lava-dl netx's default `messageBits` for sigma-delta layers
#: (lava-dl 0.6.0 lava/lib/dl/netx/hdf5.py: "num_message_bits = 16  # default value" for SDNN neurons).
PAYLOAD_BITS = 16
#: Calibration peak x HEADROOM must fit the limit: room for inputs beyond the calibration data's.
HEADROOM = 2.0


@dataclass
class Quantized:
    layers: list[Layer]
    notes: list[dict[str, str]] = field(default_factory=list)
    weight_error: dict[str, float] = field(default_factory=dict)


def float_forward(layers: list[Layer], x: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The settled values of the float network (what the sigma-delta network converges to for a static input, with
    zero thresholds): per layer its pre-activation z (sigma + bias) and value, (N, *shape) float64."""
    values: dict[str, np.ndarray] = {}
    pre: dict[str, np.ndarray] = {}
    n = x.shape[0]
    for layer in layers:
        if isinstance(layer, SdnnInputLayer):
            values[layer.id] = np.asarray(x, dtype=np.float64)
        elif isinstance(layer, SdnnFlattenLayer):
            values[layer.id] = values[layer.source].reshape((n,) + tuple(layer.shape))
        elif isinstance(layer, SdnnMaxPoolLayer):
            values[layer.id] = max_pool(values[layer.source], layer.kernel, layer.stride)
        else:
            z = sum(p.apply(values[p.source]).reshape(n, -1) for p in layer.projections) + layer.bias.reshape(1, -1)
            z = np.asarray(z).reshape((n,) + tuple(layer.shape))
            pre[layer.id] = z
            values[layer.id] = np.maximum(z, 0.0) if layer.relu else z
    return pre, values


def quantize(layers: list[Layer], x_cal: np.ndarray, fmt: NumericFormat, delta_threshold: float,
             drops: dict[str, int] | None = None) -> Quantized:
    """Integer layers for the profile's format; `delta_threshold` is each population's vth as a fraction of its
    calibration peak value. Raises `OverflowReport` when a scale cannot be represented."""
    drops = drops or {}
    pre, values = float_forward(layers, x_cal)
    payload_max = 2 ** (PAYLOAD_BITS - 1) - 1
    scale: dict[str, float] = {}          # payload scale of every sending layer
    out: list[Layer] = []
    q = Quantized(out)
    for layer in layers:
        if isinstance(layer, SdnnInputLayer):
            scale[layer.id] = float(SDNN_INPUT_LEVELS)
            out.append(replace(layer, scale=float(SDNN_INPUT_LEVELS)))
            continue
        if isinstance(layer, (SdnnFlattenLayer, SdnnMaxPoolLayer)):
            scale[layer.id] = scale[layer.source]
            out.append(layer)
            continue
        readout = isinstance(layer, SdnnReadoutLayer)
        peak = max(float(np.abs(pre[layer.id]).max(initial=0.0)), 1e-12)
        limit = fmt.state_max if readout else payload_max
        factor = HEADROOM if (readout or layer.relu) else 2 * HEADROOM   # a UNIT delta can swing -peak..peak
        first = scale[layer.projections[0].source]
        bits = math.floor(math.log2(limit / (factor * peak) / first)) - drops.get(layer.id, 0)
        exps, mants, s = _weights(layer, scale, first, bits, fmt, q)
        bias_q = np.floor(layer.bias * s + 0.5).astype(INT)
        if np.abs(bias_q).max(initial=0) > fmt.state_max:
            raise OverflowReport(f"layer {layer.id}: the bias needs {int(np.abs(bias_q).max())} state units at scale "
                                 f"{s:g}, beyond the {fmt.state_bits}-bit state", None, f"layer {layer.id}: bias")
        top = float(np.abs(values[layer.id]).max(initial=0.0))
        vth = 0 if readout else int(math.floor(delta_threshold * top * s + 0.5))
        projs = [Projection(p.source, p.kind, m, p.kernel, p.stride, p.padding)
                 for p, m in zip(layer.projections, mants)]
        out.append(replace(layer, projections=projs, weight_exps=tuple(exps), bias_q=bias_q, vth=vth, state_exp=0,
                           scale=s))
        scale[layer.id] = s
    return q


def _weights(layer: SigmaDeltaLayer | SdnnReadoutLayer, scale: dict[str, float], first: float, bits: int,
             fmt: NumericFormat, q: Quantized) -> tuple[list[int], list[np.ndarray], float]:
    """Mantissas and Lava weight exponents of every projection into `layer` at scale first x 2**bits."""
    while True:
        s = first * 2.0 ** bits
        exps: list[int] = []
        mants: list[np.ndarray] = []
        too_high = 0
        errors = []
        for p in layer.projections:
            total = math.log2(s / scale[p.source])
            if abs(total - round(total)) > 1e-9:   # pragma: no cover - scales are 255 x powers of two
                raise OverflowReport(f"layer {layer.id}: sources of unrelated scales", None, f"layer {layer.id}")
            total = int(round(total))
            w = np.asarray(p.weight, dtype=np.float64)
            top = float(np.abs(w).max(initial=0.0))
            e = math.ceil(math.log2(top / fmt.weight_mant_max)) if top > 0 else 0
            if top > 0 and top / 2.0 ** e > fmt.weight_mant_max:    # log2 rounding at the boundary
                e += 1
            weight_exp = total + e
            if weight_exp < fmt.weight_exp_min:       # coarser mantissas keep the exponent in its register
                q.notes.append({"layer": layer.id, "variable": "weights", "message":
                                f"weights from {p.source} lose {fmt.weight_exp_min - weight_exp} bit(s): their "
                                f"exponent would be {weight_exp}, below the profile's {fmt.weight_exp_min}"})
                e += fmt.weight_exp_min - weight_exp
                weight_exp = fmt.weight_exp_min
            too_high = max(too_high, weight_exp - fmt.weight_exp_max)
            m = np.clip(np.floor(w / 2.0 ** e + 0.5), -fmt.weight_mant_max, fmt.weight_mant_max).astype(INT)
            exps.append(weight_exp)
            mants.append(m)
            errors.append(float(np.abs(m * 2.0 ** e - w).max(initial=0.0)) / top if top > 0 else 0.0)
        if too_high <= 0:
            q.weight_error[layer.id] = round(max(errors, default=0.0), 12)
            return exps, mants, s
        bits -= too_high       # an exponent above the register: a lower scale for the whole layer
        q.notes = [n for n in q.notes if n["layer"] != layer.id]
