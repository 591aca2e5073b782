"""The lowered rate network: populations in a fixed order, each fed by delayed linear projections.

A rate network is a set of *populations* (the input, CUBA neuron layers, OR max-pool layers) and one
readout. Each population's input current at step t is

    I[t] = sum over its projections p of  W_p x_{source(p)}[t - delay_p]   +   bias

where x is what the source emitted (0/1 spikes, or the input's graded payload). Every delay is >= 1
(docs/rate.md), so within a step the populations can be updated in any order. Weights are float after
lowering (with the neuron's input gain folded in) and integer mantissas after quantization.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ...fixed_point import RATE_INPUT_LEVELS
from ...layers import Layer, register_layer
from ...projection import Projection, Shape, int_array, projections_from_json, weight_arrays


@dataclass
class RateProjection(Projection):
    """Synapses from a population, delivered `delay` steps after the source emitted (>= 1).

    `shift` (set by quantization) is the total left shift of this projection's mantissas into the state;
    None means the layer's `shift`. Each projection gets its own, so a weak path (for example the graded
    input next to spike paths) keeps its full 8-bit precision.

    Axonal delays (genome version 3) come on top of `delay` (which counts the hop and any recurrent edges):
    `extra_delay` steps on every synapse, plus `neuron_delays[i]` for the synapses of source neuron i
    (`neuron_delays_at` "source") or into target neuron i ("target"), flat in C, H, W order.
    """

    delay: int = 1
    shift: int | None = None
    extra_delay: int = 0
    neuron_delays: np.ndarray | None = None
    neuron_delays_at: str = "source"

    DELAY_ENDS = ("source", "target")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.neuron_delays_at not in self.DELAY_ENDS:
            raise ValueError(f"neuron_delays_at must be one of {self.DELAY_ENDS}, got {self.neuron_delays_at!r}")
        if self.neuron_delays is not None:
            self.neuron_delays = np.asarray(self.neuron_delays, dtype=np.int64).reshape(-1)

    def state_shift(self, layer_shift: int) -> int:
        return layer_shift if self.shift is None else self.shift

    @property
    def axonal(self) -> bool:
        """Whether the projection has axonal delays beyond its hop (genome version 3)."""
        return self.extra_delay != 0 or self.neuron_delays is not None

    @property
    def longest_delay(self) -> int:
        """Steps from emission to arrival on the slowest synapse."""
        per = int(self.neuron_delays.max(initial=0)) if self.neuron_delays is not None else 0
        return self.delay + self.extra_delay + per

    def arrival_parts(self, source_shape: Shape, out_shape: Shape) -> list["RateProjection"]:
        """The projection as parts with one delay each (`delay` = steps from emission to arrival, no axonal
        fields): itself when it has no axonal delays, else one sparse part per distinct per-neuron delay, holding
        the synapses of the source (or target) neurons with that delay. The parts add up to the projection."""
        if not self.axonal:
            return [self]
        base = self.delay + self.extra_delay
        if self.neuron_delays is None:
            return [replace(self, delay=base, extra_delay=0)]
        from scipy import sparse  # deferred, as in `projection.py`: only per-neuron delays need it here

        matrix = self.matrix(source_shape, out_shape).tocsr()
        parts = []
        for extra in np.unique(self.neuron_delays):
            mask = sparse.diags((self.neuron_delays == extra).astype(np.int64))
            part = (matrix @ mask if self.neuron_delays_at == "source" else mask @ matrix).tocsr()
            part.eliminate_zeros()
            part.sort_indices()
            parts.append(replace(self, kind="sparse", weight=part, kernel=(1, 1), stride=(1, 1), padding=(0, 0),
                                 delay=base + int(extra), extra_delay=0, neuron_delays=None))
        return parts

    def fan_out_by_arrival(self, source_shape: Shape, out_shape: Shape
                           ) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """(steps from emission to arrival, synapses and non-zero synapses leaving each source neuron with that
        delay), per distinct delay: where a spike's synaptic events land in time."""
        fan = self.fan_out(source_shape, out_shape)
        nonzero = self.nonzero_fan_out(source_shape, out_shape)
        base = self.delay + self.extra_delay
        if self.neuron_delays is None:
            return [(base, fan, nonzero)]
        from scipy import sparse  # deferred, as in `projection.py`: only per-neuron delays need it here

        out = []
        if self.neuron_delays_at == "source":
            for extra in np.unique(self.neuron_delays):
                keep = (self.neuron_delays == extra).reshape(source_shape)
                out.append((base + int(extra), fan * keep, nonzero * keep))
            return out
        every = replace(self, weight=_ones_like(self.weight), neuron_delays=None).matrix(source_shape, out_shape)
        weights = self.matrix(source_shape, out_shape).tocsr()
        for extra in np.unique(self.neuron_delays):
            rows = sparse.diags((self.neuron_delays == extra).astype(np.int64))
            synapses = np.asarray((rows @ every).astype(bool).sum(axis=0)).reshape(source_shape)
            live = np.asarray((rows @ weights != 0).sum(axis=0)).reshape(source_shape)
            out.append((base + int(extra), synapses.astype(np.int64), live.astype(np.int64)))
        return out

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["delay"] = self.delay
        if self.shift is not None:
            out["shift"] = self.shift
        if self.extra_delay:
            out["extra_delay"] = self.extra_delay
        if self.neuron_delays is not None:
            out["neuron_delays_at"] = self.neuron_delays_at   # the delays themselves are the layer array d<i>
        return out

    @classmethod
    def from_json(cls, spec: dict[str, Any], weight: Any) -> "RateProjection":
        return cls(spec["source"], spec["kind"], weight, tuple(spec["kernel"]), tuple(spec["stride"]),
                   tuple(spec["padding"]), spec["delay_windows"], delay=spec["delay"], shift=spec.get("shift"),
                   extra_delay=spec.get("extra_delay", 0), neuron_delays_at=spec.get("neuron_delays_at", "source"))


