"""`compile`: genome + weights (+ calibration data) + hardware profile -> compiled network and summary.

Steps: load and validate every input -> lower to TTFS layers -> choose windows (calibration data or a
proven interval bound) -> quantize to the profile's formats -> run the reference simulator on the
calibration data to measure the headroom of every state variable -> fail on overflow (unless saturating).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .compiled import CompiledNetwork
from .data import Dataset, load_dataset
from .errors import DeployError, OverflowReport
from .genome import Genome, load_genome
from .io_utils import sha256_file
from .lowering import lower
from .network import Layer, ReadoutLayer, TtfsLayer
from .profiles import HardwareProfile, load_profile
from .progress import progress_bar
from .quantize import quantize
from .refsim import simulate
from .summary import summarize
from .ttfs import calibrate_windows, deltas
from .weights import Weights, load_weights

#: Rounds of lowering overflowing layers' state scales before giving up.
MAX_HEADROOM_ROUNDS = 6


@dataclass
class CompileInputs:
    genome: Genome
    weights: Weights
    weights_path: Path
    profile: HardwareProfile
    calibration: Dataset | None


def load_inputs(genome_path: str | Path, weights_path: str | Path | None, profile: str,
                calibration_path: str | Path | None) -> CompileInputs:
    genome = load_genome(genome_path)
    path = Path(weights_path) if weights_path is not None else genome.weights_path()
    weights = load_weights(genome, path)
    prof = load_profile(profile)
    calib = None
    if calibration_path is not None:
        calib = load_dataset(calibration_path, genome.task.input_shape, len(genome.task.classes), "--calibration",
                             rate_steps=genome.steps if genome.coding == "rate" else None,
                             rate_values=genome.rate_input or "intensity")
    return CompileInputs(genome, weights, path, prof, calib)  # type: ignore[arg-type]


def compile_network(inputs: CompileInputs, saturate: bool = False, margin: float | None = None,
                    steps: int | None = None, progress: bool = False, analog_maxpool: str = "refuse"
                    ) -> CompiledNetwork:
    genome = inputs.genome
    if genome.coding == "rate":
        if margin is not None:
            raise DeployError("window margins apply to TTFS genomes only; this genome is rate-coded",
                              genome.source, "--margin")
        from .rate.compiler import compile_rate
        return compile_rate(inputs, saturate=saturate, steps=steps, analog_maxpool=analog_maxpool, progress=progress)
    if analog_maxpool != "refuse":
        raise DeployError("applies to rate-coded genomes only (TTFS max-pooling is exact: the earliest spike)",
                          genome.source, "--analog-maxpool")
    K = steps if steps is not None else genome.time.steps_per_window
    margin = margin if margin is not None else genome.time.window_margin
    if not (math.isfinite(margin) and margin > 0):
        raise DeployError(f"expected a finite number > 0, got {margin}", genome.source, "time.window_margin / --margin")
    if not (1 <= K <= 65536):
        raise DeployError("steps per window must be between 1 and 65536", None, "--steps")
    layers = lower(genome, inputs.weights)
    x_cal = inputs.calibration.x if inputs.calibration is not None else None
    windows = calibrate_windows(layers, x_cal, margin)
    dl = deltas(layers, windows, K)
    fmt = inputs.profile.require_format()
    drops: dict[str, int] = {}
    for _ in range(MAX_HEADROOM_ROUNDS):
        net = _quantized_network(inputs, layers, windows, dl, K, margin, saturate, drops)
        headroom, overflows = measure_headroom(net, inputs.calibration, progress)
        if not overflows:
            break
        # use the calibration data to choose scales: lower each overflowing layer's state scale and retry
        for layer_id, (_, peak) in overflows.items():
            drops[layer_id] = drops.get(layer_id, 0) + max(1, math.ceil(math.log2(peak / fmt.state_max)))
    record_headroom(net, headroom, drops, overflows, saturate, genome.source)
    return net


def record_headroom(net: CompiledNetwork, headroom: dict[str, dict[str, Any]], drops: dict[str, int],
                    overflows: dict[str, tuple[str, int]], saturate: bool, source: Path | None) -> None:
    """After the headroom rounds: note every lowered scale; fail on what still overflows (or note the clipping)."""
    fmt = net.fmt
    for layer_id, bits in drops.items():
        net.notes.append({"layer": layer_id, "variable": "scale", "message":
                          f"state scale lowered by {bits} bit(s) so the calibration data fits {fmt.state_bits} bits"})
    for layer_id, (var, peak) in overflows.items():
        msg = (f"calibration data drives |{var}| to {peak}, beyond the {fmt.state_bits}-bit state limit "
               f"{fmt.state_max} (by {peak / fmt.state_max:.2f}x)")
        if not saturate:
            raise OverflowReport(msg + "; pass --saturate to clip it (the simulators saturate, never wrap)",
                                 source, f"layer {layer_id}: {var}")
        net.notes.append({"layer": layer_id, "variable": var, "message": "saturated: " + msg})
    net.headroom = headroom


def _quantized_network(inputs: CompileInputs, layers: list[Layer], windows, dl, K: int, margin: float,
                       saturate: bool, drops: dict[str, int]) -> CompiledNetwork:
    genome = inputs.genome
    try:
        q = quantize(layers, dl, windows.length, K, inputs.profile.require_format(), saturate, drops)
    except OverflowReport as exc:
        raise OverflowReport(exc.message, genome.source, exc.field) from None
    return CompiledNetwork(
        steps=K, layers=q.layers, fmt=inputs.profile.require_format(), windows=windows.length,
        window_method=windows.method, options={"saturate": saturate, "window_margin": margin, "steps_per_window": K},
        notes=[n.to_json() for n in q.notes], quantization_error={k: round(v, 12) for k, v in q.weight_error.items()},
        **network_identity(inputs))


def network_identity(inputs: CompileInputs) -> dict[str, Any]:
    """What a compiled network records about where it came from: names, task, genome, profile, input hashes."""
    genome = inputs.genome
    return dict(
        name=genome.name, input_shape=genome.task.input_shape, classes=genome.task.classes,
        genome=genome.to_json(), provenance=genome.provenance, tool_version=__version__,
        profile={"name": inputs.profile.name, "chip": inputs.profile.chip, "sha256": inputs.profile.sha256,
                 "contents": inputs.profile.raw},
        inputs={"genome": sha256_file(genome.source) if genome.source else None,
                "weights": sha256_file(inputs.weights_path) if inputs.weights_path else None,
                "calibration": inputs.calibration.sha256 if inputs.calibration is not None else None,
                "profile": inputs.profile.sha256})


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
        worst = net.worst_case(layer)
        entry: dict[str, Any] = {"limit": limit}
        for var in ("u", "v"):
            measured = peaks.get(layer.id, {}).get(var)
            entry[var] = {
                "calibration_peak": measured,
                "worst_case": worst[var],
                "headroom_bits": _bits(limit, measured if measured is not None else worst[var]),
                "safe_for_all_inputs": worst[var] <= limit,
            }
            if measured is not None and measured > limit and measured > overflows.get(layer.id, ("", 0))[1]:
                overflows[layer.id] = (var, measured)
        if isinstance(layer, TtfsLayer):
            top = int(np.max(layer.threshold)) if layer.threshold.size else 0
            entry["threshold"] = {"max": top, "limit": net.fmt.threshold_max,
                                  "headroom_bits": _bits(net.fmt.threshold_max, top)}
        out[layer.id] = entry
    return out, overflows


def _bits(limit: int, peak: int | None) -> float | None:
    if peak is None:
        return None
    if peak <= 0:
        return float(math.log2(limit))
    return round(math.log2(limit / peak), 2)


def compile_files(genome_path: str | Path, weights_path: str | Path | None = None, profile: str = "loihi2",
                  calibration_path: str | Path | None = None, saturate: bool = False,
                  margin: float | None = None, steps: int | None = None, analog_maxpool: str = "refuse"
                  ) -> tuple[CompiledNetwork, dict[str, Any]]:
    inputs = load_inputs(genome_path, weights_path, profile, calibration_path)
    net = compile_network(inputs, saturate=saturate, margin=margin, steps=steps, analog_maxpool=analog_maxpool)
    return net, summarize(net)
