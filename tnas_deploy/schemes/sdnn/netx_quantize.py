"""Quantizing a sigma-delta genome under lava-dl netx's constraints, so that its netx export is exact
(`export GENOME --format netx`; docs/interop.md, "Sigma-delta files", Export).

netx stores no weight exponent and applies a layer's threshold and bias << 12 with state exponent 6
(`netx.py`). So every population gets netx's own integers, at a state scale S of its own (state units per unit of
value; its payloads are S / 64 per unit, netx's `delta >> 6`):

* weights W = round(w x S / p) with p the source's payload scale (the input's netx payload, `round(255 x) << 6`, is
  255 x 64 per unit), at most 127 in magnitude; S is the largest scale that keeps them there and keeps the
  calibration peak of |sigma + bias| x HEADROOM within the 16-bit payloads (x 64);
* biases b = round(bias x S / 4096) and thresholds vThMant = round(delta_threshold x calibration peak x S / 4096),
  applied << 12;
* the readout (UNIT, read once; netx's Sigma output) at the largest scale that keeps its weights within 127 and its
  state within the profile's register; its bias is any integer (the export writes it into the file's metadata).

The compiled network is an ordinary artifact (`--artifact PATH`), whose reference simulator reproduces netx's run of
the exported file bit for bit. What netx cannot express at all (max-pools, UNIT populations, residual adds) is
refused by the export, naming the layer.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from ...errors import DeployError, OverflowReport
from ...fixed_point import INT, SDNN_INPUT_LEVELS
from ...layers import Layer
from ...projection import Projection
from .layers import SdnnFlattenLayer, SdnnInputLayer, SdnnReadoutLayer, SigmaDeltaLayer
from .netx import NETX_SDNN_SHIFT, NETX_SDNN_SPIKE_EXP, NETX_SDNN_STATE_EXP
from .quantize import float_forward

if TYPE_CHECKING:
    from ...compilation import CompileInputs
    from ...compiled import CompiledNetwork

#: Largest |weight| written (8-bit signed mantissas, which Lava's Dense keeps exactly).
WEIGHT_MAX = 127


def quantize_sdnn_for_netx(layers: list[Layer], x_cal: np.ndarray, state_max: int, payload_bits: int,
                           headroom: float, delta_threshold: float) -> tuple[list[Layer], dict[str, float]]:
    """Integer layers at netx's constraints (module documentation) and each layer's largest relative weight error.
    Raises OverflowReport naming the layer when a scale cannot be found, DeployError for a layer netx has no form
    for."""
    pre, values = float_forward(layers, x_cal)
    payload_max = 2 ** (payload_bits - 1) - 1
    payload: dict[str, float] = {}           # netx payload units per unit of value, per sending layer
    out: list[Layer] = []
    errors: dict[str, float] = {}
    for layer in layers:
        if isinstance(layer, SdnnInputLayer):
            payload[layer.id] = float(SDNN_INPUT_LEVELS << NETX_SDNN_SPIKE_EXP)
            out.append(replace(layer, scale=float(SDNN_INPUT_LEVELS)))
            continue
        if isinstance(layer, SdnnFlattenLayer):
            payload[layer.id] = payload[layer.source]
            out.append(layer)
            continue
        if not isinstance(layer, (SigmaDeltaLayer, SdnnReadoutLayer)) or len(layer.projections) != 1 or \
                (isinstance(layer, SigmaDeltaLayer) and not layer.relu):
            raise DeployError(f"netx cannot express this: a {layer.kind} layer"
                              + (" in UNIT mode" if isinstance(layer, SigmaDeltaLayer) else "")
                              + f" fed by {len(getattr(layer, 'projections', []))} projection(s); netx's layers are a "
                              "chain of conv and dense synapses into ReLU sigma-delta neurons", None,
                              f"layer {layer.id}: kind")
        (p,) = layer.projections
        src = payload[p.source]
        w = np.asarray(p.weight, dtype=np.float64)
        wmax = float(np.abs(w).max(initial=0.0))
        peak = max(float(np.abs(pre[layer.id]).max(initial=0.0)), 1e-12)
        readout = isinstance(layer, SdnnReadoutLayer)
        limit = state_max / headroom if readout else payload_max * (1 << NETX_SDNN_STATE_EXP) / headroom
        scale = min(WEIGHT_MAX * src / wmax if wmax > 0 else math.inf, limit / peak)
        mant = np.rint(w * scale / src).astype(INT)
        if not np.any(mant):
            raise OverflowReport(f"every weight from {p.source!r} rounds to 0 at the scale the calibration peak "
                                 f"allows ({scale:.4g} state units per unit)", None, f"layer {layer.id}: weight")
        errors[layer.id] = round(float(np.abs(mant * src / scale - w).max(initial=0.0)) / wmax, 12) if wmax else 0.0
        first = p.source == layers[0].id
        exp = NETX_SDNN_SPIKE_EXP if first else 0   # our input's payload is netx's >> 6
        bias = np.asarray(layer.bias, dtype=np.float64)
        proj = [Projection(p.source, p.kind, mant, p.kernel, p.stride, p.padding)]
        if readout:
            out.append(replace(layer, projections=proj, weight_exps=(exp,), bias_q=np.rint(bias * scale).astype(INT),
                               vth=0, state_exp=0, scale=scale))
            continue
        step = float(1 << NETX_SDNN_SHIFT)
        top = float(np.abs(values[layer.id]).max(initial=0.0))
        vth = int(round(delta_threshold * top * scale / step)) << NETX_SDNN_SHIFT
        bias_q = np.rint(bias * scale / step).astype(INT) << INT(NETX_SDNN_SHIFT)
        out.append(replace(layer, projections=proj, weight_exps=(exp,), bias_q=bias_q, vth=vth,
                           state_exp=NETX_SDNN_STATE_EXP, scale=scale))
        payload[layer.id] = scale / (1 << NETX_SDNN_STATE_EXP)
    return out, errors


def compile_sdnn_for_netx(inputs: CompileInputs, steps: int | None = None) -> CompiledNetwork:
    """Compile a sigma-delta genome (`compiler.CompileInputs`, with calibration data) under netx's constraints, with
    the genome's delta threshold (or the compile's default). Refuses calibration data that overflows (the scales
    are already the largest that fit)."""
    from ...compilation import network_identity
    from ...compiled import CompiledNetwork
    from .compile import (
        DEFAULT_DELTA_THRESHOLD,
        MAX_STEPS,
        measure_headroom,
        settle_steps,
    )
    from .lowering import lower_sdnn
    from .quantize import HEADROOM, PAYLOAD_BITS

    genome = inputs.genome
    if inputs.calibration is None:
        raise DeployError("sigma-delta scales come from activation peaks on calibration data; pass --calibration "
                          "FILE.npz", genome.source, "--calibration")
    layers = lower_sdnn(genome, inputs.weights)
    readout = layers[-1]
    steps = steps if steps is not None else (genome.steps or settle_steps(readout))
    if not (1 <= steps <= MAX_STEPS):
        raise DeployError(f"steps must be between 1 and {MAX_STEPS}, got {steps}", genome.source, "--steps")
    theta = genome.delta_threshold if genome.delta_threshold is not None else DEFAULT_DELTA_THRESHOLD
    fmt = inputs.profile.require_format()
    try:
        q_layers, errors = quantize_sdnn_for_netx(layers, inputs.calibration.x, fmt.state_max, PAYLOAD_BITS, HEADROOM,
                                                  theta)
    except (OverflowReport, DeployError) as exc:
        raise type(exc)(exc.message, genome.source, exc.field) from None
    net = CompiledNetwork(
        steps=steps, layers=q_layers, fmt=fmt, windows={}, window_method="calibration (sigma-delta scales for netx)",
        options={"saturate": False, "steps": steps, "delta_threshold": theta, "payload_bits": PAYLOAD_BITS,
                 "settle_steps": settle_steps(readout), "quantized_for": "netx"},
        notes=[], quantization_error=errors, coding="sdnn", run_steps=steps, **network_identity(inputs))
    head, overflows = measure_headroom(net, inputs.calibration.x)
    for layer_id, (var, _) in overflows.items():
        entry = head[layer_id][var]
        raise OverflowReport(f"calibration data drives |{var}| to {entry['calibration_peak']}, beyond its limit "
                             f"{entry['limit']}", genome.source, f"layer {layer_id}: {var}")
    net.headroom = head
    return net


__all__ = ["WEIGHT_MAX", "compile_sdnn_for_netx", "quantize_sdnn_for_netx"]
