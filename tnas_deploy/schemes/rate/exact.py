"""Compiling a rate genome whose numbers already are a chip's integers (an imported lava-dl netx file), without
quantizing it again (docs/interop.md, "netx"; docs/genome.md, `chip_integers`).

The genome's `chip_integers.state_scales` gives, for every population and the membrane readout, its state scale
S: state units per genome unit. At that scale every number must land on an integer the target profile's
registers hold, exactly as the genome was written:

* each synapse adds `w x S x payload unit` state units per spike (or per input level): an integer c, stored as a
  weight mantissa `c >> s` with one shift s per projection (exponent + input shift), the smallest whose
  mantissas fit `weight_bits`, and every c a multiple of `2**s`;
* the threshold `theta x S` is a multiple of the threshold register's step and fits its bits;
* the biases `b x S` are integers that one bias exponent per population writes as mantissa << exponent;
* the decays 4096 (1 - leak) are integers (no rounding of 1/tau);
* the membrane readout's logit scale is 1 / S.

Whatever does not fit is refused naming the layer and the field (an `OverflowReport`): the chip would compute
something else. The compile then measures headroom as for any rate network; a state scale cannot be lowered
here, so calibration data that overflows fails the compile (or is clipped with --saturate).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ...errors import DeployError, OverflowReport
from ...fixed_point import DECAY_UNITY, INT, NumericFormat
from ...layers import Layer
from ...quantization import EXACT_NOTE, INTEGER_TOLERANCE, QuantNote, QuantResult, exact_integers
from .layers import CubaLayer, RateInputLayer, RateProjection, RateReadoutLayer


def _weight_mantissas(p: RateProjection, layer: str, factor: float, fmt: NumericFormat) -> RateProjection:
    """The projection's synapses as mantissas << one shift (see the module documentation)."""
    dense = p.weight.toarray() if p.kind == "sparse" else np.asarray(p.weight, dtype=np.float64)
    contributions = exact_integers(dense * factor, "a synapse's contribution", layer, "weight")
    nonzero = np.abs(contributions[contributions != 0])
    # the largest shift that divides every contribution: mantissas in their reduced form, the smallest any shift
    # gives (netx's stored integers when some are odd: shift 6, weight exponent 0)
    common = int(np.min(_trailing_zeros(nonzero))) if nonzero.size else fmt.shift_min
    shift = min(max(common, fmt.shift_min), fmt.shift_max)
    top = int(np.max(nonzero, initial=0))
    if common < shift or top >> shift > fmt.weight_mant_max:
        odd = tuple(int(i) for i in np.argwhere(contributions % (1 << max(common, 0) + 1) != 0)[0]) \
            if nonzero.size else ()
        raise OverflowReport(
            f"the weights from {p.source!r} need more than {fmt.weight_bits}-bit mantissas with one exponent: the "
            f"largest adds {top} state units per spike, the one at index {list(odd)} adds "
            f"{int(contributions[odd]) if odd else 0} (a multiple of 2**{common} only), and this profile's mantissas "
            f"hold at most {fmt.weight_mant_max} << {shift}; it cannot run these integers exactly (remove "
            "chip_integers from the genome to quantize it for this profile)", None, f"layer {layer}: weight")
    mantissas = contributions >> INT(shift)
    if p.kind == "sparse":
        from scipy import sparse
        weight = sparse.csr_matrix(mantissas)
        weight.eliminate_zeros()
        weight.sort_indices()
    else:
        weight = mantissas.reshape(np.shape(p.weight))
    return replace(p, weight=weight, shift=shift)      # geometry and delays as lowered


def _trailing_zeros(values: np.ndarray) -> np.ndarray:
    """Trailing zero bits of positive integers."""
    return np.log2(values & -values).astype(INT)


def _bias(values: np.ndarray, layer: str, fmt: NumericFormat) -> np.ndarray:
    """Integer biases (state units) that one exponent per population writes as mantissa << exponent."""
    b = exact_integers(values, "the bias", layer, "bias")
    top = int(np.max(np.abs(b), initial=0))
    exp = 0
    while exp < fmt.bias_exp_max and top >> exp > fmt.bias_mant_max:
        exp += 1
    if top >> exp > fmt.bias_mant_max or np.any(b % (1 << exp)):
        raise OverflowReport(f"biases up to {top} state units do not fit the bias register ({fmt.bias_mant_bits}-bit "
                             f"mantissas << one exponent 0..{fmt.bias_exp_max} per population)", None,
                             f"layer {layer}: bias")
    return b


