"""Bias correction after weight rounding (docs/fixed_point.md section 12).

Rounding a population's weights to mantissas shifts the mean current each neuron receives by
(W_q - W) . E[x], where x is what its sources emit per step. On calibration data the float model of the
lowered network gives E[x] (mean spikes, or input payload units, per source neuron and step over the run), and
the quantizer subtracts that shift from the neuron's bias before rounding the bias to its register (Nagel et al.
2019, "Data-Free Quantization Through Weight Equalization and Bias Correction", the empirical variant). Only the
chosen integers change, not the arithmetic: every backend still runs the same fixed-point rules.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...layers import Layer
from .layers import CubaLayer, RateInputLayer, RateProjection, RateReadoutLayer, run_length
from .refsim import input_payload, simulate_rate

#: Per population: per incoming projection (in order), the mean of what arrives per source neuron and step.
InputMeans = dict[str, list[np.ndarray]]


def mean_inputs(layers: list[Layer], x: np.ndarray, steps: int, input_shape: tuple[int, ...]) -> InputMeans:
    """Per CUBA population and membrane readout, and per incoming projection, the mean per step of the run of what
    its source emits that arrives within the run, on the float model of the lowered `layers` fed `x`."""
    run = run_length(layers, steps)
    result = simulate_rate(layers, x, steps, input_shape, integer=False)
    emitted: dict[str, np.ndarray] = {}
    for layer in layers:
        if isinstance(layer, RateInputLayer):          # the payload the chip receives (0..255 per step)
            payload = input_payload(x, layer, steps).astype(np.float64)
            emitted[layer.id] = np.concatenate(
                [payload, np.zeros((payload.shape[0], run - steps) + payload.shape[2:])], axis=1)
        elif isinstance(layer, CubaLayer):
            emitted[layer.id] = result.spike_times[layer.id]
    means: InputMeans = {}
    for layer in layers:
        if not (isinstance(layer, CubaLayer) or (isinstance(layer, RateReadoutLayer) and layer.mode == "membrane")):
            continue
        means[layer.id] = [emitted[p.source][:, :max(run - p.delay, 0)].sum(axis=1, dtype=np.float64).mean(axis=0)
                           / run for p in layer.projections]
    return means


def current_shift(real: RateProjection, quantized: RateProjection, state_per_weight: float, mantissa_step,
                  mean: np.ndarray) -> np.ndarray:
    """The mean current (state units, per neuron, flat) that rounding adds through one projection: (mantissas x
    `mantissa_step` - weights x `state_per_weight`) applied to the mean arrivals `mean`. `mantissa_step` is
    2**shift, one number or (precision groups) laid out per output channel like the weights."""
    if real.kind == "sparse":
        error = quantized.weight.multiply(mantissa_step).tocsr().astype(np.float64) - real.weight * state_per_weight
    else:
        error = np.asarray(quantized.weight, dtype=np.float64) * mantissa_step - np.asarray(real.weight) * state_per_weight
    return np.asarray(replace(real, weight=error).apply(mean[None])).reshape(-1)