def _ones_like(weight: Any) -> Any:
    """The same synapses, every weight 1 (to count synapses whose weight is 0 too)."""
    if hasattr(weight, "tocsr"):                 # a scipy sparse matrix
        ones = weight.copy().tocsr()
        ones.data = np.ones_like(ones.data)
        return ones
    return np.ones_like(np.asarray(weight))


def delay_arrays(projections: list[RateProjection]) -> dict[str, np.ndarray]:
    """The per-neuron axonal delays of a layer's projections as artifact arrays `d<i>` (none without them)."""
    return {f"d{i}": int_array(p.neuron_delays) for i, p in enumerate(projections) if p.neuron_delays is not None}


def rate_projections_from_json(specs: list[dict[str, Any]], arrays: dict[str, np.ndarray]) -> list[RateProjection]:
    """A stored layer's projections, with their per-neuron delays (`d<i>`) where they have them."""
    plain = projections_from_json(RateProjection, specs, arrays)
    return [p if f"d{i}" not in arrays else replace(p, neuron_delays=arrays[f"d{i}"].astype(np.int64))
            for i, p in enumerate(plain)]


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
                "delays": delay_summary(self.projections)}

    def to_json(self) -> dict[str, Any]:
        return {"projections": [p.to_json() for p in self.projections], "shift": self.shift,
                "threshold_float": float(self.threshold_float).hex(), "leak": float(self.leak).hex(),
                "current_leak": float(self.current_leak).hex(), "reset": self.reset, "role": self.role,
                "du": self.du, "dv": self.dv, "threshold": self.threshold, "scale": float(self.scale).hex()}

    def arrays(self) -> dict[str, np.ndarray]:
        return {**weight_arrays(self.projections), **delay_arrays(self.projections),
                "bias": np.asarray(self.bias_q, dtype=np.int64),
                "bias_float": np.asarray(self.bias, dtype=np.float64)}

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> "CubaLayer":
        return cls(**common, projections=rate_projections_from_json(spec["projections"], arrays),
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
    """`membrane`: accumulates its input (plus bias) over the whole run, leaking with time constant `tau` steps
    when set (genome version 3: keeps 1 - 1/tau per step; on chip `dv`); `spike_count`: counts a population."""

    mode: str = "membrane"
    source: str = ""             # spike_count: the counted population
    projections: list[RateProjection] = field(default_factory=list)
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))   # float per output; int after quantization
    shift: int = 0
    scale: float = 1.0           # logit value of one state unit (after quantization); 1 for spike counts
    tau: float | None = None     # membrane readout's leak time constant in steps; None: no leak
    dv: int = 0                  # its 12-bit voltage decay (fixed_point.readout_decay), set by the compile
    kind = "rate_readout"
    holds_neurons = True

    @property
    def leak(self) -> float:
        """The share of its value the float readout keeps per step: 1 - 1/tau, 1 without leak."""
        return 1.0 if self.tau is None else 1.0 - 1.0 / self.tau

    def summary_fields(self, net: Any) -> dict[str, Any]:
        fields = {"mode": self.mode, "logit_scale": self.scale}
        if self.tau is not None:
            fields.update(tau=self.tau, dv=self.dv)
        return fields

    def to_json(self) -> dict[str, Any]:
        out = {"projections": [p.to_json() for p in self.projections], "shift": self.shift, "mode": self.mode,
               "source": self.source, "scale": float(self.scale).hex()}
        if self.tau is not None:     # only leaky readouts carry these: artifacts of other networks are unchanged
            out.update(tau=float(self.tau).hex(), dv=int(self.dv))
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {**weight_arrays(self.projections), **delay_arrays(self.projections)}
        if self.mode == "membrane":
            arrays["bias"] = np.asarray(self.bias, dtype=np.int64)
        return arrays

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]
                  ) -> "RateReadoutLayer":
        bias = arrays["bias"].astype(np.int64) if "bias" in arrays else np.zeros(0, dtype=np.int64)
        return cls(**common, mode=spec["mode"], source=spec["source"],
                   projections=rate_projections_from_json(spec["projections"], arrays), bias=bias,
                   shift=spec["shift"], scale=float.fromhex(spec["scale"]),
                   tau=float.fromhex(spec["tau"]) if "tau" in spec else None, dv=int(spec.get("dv", 0)))

    def incoming(self) -> list[Projection]:
        return list(self.projections)




