"""The lowered TTFS network: layers in execution order, each a typed dataclass.

A *layer* is what runs on the chip: the input, a population of TTFS neurons (conv2d/dense/avgpool/add,
with batch norm folded in), a max-pool (earliest spike), a view (flatten, concat) or the readout.
Weights are float (after lowering) or integer mantissas (after quantization); `shift` is then the
total left shift of a mantissa into the state (weight exponent + input shift).

Time: every spiking layer owns a window of K steps. The input spikes in window 0; a TTFS layer
integrates during the window of its sources and fires in the next one. Max-pool and views take no
window of their own. A source that spikes in an earlier window than the layer's other sources is
delayed by whole windows (`delay_windows`), which leaves its values unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...layers import Layer, register_layer
from ...projection import Projection, int_array, projections_from_json


@register_layer
@dataclass
class InputLayer(Layer):
    kind = "input"


@register_layer
@dataclass
class TtfsLayer(Layer):
    """Fire-once TTFS neurons computing ReLU(sum of projections + bias)."""

    projections: list[Projection] = field(default_factory=list)
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))   # float, per channel
    # set by quantization:
    shift: int = 0
    ramp: int = 0
    threshold: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # per channel
    v_init: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))     # per channel: holds the bias
    kind = "ttfs"
    holds_neurons = True

    def summary_fields(self, net: Any) -> dict[str, Any]:
        return {"window_steps": net.steps, "window_length": net.windows[self.id], "ramp": self.ramp}

    def to_json(self) -> dict[str, Any]:
        return {"projections": [p.to_json() for p in self.projections], "shift": self.shift, "ramp": self.ramp,
                "bias_float": [float(b) for b in self.bias]}

    def arrays(self) -> dict[str, np.ndarray]:
        return {**{f"w{i}": int_array(p.weight) for i, p in enumerate(self.projections)},
                "threshold": np.asarray(self.threshold, dtype=np.int64), "v_init": np.asarray(self.v_init, dtype=np.int64)}

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> "TtfsLayer":
        return cls(**common, projections=projections_from_json(Projection, spec["projections"], arrays),
                   bias=np.asarray(spec["bias_float"]), shift=spec["shift"], ramp=spec["ramp"],
                   threshold=arrays["threshold"].astype(np.int64), v_init=arrays["v_init"].astype(np.int64))

    def incoming(self) -> list[Projection]:
        return list(self.projections)


@register_layer
@dataclass
class MaxPoolLayer(Layer):
    source: str = ""
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    kind = "maxpool2d"
    holds_neurons = True

    def incoming(self) -> list[Projection]:
        """Realised as fire-once neurons, each listening to its pooling window (one unit synapse per input)."""
        return [Projection(self.source, "avgpool2d", np.ones(self.channels, dtype=np.int64), self.kernel, self.stride)]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "kernel": list(self.kernel), "stride": list(self.stride)}

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> "MaxPoolLayer":
        return cls(**common, source=spec["source"], kernel=tuple(spec["kernel"]), stride=tuple(spec["stride"]))


@register_layer
@dataclass
class FlattenLayer(Layer):
    source: str = ""
    kind = "flatten"

    def view_of(self) -> tuple[str, ...]:
        return (self.source,)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source}

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> "FlattenLayer":
        return cls(**common, source=spec["source"])


@register_layer
@dataclass
class ConcatLayer(Layer):
    sources: tuple[str, ...] = ()
    delay_windows: tuple[int, ...] = ()
    kind = "concat"

    def view_of(self) -> tuple[str, ...]:
        return tuple(self.sources)

    def to_json(self) -> dict[str, Any]:
        return {"sources": list(self.sources), "delay_windows": list(self.delay_windows)}

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> "ConcatLayer":
        return cls(**common, sources=tuple(spec["sources"]), delay_windows=tuple(spec["delay_windows"]))


@register_layer
@dataclass
class ReadoutLayer(Layer):
    """Non-spiking: its membrane after its sources' window, plus bias, is the logit vector."""

    projections: list[Projection] = field(default_factory=list)
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))   # float per output; int after quantization
    shift: int = 0
    scale: float = 1.0            # logit value of one state unit (after quantization)
    kind = "readout"
    holds_neurons = True

    def summary_fields(self, net: Any) -> dict[str, Any]:
        return {"window_steps": net.steps, "logit_scale": self.scale}

    def to_json(self) -> dict[str, Any]:
        return {"projections": [p.to_json() for p in self.projections], "shift": self.shift,
                "scale": float(self.scale).hex()}     # exact round trip of the float

    def arrays(self) -> dict[str, np.ndarray]:
        return {**{f"w{i}": int_array(p.weight) for i, p in enumerate(self.projections)},
                "bias": np.asarray(self.bias, dtype=np.int64)}

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> "ReadoutLayer":
        return cls(**common, projections=projections_from_json(Projection, spec["projections"], arrays),
                   bias=arrays["bias"].astype(np.int64), shift=spec["shift"], scale=float.fromhex(spec["scale"]))

    def incoming(self) -> list[Projection]:
        return list(self.projections)
