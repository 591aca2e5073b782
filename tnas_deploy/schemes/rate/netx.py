"""lava-dl netx (HDF5 `.net`) export of rate-coded networks (docs/interop.md, "netx"); import is in
`netx_import.py`.

netx 0.6.0 (`lava.lib.dl.netx.hdf5.Network`) builds every `layer/<i>` of a file as one Lava block: a
synapse from the previous layer (Dense or Conv) and a population of Lava's stock LIF neurons (neuron type
CUBA), in a chain. Read against tnas-deploy's `fixed_point.cuba_step` (lava-nc 0.10.0 and lava-dl 0.6.0
sources, checked by tests/test_netx.py on Lava's fixed_pt simulator):

* a Dense or Conv synapse delivers a spike one step later (tnas-deploy's one step per hop); the LIF adds
  `a_in << 6` to u. netx has no weight exponent (it reads `wgtExp` and ignores it): a stored integer weight
  W adds `W << 6` per spike. Dense weights pass netx's `optimize_weight_bits` and Lava's clip/truncate
  rules, which keep W exactly for |W| <= 254 in all but a few corner cases (`dense_effect` mirrors them and
  the exporter refuses what they would change); Conv weights are used as stored.
* netx fixes the bias exponent at 6 (`bias_mant << 6`, 13-bit mantissa) and compares `v > vThMant << 6`.
* netx maps iDecay to `du = iDecay - 1` and Lava decays u with `du + 1`, so iDecay is tnas-deploy's du;
  vDecay is dv. Both round the decay as `sign(x) (|x| (4096 - d) >> 12)`, as `fixed_point.decay`.
* Lava clips v to +-(2**23 - 1) as tnas-deploy saturates it, resets v to 0 on a spike and keeps u; but it
  wraps u at 24 bits where tnas-deploy saturates: identical while |u| <= 2**23 - 1 (the headroom check).

So a compiled rate network is expressible when its populations form a chain, each fed by one delay-1
projection (dense, conv2d, or an average/OR pool or per-channel scale as a grouped conv) of the previous
one, its weights are `W << 6` with 8-bit W, its biases `b << 6`, and its resets are to zero. tnas-deploy's
compile for Loihi 2 uses weight exponents up to 7 (weights up to `127 << 13`) and bias exponents 0..7, which
netx cannot store, so `compile_for_netx` quantizes a genome under netx's constraints instead: per
population the largest |weight| becomes exactly 254 (or the threshold register's headroom limit binds),
the threshold and biases are rounded to it. The exported file then reproduces that network bit for bit.

Input: the file's layer 0 is an `input` layer with a shape and no neuron, so the first block receives
the graded 8-bit input (`round(255 x)` per pixel, or event counts) directly; build it with
`Network(path, input_message_bits=8)` and send the payload of step t at Lava step t + 1. A membrane readout
becomes a last layer of accumulating neurons (iDecay 4096, vDecay 0, vThMant 2**17 - 1): their v after the
run is the readout value.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ... import __version__
from ...compiled import CompiledNetwork
from ...compilation import network_identity
from ...errors import DeployError, OverflowReport
from ...fixed_point import DECAY_UNITY, INT, RATE_INPUT_LEVELS, NumericFormat
from ...io_utils import hdf5_image, write_bytes_atomic
from ...layers import Layer
from ..ttfs.scheme import NETX_CANNOT_TTFS
from .layers import CubaLayer, RateInputLayer, RateProjection, RateReadoutLayer, run_length
from ...quantization import QuantNote
from ...regression import regression_outputs
from .quantize import abs_max_weight, decay_register, quantize_weight, require_bias_in_v

#: Lava's LIF left-shifts synaptic input, bias (netx: bias_exp = 6) and threshold by this.
ACT_SHIFT = 6
#: Largest |stored weight| the exporter writes (netx clips mixed-sign weights above 254).
WEIGHT_MAX = 254
VTH_MAX = 2 ** 17 - 1
BIAS_MANT_MAX = 2 ** 12 - 1
STATE_MAX = 2 ** 23 - 1
#: Bits of the graded input payload: build the network with `Network(path, input_message_bits=8)`.
INPUT_MESSAGE_BITS = 8
#: The accumulating neurons of a membrane readout: u = this step's input, v sums it, never spikes in range.
READOUT_NEURON = {"iDecay": DECAY_UNITY, "vDecay": 0, "vThMant": VTH_MAX}
#: Top-level dataset of the file with tnas-deploy's description (netx reads only `layer`).
METADATA_KEY = "tnas_deploy"
METADATA_VERSION = 1


# -- netx's and Lava's weight pipeline --------------------------------------------------------------

def dense_effect(weight: np.ndarray) -> tuple[np.ndarray | None, str]:
    """What netx 0.6.0 and Lava's fixed-point Dense make of a stored dense weight matrix.

    Mirrors `lava.lib.dl.netx.utils.optimize_weight_bits` (scale bits, weight bits, exponent), then
    `lava.utils.weightutils.clip_weights` / `truncate_weights` and `PyDenseModelBitAcc` (sign mode from the
    shifted weights, `a_out = (W' s) >> -weight_exp`). Returns (per-spike contribution per synapse, "") when
    the pipeline is lossless, i.e. a spike pattern s yields exactly `weight @ s`; otherwise (None, reason).
    """
    w = np.asarray(weight).astype(int)
    if w.size == 0:
        return None, "the weight matrix is empty"
    max_w, min_w = int(w.max()), int(w.min())
    if (max_w > 254 and min_w < 0) or (min_w < -256 and max_w > 0):
        return None, f"weights from {min_w} to {max_w}: netx clips mixed-sign weights to [-256, 254]"
    if max_w < 0:
        signed, mode = 0, "inhibitory"
    elif min_w >= 0:
        signed, mode = 0, "excitatory"
    else:
        signed, mode = 1, "mixed"
    with np.errstate(divide="ignore"):
        if mode == "mixed":
            scale = min(127 / max_w if max_w else math.inf, -128 / min_w)
        elif mode == "inhibitory":
            scale = -256 / min_w
        else:
            scale = 255 / max_w if max_w else math.inf
    if not math.isfinite(scale):
        return None, "all weights are zero: netx's optimize_weight_bits fails on them (division by zero)"
    scale_bits = int(math.floor(math.log2(scale))) + signed
    n = 8
    while n > 0 and np.sum(np.abs(w / 2 ** n - np.round(w / 2 ** n))) != 0:
        n -= 1
    n -= signed
    num_weight_bits = 8 - scale_bits - n
    if scale_bits < 0:
        return None, f"weights up to {max(abs(min_w), max_w)} exceed netx's 8-bit weights (a negative shift zeroes them)"
    w1 = np.left_shift(w.astype(np.int32), scale_bits)
    # Lava's Dense: sign mode of the shifted weights, clip to 8 bits, drop low bits, shift the sum back
    lava_mode = "excitatory" if w1.min() >= 0 else "inhibitory" if w1.max() <= 0 else "mixed"
    mixed = int(lava_mode == "mixed")
    w2 = -w1 if lava_mode == "inhibitory" else w1.copy()
    w2 = np.clip(w2, -2 ** 8 * mixed, 2 ** 8 - 1)
    drop = 8 - num_weight_bits + mixed
    w2 = (w2 >> drop) << drop if drop >= 0 else np.zeros_like(w2)
    if lava_mode == "inhibitory":
        w2 = -w2
    if not np.array_equal(w2, w1):
        bad = np.argwhere(w2 != w1)[0]
        return None, (f"netx's optimize_weight_bits and Lava's Dense turn weight {int(w[tuple(bad)])} at {bad.tolist()} "
                      f"into {int(w2[tuple(bad)])} / 2**{scale_bits} (sign mode {mode} in netx, {lava_mode} in Lava)")
    return w, ""


# -- quantizing a genome under netx's constraints -----------------------------------------------------

def lava_format(fmt: NumericFormat, where: Any = None) -> NumericFormat:
    """The numeric format of an artifact quantized for netx: Loihi 2's, with weights `W << 6` (|W| <= 254)."""
    wanted = {"input_shift": ACT_SHIFT, "state_bits": 24, "threshold_shift": ACT_SHIFT, "threshold_bits": 17,
              "bias_mant_bits": 13, "bias_exp_max": 7}
    for key, value in wanted.items():
        if getattr(fmt, key) != value:
            raise DeployError(f"netx targets Loihi through Lava's LIF (24-bit state, input shift 6, 17-bit threshold "
                              f"<< 6, 13-bit bias); this profile's {key} is {getattr(fmt, key)}, not {value}",
                              where, f"format.{key}")
    return replace(fmt, weight_bits=9, weight_exp_min=0, weight_exp_max=0)


