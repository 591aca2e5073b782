"""Fixed-point quantization of a lowered TTFS network against a chip's numeric format.

Per TTFS layer n (own step Delta_n, sources' steps Delta_j):

* a weight in "own steps per source step" is a_ij = W_ij Delta_j / Delta_n; the state counts 1/r of an
  own step, where the ramp r = 2**rho is added once per step of the layer's window;
* the weight mantissa is m_ij = round(a_ij r / 2**s) with |m| <= 2**(weight_bits-1) - 1, and the shift
  s = exponent + input_shift is the smallest that fits the largest weight (full mantissa precision);
  rho starts at threshold_shift + RAMP_PRECISION_BITS (the bias in v_init is then rounded to 1/2**(rho+1)
  of a step) and moves only to keep s inside the exponent range, the threshold inside its register and,
  when calibration data asks for it (`scale_drop`), the state inside its bits; output channels whose largest
  mantissa would fit 2 or more bits finer get their own smaller shift (precision groups,
  `quantization.channel_groups`, docs/fixed_point.md section 11);
* the bias D_i is the membrane's initial value, v_init = round(r D_i / Delta_n) (so it is exact to half a
  state unit and may be negative); the neuron fires when v >= r (K + 1/2), one threshold per layer,
  stored as a register value t (multiple of 2**threshold_shift) with `v > t`; the difference is folded
  into v_init exactly.

The readout's logits are v * scale with v = sum m q << s + bias; the shift is chosen as large as the
bias register allows (finest scale). Anything that does not fit raises `OverflowReport` naming the layer
and the variable, unless `saturate=True`, which clips it and records that in the report.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import OverflowReport
from ...fixed_point import INT, NumericFormat, bias_representable
from ...quantization import QuantNote, QuantResult, channel_groups, group_note
from ...layers import Layer
from ...lost_weights import times, weight_loss
from ...projection import Projection
from .layers import ReadoutLayer, TtfsLayer

RAMP_PRECISION_BITS = 6


def _scaled_projection(p: Projection, delta_src: np.ndarray, factor: float) -> np.ndarray:
    """Real weights times the source step value, times `factor`, in the projection's own layout."""
    w = np.asarray(p.weight, dtype=np.float64)
    if p.kind == "dense":
        return w * delta_src.reshape(1, -1) * factor
    if p.kind == "conv2d":
        return w * delta_src.reshape(1, -1, 1, 1) * factor
    return w * delta_src * factor       # avgpool2d / identity: per channel


def _mantissas(scaled: list[np.ndarray], fmt: NumericFormat, rho_target: int, layer: str, scale_drop: int = 0
               ) -> tuple[int, int, list[np.ndarray]]:
    """Choose (shift, rho) and round the scaled weights (in own-step units, before the ramp) to mantissas.

    `scale_drop` bits are then taken off the state scale (ramp and weights alike) to make room for the
    state when calibration showed an overflow; below the smallest shift the mantissas shrink instead.
    """
    amax = max((float(np.max(np.abs(a))) if a.size else 0.0) for a in scaled)
    m_max = fmt.weight_mant_max
    rho = rho_target
    if amax == 0.0:
        shift = fmt.shift_min
    else:
        shift = math.ceil(math.log2(amax * 2.0 ** rho / m_max))
        if shift < fmt.shift_min:            # weights small next to the ramp: raise the ramp, keep precision
            rho += fmt.shift_min - shift
            shift = fmt.shift_min
        elif shift > fmt.shift_max:          # weights large next to the ramp: lower the ramp
            rho -= shift - fmt.shift_max
            shift = fmt.shift_max
    rho -= scale_drop
    shift = max(shift - scale_drop, fmt.shift_min)
    if rho < 0:
        raise OverflowReport(f"weights are {amax:.3g} own steps per input step; no ramp >= 1 keeps them within the "
                             f"weight exponent range [{fmt.weight_exp_min}, {fmt.weight_exp_max}] and the state within "
                             f"{fmt.state_bits} bits", None, f"layer {layer}: weight")
    mants = [np.clip(np.floor(a * 2.0 ** rho / 2.0 ** shift + 0.5), -m_max, m_max).astype(INT) for a in scaled]
    return shift, rho, mants


