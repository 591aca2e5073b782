"""Fixed-point quantization of a lowered rate network against a chip's numeric format (docs/rate.md).

Per CUBA population, one state scale S (state units per real unit of current):

* the threshold is as large as the threshold register (with HEADROOM_BITS of the state to spare), the
  largest weight mantissa and any calibration-driven scale drop allow, then lowered (by less than 2x) so
  that the population's largest weight maps exactly onto the largest mantissa (a full-precision 8 bits); S = threshold / threshold_float exactly;
* weights: m = round(w S / 2**s), each projection with the smallest shift s (exponent + input shift) that
  keeps its |m| <= 2**(weight_bits-1) - 1 (full mantissa precision per projection, so a weak path next to
  a strong one loses nothing); graded input weights are per payload unit; the layer's shift is the
  smallest, and each projection's synapses shift by the difference (the weight exponent on a chip); output
  channels whose weights are 4x smaller or more get a smaller shift of their own (precision groups,
  `quantization.channel_groups`, docs/fixed_point.md section 11);
* bias: b S, rounded to mantissa << exponent of the bias register (exponent shared per population); with
  calibration data, minus the mean current the weight rounding adds (`bias_correction`, docs/fixed_point.md
  section 12), except where the bias would sit in the current u (tau_current);
* decays: du = round(4096 (1 - current_leak)), dv = round(4096 (1 - leak)); a decay 12 bits cannot hold
  exactly is reported as a note.

The OR neurons of a spike max-pool are exact: weights 1, threshold 0, du = dv = 4096. The membrane
readout gets the finest scale at which its worst case over the run fits the state; its logits are v / S. Anything that cannot be represented
raises `OverflowReport` naming the layer and the variable.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from ...errors import OverflowReport
from ...fixed_point import DECAY_UNITY, INT, RATE_INPUT_LEVELS, NumericFormat
from ...layers import Layer
from ...lost_weights import dominant_weight, times, weight_loss
from ...projection import expand_per_channel
from ...quantization import QuantNote, QuantResult, channel_groups, group_note
from .bias_correction import InputMeans, current_shift
from .layers import CubaLayer, RateInputLayer, RateProjection, RateReadoutLayer

#: How a weight in a message relates to the weights file: the lowering folds these into it.
FOLDED = " (batch norm and a LIF neuron's input gain 1/tau folded in)"
#: Bits of state left above the threshold before calibration data asks for more (or allows less).
HEADROOM_BITS = 3


def abs_max_weight(p: RateProjection) -> float:
    """Largest |weight| of a projection (any kind)."""
    if p.kind == "sparse":
        return float(abs(p.weight).max()) if p.weight.nnz else 0.0
    return float(np.max(np.abs(p.weight), initial=0.0))


def _quantize_projections(projections: list[RateProjection], scale: float, per_payload, fmt: NumericFormat,
                          layer: Layer, notes: list[QuantNote]) -> tuple[list[RateProjection], float]:
    """Each projection's mantissas at state scale `scale`, with the smallest shift that keeps its own largest
    weight within the mantissa range (its full precision), and output channels whose weights are smaller by a
    factor of 4 or more in precision groups with their own smaller shifts (`quantization.channel_groups`).
    Returns the projections and the worst relative weight error."""
    out, err = [], 0.0
    grouped: list[tuple[str, np.ndarray]] = []
    for p in projections:
        per = per_payload(p)
        tops = p.channel_abs_max(layer.shape)
        best = _smallest_shifts(tops * per * scale, fmt)
        shift = int(best.max(initial=fmt.shift_min))
        shifts = channel_groups(best, tops > 0, shift)
        if np.all(shifts == shift):               # one exponent for every channel: no groups
            factor = scale * per / 2 ** shift
            q = quantize_weight(p, factor)
            q.shift = shift
        else:
            factor = scale * per / 2.0 ** _channel_layout(p, shifts, layer.shape)
            q = quantize_weight(p, factor)
            q.shift, q.channel_shift = int(shifts.min()), shifts
            grouped.append((repr(p.source) + (f" (delay {p.delay})" if p.delay != 1 else ""), shifts))
        out.append(q)
        err = max(err, _weight_error(p, q, factor))
    if grouped:
        notes.append(group_note(layer.id, grouped, fmt.input_shift))
    return out, err


def _smallest_shifts(tops: np.ndarray, fmt: NumericFormat) -> np.ndarray:
    """Per channel, the smallest shift in the exponent range whose mantissa round(top / 2**s) fits (the largest
    shift when none does)."""
    shifts = np.full(np.shape(tops), fmt.shift_max, dtype=np.int64)
    open_ = np.ones(np.shape(tops), dtype=bool)
    for shift in range(fmt.shift_min, fmt.shift_max):
        fits = open_ & (np.rint(tops / 2 ** shift) <= fmt.weight_mant_max)
        shifts[fits] = shift
        open_ &= ~fits
    return shifts


def _channel_layout(p: RateProjection, values: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """A per-output-channel vector shaped to multiply the projection's weights element by element (one value per
    row of a sparse matrix, as a column)."""
    values = np.asarray(values, dtype=np.float64)
    if p.kind == "sparse":
        return expand_per_channel(values, out_shape).reshape(-1, 1)
    return values.reshape((-1,) + (1,) * (np.ndim(p.weight) - 1))


def quantize_weight(p: RateProjection, factor: float | np.ndarray) -> RateProjection:
    """Mantissas round(w * factor) in the projection's own layout (zeros dropped from sparse maps)."""
    if p.kind == "sparse":
        m = p.weight.astype(np.float64)
        m = (m.multiply(factor) if np.ndim(factor) else m * factor).tocsr()   # a factor per row: precision groups
        m.data = np.rint(m.data)
        m = m.astype(np.int64)
        m.eliminate_zeros()
        m.sort_indices()
        w = m
    else:
        w = np.rint(np.asarray(p.weight, dtype=np.float64) * factor).astype(INT)
    return replace(p, weight=w, shift=None)     # geometry and delays as they are


