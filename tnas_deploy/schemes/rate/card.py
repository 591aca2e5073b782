"""A rate model card's accuracies: float SNN (the torch model users train, float64) -> quantized reference
-> Lava (fixed_pt CPU simulator), with whether Lava agreed with the reference bit for bit."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...compilation import CompileInputs
from ...compiled import CompiledNetwork
from ...dataset import Dataset
from ...result import SimResult
from ...verify import compare, result_dict


def card_accuracy(inputs: CompileInputs, net: CompiledNetwork, data: Dataset, ref: SimResult) -> dict[str, Any]:
    import torch

    from .lava.runner import run_lava_rate
    from .torch_model import build_rate_snn

    model = build_rate_snn(inputs.genome, inputs.weights).double().eval()
    with torch.no_grad():
        float_logits = model(torch.as_tensor(data.x, dtype=torch.float64)).numpy()
    lava, _ = run_lava_rate(net, data.x)
    comparison = compare(result_dict(ref), result_dict(lava), [layer.id for layer in net.layers])

    def acc(pred: np.ndarray) -> float:
        return round(float((pred == data.y).mean()), 6)

    return {"float_snn": acc(float_logits.argmax(1)), "quantized_reference": acc(ref.predictions),
            "lava": acc(lava.predictions), "lava_bit_exact": comparison.bit_exact, "test_samples": len(data)}