def _decay(keep: float, layer: str, variable: str) -> int:
    exact = DECAY_UNITY * (1.0 - keep)
    d = int(round(exact))
    if abs(exact - d) > INTEGER_TOLERANCE * DECAY_UNITY or not 0 <= d <= DECAY_UNITY:
        raise OverflowReport(f"a decay of {1.0 - keep:.9g} per step is not a multiple of 1/4096; the chip's 12-bit "
                             "decay register would round it", None, f"layer {layer}: {variable}")
    return d


def exact_rate(layers: list[Layer], fmt: NumericFormat, scales: dict[str, float], where: object = None,
               scale_drop: dict[str, int] | None = None) -> QuantResult:
    """The integer layers the genome's chip integers give (module documentation); `scales` is
    `chip_integers.state_scales`. Raises OverflowReport naming the layer and field of what does not fit, and
    DeployError for a population without a scale. `scale_drop` (the headroom rounds asking for a lower state
    scale) cannot be granted: the scales are fixed, so it raises OverflowReport (the compile then reports the
    overflow, or clips it with --saturate)."""
    if scale_drop:
        layer = next(iter(scale_drop))
        raise OverflowReport("the genome's chip integers fix every state scale; it cannot be lowered", None,
                             f"layer {layer}: scale")
    by_id = {layer.id: layer for layer in layers}

    def per_payload(p: RateProjection) -> float:
        src = by_id[p.source]
        return src.scale if isinstance(src, RateInputLayer) else 1.0

    def scale_of(layer: Layer) -> float:
        for key in (layer.id, *layer.nodes):
            if key in scales:
                return float(scales[key])
        raise DeployError(f"no state scale for layer {layer.id!r} (genome nodes {list(layer.nodes)}); an exact "
                          "genome gives one for every population and the membrane readout", where,
                          "chip_integers.state_scales")

    mantissas: Callable[[Layer, float], list[RateProjection]] = lambda layer, s: [
        _weight_mantissas(p, layer.id, s * per_payload(p), fmt) for p in layer.projections]
    out: list[Layer] = []
    for layer in layers:
        if isinstance(layer, CubaLayer) and layer.role == "or_pool":      # scale-free: weights 1, threshold 0
            projs = [replace(p, weight=np.rint(np.asarray(p.weight, dtype=np.float64)).astype(INT))
                     for p in layer.projections]
            out.append(_cuba(layer, projs, shift=fmt.shift_min, du=DECAY_UNITY, dv=DECAY_UNITY, threshold=0,
                             bias_q=np.zeros(layer.shape, dtype=INT), scale=1.0))
        elif isinstance(layer, CubaLayer):
            s = scale_of(layer)
            projs = mantissas(layer, s)
            threshold = int(exact_integers(np.array([layer.threshold_float * s]), "the threshold", layer.id, "threshold")[0])
            step = 1 << fmt.threshold_shift
            if threshold % step or threshold > fmt.threshold_max:
                raise OverflowReport(f"threshold {threshold} state units is not a multiple of {step} up to "
                                     f"{fmt.threshold_max} (the threshold register)", None,
                                     f"layer {layer.id}: threshold")
            bias = _bias(np.asarray(layer.bias, dtype=np.float64) * s, layer.id, fmt)
            out.append(_cuba(layer, projs, shift=min(q.shift for q in projs) if projs else fmt.shift_min,
                             du=_decay(layer.current_leak, layer.id, "du"),
                             dv=_decay(layer.leak, layer.id, "dv"), threshold=threshold,
                             bias_q=bias.reshape(layer.shape), scale=s))
        elif isinstance(layer, RateReadoutLayer) and layer.mode == "membrane":
            s = scale_of(layer)
            projs = mantissas(layer, s)
            out.append(RateReadoutLayer(id=layer.id, shape=layer.shape, window=0, nodes=layer.nodes, mode="membrane",
                                        projections=projs, bias=_bias(np.asarray(layer.bias) * s, layer.id, fmt),
                                        shift=min((q.shift for q in projs), default=fmt.shift_min), scale=1.0 / s))
        else:
            out.append(layer)
    return QuantResult(layers=out, notes=[QuantNote("*", "weights", EXACT_NOTE)],
                       weight_error={layer.id: 0.0 for layer in out if isinstance(layer, (CubaLayer, RateReadoutLayer))
                                     and layer.projections})


def _cuba(layer: CubaLayer, projs: list[RateProjection], **ints) -> CubaLayer:
    return CubaLayer(id=layer.id, shape=layer.shape, window=0, nodes=layer.nodes, projections=projs, bias=layer.bias,
                     threshold_float=layer.threshold_float, leak=layer.leak, current_leak=layer.current_leak,
                     reset=layer.reset, role=layer.role, **ints)


__all__ = ["EXACT_NOTE", "exact_rate"]
