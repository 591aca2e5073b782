"""Node types of the genome graph: one typed dataclass per type, a type-tag registry, shape rules.

Each node validates its own values in `__post_init__`, knows the shape it produces from its inputs'
shapes (`output_shape`) and the shapes of the weights it owns (`weight_shapes`). Graph-level checks
(ids, edges, cycles) live in `genome.graph`.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from .edges import MAX_EDGE_DELAY, Edge, NodeError

Shape = tuple[int, ...]


#: Neuron models that fire at most once and take no parameters (the Stanojevic B1 neuron of TTFS genomes).
FIRE_ONCE_MODELS = ("ttfs",)
#: Neuron models without parameters: the TTFS neuron and Loihi 2's sigma-delta neuron (version 4, docs/sdnn.md),
#: whose threshold the compile chooses.
PARAMETERLESS_MODELS = FIRE_ONCE_MODELS + ("sigma_delta",)
DEFAULT_NEURON_MODEL = "ttfs"


@dataclass(frozen=True)
class NeuronSpec:
    """The neuron at a node's output (docs/genome.md, docs/rate.md).

    `ttfs` is the Stanojevic B1 fire-once neuron of TTFS genomes and takes no parameters. `if` and `lif`
    are the integrate-and-fire neurons of rate genomes (version 2): spike when v > threshold, then reset.
    """

    model: str = "ttfs"
    threshold: float = 1.0
    reset: str = "zero"
    #: Membrane time constant in steps (LIF only): v decays by 1 - 1/tau per step.
    tau: float | None = None
    #: LIF: scale the input by 1/tau (SpikingJelly's default). IF has no decay, so it must stay True.
    decay_input: bool = True
    #: Synaptic current time constant in steps; None means the current lasts one step.
    tau_current: float | None = None

    MODELS: ClassVar[tuple[str, ...]] = ("ttfs", "if", "lif", "sigma_delta")
    RESETS: ClassVar[tuple[str, ...]] = ("zero", "subtract")

    def __post_init__(self) -> None:
        if self.model not in self.MODELS:
            raise NodeError(f"unknown neuron model {self.model!r}; expected one of {list(self.MODELS)}", "neuron.model")
        if self.model in PARAMETERLESS_MODELS:
            # A TTFS neuron has no parameters; anything but the defaults would be silently ignored.
            for f in _neuron_fields():
                if f.name != "model" and getattr(self, f.name) != f.default:
                    raise NodeError(f"a {self.model!r} neuron takes no {f.name!r}; only 'if' and 'lif' neurons "
                                    "have it", f"neuron.{f.name}")
            return
        object.__setattr__(self, "threshold", _real(self.threshold, "neuron.threshold", 0.0, inclusive=False))
        if self.reset not in self.RESETS:
            raise NodeError(f"unknown reset {self.reset!r}; expected one of {list(self.RESETS)}", "neuron.reset")
        if not isinstance(self.decay_input, bool):
            raise NodeError(f"expected true or false, got {self.decay_input!r}", "neuron.decay_input")
        if self.model == "lif":
            if self.tau is None:
                raise NodeError("a 'lif' neuron needs its membrane time constant tau (in steps, >= 1)", "neuron.tau")
            object.__setattr__(self, "tau", _real(self.tau, "neuron.tau", 1.0))
        else:
            if self.tau is not None:
                raise NodeError("an 'if' neuron has no membrane time constant; use model 'lif' or leave tau out",
                                "neuron.tau")
            if not self.decay_input:
                raise NodeError("an 'if' neuron does not decay, so decay_input must stay true", "neuron.decay_input")
        if self.tau_current is not None:
            object.__setattr__(self, "tau_current", _real(self.tau_current, "neuron.tau_current", 1.0))

    def to_json(self) -> dict[str, Any]:
        if self.model in PARAMETERLESS_MODELS:
            return {"model": self.model}   # as in version 1, so v1 genomes serialise unchanged
        return {"model": self.model, "threshold": self.threshold, "reset": self.reset, "tau": self.tau,
                "decay_input": self.decay_input, "tau_current": self.tau_current}

    @staticmethod
    def from_json(obj: dict[str, Any]) -> "NeuronSpec":
        known = {f.name for f in _neuron_fields()}
        for key in obj:
            if key not in known:
                raise NodeError(f"unknown neuron field {key!r}; expected some of {sorted(known)}", f"neuron.{key}")
        model = obj.get("model", DEFAULT_NEURON_MODEL)
        if model in PARAMETERLESS_MODELS:
            extra = sorted(set(obj) - {"model"})
            if extra:   # even a default value: a ttfs neuron is written {"model": "ttfs"} and nothing else
                raise NodeError(f"a {model!r} neuron takes no {extra[0]!r}; only 'if' and 'lif' neurons have it",
                                f"neuron.{extra[0]}")
        return NeuronSpec(**obj)


@functools.lru_cache(maxsize=None)
def _neuron_fields() -> tuple[Any, ...]:
    """`fields(NeuronSpec)`, looked up once (genomes have one neuron per node, and `fields` is slow)."""
    return fields(NeuronSpec)


def _real(value: Any, name: str, minimum: float, inclusive: bool = True) -> float:
    """A finite real number >= minimum (> minimum unless inclusive), as a float (canonical JSON)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (not inclusive and value == minimum):
        relation = ">=" if inclusive else ">"
        raise NodeError(f"expected a finite number {relation} {minimum:g}, got {value!r}", name)
    return float(value)


