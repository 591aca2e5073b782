"""The float sigma-delta network of a compiled one: the lowered float weights and biases, each population's delta
threshold in real units (its integer vth / scale), the same steps. Its error against the ANN is what sigma-delta
coding itself costs (thresholds, settling); the integer network's extra error is quantization's."""
from __future__ import annotations

import numpy as np

from ...compilation import CompileInputs
from ...compiled import CompiledNetwork
from .layers import neuron_layers
from .lowering import lower_sdnn
from .refsim import run_sdnn


def simulate_float(inputs: CompileInputs, net: CompiledNetwork, x: np.ndarray, steps: int | None = None
                   ) -> list[np.ndarray]:
    """The float network's readout (logits) after every step: a list of `steps` arrays (N, classes)."""
    layers = lower_sdnn(inputs.genome, inputs.weights)
    vth = {layer.id: layer.vth / layer.scale for layer in neuron_layers(net.layers)}
    _, _, _, history = run_sdnn(layers, x, steps or net.steps, integer=False, float_vth=vth)
    return history
