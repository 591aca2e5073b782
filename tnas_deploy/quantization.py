"""What every scheme's quantization reports: notes about a layer's variable and the quantized layers."""
from __future__ import annotations

from dataclasses import dataclass, field

from .layers import Layer


@dataclass
class QuantNote:
    """A compile-time finding about one layer's variable (kept in the artifact and the summary)."""

    layer: str
    variable: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"layer": self.layer, "variable": self.variable, "message": self.message}


@dataclass
class QuantResult:
    layers: list[Layer]
    notes: list[QuantNote] = field(default_factory=list)
    weight_error: dict[str, float] = field(default_factory=dict)  # max |quantized - float| / max|float| per layer
