"""`compile` for rate genomes: lower -> quantize -> measure headroom on calibration data -> compiled network.

A population whose calibration peak leaves the state gets a smaller state scale and the network is
quantized again (at most MAX_HEADROOM_ROUNDS times); what still overflows fails the compile, naming the
layer and variable, unless `saturate` (then the simulators clip and the notes say so).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...compiled import CompiledNetwork
from ...compilation import CompileInputs, fit_state_scales, headroom_bits, network_identity, record_headroom
from ...errors import DeployError, OverflowReport
from ...fixed_point import INT, RATE_INPUT_LEVELS, NumericFormat
from ...layers import Layer
from ...progress import progress_bar
from ..base import CompileOptions
from .lowering import ANALOG_MAXPOOL_OPTIONS, lower_rate
from .layers import CubaLayer, RateInputLayer, RateReadoutLayer, run_length
from .quantize import quantize_rate
from .peaks import measure_peaks

def compile_rate(inputs: CompileInputs, options: CompileOptions) -> CompiledNetwork:
    genome = inputs.genome
    T = options.steps if options.steps is not None else genome.steps
    if not (1 <= T <= 65536):
        raise DeployError("time steps must be between 1 and 65536", None, "--steps")
    if options.analog_maxpool not in ANALOG_MAXPOOL_OPTIONS:
        raise DeployError(f"expected one of {list(ANALOG_MAXPOOL_OPTIONS)}, got {options.analog_maxpool!r}", None,
                          "--analog-maxpool")
    layers, lower_notes = lower_rate(genome, inputs.weights, options.analog_maxpool)
    fmt = inputs.profile.require_format()
    net, headroom, drops, overflows = fit_state_scales(
        lambda drops: _network(inputs, layers, T, fmt, options.saturate, drops, options.analog_maxpool),
        lambda net: measure_rate_headroom(net, inputs.calibration, options.progress), fmt)
    net.notes = lower_notes + net.notes
    record_headroom(net, headroom, drops, overflows, options.saturate, genome.source)
    return net


def _network(inputs: CompileInputs, layers: list[Layer], T: int, fmt: NumericFormat, saturate: bool, drops: dict[str, int],
             analog_maxpool: str) -> CompiledNetwork:
    genome = inputs.genome
    try:
        q = quantize_rate(layers, fmt, saturate, drops, run_steps=run_length(layers, T))
    except OverflowReport as exc:
        raise OverflowReport(exc.message, genome.source, exc.field) from None
    return CompiledNetwork(
        steps=T, layers=q.layers, fmt=fmt, windows={}, window_method="none (rate coding)",
        options={"saturate": saturate, "steps": T, "analog_maxpool": analog_maxpool},
        notes=[n.to_json() for n in q.notes], quantization_error={k: round(v, 12) for k, v in q.weight_error.items()},
        coding="rate", run_steps=run_length(q.layers, T), **network_identity(inputs))


def rate_worst_case(net: CompiledNetwork, layer: CubaLayer | RateReadoutLayer) -> dict[str, int]:
    """Largest |u| and |v| any input could produce (every source active at every step)."""
    by_id = net.by_id
    row: np.ndarray | float = 0.0
    for p in layer.projections:
        src = by_id[p.source]
        payload = RATE_INPUT_LEVELS if isinstance(src, RateInputLayer) else 1
        per = p.abs_row_sum(src.shape, layer.shape)
        row = row + per * payload * 2.0 ** p.state_shift(layer.shift)
    a = int(np.max(row)) if np.size(row) else 0
    bias = int(np.max(np.abs(np.asarray(layer.bias_q if isinstance(layer, CubaLayer) else layer.bias, dtype=INT)),
                      initial=0))
    if isinstance(layer, RateReadoutLayer):
        return {"u": a, "v": (a + bias) * net.run_steps}
    keep_u = 1.0 - layer.du / 4096
    u = a if keep_u == 0 else int(a / (1.0 - keep_u)) if keep_u < 1 else a * net.run_steps
    keep_v = 1.0 - layer.dv / 4096
    per_step = u + bias
    v = per_step * net.run_steps if keep_v >= 1 else int(per_step / (1.0 - keep_v))
    return {"u": u, "v": max(v, layer.threshold) + per_step}


def measure_rate_headroom(net: CompiledNetwork, calib, progress: bool = False
                          ) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, int]]]:
    limit = net.fmt.state_max
    peaks: dict[str, dict[str, int]] = {}
    if calib is not None:
        with progress_bar(len(calib), "headroom on calibration data", progress) as bar:
            peaks = measure_peaks(net.layers, calib.x, net.steps, net.fmt.state_bits, progress=bar.update)
    out: dict[str, dict[str, Any]] = {}
    overflows: dict[str, tuple[str, int]] = {}
    for layer in net.layers:
        if not (isinstance(layer, CubaLayer) or (isinstance(layer, RateReadoutLayer) and layer.mode == "membrane")):
            continue
        worst = rate_worst_case(net, layer)
        entry: dict[str, Any] = {"limit": limit}
        for var in ("u", "v"):
            measured = peaks.get(layer.id, {}).get(var)
            basis = measured if measured is not None else worst[var]
            entry[var] = {"calibration_peak": measured, "worst_case": worst[var],
                          "headroom_bits": headroom_bits(limit, basis),
                          "safe_for_all_inputs": worst[var] <= limit}
            if measured is not None and measured > limit and measured > overflows.get(layer.id, ("", 0))[1]:
                overflows[layer.id] = (var, measured)
        if isinstance(layer, CubaLayer) and layer.threshold > 0:
            entry["threshold"] = {"max": layer.threshold, "limit": net.fmt.threshold_max,
                                  "headroom_bits": round(math.log2(net.fmt.threshold_max / layer.threshold), 2)}
        out[layer.id] = entry
    return out, overflows