def _state_top(fmt: NumericFormat) -> int:
    """Largest threshold mantissa the quantizer uses (the rate quantizer's headroom rule)."""
    from .quantize import HEADROOM_BITS
    return min(fmt.threshold_max, fmt.state_max >> HEADROOM_BITS) >> ACT_SHIFT


def _decay(keep: float, layer: str, variable: str, notes: list[dict]) -> int:
    found: list[QuantNote] = []
    d = decay_register(keep, layer, variable, found)      # the same 12-bit rounding and note as any compile
    notes.extend(n.to_json() for n in found)
    return d


def _bias_mantissas(values: np.ndarray, layer: str) -> np.ndarray:
    mant = np.rint(np.asarray(values, dtype=np.float64) / (1 << ACT_SHIFT)).astype(INT)
    top = int(np.max(np.abs(mant), initial=0))
    if top > BIAS_MANT_MAX:
        raise OverflowReport(f"bias of {top} << 6 state units exceeds netx's bias register (a 13-bit mantissa, "
                             f"exponent fixed at 6: at most {BIAS_MANT_MAX} << 6) next to 8-bit weights",
                             None, f"layer {layer}: bias")
    return mant << INT(ACT_SHIFT)


def quantize_for_netx(layers: list[Layer], fmt: NumericFormat) -> tuple[list[Layer], list[dict], dict[str, float]]:
    """Integer layers that netx can store exactly (module documentation); raises OverflowReport naming the layer."""
    by_id = {layer.id: layer for layer in layers}
    top = _state_top(fmt)
    out: list[Layer] = []
    notes: list[dict] = []
    errors: dict[str, float] = {}

    def per_payload(p: RateProjection) -> float:
        src = by_id[p.source]
        return src.scale if isinstance(src, RateInputLayer) else 1.0

    def scaled(layer, scale: float) -> list[RateProjection]:
        projs = []
        for p in layer.projections:
            factor = scale * per_payload(p) / (1 << ACT_SHIFT)
            q = quantize_weight(p, factor)
            projs.append(q)
            a = p.weight.toarray() if p.kind == "sparse" else np.asarray(p.weight, np.float64)
            b = (q.weight.toarray() if q.kind == "sparse" else np.asarray(q.weight, np.float64)) / factor
            big = float(np.max(np.abs(a), initial=0.0))
            errors[layer.id] = max(errors.get(layer.id, 0.0),
                                   float(np.max(np.abs(a - b), initial=0.0)) / big if big else 0.0)
        return projs

    for layer in layers:
        if isinstance(layer, CubaLayer) and layer.role == "or_pool":
            projs = [quantize_weight(p, 1.0) for p in layer.projections]
            out.append(_cuba(layer, projs, du=DECAY_UNITY, dv=DECAY_UNITY, threshold=0,
                             bias_q=np.zeros(layer.shape, dtype=INT), scale=float(1 << ACT_SHIFT)))
        elif isinstance(layer, CubaLayer):
            require_bias_in_v(layer)
            wmax = max((abs_max_weight(p) * per_payload(p) for p in layer.projections), default=0.0)
            theta = layer.threshold_float
            scale = _scale(wmax, float(np.max(np.abs(layer.bias), initial=0.0)), top * (1 << ACT_SHIFT) / theta)
            vth = min(top, int(round(theta * scale / (1 << ACT_SHIFT))))
            if vth < 1:
                raise OverflowReport(f"threshold {theta} is below 1/{2 * WEIGHT_MAX} of the largest weight "
                                     f"({wmax:.4g}): netx's 8-bit weights and threshold register (vThMant << 6) cannot "
                                     "hold both", None, f"layer {layer.id}: threshold")
            projs = scaled(layer, scale)
            bias_q = _bias_mantissas(np.asarray(layer.bias, dtype=np.float64) * scale, layer.id)
            out.append(_cuba(layer, projs, du=_decay(layer.current_leak, layer.id, "du", notes),
                             dv=_decay(layer.leak, layer.id, "dv", notes), threshold=vth << ACT_SHIFT,
                             bias_q=bias_q.reshape(layer.shape), scale=scale))
        elif isinstance(layer, RateReadoutLayer) and layer.mode == "membrane":
            wmax = max((abs_max_weight(p) * per_payload(p) for p in layer.projections), default=0.0)
            scale = _scale(wmax, float(np.max(np.abs(layer.bias), initial=0.0)), math.inf)
            scale = float(1 << ACT_SHIFT) if math.isinf(scale) else scale
            projs = scaled(layer, scale)
            bias = _bias_mantissas(np.asarray(layer.bias, dtype=np.float64) * scale, layer.id)
            out.append(RateReadoutLayer(id=layer.id, shape=layer.shape, window=0, nodes=layer.nodes, mode="membrane",
                                        projections=projs, bias=bias, shift=ACT_SHIFT, scale=1.0 / scale,
                                        tau=layer.tau))
        else:
            out.append(layer)
    return out, notes, errors