def _pair(value: int | list[int] | tuple[int, int], name: str, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any((not isinstance(v, int)) or v < minimum for v in pair):
        raise NodeError(f"expected an integer >= {minimum} or a pair of them, got {value!r}", name)
    return pair  # type: ignore[return-value]


#: Every node type, by its JSON `type` tag (`Node.since_version` says which format version introduced it).
NODE_TYPES: dict[str, type["Node"]] = {}


def register(cls: type["Node"]) -> type["Node"]:
    NODE_TYPES[cls.type_tag] = cls
    return cls


def node_types(version: int) -> dict[str, type["Node"]]:
    """The node types a genome of format `version` may use."""
    return {tag: cls for tag, cls in NODE_TYPES.items() if cls.since_version <= version}


@dataclass(frozen=True)
class Node:
    """Common part of every node: id, incoming edges, optional output neuron, free-text label."""

    id: str
    inputs: tuple[Edge, ...] = ()
    neuron: NeuronSpec | None = None
    label: str | None = None

    type_tag: ClassVar[str] = ""
    #: Nodes that own trainable weights (an HDF5 group in the weights file).
    has_weights: ClassVar[bool] = False
    #: How many forward inputs the node takes: (min, max); max None means unbounded.
    arity: ClassVar[tuple[int, int | None]] = (1, 1)
    #: Whether a neuron may sit at the node's output.
    may_spike: ClassVar[bool] = True
    #: The genome format version that introduced the type.
    since_version: ClassVar[int] = 1

    def __post_init__(self) -> None:
        lo, hi = self.arity
        n = len(self.forward_inputs)
        if n < lo or (hi is not None and n > hi):
            want = f"exactly {lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
            raise NodeError(f"{self.type_tag} takes {want} forward input(s), got {n}", "inputs")
        if self.neuron is not None and not self.may_spike:
            raise NodeError(f"a {self.type_tag} node cannot carry a neuron", "neuron")

    @functools.cached_property
    def forward_inputs(self) -> tuple[str, ...]:
        return tuple(e.source for e in self.inputs if not e.recurrent)

    @property
    def spiking(self) -> bool:
        return self.neuron is not None

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        raise NotImplementedError

    def weight_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """Shapes of the tensors this node owns in the weights file (PyTorch layouts and names)."""
        return {}

    # -- (de)serialisation ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type_tag}
        if self.label is not None:
            out["label"] = self.label
        if self.inputs:
            out["inputs"] = [e.to_json() for e in self.inputs]
        if self.may_spike and self.type_tag != "readout":
            out["neuron"] = None if self.neuron is None else self.neuron.to_json()
        for f in fields(self):
            if f.name in ("id", "inputs", "neuron", "label"):
                continue
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Node":
        kwargs: dict[str, Any] = {k: v for k, v in obj.items() if k not in ("type", "inputs", "neuron")}
        edges = []
        for j, e in enumerate(obj.get("inputs", [])):
            try:
                edges.append(Edge.from_json(e))
            except NodeError as exc:
                raise NodeError(str(exc), f"inputs[{j}].{exc.field}") from None
        kwargs["inputs"] = tuple(edges)
        neuron = obj.get("neuron")
        kwargs["neuron"] = None if neuron is None else NeuronSpec.from_json(neuron)
        return cls(**kwargs)


def _require_rank(in_shape: Shape, rank: int, what: str) -> None:
    if len(in_shape) != rank:
        layout = "[channels, height, width]" if rank == 3 else "[features] (insert a flatten node)"
        raise NodeError(f"{what} expects input of shape {layout}, got {list(in_shape)}", "inputs")


def _pool_out(size: int, kernel: int, stride: int, padding: int, what: str) -> int:
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise NodeError(f"{what}: kernel {kernel} is larger than the padded input size {size + 2 * padding}", "kernel")
    return out


@register
@dataclass(frozen=True)
class Input(Node):
    """The network input; its shape is the task's `input_shape`."""

    type_tag: ClassVar[str] = "input"
    arity: ClassVar[tuple[int, int | None]] = (0, 0)
    may_spike: ClassVar[bool] = False

    def output_shape(self, in_shapes: list[Shape]) -> Shape:  # set by the graph from the task
        raise NodeError("the input node takes its shape from task.input_shape")


@register
@dataclass(frozen=True)
class Conv2d(Node):
    out_channels: int = 1
    kernel: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    bias: bool = True

    type_tag: ClassVar[str] = "conv2d"
    has_weights: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel", _pair(self.kernel, "kernel", 1))
        object.__setattr__(self, "stride", _pair(self.stride, "stride", 1))
        object.__setattr__(self, "padding", _pair(self.padding, "padding", 0))
        if not isinstance(self.out_channels, int) or self.out_channels < 1:
            raise NodeError("expected a positive integer", "out_channels")
        super().__post_init__()

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        _require_rank(shape, 3, "conv2d")
        h = _pool_out(shape[1], self.kernel[0], self.stride[0], self.padding[0], "conv2d")
        w = _pool_out(shape[2], self.kernel[1], self.stride[1], self.padding[1], "conv2d")
        return (self.out_channels, h, w)

    def weight_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {"weight": (self.out_channels, in_shape[0], *self.kernel)}
        if self.bias:
            shapes["bias"] = (self.out_channels,)
        return shapes


@register
@dataclass(frozen=True)
class Dense(Node):
    units: int = 1
    bias: bool = True

    type_tag: ClassVar[str] = "dense"
    has_weights: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not isinstance(self.units, int) or self.units < 1:
            raise NodeError("expected a positive integer", "units")
        super().__post_init__()

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        _require_rank(shape, 1, "dense")
        return (self.units,)

    def weight_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {"weight": (self.units, in_shape[0])}
        if self.bias:
            shapes["bias"] = (self.units,)
        return shapes


@register
@dataclass(frozen=True)
class BatchNorm(Node):
    """Batch normalisation in inference form; folded into the preceding conv2d/dense at compile time."""

    eps: float = 1e-5

    type_tag: ClassVar[str] = "batchnorm"
    has_weights: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if not isinstance(self.eps, (int, float)) or not self.eps > 0:
            raise NodeError("expected a positive number", "eps")
        super().__post_init__()

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]

    def weight_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        c = (in_shape[0],)
        return {"weight": c, "bias": c, "running_mean": c, "running_var": c}


