"""A sigma-delta model card's accuracies: float ANN (the ReLU counterpart) -> float sigma-delta network (float
weights, the compiled delta thresholds in real units, the compiled steps) -> quantized reference -> Lava (fixed_pt
CPU simulator) on the first LAVA_CARD_SAMPLES samples, with whether Lava agreed with the reference bit for bit."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...ann import ann_activations
from ...compilation import CompileInputs
from ...compiled import CompiledNetwork
from ...dataset import Dataset
from ...result import SimResult
from ...verify import compare, result_dict
from .float_model import simulate_float

#: Lava runs every step of every sample: the card checks a prefix of the test set on it.
LAVA_CARD_SAMPLES = 20


def card_accuracy(inputs: CompileInputs, net: CompiledNetwork, data: Dataset, ref: SimResult) -> dict[str, Any]:
    from .lava.runner import run_lava_sdnn   # imports Lava

    genome = inputs.genome
    ann = ann_activations(genome, inputs.weights, data.x)[genome.readout.id]
    float_logits = simulate_float(inputs, net, data.x)[-1]
    k = min(LAVA_CARD_SAMPLES, len(data))
    lava, _ = run_lava_sdnn(net, data.x[:k])
    head = SimResult(spike_times={key: v[:k] for key, v in ref.spike_times.items()}, readout=ref.readout[:k],
                     logits=ref.logits[:k], predictions=ref.predictions[:k], counts={}, spike_format=ref.spike_format)
    comparison = compare(result_dict(head), result_dict(lava), [layer.id for layer in net.layers])

    def acc(pred: np.ndarray, y: np.ndarray = data.y) -> float:
        return round(float((pred == y).mean()), 6)

    return {"float_ann": acc(ann.argmax(1)), "float_sdnn": acc(float_logits.argmax(1)),
            "quantized_reference": acc(ref.predictions), "lava": acc(lava.predictions, data.y[:k]),
            "lava_samples": k, "lava_bit_exact": comparison.bit_exact, "test_samples": len(data)}