def _weight_error(p: RateProjection, q: RateProjection, factor: float | np.ndarray) -> float:
    if p.kind == "sparse":
        a, b = p.weight.toarray(), q.weight.toarray() / factor
    else:
        a, b = np.asarray(p.weight, dtype=np.float64), np.asarray(q.weight, dtype=np.float64) / factor
    top = float(np.max(np.abs(a), initial=0.0))
    return float(np.max(np.abs(a - b), initial=0.0)) / top if top else 0.0


def decay_register(keep: float, layer: str, variable: str, notes: list[QuantNote]) -> int:
    """The 12-bit decay register for keeping `keep` of a state per step; a note when 12 bits cannot hold it."""
    exact = DECAY_UNITY * (1.0 - keep)
    d = int(round(exact))
    if abs(exact - d) > 1e-9:
        notes.append(QuantNote(layer, variable, f"decay {1.0 - keep:.6g} per step is not a multiple of 1/4096: "
                                                f"{variable} = {d} (the chip keeps {1 - d / DECAY_UNITY:.6g} "
                                                f"of the state instead of {keep:.6g})"))
    return d


def require_bias_in_v(layer: CubaLayer) -> None:
    """A neuron with tau_current keeps its bias in the current u, but Loihi adds the bias to v: refuse it."""
    if layer.current_leak > 0 and np.any(layer.bias != 0):
        raise OverflowReport("a neuron with tau_current keeps its bias in the current u, but Loihi adds the "
                             "bias to v: it has no exact realisation; remove tau_current or the bias",
                             None, f"layer {layer.id}: bias")


def _bias_register(values: np.ndarray, fmt: NumericFormat, layer: str, saturate: bool, notes: list[QuantNote]
                   ) -> np.ndarray:
    """Round real state-unit biases to mantissa << exponent, with one exponent for the population."""
    top = float(np.max(np.abs(values), initial=0.0))
    for exp in range(fmt.bias_exp_max + 1):
        if top / (1 << exp) <= fmt.bias_mant_max + 0.5:
            mant = np.clip(np.rint(values / (1 << exp)), -fmt.bias_mant_max, fmt.bias_mant_max)
            return mant.astype(INT) << INT(exp)
    limit = fmt.bias_mant_max << fmt.bias_exp_max
    msg = f"bias {top:.0f} state units exceeds the bias register ({limit})"
    if not saturate:
        raise OverflowReport(msg + "; pass --saturate to clip it", None, f"layer {layer}: bias")
    notes.append(QuantNote(layer, "bias", "saturated: " + msg))
    return (np.clip(np.rint(values / (1 << fmt.bias_exp_max)), -fmt.bias_mant_max, fmt.bias_mant_max).astype(INT)
            << INT(fmt.bias_exp_max))


