"""`compile` for sigma-delta coding: lower the genome's ReLU ANN -> quantize with scales from calibration peaks ->
run the integer reference simulator on the calibration data and check every tracked peak (states against the
profile's state register, payloads against the payload bits, synaptic sums against Lava's int32) -> lower the
scale of a layer that overflows and retry -> refuse what still overflows (Lava's sigma-delta neuron wraps in int32,
so nothing may leave its range; `--saturate` cannot help).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...compilation import CompileInputs, fit_state_scales, headroom_bits, network_identity
from ...compiled import CompiledNetwork
from ...errors import DeployError, OverflowReport
from ...progress import progress_bar
from ..base import CompileOptions
from .layers import SdnnReadoutLayer, neuron_layers
from .lowering import lower_sdnn
from .quantize import PAYLOAD_BITS, quantize
from .refsim import peak_limits, simulate

#: Each population's delta threshold vth as a fraction of its calibration peak value (docs/sdnn.md, measured by
#: benchmarks/sdnn_settling.py on the digits model: 1/64 keeps threshold 0's accuracy with 10 % fewer graded spikes).
DEFAULT_DELTA_THRESHOLD = 1 / 64
#: The largest number of steps a compile accepts.
MAX_STEPS = 65536


def settle_steps(readout: SdnnReadoutLayer) -> int:
    """Steps until a static input has reached the readout: its hop plus one (steps 0 .. hop)."""
    return readout.window + 1


def compile_sdnn(inputs: CompileInputs, options: CompileOptions) -> CompiledNetwork:
    genome = inputs.genome
    if getattr(genome, "chip_integers", None) is not None:   # an imported netx file: its own integers
        from .netx_exact import compile_exact_sdnn
        return compile_exact_sdnn(inputs, options, measure_headroom, settle_steps, MAX_STEPS)
    if inputs.calibration is None:
        raise DeployError("sigma-delta coding sets every layer's scale from activation peaks on calibration data; "
                          "pass --calibration FILE.npz", genome.source, "--calibration")
    if options.saturate:
        raise DeployError("sigma-delta networks cannot saturate: Lava's sigma-delta neuron wraps in int32, so the "
                          "compile lowers scales until the calibration data fits instead", genome.source, "--saturate")
    theta = next((t for t in (options.delta_threshold, genome.delta_threshold) if t is not None),
                 DEFAULT_DELTA_THRESHOLD)
    if not (math.isfinite(theta) and 0 <= theta < 1):
        raise DeployError(f"expected a fraction in [0, 1), got {theta}", genome.source, "--delta-threshold")
    layers = lower_sdnn(genome, inputs.weights)
    readout = layers[-1]
    assert isinstance(readout, SdnnReadoutLayer)
    steps = options.steps if options.steps is not None else (genome.steps or settle_steps(readout))
    if not (1 <= steps <= MAX_STEPS):
        raise DeployError(f"steps must be between 1 and {MAX_STEPS}, got {steps}", genome.source, "--steps")
    fmt = inputs.profile.require_format()
    x_cal = inputs.calibration.x

    def build(drops: dict[str, int]) -> CompiledNetwork:
        try:
            q = quantize(layers, x_cal, fmt, theta, drops)
        except OverflowReport as exc:
            raise OverflowReport(exc.message, genome.source, exc.field) from None
        notes = q.notes
        if steps < settle_steps(readout):
            notes = notes + [{"layer": readout.id, "variable": "steps", "message":
                              f"{steps} steps end before a static input reaches the readout at step "
                              f"{readout.window}; the readout holds a partial sum (use {settle_steps(readout)})"}]
        return CompiledNetwork(
            steps=steps, layers=q.layers, fmt=fmt, windows={}, window_method="calibration (sigma-delta scales)",
            options={"saturate": False, "steps": steps, "delta_threshold": theta, "payload_bits": PAYLOAD_BITS,
                     "settle_steps": settle_steps(readout)},
            notes=notes, quantization_error=q.weight_error, coding="sdnn", run_steps=steps,
            **network_identity(inputs))

    net, headroom, drops, overflows = fit_state_scales(
        build, lambda net: measure_headroom(net, x_cal, options.progress), fmt)
    for layer_id, bits in drops.items():
        net.notes.append({"layer": layer_id, "variable": "scale", "message":
                          f"scale lowered by {bits} bit(s) so the calibration data fits its registers"})
    for layer_id, (var, _) in overflows.items():
        entry = headroom[layer_id][var]
        raise OverflowReport(f"calibration data drives |{var}| to {entry['calibration_peak']}, beyond its limit "
                             f"{entry['limit']} even at the lowest scale; Lava's sigma-delta neuron would wrap",
                             genome.source, f"layer {layer_id}: {var}")
    net.headroom = headroom
    return net


def measure_headroom(net: CompiledNetwork, x: np.ndarray, progress: bool = False
                     ) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[str, int]]]:
    """Per population and tracked variable: the calibration peak, its limit and the headroom in bits; plus the
    layers where a peak passes its limit, as `fit_state_scales` takes them: (variable, peak expressed against the
    state limit), so the bits it lacks are those the peak lacks against its own limit."""
    with progress_bar(len(x), "headroom on calibration data", progress) as bar:
        peaks = simulate(net, x, track_peaks=True, progress=bar.update).peaks
    limits = peak_limits(net)
    out: dict[str, dict[str, Any]] = {}
    overflows: dict[str, tuple[str, int]] = {}
    for layer in neuron_layers(net.layers):
        entry: dict[str, Any] = {}
        for var, limit in limits.items():
            if var == "payload" and isinstance(layer, SdnnReadoutLayer):
                continue                      # the readout sends nothing: only its states count
            peak = peaks[layer.id][var]
            entry[var] = {"calibration_peak": peak, "limit": limit, "headroom_bits": headroom_bits(limit, peak)}
            if peak > limit:
                relative = math.ceil(peak / limit * net.fmt.state_max)
                if relative > overflows.get(layer.id, ("", 0))[1]:
                    overflows[layer.id] = (var, relative)
        out[layer.id] = entry
    return out, overflows