def _scale(wmax: float, bmax: float, threshold_bound: float) -> float:
    """State units per real unit: the largest that keeps |W| <= 254, |bias mantissa| <= 4095 and the threshold
    within the register's headroom. Whichever binds lands exactly on its limit, so quantizing the imported
    genome of an exported file again gives the same integers."""
    candidates = [threshold_bound]
    if wmax > 0:
        candidates.append(WEIGHT_MAX * (1 << ACT_SHIFT) / wmax)
    if bmax > 0:
        candidates.append(BIAS_MANT_MAX * (1 << ACT_SHIFT) / bmax)
    return min(candidates)


def _cuba(layer: CubaLayer, projs: list[RateProjection], **ints: Any) -> CubaLayer:
    return CubaLayer(id=layer.id, shape=layer.shape, window=0, nodes=layer.nodes, projections=projs, bias=layer.bias,
                     threshold_float=layer.threshold_float, leak=layer.leak, current_leak=layer.current_leak,
                     reset=layer.reset, role=layer.role, shift=ACT_SHIFT, **ints)


def compile_for_netx(inputs, steps: int | None = None, progress: bool = False,
                     analog_maxpool: str = "refuse") -> CompiledNetwork:
    """Compile a rate genome (`compiler.CompileInputs`) for Loihi 2 under netx's constraints; the result
    passes `netx_blocks` and runs like any artifact (reference simulator, `tnas-deploy run`)."""
    from .compile import measure_rate_headroom
    from .lowering import lower_rate

    genome = inputs.genome
    if genome.coding != "rate":
        raise DeployError(NETX_CANNOT_TTFS, genome.source, "coding")
    T = steps if steps is not None else genome.steps
    if not (1 <= T <= 65536):
        raise DeployError("time steps must be between 1 and 65536", None, "--steps")
    fmt = lava_format(inputs.profile.require_format(), inputs.profile.path)
    layers, lower_notes = lower_rate(genome, inputs.weights, analog_maxpool)
    options = {"saturate": False, "steps": T, "analog_maxpool": analog_maxpool, "quantized_for": "netx"}
    try:
        if genome.chip_integers is not None:     # an imported netx file: its own integers, not quantized again
            from .exact import exact_rate
            exact = exact_rate(layers, fmt, genome.chip_integers["state_scales"], genome.source)
            q_layers, notes, errors = exact.layers, [n.to_json() for n in exact.notes], exact.weight_error
            options["chip_integers"] = True
        else:
            q_layers, notes, errors = quantize_for_netx(layers, fmt)
            notes.append({"layer": "*", "variable": "weights",
                          "message": "quantized for netx: weights W << 6 with |W| <= 254, biases b << 6"})
    except OverflowReport as exc:
        raise OverflowReport(exc.message, genome.source, exc.field) from None
    net = CompiledNetwork(
        steps=T, layers=q_layers, fmt=fmt, windows={}, window_method="none (rate coding)", options=options,
        notes=lower_notes + notes,
        quantization_error={k: round(v, 12) for k, v in errors.items()},
        coding="rate", run_steps=run_length(q_layers, T), **network_identity(inputs))
    headroom, overflows = measure_rate_headroom(net, inputs.calibration, progress)
    for layer_id, (var, peak) in overflows.items():
        raise OverflowReport(f"calibration data drives |{var}| to {peak}, beyond the 24-bit state limit "
                             f"{STATE_MAX}; netx (Lava wraps u) cannot run it exactly", genome.source,
                             f"layer {layer_id}: {var}")
    net.headroom = headroom
    try:
        netx_blocks(net)           # refuses, naming the layer, what netx cannot express
    except DeployError as exc:
        raise DeployError(exc.message, genome.source, exc.field) from None
    return net