@dataclass(frozen=True)
class _Pool2d(Node):
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] | None = None  # None: equal to the kernel, as in PyTorch

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel", _pair(self.kernel, "kernel", 1))
        stride = self.kernel if self.stride is None else _pair(self.stride, "stride", 1)
        object.__setattr__(self, "stride", stride)
        super().__post_init__()

    @property
    def pad(self) -> tuple[int, int]:
        """Zero padding per axis in the shape rule; only avgpool2d has a padding field (version 2)."""
        return (0, 0)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        _require_rank(shape, 3, self.type_tag)
        h = _pool_out(shape[1], self.kernel[0], self.stride[0], self.pad[0], self.type_tag)  # type: ignore[index]
        w = _pool_out(shape[2], self.kernel[1], self.stride[1], self.pad[1], self.type_tag)  # type: ignore[index]
        return (shape[0], h, w)


@register
@dataclass(frozen=True)
class MaxPool2d(_Pool2d):
    """Max-pooling; in TTFS it is the earliest spike in each window (exact, takes no time window)."""

    type_tag: ClassVar[str] = "maxpool2d"
    may_spike: ClassVar[bool] = False


@register
@dataclass(frozen=True)
class AvgPool2d(_Pool2d):
    """Average pooling; in TTFS a layer of fixed weights 1/(kh*kw) with its own window (exact: inputs >= 0).

    `padding` (version 2) is zero padding that counts in the mean, as PyTorch's AvgPool2d with
    count_include_pad=True: every window divides by kh*kw.
    """

    padding: tuple[int, int] = (0, 0)

    type_tag: ClassVar[str] = "avgpool2d"

    def __post_init__(self) -> None:
        super().__post_init__()
        padding = _pair(self.padding, "padding", 0)
        if any(p > k // 2 for p, k in zip(padding, self.kernel)):
            # PyTorch refuses it too: a window could then lie entirely in the padding.
            raise NodeError(f"padding {list(padding)} is more than half the kernel {list(self.kernel)}", "padding")
        object.__setattr__(self, "padding", padding)

    @property
    def pad(self) -> tuple[int, int]:
        return self.padding

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.padding == (0, 0):
            del out["padding"]   # version 1 has no avgpool2d padding; unpadded pools serialise as in v1
        return out


@register
@dataclass(frozen=True)
class Flatten(Node):
    """Reshape [C, H, W] to [C*H*W] in PyTorch (channel-major) order."""

    type_tag: ClassVar[str] = "flatten"
    may_spike: ClassVar[bool] = False

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        return (math.prod(shape),)


@register
@dataclass(frozen=True)
class Add(Node):
    """Element-wise sum of inputs of equal shape (residual connections).

    It sums forward and recurrent inputs alike, so one forward input plus a recurrent one is a valid add
    (a backward edge into a cell node). Version 1 genomes keep needing two forward inputs (graph check).
    """

    type_tag: ClassVar[str] = "add"
    arity: ClassVar[tuple[int, int | None]] = (1, None)

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.inputs) < 2:
            raise NodeError(f"add takes at least 2 inputs (forward and recurrent together), got {len(self.inputs)}",
                            "inputs")

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        if any(s != in_shapes[0] for s in in_shapes):
            raise NodeError(f"add needs inputs of equal shape, got {[list(s) for s in in_shapes]}", "inputs")
        return in_shapes[0]


