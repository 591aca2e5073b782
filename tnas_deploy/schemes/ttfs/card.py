"""A TTFS model card's accuracies: float ANN (the ReLU counterpart) -> float TTFS (discrete time, float
weights) -> quantized reference (the compiled artifact on the integer reference simulator)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...ann import ann_activations
from ...compilation import CompileInputs
from ...compiled import CompiledNetwork
from ...dataset import Dataset
from ...result import SimResult
from .lowering import lower
from .mapping import calibrate_windows, simulate_float


def card_accuracy(inputs: CompileInputs, net: CompiledNetwork, data: Dataset, ref: SimResult) -> dict[str, Any]:
    genome = inputs.genome
    ann = ann_activations(genome, inputs.weights, data.x)[genome.readout.id]
    layers = lower(genome, inputs.weights)
    windows = calibrate_windows(layers, inputs.calibration.x if inputs.calibration else None, genome.time.window_margin)
    ttfs = simulate_float(layers, windows, data.x, genome.time.steps_per_window).logits

    def acc(pred: np.ndarray) -> float:
        return round(float((pred == data.y).mean()), 6)

    return {"float_ann": acc(ann.argmax(1)), "float_ttfs": acc(ttfs.argmax(1)),
            "quantized_reference": acc(ref.predictions), "test_samples": len(data)}
