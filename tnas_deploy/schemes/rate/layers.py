"""The lowered rate network: populations in a fixed order, each fed by delayed linear projections.

A rate network is a set of *populations* (the input, CUBA neuron layers, OR max-pool layers) and one
readout. Each population's input current at step t is

    I[t] = sum over its projections p of  W_p x_{source(p)}[t - delay_p]   +   bias

where x is what the source emitted (0/1 spikes, or the input's graded payload). Every delay is >= 1
(docs/rate.md), so within a step the populations can be updated in any order. Weights are float after
lowering (with the neuron's input gain folded in) and integer mantissas after quantization.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...fixed_point import RATE_INPUT_LEVELS
from ...layers import Layer, register_layer
from ...projection import Projection, projections_from_json, weight_arrays


@dataclass
class RateProjection(Projection):
    """Synapses from a population, delivered `delay` steps after the source emitted (>= 1).

    `shift` (set by quantization) is the total left shift of this projection's mantissas into the state;
    None means the layer's `shift`. Each projection gets its own, so a weak path (for example the graded
    input next to spike paths) keeps its full 8-bit precision.
    """

    delay: int = 1
    shift: int | None = None

    def state_shift(self, layer_shift: int) -> int:
        return layer_shift if self.shift is None else self.shift

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["delay"] = self.delay
        if self.shift is not None:
            out["shift"] = self.shift
        return out

    @classmethod
    def from_json(cls, spec: dict[str, Any], weight: Any) -> "RateProjection":
        return cls(spec["source"], spec["kind"], weight, tuple(spec["kernel"]), tuple(spec["stride"]),
                   tuple(spec["padding"]), spec["delay_windows"], delay=spec["delay"], shift=spec.get("shift"))


@register_layer
@dataclass
class RateInputLayer(Layer):
    """The input population: graded payloads during steps 0..T-1 (genome `coding.input`, docs/rate.md).

    `values` "intensity": x in [0, 1] (a static image, or one frame per step) sent as q = round(255 x);
    "counts": event counts per time bin, sent as they are (clipped to 255).
    """

    values: str = "intensity"
    kind = "rate_input"

    @property
    def scale(self) -> float:
        """Real value of one payload unit."""
        return 1.0 / RATE_INPUT_LEVELS if self.values == "intensity" else 1.0

    def to_json(self) -> dict[str, Any]:
        return {"values": self.values}

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]
                  ) -> "RateInputLayer":
        return cls(**common, values=spec["values"])


@register_layer
@dataclass
class CubaLayer(Layer):
    """A population of CUBA neurons (IF, LIF, or the OR neurons of a spike max-pool).

    Float parameters define the neuron (docs/rate.md section 2); the integer ones are set by quantization.
    """

    projections: list[RateProjection] = field(default_factory=list)
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))   # float, full shape (gain folded in)
    threshold_float: float = 1.0
    leak: float = 1.0            # v keeps this share per step: 1 - 1/tau (LIF), 1 (IF), 0 (OR pool)
    current_leak: float = 0.0    # u keeps this share per step: 0 = instantaneous current
    reset: str = "zero"          # "zero" | "subtract"
    role: str = "neuron"         # "neuron" | "or_pool" (max-pool of spikes: weights 1, threshold 0, no memory)
    # set by quantization:
    shift: int = 0
    du: int = 0
    dv: int = 0
    threshold: int = 0
    bias_q: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # full shape
    scale: float = 1.0           # state units per real unit
    kind = "cuba"
    holds_neurons = True

    def summary_fields(self, net: Any) -> dict[str, Any]:
        return {"role": self.role, "threshold": self.threshold, "du": self.du, "dv": self.dv, "reset": self.reset,
                "delays": sorted({p.delay for p in self.projections})}

    def to_json(self) -> dict[str, Any]:
        return {"projections": [p.to_json() for p in self.projections], "shift": self.shift,
                "threshold_float": float(self.threshold_float).hex(), "leak": float(self.leak).hex(),
                "current_leak": float(self.current_leak).hex(), "reset": self.reset, "role": self.role,
                "du": self.du, "dv": self.dv, "threshold": self.threshold, "scale": float(self.scale).hex()}

    def arrays(self) -> dict[str, np.ndarray]:
        return {**weight_arrays(self.projections), "bias": np.asarray(self.bias_q, dtype=np.int64),
                "bias_float": np.asarray(self.bias, dtype=np.float64)}

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> "CubaLayer":
        return cls(**common, projections=projections_from_json(RateProjection, spec["projections"], arrays),
                   bias=arrays["bias_float"], threshold_float=float.fromhex(spec["threshold_float"]),
                   leak=float.fromhex(spec["leak"]), current_leak=float.fromhex(spec["current_leak"]),
                   reset=spec["reset"], role=spec["role"], shift=spec["shift"], du=spec["du"], dv=spec["dv"],
                   threshold=spec["threshold"], bias_q=arrays["bias"].astype(np.int64),
                   scale=float.fromhex(spec["scale"]))

    def incoming(self) -> list[Projection]:
        return list(self.projections)


@register_layer
@dataclass
class RateReadoutLayer(Layer):
    """`membrane`: accumulates its input (plus bias) over the whole run; `spike_count`: counts a population."""

    mode: str = "membrane"
    source: str = ""             # spike_count: the counted population
    projections: list[RateProjection] = field(default_factory=list)
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))   # float per output; int after quantization
    shift: int = 0
    scale: float = 1.0           # logit value of one state unit (after quantization); 1 for spike counts
    kind = "rate_readout"
    holds_neurons = True

    def summary_fields(self, net: Any) -> dict[str, Any]:
        return {"mode": self.mode, "logit_scale": self.scale}

    def to_json(self) -> dict[str, Any]:
        return {"projections": [p.to_json() for p in self.projections], "shift": self.shift, "mode": self.mode,
                "source": self.source, "scale": float(self.scale).hex()}

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = weight_arrays(self.projections)
        if self.mode == "membrane":
            arrays["bias"] = np.asarray(self.bias, dtype=np.int64)
        return arrays

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]
                  ) -> "RateReadoutLayer":
        bias = arrays["bias"].astype(np.int64) if "bias" in arrays else np.zeros(0, dtype=np.int64)
        return cls(**common, mode=spec["mode"], source=spec["source"],
                   projections=projections_from_json(RateProjection, spec["projections"], arrays), bias=bias,
                   shift=spec["shift"], scale=float.fromhex(spec["scale"]))

    def incoming(self) -> list[Projection]:
        return list(self.projections)




def run_length(layers: list[Layer], steps: int) -> int:
    """T + D: D is the longest chain of forward (delay-1) hops from the input to the readout's reading."""
    depth: dict[str, int] = {}
    by_id = {layer.id: layer for layer in layers}

    def depth_of(layer_id: str, stack: tuple[str, ...] = ()) -> int:
        if layer_id in depth:
            return depth[layer_id]
        layer = by_id[layer_id]
        best = 0
        if isinstance(layer, CubaLayer):
            for p in layer.projections:
                if p.delay == 1 and p.source not in stack:
                    best = max(best, depth_of(p.source, stack + (layer_id,)) + 1)
        depth[layer_id] = best
        return best

    readout = layers[-1]
    assert isinstance(readout, RateReadoutLayer)
    if readout.mode == "spike_count":
        d = depth_of(readout.source)
    else:
        d = max((depth_of(p.source) + 1 for p in readout.projections if p.delay == 1), default=1)
    return steps + d