@register
@dataclass(frozen=True)
class Concat(Node):
    """Concatenation along the first (channel or feature) axis."""

    type_tag: ClassVar[str] = "concat"
    arity: ClassVar[tuple[int, int | None]] = (2, None)

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        rest = {s[1:] for s in in_shapes}
        if len(rest) != 1 or len({len(s) for s in in_shapes}) != 1:
            raise NodeError(
                f"concat needs inputs that differ only in the first axis, got {[list(s) for s in in_shapes]}", "inputs")
        return (sum(s[0] for s in in_shapes), *in_shapes[0][1:])


@register
@dataclass(frozen=True)
class NeuronNode(Node):
    """A neuron on its input's values, element-wise (version 2, rate coding): no weights, same shape.

    It puts spiking neurons where no weighted node sits, e.g. the LIF in front of a cell's convolutions.
    """

    type_tag: ClassVar[str] = "neuron"
    since_version: ClassVar[int] = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.neuron is None:
            raise NodeError("a neuron node needs a neuron, e.g. {\"model\": \"lif\", \"tau\": 2.0}", "neuron")

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        return shape


@register
@dataclass(frozen=True)
class Readout(Node):
    """The network output, read as logits.

    `membrane`: the potential of its (non-spiking) input node. `spike_count` (rate genomes): the number
    of spikes of its input node, which carries a neuron. The graph checks which one the coding allows.
    """

    mode: str = "membrane"
    #: Version 3, membrane readouts of rate genomes: a leak with this time constant in steps (>= 1), the readout
    #: keeping 1 - 1/tau of its value per step (a leaky integrator, as snnTorch's and Norse's LI). None: no leak.
    tau: float | None = None

    type_tag: ClassVar[str] = "readout"
    may_spike: ClassVar[bool] = False

    MODES: ClassVar[tuple[str, ...]] = ("membrane", "spike_count")

    def __post_init__(self) -> None:
        if self.mode not in self.MODES:
            raise NodeError(f"unknown readout mode {self.mode!r}; expected one of {list(self.MODES)}", "mode")
        if self.tau is not None:
            object.__setattr__(self, "tau", _real(self.tau, "tau", 1.0))
            if self.mode != "membrane":
                raise NodeError(f"tau is the leak of a membrane readout; a {self.mode!r} readout counts spikes and "
                                "does not leak (use mode 'membrane' or leave tau out)", "tau")
        super().__post_init__()

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.tau is None:
            del out["tau"]      # a readout without leak serialises as before version 3
        return out

    def output_shape(self, in_shapes: list[Shape]) -> Shape:
        (shape,) = in_shapes
        return (math.prod(shape),)


def listed(names: Any, limit: int = 20) -> str:
    """`names` sorted, as a list for a message; a long one is cut after `limit` names (a genome may have 100,000)."""
    ordered = sorted(names)
    if len(ordered) <= limit:
        return str(ordered)
    return str(ordered[:limit])[:-1] + f", ...] ({len(ordered)} in all)"


def node_from_json(obj: dict[str, Any]) -> Node:
    cls = NODE_TYPES.get(obj.get("type", ""))
    if cls is None:
        raise NodeError(f"unknown node type {obj.get('type')!r}; expected one of {sorted(NODE_TYPES)}", "type")
    return cls.from_json(obj)


__all__ = ["Edge", "MAX_EDGE_DELAY", "NeuronNode", "NeuronSpec", "Node", "NodeError", "NODE_TYPES", "listed", "node_from_json",
           "node_types", "Shape", "field"]
