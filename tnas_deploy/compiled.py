"""The compiled network: quantized layers plus everything needed to run, report and trace it back."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .fixed_point import NumericFormat
from .layers import Layer


@dataclass
class CompiledNetwork:
    name: str
    steps: int                          # TTFS: K, time steps per window; rate: T, input steps
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
    coding: str = "ttfs"                # the coding scheme's name (`schemes.scheme_for(net)`)
    run_steps: int = 0                  # rate: T + D steps per inference (docs/rate.md); 0 for TTFS

    @cached_property
    def by_id(self) -> dict[str, Layer]:
        return {layer.id: layer for layer in self.layers}

    @property
    def readout(self) -> Any:
        """The last layer: the scheme's readout (`ReadoutLayer` for TTFS, `RateReadoutLayer` for rate)."""
        return self.layers[-1]
