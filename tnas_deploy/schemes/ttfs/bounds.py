"""What no input can exceed in a compiled TTFS network: the worst case of every state, and the time it takes.

A layer whose worst case fits the state format can never saturate, so the reference simulator may use its
closed form (`refsim`) and the compile reports it as safe for all inputs.
"""
from __future__ import annotations

import numpy as np

from ...compiled import CompiledNetwork
from ...fixed_point import weight_to_state
from ...layers import Layer
from ...projection import Projection
from .layers import ReadoutLayer, TtfsLayer


def windows_used(net: CompiledNetwork) -> int:
    """Number of windows in one inference: the input's, each TTFS depth's (the readout reads at the end)."""
    return max(layer.window for layer in net.layers) + 1


def total_steps(net: CompiledNetwork) -> int:
    return windows_used(net) * net.steps


def worst_case(net: CompiledNetwork, layer: TtfsLayer | ReadoutLayer) -> dict[str, int]:
    """Largest |u| and |v| any input could produce: every input spikes in the first step of the window."""
    by_id = net.by_id
    row: np.ndarray | float = 0.0
    for p in layer.projections:
        low = layer.shift if p.channel_shift is None else min(layer.shift, int(p.channel_shift.min()))
        state_w = np.abs(weight_to_state(p.mantissas_at(low, layer.shape, layer.shift), low)).astype(np.float64)
        row = row + Projection(p.source, p.kind, state_w, p.kernel, p.stride, p.padding).abs_row_sum(
            by_id[p.source].shape, layer.shape)
    u = int(np.max(row)) if np.size(row) else 0
    if isinstance(layer, TtfsLayer):
        # integrate: |v| <= |v_init| + K u; fire: v rises by the ramp until it passes the threshold
        # (or fires at once)
        v = max(int(np.max(np.abs(layer.v_init))) + u * net.steps, int(np.max(layer.threshold))) + layer.ramp
    else:
        v = u * net.steps + int(np.max(np.abs(layer.bias)))
    return {"u": u, "v": v}


def provably_safe(net: CompiledNetwork, layer: Layer) -> bool:
    """True when no input can make this layer's state leave its format (so nothing ever saturates)."""
    if not isinstance(layer, (TtfsLayer, ReadoutLayer)):
        return True
    return max(worst_case(net, layer).values()) <= net.fmt.state_max