def _row_sum_max(p: RateProjection, by_id: dict[str, Layer]) -> float:
    """Largest sum of |w| into one neuron (real weights); the maximum does not depend on the output grid."""
    return float(np.max(p.abs_row_sum(by_id[p.source].shape, (1,)), initial=0.0))


def _payload_max(src: Layer) -> float:
    """Largest payload a source sends: 1 for spikes, 255 levels for the input."""
    return float(RATE_INPUT_LEVELS) if isinstance(src, RateInputLayer) else 1.0


def _refuse_vanishing_weights(layer: str, real: list[RateProjection], quantized: list[RateProjection], scale: float,
                              cause: str, bound: str, drop: int, fmt: NumericFormat, saturate: bool,
                              notes: list[QuantNote]) -> None:
    """Refuse a projection that loses nearly all its weights to rounding (`lost_weights`), naming why: one
    weight that dwarfs the others, or what set the state scale (`bound`, described by `cause`); with
    `saturate`, a note instead."""
    for p, q in zip(real, quantized):
        loss = weight_loss(p.weight, q.weight)
        if loss is None:
            continue
        if loss.largest_kept:
            variable = "weight"
            why = (f"{loss.outlier(folded=' as compiled')}, and {fmt.weight_bits}-bit mantissas scaled to it keep only "
                   f"weights above about {loss.largest / (2 * fmt.weight_mant_max):.3g}")
        else:
            variable = bound
            why = (cause + "; " if cause else "") + (f"the calibration data lowered the state scale by {drop} "
                                                     "bit(s); " if drop else "")
            smallest = 2.0 ** (fmt.shift_min - 1) / scale if scale > 0 else math.inf
            why += f"at that state scale a weight needs |w| >= {smallest:.3g} to keep a mantissa, and the largest is " \
                   f"{loss.largest:.4g}"
        msg = f"{loss.counted()} in the synapses from {p.source!r}: {why}"
        if not saturate:
            raise OverflowReport(msg + "; check the weights, threshold and tau, or pass --saturate to compile the "
                                 "layer anyway (a note records it)", None, f"layer {layer}: {variable}")
        notes.append(QuantNote(layer, variable, "compiled anyway (--saturate): " + msg))


def _outlier_hint(projections: list[RateProjection], fmt: NumericFormat) -> str:
    """`; <the weight at index [...] is N times ...>` when one weight dwarfs the others of its projection."""
    for p in projections:
        found = dominant_weight(p.weight, fmt.weight_bits)
        if found is not None:
            return f"; in the synapses from {p.source!r}, {found.outlier(folded=' as compiled')}: a damaged weight?"
    return ""


def _bias_cause(bmax: float, wmax: float, fmt: NumericFormat) -> str:
    """Why a layer's scale is bound by its bias (the reason given when its weights then round to 0)."""
    return (f"the largest |bias| {bmax:.4g} is {times(bmax, wmax)} times the largest |weight| {wmax:.4g}{FOLDED}, "
            f"and the bias register holds at most {fmt.bias_mant_max << fmt.bias_exp_max} state units")