# -- the file's layers ----------------------------------------------------------------------------

@dataclass
class NetxBlock:
    """One `layer/<i>` of a netx file."""

    kind: str                                   # "input" | "flatten" | "dense" | "conv"
    shape: tuple[int, ...]                      # (C, H, W) or (N,): netx stores it so and reverses it
    layer_id: str | None = None                 # the tnas-deploy layer it realises (dense and conv blocks)
    weight: np.ndarray | None = None            # dense (O, I); conv (O, I / groups, kh, kw)
    bias: np.ndarray | None = None              # mantissas (<< 6 in Lava): per channel (C,) or per neuron
    neuron: dict[str, int] | None = None        # iDecay, vDecay, vThMant
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1


@dataclass
class NetxPlan:
    blocks: list[NetxBlock]
    conditions: list[str] = field(default_factory=list)   # when the export is exact only for some inputs
    readout: str = "spike_count"                            # or "membrane": the last block accumulates


def _refuse(layer: str, what: str, message: str) -> DeployError:
    return DeployError(f"netx cannot express this: {message}", None, f"layer {layer}: {what}")


def _stored_weights(layer_id: str, mant: np.ndarray, shift: int) -> np.ndarray:
    m = np.asarray(mant, dtype=INT)
    if shift >= ACT_SHIFT:
        w = m << INT(shift - ACT_SHIFT)
    else:
        step = 1 << (ACT_SHIFT - shift)
        if np.any(m % step):
            raise _refuse(layer_id, "weights", f"weights are mantissas << {shift}, but netx adds W << 6 per spike "
                          f"and these are not multiples of {step} << {shift}. Export the genome instead: it is then "
                          "quantized under netx's constraints")
        w = m // step
    top = int(np.max(np.abs(w), initial=0))
    if top > 255:
        raise _refuse(layer_id, "weights", f"its largest weight is {top} << 6 state units; netx stores no weight "
                      "exponent, so weights are 8-bit integers W added as W << 6 (this layer has weight exponent "
                      f"{shift - ACT_SHIFT}). Export the genome instead: it is then quantized under netx's constraints")
    return w


