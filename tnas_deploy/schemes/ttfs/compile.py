"""`compile` for TTFS genomes: lower to TTFS layers -> choose windows (calibration data or a proven interval
bound) -> quantize to the profile's formats -> run the reference simulator on the calibration data to
measure the headroom of every state variable -> lower overflowing layers' state scales and retry -> fail on
what still overflows (unless saturating).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...compilation import CompileInputs, fit_state_scales, headroom_bits, network_identity, record_headroom
from ...compiled import CompiledNetwork
from ...dataset import Dataset
from ...errors import DeployError, OverflowReport
from ...layers import Layer
from ...progress import progress_bar
from ..base import CompileOptions
from .layers import ReadoutLayer, TtfsLayer
from .lowering import lower
from .mapping import Windows, calibrate_windows, deltas
from .quantize import quantize
from .bounds import worst_case
from .refsim import simulate


@dataclass(frozen=True)
class Lowered:
    """What compile decides before quantizing: the lowered layers, their windows and step values, K and margin."""

    layers: list[Layer]
    windows: Windows
    deltas: dict[str, np.ndarray]
    steps: int
    margin: float


def lower_for_compile(inputs: CompileInputs, options: CompileOptions) -> Lowered:
    """Check K and the margin, lower the genome and choose the windows (on the calibration data if any)."""
    genome = inputs.genome
    time = genome.time
    K = options.steps if options.steps is not None else time.steps_per_window
    margin = options.margin if options.margin is not None else time.window_margin
    if not (math.isfinite(margin) and margin > 0):
        raise DeployError(f"expected a finite number > 0, got {margin}", genome.source, "time.window_margin / --margin")
    if not (1 <= K <= 65536):
        raise DeployError("steps per window must be between 1 and 65536", None, "--steps")
    layers = lower(genome, inputs.weights)
    x_cal = inputs.calibration.x if inputs.calibration is not None else None
    windows = calibrate_windows(layers, x_cal, margin)
    return Lowered(layers, windows, deltas(layers, windows, K), K, margin)


def compile_ttfs(inputs: CompileInputs, options: CompileOptions) -> CompiledNetwork:
    low = lower_for_compile(inputs, options)
    net, headroom, drops, overflows = fit_state_scales(
        lambda drops: quantized_network(inputs, low, options.saturate, drops),
        lambda net: measure_headroom(net, inputs.calibration, options.progress), inputs.profile.require_format())
    record_headroom(net, headroom, drops, overflows, options.saturate, inputs.genome.source)
    return net


def quantized_network(inputs: CompileInputs, low: Lowered, saturate: bool, drops: dict[str, int]) -> CompiledNetwork:
    """The network quantized with each layer's state scale lowered by `drops[layer]` bits (one headroom round)."""
    genome = inputs.genome
    K, windows = low.steps, low.windows
    try:
        q = quantize(low.layers, low.deltas, windows.length, K, inputs.profile.require_format(), saturate, drops)
    except OverflowReport as exc:
        raise OverflowReport(exc.message, genome.source, exc.field) from None
    return CompiledNetwork(
        steps=K, layers=q.layers, fmt=inputs.profile.require_format(), windows=windows.length,
        window_method=windows.method, options={"saturate": saturate, "window_margin": low.margin,
                                               "steps_per_window": K},
        notes=[n.to_json() for n in q.notes], quantization_error={k: round(v, 12) for k, v in q.weight_error.items()},
        **network_identity(inputs))


def measure_headroom(net: CompiledNetwork, calib: Dataset | None, progress: bool = False
                     ) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, int]]]:
    """Per layer and state variable: peak |value| (calibration and worst case) and headroom in bits;
    plus the layers whose calibration peak passes the state limit: {layer: (variable, peak)}."""
    limit = net.fmt.state_max
    peaks: dict[str, dict[str, int]] = {}
    if calib is not None:
        with progress_bar(len(calib), "headroom on calibration data", progress) as bar:
            peaks = simulate(net, calib.x, track_peaks=True, progress=bar.update).peaks
    out: dict[str, dict[str, Any]] = {}
    overflows: dict[str, tuple[str, int]] = {}
    for layer in net.layers:
        if not isinstance(layer, (TtfsLayer, ReadoutLayer)):
            continue
        worst = worst_case(net, layer)
        entry: dict[str, Any] = {"limit": limit}
        for var in ("u", "v"):
            measured = peaks.get(layer.id, {}).get(var)
            entry[var] = {
                "calibration_peak": measured,
                "worst_case": worst[var],
                "headroom_bits": headroom_bits(limit, measured if measured is not None else worst[var]),
                "safe_for_all_inputs": worst[var] <= limit,
            }
            if measured is not None and measured > limit and measured > overflows.get(layer.id, ("", 0))[1]:
                overflows[layer.id] = (var, measured)
        if isinstance(layer, TtfsLayer):
            top = int(np.max(layer.threshold)) if layer.threshold.size else 0
            entry["threshold"] = {"max": top, "limit": net.fmt.threshold_max,
                                  "headroom_bits": headroom_bits(net.fmt.threshold_max, top)}
        out[layer.id] = entry
    return out, overflows
