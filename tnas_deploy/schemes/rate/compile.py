"""`compile` for rate genomes: lower -> quantize -> measure headroom on calibration data -> compiled network.

A population whose calibration peak leaves the state gets a smaller state scale and the network is
quantized again (at most MAX_HEADROOM_ROUNDS times); what still overflows fails the compile, naming the
layer and variable, unless `saturate` (then the simulators clip and the notes say so).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from ...compiled import CompiledNetwork
from ...compilation import CompileInputs, fit_state_scales, headroom_bits, network_identity, record_headroom
from ...errors import DeployError, OverflowReport
from ...fixed_point import DECAY_UNITY, INT, RATE_INPUT_LEVELS, NumericFormat, readout_decay
from ...layers import Layer
from ...progress import progress_bar
from ...quantization import QuantNote, QuantResult
from ..base import CompileOptions
from .delays import check_delay_limit
from .lowering import ANALOG_MAXPOOL_OPTIONS, lower_rate
from .layers import CubaLayer, RateInputLayer, RateReadoutLayer, run_length
from .bias_correction import InputMeans, mean_inputs
from .quantize import quantize_rate
from .exact import exact_rate
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
    lower_notes += check_delay_limit(genome, layers, inputs.profile)
    fmt = inputs.profile.require_format()
    # bias correction (docs/fixed_point.md section 12) needs the float model's activity on calibration data
    means = (mean_inputs(layers, inputs.calibration.x, T, genome.task.input_shape)
             if inputs.calibration is not None and genome.chip_integers is None else None)
    net, headroom, drops, overflows = fit_state_scales(
        lambda drops: _network(inputs, layers, T, fmt, options.saturate, drops, options.analog_maxpool, means),
        lambda net: measure_rate_headroom(net, inputs.calibration, options.progress), fmt)
    net.notes = lower_notes + net.notes
    record_headroom(net, headroom, drops, overflows, options.saturate, genome.source)
    return net


def _network(inputs: CompileInputs, layers: list[Layer], T: int, fmt: NumericFormat, saturate: bool, drops: dict[str, int],
             analog_maxpool: str, input_means: InputMeans | None = None) -> CompiledNetwork:
    genome = inputs.genome
    options = {"saturate": saturate, "steps": T, "analog_maxpool": analog_maxpool}
    try:
        if genome.chip_integers is not None:       # the genome holds a chip's integers: build from them (exact.py)
            q = exact_rate(layers, fmt, genome.chip_integers["state_scales"], genome.source, drops)
            options["chip_integers"] = True
        else:
            q = quantize_rate(layers, fmt, saturate, drops, run_steps=readout_span(layers[-1], run_length(layers, T)),
                              input_means=input_means)
    except OverflowReport as exc:
        raise OverflowReport(exc.message, genome.source, exc.field) from None
    q = with_readout_leak(q, layers[-1])
    return CompiledNetwork(
        steps=T, layers=q.layers, fmt=fmt, windows={}, window_method="none (rate coding)",
        options=options,
        notes=[n.to_json() for n in q.notes], quantization_error={k: round(v, 12) for k, v in q.weight_error.items()},
        coding="rate", run_steps=run_length(q.layers, T), **network_identity(inputs))


def readout_span(readout: Layer, run: int) -> int:
    """How many steps of input a readout's value can hold: the run, or for a leaky readout (dv > 0) at most
    ceil(4096 / dv), since sum_k (1 - dv/4096)^k < 4096 / dv (the quantization's worst case uses it)."""
    dv = readout_decay(getattr(readout, "tau", None))
    return run if dv == 0 else min(run, -(-DECAY_UNITY // dv))


def with_readout_leak(q: QuantResult, lowered: Layer) -> QuantResult:
    """The quantized network with the lowered readout's leak (tau, and its register dv) carried over; a note
    when 4096 / tau is not an integer (the chip then keeps a slightly different share per step)."""
    tau = getattr(lowered, "tau", None)
    readout = q.layers[-1]
    if tau is None or not isinstance(readout, RateReadoutLayer):
        return q
    dv = readout_decay(tau)
    notes = list(q.notes)
    if not math.isclose(DECAY_UNITY / tau, dv, rel_tol=0, abs_tol=1e-9):
        notes.append(QuantNote(readout.id, "dv", f"leak 1/tau = 1/{tau:g} per step is not a multiple of 1/4096: dv = "
                                                 f"{dv} (the chip keeps {1 - dv / DECAY_UNITY:.6g} of the readout per "
                                                 f"step instead of {1 - 1 / tau:.6g})"))
    return QuantResult(layers=q.layers[:-1] + [replace(readout, tau=tau, dv=dv)], notes=notes,
                       weight_error=q.weight_error)


def rate_worst_case(net: CompiledNetwork, layer: CubaLayer | RateReadoutLayer) -> dict[str, int]:
    """Largest |u| and |v| any input could produce (every source active at every step)."""
    by_id = net.by_id
    row: np.ndarray | float = 0.0
    for p in layer.projections:
        src = by_id[p.source]
        payload = RATE_INPUT_LEVELS if isinstance(src, RateInputLayer) else 1
        per = p.abs_row_sum(src.shape, layer.shape)
        row = row + per * payload * 2.0 ** p.neuron_shifts(p.state_shift(layer.shift), layer.shape, flat=True)
    a = int(np.max(row)) if np.size(row) else 0
    bias = int(np.max(np.abs(np.asarray(layer.bias_q if isinstance(layer, CubaLayer) else layer.bias, dtype=INT)),
                      initial=0))
    if isinstance(layer, RateReadoutLayer):
        return {"u": a, "v": (a + bias) * readout_span(layer, net.run_steps)}
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