def delay_summary(projections: list[RateProjection]) -> list[int | str]:
    """A layer's delays for the compile summary: the steps from emission to arrival of each projection, then the
    range ("1-63") of each one whose neurons have their own axonal delays."""
    spans = {(p.delay + p.extra_delay, p.longest_delay) for p in projections}
    return [*sorted(a for a, b in spans if a == b), *(f"{a}-{b}" for a, b in sorted(spans) if a != b)]


def run_length(layers: list[Layer], steps: int) -> int:
    """T + D: D is the longest chain of forward hops from the input to the readout's reading, each hop one step
    plus its axonal delays (the slowest synapse); recurrent projections (delay > 1, or a same_step backward edge's:
    delay 1 from a layer at or after its target in the layers' topological order) never lengthen it."""
    depth: dict[str, int] = {}
    by_id = {layer.id: layer for layer in layers}
    position = {layer.id: k for k, layer in enumerate(layers)}

    def depth_of(layer_id: str, stack: tuple[str, ...] = ()) -> int:
        if layer_id in depth:
            return depth[layer_id]
        layer = by_id[layer_id]
        best = 0
        if isinstance(layer, CubaLayer):
            for p in layer.projections:
                if p.delay == 1 and p.source not in stack and position[p.source] < position[layer_id]:
                    best = max(best, depth_of(p.source, stack + (layer_id,)) + p.longest_delay)
        depth[layer_id] = best
        return best

    readout = layers[-1]
    assert isinstance(readout, RateReadoutLayer)
    if readout.mode == "spike_count":
        d = depth_of(readout.source)
    else:
        d = max((depth_of(p.source) + p.longest_delay for p in readout.projections if p.delay == 1), default=1)
    return steps + d