def _channel_shifts(scaled: list[np.ndarray], unit: float, shift: int, fmt: NumericFormat
                    ) -> list[np.ndarray | None]:
    """Per projection, the shift of each output channel (`quantization.channel_groups`), or None where every
    channel keeps the layer's `shift`. A channel's best shift is the smallest (down to the smallest the format
    allows) at which its largest mantissa, rounded as `_round_mantissas` rounds it, still fits."""
    m_max = fmt.weight_mant_max
    out: list[np.ndarray | None] = []
    for a in scaled:
        top = np.abs(a).reshape(a.shape[0], -1).max(axis=1) if a.size else np.zeros(0)
        best = np.full(top.shape, shift, dtype=np.int64)
        for finer in range(shift - 1, fmt.shift_min - 1, -1):
            best[(best == finer + 1) & (np.floor(top * unit / 2.0 ** finer + 0.5) <= m_max)] = finer
        shifts = channel_groups(best, top > 0, shift)
        out.append(None if np.all(shifts == shift) else shifts)
    return out


def _in_layout(values: np.ndarray, a: np.ndarray) -> np.ndarray:
    """A per-output-channel vector shaped to broadcast against weights of layout `a` (dense, conv2d, per channel)."""
    return np.asarray(values).reshape((-1,) + (1,) * (a.ndim - 1))


def _round_mantissas(scaled: list[np.ndarray], unit: float, shift: int, shifts: list[np.ndarray | None],
                     fmt: NumericFormat) -> list[np.ndarray]:
    """m = clip(round(a unit / 2**s)) per projection, s the layer's shift or each channel's (precision groups)."""
    m_max = fmt.weight_mant_max
    return [np.clip(np.floor(a * unit / (2.0 ** shift if g is None else 2.0 ** _in_layout(g, a)) + 0.5),
                    -m_max, m_max).astype(INT) for a, g in zip(scaled, shifts)]


def _with_groups(layer_id: str, projections: list[Projection], mants: list[np.ndarray],
                 shifts: list[np.ndarray | None], fmt: NumericFormat, notes: list[QuantNote]) -> list[Projection]:
    """The quantized projections, each with its precision groups (and a note recording them) where it has some."""
    out = [Projection(p.source, p.kind, m, p.kernel, p.stride, p.padding, p.delay_windows, channel_shift=g)
           for p, m, g in zip(projections, mants, shifts)]
    grouped = [(repr(p.source), g) for p, g in zip(projections, shifts) if g is not None]
    if grouped:
        notes.append(group_note(layer_id, grouped, fmt.input_shift))
    return out


def _refuse_vanishing_weights(layer: TtfsLayer | ReadoutLayer, scaled: list[np.ndarray], mants: list[np.ndarray],
                              fmt: NumericFormat, saturate: bool, notes: list[QuantNote], scale_drop: int) -> None:
    """Refuse a projection that loses (nearly) all its weights to rounding (`lost_weights`). In TTFS all
    projections of a layer share the mantissas' scale, set by the layer's largest weight: that weight dwarfs
    the others (in this projection or another), or calibration lowered the scale. With `saturate`, a note."""
    tops = [float(np.max(np.abs(a), initial=0.0)) for a in scaled]
    for p, real, m in zip(layer.projections, scaled, mants):
        loss = weight_loss(real, m)
        if loss is None:
            continue
        if loss.largest_kept:
            try:
                value: float | None = float(np.asarray(p.weight)[loss.largest_index])
            except IndexError:   # a layout the scaled weights do not share: show the scaled value
                value = None
            why = (f"{loss.outlier(value, ' as compiled, batch norm folded in')}, and {fmt.weight_bits}-bit mantissas "
                   f"scaled to it keep only weights above about 1/{2 * fmt.weight_mant_max} of it")
        elif scale_drop:
            why = f"the calibration data lowered the state scale by {scale_drop} bit(s), below the weights' precision"
        else:
            widest = layer.projections[int(np.argmax(tops))].source
            why = (f"the layer's largest weight, in the synapses from {widest!r}, is {times(max(tops), loss.largest)} "
                   f"times this projection's largest, and {fmt.weight_bits}-bit mantissas scaled to it keep only "
                   f"weights above about 1/{2 * fmt.weight_mant_max} of it")
        msg = f"{loss.counted()} in the synapses from {p.source!r}: {why}"
        if not saturate:
            raise OverflowReport(msg + "; check the weights, or pass --saturate to compile the layer anyway (a note "
                                 "records it)", None, f"layer {layer.id}: weight")
        notes.append(QuantNote(layer.id, "weight", "compiled anyway (--saturate): " + msg))