def _synapse_blocks(layer: CubaLayer | RateReadoutLayer, p: RateProjection,
                    src: Layer, out_shape: tuple[int, ...]) -> list[NetxBlock]:
    """The flatten (if needed) and dense/conv block realising projection p into `layer`."""
    if isinstance(layer, CubaLayer) and layer.role == "or_pool":
        w = np.ones(np.shape(p.weight), dtype=INT)       # OR neurons are scale-free: any positive weight
    elif p.kind == "sparse":
        w = None
    else:
        w = _stored_weights(layer.id, p.mantissas_at(layer.shift, layer.shape), layer.shift)   # with groups
    if len(out_shape) == 1:
        if p.kind == "sparse":
            mat = _stored_weights(layer.id, p.mantissas_at(layer.shift, layer.shape).toarray(), layer.shift)
        elif p.kind == "dense":
            mat = w
        elif p.kind == "identity":
            mat = np.diag(w)
        else:
            raise _refuse(layer.id, "projection", f"a {p.kind} projection into a flat layer")
        blocks = [NetxBlock("flatten", tuple(src.shape))] if len(src.shape) > 1 else []
        effect, why = dense_effect(mat)
        if effect is None:
            raise _refuse(layer.id, "weights", why)
        return blocks + [NetxBlock("dense", tuple(out_shape), layer.id, weight=mat)]
    c_in = src.shape[0]
    if p.kind == "conv2d":
        return [NetxBlock("conv", tuple(out_shape), layer.id, weight=w, stride=tuple(p.stride),
                          padding=tuple(p.padding))]
    if p.kind in ("avgpool2d", "identity"):
        kh, kw = p.kernel if p.kind == "avgpool2d" else (1, 1)
        kernel = np.repeat(np.asarray(w).reshape(c_in, 1, 1, 1), kh, axis=2).repeat(kw, axis=3)
        return [NetxBlock("conv", tuple(out_shape), layer.id, weight=kernel, stride=tuple(p.stride),
                          padding=tuple(p.padding), groups=c_in)]
    raise _refuse(layer.id, "projection", "a chain of several linear maps between two populations composes into one "
                  "sparse matrix; netx has one dense or conv synapse per layer (put a neuron between them, or "
                  "end the chain in a dense layer)")


