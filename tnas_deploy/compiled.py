"""The compiled network: quantized layers plus everything needed to run, report and trace it back."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .fixed_point import NumericFormat, weight_to_state
from .network import Layer, Projection, ReadoutLayer, TtfsLayer


@dataclass
class CompiledNetwork:
    name: str
    steps: int                          # K, time steps per window
    layers: list[Layer]                 # quantized, in execution order; the last one is the readout
    fmt: NumericFormat
    input_shape: tuple[int, ...]
    classes: tuple[str, ...]
    windows: dict[str, float]           # B_n of every TTFS layer (real value units)
    window_method: str                  # "calibration" | "interval-bound"
    genome: dict[str, Any]              # the canonical genome JSON
    provenance: dict[str, Any]
    profile: dict[str, Any]             # profile name, sha256 and its parsed contents (numbers with sources)
    inputs: dict[str, Any]              # sha256 of genome, weights, calibration, profile
    options: dict[str, Any]             # compile options (saturate, margin, ...)
    tool_version: str
    notes: list[dict[str, str]] = field(default_factory=list)
    headroom: dict[str, dict[str, Any]] = field(default_factory=dict)
    quantization_error: dict[str, float] = field(default_factory=dict)
    coding: str = "ttfs"                # "ttfs" | "rate"
    run_steps: int = 0                  # rate: T + D steps per inference (docs/rate.md); 0 for TTFS

    @cached_property
    def by_id(self) -> dict[str, Layer]:
        return {layer.id: layer for layer in self.layers}

    @property
    def readout(self) -> ReadoutLayer:
        """The last layer: a `ReadoutLayer` (TTFS) or a `rate.network.RateReadoutLayer` (rate)."""
        return self.layers[-1]  # type: ignore[return-value]

    @property
    def windows_used(self) -> int:
        """Number of windows in one inference: the input's, each TTFS depth's (the readout reads at the end)."""
        return max(layer.window for layer in self.layers) + 1

    @property
    def total_steps(self) -> int:
        return self.run_steps if self.coding == "rate" else self.windows_used * self.steps

    @property
    def ttfs_layers(self) -> list[TtfsLayer]:
        return [layer for layer in self.layers if isinstance(layer, TtfsLayer)]

    def worst_case(self, layer: TtfsLayer | ReadoutLayer) -> dict[str, int]:
        """Largest |u| and |v| any input could produce: every input spikes in the first step of the window."""
        by_id = self.by_id
        row: np.ndarray | float = 0.0
        for p in layer.projections:
            state_w = np.abs(weight_to_state(p.weight, layer.shift)).astype(np.float64)
            row = row + Projection(p.source, p.kind, state_w, p.kernel, p.stride, p.padding).abs_row_sum(
                by_id[p.source].shape, layer.shape)
        u = int(np.max(row)) if np.size(row) else 0
        if isinstance(layer, TtfsLayer):
            # integrate: |v| <= |v_init| + K u; fire: v rises by the ramp until it passes the threshold
            # (or fires at once)
            v = max(int(np.max(np.abs(layer.v_init))) + u * self.steps, int(np.max(layer.threshold))) + layer.ramp
        else:
            v = u * self.steps + int(np.max(np.abs(layer.bias)))
        return {"u": u, "v": v}

    def provably_safe(self, layer: Layer) -> bool:
        """True when no input can make this layer's state leave its format (so nothing ever saturates)."""
        if not isinstance(layer, (TtfsLayer, ReadoutLayer)):
            return True
        return max(self.worst_case(layer).values()) <= self.fmt.state_max