def quantize_ttfs(layer: TtfsLayer, deltas: dict[str, np.ndarray], window: float, steps: int,
                  fmt: NumericFormat, saturate: bool, notes: list[QuantNote], scale_drop: int = 0
                  ) -> tuple[TtfsLayer, float]:
    delta_own = window / steps
    scaled = [_scaled_projection(p, deltas[p.source], 1.0 / delta_own) for p in layer.projections]
    rho_target = fmt.threshold_shift + RAMP_PRECISION_BITS
    # a long window needs r (K + 1/2) below the threshold register: lower the ramp until it fits
    fits_register = max(0, math.ceil(math.log2((steps + 0.5) / max(1, fmt.threshold_max >> fmt.threshold_shift)))
                         + fmt.threshold_shift) if (1 << rho_target) * (steps + 0.5) > fmt.threshold_max else 0
    shift, rho, mants = _mantissas(scaled, fmt, rho_target, layer.id, scale_drop + fits_register)
    groups = _channel_shifts(scaled, 2.0 ** rho, shift, fmt)
    if any(g is not None for g in groups):
        mants = _round_mantissas(scaled, 2.0 ** rho, shift, groups, fmt)
    _refuse_vanishing_weights(layer, scaled, mants, fmt, saturate, notes, scale_drop)
    ramp = 1 << rho
    if not bias_representable(ramp, fmt):
        raise OverflowReport(f"ramp {ramp} does not fit the bias register ({fmt.bias_mant_bits}-bit mantissa, "
                             f"exponent <= {fmt.bias_exp_max})", None, f"layer {layer.id}: ramp")
    # Fire when the true membrane v >= L = ceil(r (K + 1/2)): the discrete-time rounding rule (module doc).
    # The register compares v > t with t a multiple of 2**threshold_shift; the difference L - 1 - t is
    # folded into the initial membrane together with the bias: v_init = round(r D / Delta) - (L - 1 - t).
    level = math.ceil(ramp * (steps + 0.5))
    unit = 1 << fmt.threshold_shift
    t = ((level - 1) // unit) * unit
    if t > fmt.threshold_max:
        raise OverflowReport(f"threshold {t} needs more than the {fmt.threshold_bits}-bit register ({fmt.threshold_max}); "
                             f"use fewer steps per window", None, f"layer {layer.id}: threshold")
    v_init = np.floor(ramp * np.asarray(layer.bias, dtype=np.float64) / delta_own + 0.5) - (level - 1 - t)
    bad = np.abs(v_init) > fmt.state_max
    if np.any(bad):
        worst = int(np.flatnonzero(bad)[0])
        msg = (f"bias {float(layer.bias[worst]):.4g} of channel {worst} is {abs(float(layer.bias[worst])) / delta_own:.4g} "
               f"steps of the window, more than the {fmt.state_bits}-bit membrane holds ({int(bad.sum())} of "
               f"{bad.size} channels)")
        if not saturate:
            raise OverflowReport(msg + "; pass --saturate to clip it", None, f"layer {layer.id}: bias")
        notes.append(QuantNote(layer.id, "bias", "saturated: " + msg))
        v_init = np.clip(v_init, -fmt.state_max, fmt.state_max)
    q = TtfsLayer(id=layer.id, shape=layer.shape, window=layer.window, nodes=layer.nodes,
                  projections=_with_groups(layer.id, layer.projections, mants, groups, fmt, notes),
                  bias=np.asarray(layer.bias, dtype=np.float64), shift=shift, ramp=ramp,
                  threshold=np.full(layer.channels, t, dtype=INT), v_init=v_init.astype(INT))
    return q, _relative_error(scaled, mants, ramp, shift, groups)


def quantize_readout(layer: ReadoutLayer, deltas: dict[str, np.ndarray], fmt: NumericFormat, saturate: bool,
                     notes: list[QuantNote], scale_drop: int = 0) -> tuple[ReadoutLayer, float]:
    scaled = [_scaled_projection(p, deltas[p.source], 1.0) for p in layer.projections]   # logit per source step
    amax = max((float(np.max(np.abs(a))) if a.size else 0.0) for a in scaled) or 1.0
    m_max = fmt.weight_mant_max
    bias = np.asarray(layer.bias, dtype=np.float64)
    bias_max = fmt.bias_mant_max << fmt.bias_exp_max
    # Finest scale first: the largest shift (up to the input shift) whose bias still fits the register.
    chosen = None
    top = max(fmt.shift_min, min(fmt.input_shift, fmt.shift_max) - scale_drop)
    for shift in range(top, fmt.shift_min - 1, -1):
        scale = amax / (m_max * 2.0 ** shift)
        if np.all(np.abs(bias / scale) <= bias_max):
            chosen = shift
            break
    if chosen is None:
        shift = fmt.shift_min
        scale = amax / (m_max * 2.0 ** shift)
        msg = (f"bias up to {np.max(np.abs(bias)):.4g} needs {np.max(np.abs(bias / scale)):.0f} state units, more than "
               f"the bias register's {bias_max}")
        if not saturate:
            raise OverflowReport(msg + "; pass --saturate to clip it", None, f"layer {layer.id}: bias")
        notes.append(QuantNote(layer.id, "bias", "saturated: " + msg))
        chosen = shift
    shift = chosen
    scale = amax / (m_max * 2.0 ** shift)
    mants = [np.clip(np.floor(a / (scale * 2.0 ** shift) + 0.5), -m_max, m_max).astype(INT) for a in scaled]
    groups = _channel_shifts(scaled, 1.0 / scale, shift, fmt)
    if any(g is not None for g in groups):
        mants = _round_mantissas(scaled, 1.0 / scale, shift, groups, fmt)
    _refuse_vanishing_weights(layer, scaled, mants, fmt, saturate, notes, scale_drop)
    bias_int = np.array([_to_bias_register(b / scale, fmt) for b in bias], dtype=INT)
    q = ReadoutLayer(id=layer.id, shape=layer.shape, window=layer.window, nodes=layer.nodes,
                     projections=_with_groups(layer.id, layer.projections, mants, groups, fmt, notes),
                     bias=bias_int, shift=shift, scale=scale)
    return q, _relative_error(scaled, mants, 1.0 / scale, shift, groups)


def _to_bias_register(value: float, fmt: NumericFormat) -> int:
    """Nearest value mantissa << exponent with the smallest exponent that fits (clipped at the maximum)."""
    for exp in range(fmt.bias_exp_max + 1):
        mant = math.floor(value / (1 << exp) + 0.5)
        if abs(mant) <= fmt.bias_mant_max:
            return mant << exp
    return int(math.copysign(fmt.bias_mant_max, value)) << fmt.bias_exp_max


def _relative_error(scaled: list[np.ndarray], mants: list[np.ndarray], unit: float, shift: int,
                    groups: list[np.ndarray | None]) -> float:
    amax = max((float(np.max(np.abs(a))) if a.size else 0.0) for a in scaled)
    if amax == 0:
        return 0.0
    err = max(float(np.max(np.abs(a - m * (2.0 ** shift if g is None else 2.0 ** _in_layout(g, a)) / unit)))
              if a.size else 0.0 for a, m, g in zip(scaled, mants, groups))
    return err / amax


def quantize(layers: list[Layer], deltas: dict[str, np.ndarray], windows: dict[str, float], steps: int,
             fmt: NumericFormat, saturate: bool = False, scale_drop: dict[str, int] | None = None) -> QuantResult:
    """Quantize every TTFS layer and the readout; `scale_drop[layer]` lowers a layer's state scale by bits."""
    drop = scale_drop or {}
    out: list[Layer] = []
    notes: list[QuantNote] = []
    errors: dict[str, float] = {}
    for layer in layers:
        if isinstance(layer, TtfsLayer):
            q, errors[layer.id] = quantize_ttfs(layer, deltas, windows[layer.id], steps, fmt, saturate, notes,
                                                drop.get(layer.id, 0))
            out.append(q)
        elif isinstance(layer, ReadoutLayer):
            q, errors[layer.id] = quantize_readout(layer, deltas, fmt, saturate, notes, drop.get(layer.id, 0))
            out.append(q)
        else:
            out.append(layer)
    return QuantResult(out, notes, errors)