def _conv_out_shape(p: RateProjection, src_shape: tuple[int, ...]) -> tuple[int, ...]:
    c, h, w = src_shape
    kh, kw = p.kernel if p.kind != "conv2d" else p.weight.shape[2:]
    out_c = p.weight.shape[0] if p.kind == "conv2d" else c
    return (out_c, (h + 2 * p.padding[0] - kh) // p.stride[0] + 1, (w + 2 * p.padding[1] - kw) // p.stride[1] + 1)


def _bias_block(layer_id: str, bias_q: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    b = np.asarray(bias_q, dtype=INT).reshape(shape)
    if not np.any(b):
        return None
    if np.any(b % (1 << ACT_SHIFT)) or np.max(np.abs(b)) > BIAS_MANT_MAX << ACT_SHIFT:
        raise _refuse(layer_id, "bias", "netx's bias is a 13-bit mantissa << 6 (exponent fixed at 6); biases here go to "
                      f"{int(np.max(np.abs(b)))} and are not all multiples of 64. Export the genome instead: it is then "
                      "quantized under netx's constraints")
    mant = b >> INT(ACT_SHIFT)
    if len(shape) == 3 and np.all(mant == mant[:, :1, :1]):
        return mant[:, 0, 0]
    return mant


def netx_blocks(net: CompiledNetwork) -> NetxPlan:
    """The netx layers realising a compiled rate network exactly, or a DeployError saying what netx cannot express."""
    if net.coding != "rate":
        raise DeployError(NETX_CANNOT_TTFS, None, "coding")
    layers = net.layers
    inp, readout = layers[0], layers[-1]
    assert isinstance(inp, RateInputLayer) and isinstance(readout, RateReadoutLayer)
    if readout.tau is not None:
        raise _refuse(readout.id, "tau", "a leaky readout (readout tau) is not exported to netx; leave tau out")
    plan = NetxPlan([NetxBlock("input", tuple(inp.shape))], readout=readout.mode)
    prev: Layer = inp
    chain = [la for la in layers if isinstance(la, CubaLayer)] + ([readout] if readout.mode == "membrane" else [])
    for layer in chain:
        if len(layer.projections) != 1:
            sources = [f"{p.source} (delay {p.delay})" for p in layer.projections]
            raise _refuse(layer.id, "inputs", f"it is fed by {len(sources)} projections ({', '.join(sources)}): a residual "
                          "add, a skip connection or a recurrent edge; every netx layer has exactly one synapse, from "
                          "the layer before it")
        p = layer.projections[0]
        if p.delay != 1 or p.axonal:   # axonal delays (genome version 3): the export does not write them yet
            raise _refuse(layer.id, "delay", f"it reads {p.source!r} up to {p.longest_delay} steps late (" + (
                "axonal delays, which the netx export does not write)" if p.axonal else "a recurrent edge); netx's layers "
                "read the previous layer one step late (its dense_rec feeds a layer back after one step, where a "
                "genome's recurrent edge arrives after two)"))
        if p.source != prev.id:
            raise _refuse(layer.id, "inputs", f"it reads {p.source!r}, not the population before it ({prev.id!r}); netx "
                          "layers form a chain")
        if isinstance(layer, CubaLayer):
            if layer.reset != "zero":
                raise _refuse(layer.id, "reset", "Lava's LIF resets v to zero; reset by subtraction has no netx form")
            if layer.threshold % (1 << ACT_SHIFT) or layer.threshold >> ACT_SHIFT > VTH_MAX:
                raise _refuse(layer.id, "threshold", f"threshold {layer.threshold} is not vThMant << 6 with a 17-bit vThMant")
            out_shape = tuple(layer.shape)
            blocks = _synapse_blocks(layer, p, prev, out_shape)
            neuron = {"iDecay": int(layer.du), "vDecay": int(layer.dv), "vThMant": int(layer.threshold) >> ACT_SHIFT}
            bias = _bias_block(layer.id, layer.bias_q, out_shape)
        else:
            out_shape = (_conv_out_shape(p, tuple(prev.shape)) if p.kind in ("conv2d", "avgpool2d") or
                         (p.kind == "identity" and len(prev.shape) == 3) else tuple(layer.shape))
            blocks = _synapse_blocks(layer, p, prev, out_shape)
            neuron = dict(READOUT_NEURON)
            bias = _bias_block(layer.id, np.asarray(layer.bias, dtype=INT), out_shape)
        blocks[-1].neuron, blocks[-1].bias = neuron, bias
        plan.blocks += blocks
        plan.conditions += _conditions(net, layer, blocks[-1], prev)
        prev = layer
    if readout.mode == "spike_count" and readout.source != prev.id:
        raise _refuse(readout.id, "source", f"it counts {readout.source!r}, not the last population {prev.id!r}")
    if len(plan.blocks) == 1:
        raise _refuse(readout.id, "layers", "the network has no population")
    return plan


def _conditions(net: CompiledNetwork, layer: Layer, block: NetxBlock, src: Layer) -> list[str]:
    """Refuse what the calibration data shows would differ in Lava; return the inputs-dependent conditions."""
    out = []
    head = net.headroom.get(layer.id, {})
    u = head.get("u", {})
    if u.get("calibration_peak") is not None and u["calibration_peak"] > STATE_MAX:
        raise _refuse(layer.id, "u", f"the calibration data drives |u| to {u['calibration_peak']}; Lava wraps u at 24 bits "
                      "where tnas-deploy saturates")
    if u and not u.get("safe_for_all_inputs", True):
        out.append(f"layer {layer.id}: |u| stays <= {STATE_MAX} (Lava wraps u at 24 bits; worst case {u['worst_case']}, "
                   f"calibration peak {u['calibration_peak']})")
    if isinstance(layer, RateReadoutLayer):
        limit = VTH_MAX << ACT_SHIFT
        v = head.get("v", {})
        if v.get("calibration_peak") is not None and v["calibration_peak"] > limit:
            raise _refuse(layer.id, "v", f"the calibration data drives the readout to {v['calibration_peak']}, above the "
                          f"accumulating neurons' threshold {limit}")
        if v and v.get("worst_case", 0) > limit:
            out.append(f"layer {layer.id}: |v| stays <= {limit} (the accumulating readout neurons' threshold; worst "
                       f"case {v['worst_case']}, calibration peak {v.get('calibration_peak')})")
    if block.kind == "conv":
        payload = RATE_INPUT_LEVELS if isinstance(src, RateInputLayer) else 1
        bound = float(np.abs(block.weight).reshape(block.weight.shape[0], -1).sum(axis=1).max()) * payload
        if bound >= 2 ** 24:
            out.append(f"layer {layer.id}: Lava's Conv partial sums stay below 2**24 (it sums in float32; this layer's "
                       f"bound is {bound:.0f})")
    return out


# -- writing and reading files --------------------------------------------------------------------

def _metadata(net: CompiledNetwork, plan: NetxPlan) -> dict[str, Any]:
    readout = net.layers[-1]
    return {"version": METADATA_VERSION, "tool": f"tnas-deploy {__version__}", "name": net.name, "coding": "rate",
            "steps": net.steps, "run_steps": net.run_steps, "input_message_bits": INPUT_MESSAGE_BITS,
            "input": "graded spikes: round(255 x) per pixel (or event counts, clipped to 255) at Lava steps 1..steps; "
                     "build with Network(path, input_message_bits=8)",
            "classes": list(net.classes), "readout": plan.readout,
            "logit_scale": getattr(readout, "scale", 1.0) if plan.readout == "membrane" else 1.0,
            "layers": [_node_name(net, b.layer_id) for b in plan.blocks if b.layer_id is not None],
            "readout_id": readout.id,
            "exact_unless": plan.conditions,
            **({"outputs": list(outputs)} if (outputs := regression_outputs(net)) else {})}


def _node_name(net: CompiledNetwork, layer_id: str) -> str:
    """The genome node a block realises: the population's node, or the membrane readout's input node."""
    layer = net.by_id[layer_id]
    return layer.nodes[0] if isinstance(layer, RateReadoutLayer) and layer.nodes else layer_id


def write_netx(plan: NetxPlan, path: str | Path, metadata: dict[str, Any]) -> Path:
    """Write the blocks as a netx HDF5 file (atomically, no timestamps)."""
    path = Path(path)

    def fill(f: h5py.File) -> None:
        def put(group, key, value):
            group.create_dataset(key, data=value, track_times=False)
        for i, b in enumerate(plan.blocks):
            g = f.create_group(f"layer/{i}")
            put(g, "type", np.array([b.kind.encode()]))
            put(g, "shape", np.array(b.shape, dtype=np.int64))
            if b.kind == "dense":
                put(g, "weight", np.asarray(b.weight, dtype=np.float32))
                put(g, "inFeatures", np.int64(b.weight.shape[1]))
                put(g, "outFeatures", np.int64(b.weight.shape[0]))
            elif b.kind == "conv":
                put(g, "weight", np.asarray(b.weight, dtype=np.float32)[..., None])   # SLAYER's (O, I, kh, kw, 1)
                put(g, "inChannels", np.int64(b.weight.shape[1] * b.groups))
                put(g, "outChannels", np.int64(b.weight.shape[0]))
                put(g, "kernelSize", np.array(b.weight.shape[2:4], dtype=np.int64))
                put(g, "stride", np.array(b.stride, dtype=np.int64))
                put(g, "padding", np.array(b.padding, dtype=np.int64))
                put(g, "dilation", np.array([1, 1], dtype=np.int64))
                put(g, "groups", np.int64(b.groups))
            if b.bias is not None:
                bias = np.asarray(b.bias)
                if bias.ndim == 3:                  # neuron-wise bias: netx's (x, y, channel) order
                    bias = bias.transpose(2, 1, 0)
                put(g, "bias", bias.astype(np.float32))
            if b.neuron is not None:
                n = g.create_group("neuron")
                put(n, "type", np.bytes_("CUBA"))
                for key in ("iDecay", "vDecay", "vThMant"):
                    put(n, key, np.int64(b.neuron[key]))
                put(n, "refDelay", np.int64(1))
                put(n, "gradedSpike", np.bool_(False))
        put(f, "simulation/Ts", np.int64(1))
        put(f, "simulation/tSample", np.int64(metadata.get("run_steps", 0)))
        put(f, METADATA_KEY, np.bytes_(json.dumps(metadata, sort_keys=True)))
    write_bytes_atomic(path, hdf5_image(fill))
    return path


def export_netx(net: CompiledNetwork, path: str | Path) -> NetxPlan:
    """Check and write a compiled rate network as a netx file; returns the plan (with its conditions)."""
    plan = netx_blocks(net)
    write_netx(plan, path, _metadata(net, plan))
    return plan


__all__ = ["NETX_CANNOT_TTFS", "NetxBlock", "NetxPlan", "compile_for_netx", "dense_effect", "export_netx",
           "lava_format", "netx_blocks", "quantize_for_netx", "write_netx"]