def _state_bias(layer: CubaLayer | RateReadoutLayer, projs: list[RateProjection], scale: float, per_payload,
                input_means: InputMeans | None, fmt: NumericFormat) -> np.ndarray:
    """The layer's bias in state units (flat): b S, minus the mean current its weights' rounding adds on the
    calibration data (`input_means`; none: no correction). A bias kept in the current u (tau_current) stays
    as it is: Loihi adds the bias to v, so a layer with tau_current must keep a zero bias. The correction is a
    refinement: it never pushes a bias that fits the register past it (it is clipped to the register there)."""
    bias = np.asarray(layer.bias, dtype=np.float64).reshape(-1) * scale
    if input_means is None or layer.id not in input_means or getattr(layer, "current_leak", 0) > 0:
        return bias
    corrected = bias.copy()
    for p, q, mean in zip(layer.projections, projs, input_means[layer.id]):
        step = 2.0 ** (q.shift if q.channel_shift is None else _channel_layout(p, q.channel_shift, layer.shape))
        corrected = corrected - current_shift(p, q, scale * per_payload(p), step, mean)
    limit = float(fmt.bias_mant_max << fmt.bias_exp_max)
    return np.where(np.abs(bias) <= limit, np.clip(corrected, -limit, limit), corrected)


def quantize_rate(layers: list[Layer], fmt: NumericFormat, saturate: bool = False,
                  scale_drop: dict[str, int] | None = None, run_steps: int = 1,
                  input_means: InputMeans | None = None) -> QuantResult:
    """The quantized layers; `input_means` (mean arrivals per projection on calibration data,
    `bias_correction.mean_inputs`) turns on bias correction."""
    drops = scale_drop or {}
    by_id = {layer.id: layer for layer in layers}
    notes: list[QuantNote] = []
    errors: dict[str, float] = {}
    out: list[Layer] = []

    def per_payload(p: RateProjection) -> float:
        src = by_id[p.source]
        return src.scale if isinstance(src, RateInputLayer) else 1.0

    for layer in layers:
        if isinstance(layer, CubaLayer) and layer.role == "or_pool":
            projs = [quantize_weight(p, 1.0) for p in layer.projections]
            out.append(_copy(layer, projs, shift=fmt.shift_min, du=DECAY_UNITY, dv=DECAY_UNITY, threshold=0,
                             bias_q=np.zeros(layer.shape, dtype=INT), scale=1.0))
        elif isinstance(layer, CubaLayer):
            require_bias_in_v(layer)
            wmax = max((abs_max_weight(p) * per_payload(p) for p in layer.projections), default=0.0)
            theta = layer.threshold_float
            s_max = fmt.shift_max
            # the threshold leaves HEADROOM_BITS of the state free for v's excursions past it (and below zero)
            top = min(fmt.threshold_max, fmt.state_max >> HEADROOM_BITS)
            candidates: dict[str, float] = {}   # what limits the state scale -> the largest scale it allows
            if theta > 0:
                candidates["threshold"] = float(top) / theta
            if wmax > 0:
                candidates["weight"] = fmt.weight_mant_max * 2.0 ** s_max / wmax
            bmax = float(np.max(np.abs(layer.bias), initial=0.0))
            if bmax > 0:       # the bias register: mantissa << exponent
                candidates["bias"] = (fmt.bias_mant_max << fmt.bias_exp_max) / bmax
            bound = min(candidates, key=candidates.__getitem__) if candidates else None
            scale = candidates[bound] if bound is not None else 1.0
            scale /= 2.0 ** drops.get(layer.id, 0)
            # lower S (by less than 2x) so the largest weight gets exactly the largest mantissa; a product that
            # underflows to 0 means every weight rounds to 0 (reported with its cause below)
            if wmax > 0 and scale * wmax / fmt.weight_mant_max > 0:
                scale = fmt.weight_mant_max * 2.0 ** math.floor(math.log2(scale * wmax / fmt.weight_mant_max)) / wmax
            if theta > 0:
                mant = math.floor(theta * scale / 2 ** fmt.threshold_shift)
                if mant < 1 and drops.get(layer.id, 0):
                    mant = 1       # calibration asked for more range than the threshold register can give up
                if mant < 1 and bound == "bias":
                    limit = fmt.bias_mant_max << fmt.bias_exp_max
                    raise OverflowReport(f"bias up to {bmax:.4g} cannot be represented next to the threshold {theta}: "
                                         f"at a state scale that fits it in the bias register ({limit} state units) "
                                         f"the threshold rounds to 0 (register step {2 ** fmt.threshold_shift}); a "
                                         f"bias may be at most {limit / 2 ** fmt.threshold_shift:.4g} times the "
                                         "threshold", None, f"layer {layer.id}: bias")
                if mant < 1:
                    raise OverflowReport(f"threshold {theta} cannot be represented next to weights up to {wmax:.4g} "
                                         f"(threshold register step {2 ** fmt.threshold_shift})"
                                         + _outlier_hint(layer.projections, fmt), None, f"layer {layer.id}: threshold")
                threshold = mant << fmt.threshold_shift
                scale = threshold / theta
            else:
                threshold = 0
            projs, err = _quantize_projections(layer.projections, scale, per_payload, fmt, layer, notes)
            causes = {"threshold": f"the threshold {theta:.4g} is {times(theta, wmax)} times the largest |weight| "
                                   f"{wmax:.4g}{FOLDED}, and the threshold register holds at most {top} state units",
                      "bias": _bias_cause(bmax, wmax, fmt)}
            _refuse_vanishing_weights(layer.id, layer.projections, projs, scale, causes.get(bound or "", ""),
                                      bound or "weight", drops.get(layer.id, 0), fmt, saturate, notes)
            shift = min((q.shift for q in projs), default=fmt.shift_min)
            errors[layer.id] = err
            bias_q = _bias_register(_state_bias(layer, projs, scale, per_payload, input_means, fmt), fmt, layer.id,
                                    saturate, notes)
            out.append(_copy(layer, projs, shift=shift, du=decay_register(layer.current_leak, layer.id, "du", notes),
                             dv=decay_register(layer.leak, layer.id, "dv", notes), threshold=int(threshold),
                             bias_q=bias_q.reshape(layer.shape), scale=scale))
        elif isinstance(layer, RateReadoutLayer) and layer.mode == "membrane":
            # the finest scale at which even the worst case (every source active at every step) fits the state
            wmax = max((abs_max_weight(p) * per_payload(p) for p in layer.projections), default=0.0)
            worst = run_steps * (max((_row_sum_max(p, by_id) * per_payload(p) * _payload_max(by_id[p.source])
                                      for p in layer.projections), default=0.0)
                                 + float(np.max(np.abs(layer.bias), initial=0.0)))
            candidates = {"v": fmt.state_max / worst} if worst > 0 else {}
            if wmax > 0:
                candidates["weight"] = fmt.weight_mant_max * 2.0 ** fmt.shift_max / wmax
            bmax = float(np.max(np.abs(layer.bias), initial=0.0))
            if bmax > 0:
                candidates["bias"] = (fmt.bias_mant_max << fmt.bias_exp_max) / bmax
            bound = min(candidates, key=candidates.__getitem__) if candidates else None
            scale = (candidates[bound] if bound is not None else 1.0) / 2.0 ** drops.get(layer.id, 0)
            projs, err = _quantize_projections(layer.projections, scale, per_payload, fmt, layer, notes)
            causes = {"v": f"the readout's worst case (every source active at each of {run_steps} steps: {worst:.4g}) "
                           f"must fit the {fmt.state_bits}-bit state",
                      "bias": _bias_cause(bmax, wmax, fmt)}
            _refuse_vanishing_weights(layer.id, layer.projections, projs, scale, causes.get(bound or "", ""),
                                      bound or "weight", drops.get(layer.id, 0), fmt, saturate, notes)
            shift = min((q.shift for q in projs), default=fmt.shift_min)
            errors[layer.id] = err
            bias = _bias_register(_state_bias(layer, projs, scale, per_payload, input_means, fmt), fmt, layer.id,
                                  saturate, notes)
            out.append(RateReadoutLayer(id=layer.id, shape=layer.shape, window=0, nodes=layer.nodes, mode="membrane",
                                        projections=projs, bias=bias, shift=shift, scale=1.0 / scale))
        else:
            out.append(layer)
    return QuantResult(layers=out, notes=notes, weight_error=errors)


def _copy(layer: CubaLayer, projs: list[RateProjection], **ints) -> CubaLayer:
    return CubaLayer(id=layer.id, shape=layer.shape, window=0, nodes=layer.nodes, projections=projs, bias=layer.bias,
                     threshold_float=layer.threshold_float, leak=layer.leak, current_leak=layer.current_leak,
                     reset=layer.reset, role=layer.role, **ints)


__all__ = ["quantize_rate"]
