"""The lowered sigma-delta network: layers in execution order (docs/sdnn.md).

* `SdnnInputLayer`: the host sends each pixel's 8-bit value once, as a graded spike, at step 0.
* `SigmaDeltaLayer`: a population of Lava `SigmaDelta` neurons (conv2d/dense/avgpool2d/add with batch norm folded
  in), fed by graded synapses (one per projection, each with its own weight exponent). `relu` False is Lava's UNIT
  activation mode: a linear node without neuron whose value is still needed by what follows.
* `SdnnMaxPoolLayer`: the max of its source's reconstructed activations (sums of the payloads received), sent as
  deltas with threshold 0; it adds no step.
* `SdnnFlattenLayer`: a view.
* `SdnnReadoutLayer`: sigma-delta neurons in UNIT mode that send nothing; the classifier reads their `act`
  (sigma + bias) at the last step.

Scales: a layer's integers are its real values times `scale` (state units per unit of value); its payloads are
`scale / 2**state_exp` per unit. Weights are mantissas; `weight_exps[i]` is Lava's `weight_exp` of projection i
(the accumulated mantissa x payload sum is shifted by it into the neuron's a_in).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...layers import Layer, register_layer
from ...projection import Projection, projections_from_json, weight_arrays


@register_layer
@dataclass
class SdnnInputLayer(Layer):
    scale: float = 255.0            # payload per unit of pixel value
    kind = "sdnn_input"

    def to_json(self) -> dict[str, Any]:
        return {"scale": float(self.scale).hex()}

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> "SdnnInputLayer":
        return cls(**common, scale=float.fromhex(spec["scale"]))


@dataclass
class _SigmaDeltaBase(Layer):
    """Graded synapses into sigma-delta neurons: what the population and the readout share."""

    projections: list[Projection] = field(default_factory=list)
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))      # float per neuron (lowering)
    relu: bool = True
    # set by quantization:
    weight_exps: tuple[int, ...] = ()
    bias_q: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))   # per neuron, state units
    vth: int = 0
    state_exp: int = 0
    scale: float = 1.0
    holds_neurons = True

    def incoming(self) -> list[Projection]:
        return list(self.projections)

    @property
    def shift(self) -> int:
        """Sigma-delta synapses have no input shift; the summary's weight exponent comes from `summary_fields`."""
        return 0

    def summary_fields(self, net: Any) -> dict[str, Any]:
        head = net.headroom.get(self.id, {})
        return {"weight_exp": ",".join(str(int(e)) for e in self.weight_exps), "vth": int(self.vth),
                "state_exp": int(self.state_exp), "scale": float(self.scale),
                "activation": "relu" if self.relu else "unit",
                "sdnn_headroom_bits": {var: entry["headroom_bits"] for var, entry in head.items()}}

    def to_json(self) -> dict[str, Any]:
        return {"projections": [p.to_json() for p in self.projections], "relu": self.relu,
                "weight_exps": [int(e) for e in self.weight_exps], "vth": int(self.vth),
                "state_exp": int(self.state_exp), "scale": float(self.scale).hex()}

    def arrays(self) -> dict[str, np.ndarray]:
        return {**weight_arrays(self.projections), "bias": np.asarray(self.bias_q, dtype=np.int64),
                "bias_float": np.asarray(self.bias, dtype=np.float64)}

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
        return cls(**common, projections=projections_from_json(Projection, spec["projections"], arrays),
                   bias=arrays["bias_float"].astype(np.float64), relu=bool(spec["relu"]),
                   weight_exps=tuple(int(e) for e in spec["weight_exps"]), bias_q=arrays["bias"].astype(np.int64),
                   vth=int(spec["vth"]), state_exp=int(spec["state_exp"]), scale=float.fromhex(spec["scale"]))


@register_layer
@dataclass
class SigmaDeltaLayer(_SigmaDeltaBase):
    kind = "sigma_delta"


@register_layer
@dataclass
class SdnnReadoutLayer(_SigmaDeltaBase):
    """UNIT sigma-delta neurons read at the last step: logit = act / scale."""

    relu: bool = False
    kind = "sdnn_readout"


@register_layer
@dataclass
class SdnnMaxPoolLayer(Layer):
    source: str = ""
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    kind = "sdnn_maxpool"
    holds_neurons = True

    def incoming(self) -> list[Projection]:
        """Each neuron listens to its pooling window: one unit synapse per input."""
        return [Projection(self.source, "avgpool2d", np.ones(self.channels, dtype=np.int64), self.kernel, self.stride)]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "kernel": list(self.kernel), "stride": list(self.stride)}

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]
                  ) -> "SdnnMaxPoolLayer":
        return cls(**common, source=spec["source"], kernel=tuple(spec["kernel"]), stride=tuple(spec["stride"]))


@register_layer
@dataclass
class SdnnFlattenLayer(Layer):
    source: str = ""
    kind = "sdnn_flatten"

    def view_of(self) -> tuple[str, ...]:
        return (self.source,)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source}

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]
                  ) -> "SdnnFlattenLayer":
        return cls(**common, source=spec["source"])


def neuron_layers(layers: list[Layer]) -> list[_SigmaDeltaBase]:
    """The sigma-delta populations and the readout, in order."""
    return [layer for layer in layers if isinstance(layer, _SigmaDeltaBase)]


__all__ = ["SdnnInputLayer", "SigmaDeltaLayer", "SdnnReadoutLayer", "SdnnMaxPoolLayer", "SdnnFlattenLayer",
           "neuron_layers"]
