"""Rate genome + float weights -> the lowered rate network (docs/rate.md section 5).

Populations are the input, every node with a neuron, and every max-pool of spikes (OR neurons). The
value of any other node is affine in the populations' emissions: a sum of *terms* (source population,
chain of linear operations, delay) plus a constant, its *rest value* (the node's value when nothing has
spiked). A population's input current is the affine form of its node's pre-neuron value; each term
becomes one projection. Batch norm and other per-channel scales are folded into the neighbouring conv or
dense; a chain of several spatial maps is multiplied out into a sparse matrix.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ...errors import DeployError
from ...genome import Genome
from ...layers import Layer
from ...projection import Shape
from ...weights import Weights
from .layers import CubaLayer, RateInputLayer, RateProjection, RateReadoutLayer

#: How a `maxpool2d` of analog values may be replaced, when asked for explicitly (`--analog-maxpool`).
ANALOG_MAXPOOL_OPTIONS = ("refuse", "avgpool")


@dataclass(frozen=True)
class _Op:
    """One linear operation of a chain, applied to values of shape `in_shape`."""

    kind: str                   # "conv2d" | "dense" | "avgpool2d" | "scale"
    in_shape: Shape
    out_shape: Shape
    weight: np.ndarray          # conv2d (O, C, kh, kw); dense (O, I); avgpool2d/scale: per channel
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class _Term:
    source: str                 # population id
    ops: tuple[_Op, ...]        # applied in order to the source's emissions
    delay: int                  # steps from emission to arrival (>= 1) without axonal delays
    extra: int = 0              # axonal delay of the path (genome edges' single-number delays), steps
    at_source: np.ndarray | None = None   # axonal delay per source neuron (flat), from edges' delay lists
    at_target: np.ndarray | None = None   # axonal delay per target neuron (flat), from an edge's target_delay


class _DelayError(Exception):
    """An edge's delays cannot be realised on this path: the message says why, `field` names the edge's field."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


class _LinearLoop(Exception):
    def __init__(self, node_id: str):
        self.node_id = node_id


def lower_rate(genome: Genome, weights: Weights, analog_maxpool: str = "refuse") -> tuple[list[Layer], list[dict]]:
    """Lower a validated rate genome; returns the layers (input first, readout last) and compile notes."""
    where = genome.source or "<genome>"
    index = {n.id: i for i, n in enumerate(genome.nodes)}
    shapes = genome.shapes
    notes: list[dict] = []

    def fail(node_id: str, message: str, fld: str = "") -> DeployError:
        return DeployError(message, where, f"nodes[{index[node_id]}] (id {node_id!r})" + (f".{fld}" if fld else ""))

    or_pools: set[str] = set()
    forms: dict[str, list[_Term]] = {}
    rests: dict[str, np.ndarray] = {}
    active: set[str] = set()

    def is_population(node_id: str) -> bool:
        node = genome.by_id[node_id]
        return node.type_tag == "input" or node.neuron is not None or node_id in or_pools

    def output_form(node_id: str) -> tuple[list[_Term], np.ndarray]:
        if is_population(node_id):
            return [_Term(node_id, (), 1)], np.zeros(shapes[node_id])
        return pre_form(node_id)

    def pre_form(node_id: str) -> tuple[list[_Term], np.ndarray]:
        """The node's value before its neuron: affine in emissions (terms) plus its rest value."""
        if node_id in forms:
            return forms[node_id], rests[node_id]
        if node_id in active:
            raise _LinearLoop(node_id)
        active.add(node_id)
        node = genome.by_id[node_id]
        terms: list[_Term] = []
        rest = np.zeros(shapes[node_id])
        tag = node.type_tag
        try:
            fwd = [(j, e, _through_edge(output_form(e.source), e, j)) for j, e in enumerate(node.inputs)
                   if not e.recurrent]
            if tag in ("add", "neuron"):
                for j, e, (t, r) in fwd:
                    terms += _at_target(t, e, j)
                    rest = rest + r
            elif tag == "flatten":
                j, e, (src_terms, src_rest) = fwd[0]
                terms, rest = _at_target(src_terms, e, j), src_rest.reshape(-1)
            elif tag in ("conv2d", "dense", "batchnorm", "avgpool2d", "maxpool2d"):
                op, bias = _node_op(genome, weights, node_id, analog_maxpool)
                j, e, (src_terms, src_rest) = fwd[0]
                terms = _at_target([_then(t, op, e.source, j) for t in src_terms], e, j)
                rest = _apply_op(op, src_rest) + bias
            else:  # pragma: no cover - the genome checks exclude everything else
                raise fail(node_id, f"a {tag} node cannot be lowered in a rate network", "type")
            # a backward edge adds its source's value one step later (docs/rate.md section 1), a same_step one in
            # the same step (its loop still passes a population, whose hop keeps every delay >= 1)
            for j, edge in enumerate(node.inputs):
                if edge.recurrent:
                    src_terms, src_rest = _through_edge(output_form(edge.source), edge, j)
                    lag = 0 if edge.same_step else 1
                    terms += _at_target([replace(t, delay=t.delay + lag) for t in src_terms], edge, j)
                    rest = rest + src_rest
        except _DelayError as exc:
            raise fail(node_id, str(exc), exc.field) from None
        active.discard(node_id)
        forms[node_id], rests[node_id] = terms, rest
        return terms, rest

    # Max-pools of spikes become OR populations; of analog values they are refused (or replaced on request).
    for node_id in genome.order:        # in order: a max-pool of an OR pool's spikes is an OR pool too
        node = genome.by_id[node_id]
        if node.type_tag != "maxpool2d":
            continue
        (src,) = node.forward_inputs
        src_node = genome.by_id[src]
        if src_node.neuron is not None or src in or_pools:
            or_pools.add(node.id)
        elif analog_maxpool == "avgpool":
            notes.append({"layer": node.id, "variable": "maxpool2d", "message":
                          "max-pool of analog values replaced by average pooling of the same window "
                          "(--analog-maxpool avgpool): this is a different network"})
        else:
            what = "the input's graded values" if src_node.type_tag == "input" else f"the analog output of {src!r}"
            raise fail(node.id, f"max-pooling {what} has no exact realisation on a neuromorphic chip (only "
                       "max-pooling of spikes does: an OR of binary spikes); put a neuron on its input node, "
                       "or pass --analog-maxpool avgpool to replace it by average pooling (a different network)")

    layers: list[Layer] = []
    try:
        for node in genome.nodes:
            if node.type_tag == "input":
                layers.append(RateInputLayer(id=node.id, shape=shapes[node.id], window=0, nodes=(node.id,),
                                             values=genome.rate_input or "intensity"))
        for node_id in genome.order:
            node = genome.by_id[node_id]
            if node.type_tag == "input" or not is_population(node_id):
                continue
            layers.append(_population(genome, node_id, pre_form, shapes, node_id in or_pools))
        readout = genome.readout
        (src,) = readout.forward_inputs
        if readout.mode == "spike_count":
            layers.append(RateReadoutLayer(id=readout.id, shape=(int(np.prod(shapes[src])),), window=0,
                                           nodes=(readout.id,), mode="spike_count", source=src))
        else:
            terms, rest = pre_form(src)
            layers.append(RateReadoutLayer(id=readout.id, shape=(int(np.prod(shapes[src])),), window=0,
                                           nodes=(src, readout.id), mode="membrane",
                                           projections=_projections(terms, shapes, 1.0, shapes[src]),
                                           bias=rest.reshape(-1), tau=readout.tau))
    except _LinearLoop as exc:
        raise fail(exc.node_id, "a backward (recurrent) edge closes a loop that passes through no neuron: its value "
                   "would feed itself without limit; put a neuron (e.g. a LIF operation) on the loop") from None
    return layers, notes


def _population(genome: Genome, node_id: str, pre_form, shapes: dict[str, Shape], or_pool: bool) -> CubaLayer:
    node = genome.by_id[node_id]
    shape = shapes[node_id]
    if or_pool:
        edge = next(e for e in node.inputs if not e.recurrent)
        c = shapes[edge.source][0]
        per = edge.delay if isinstance(edge.delay, tuple) else None      # spikes of a population: always allowed
        proj = RateProjection(edge.source, "avgpool2d", np.ones(c), node.kernel, node.stride, (0, 0), delay=1,
                              extra_delay=0 if per is not None else edge.delay, neuron_delays=per)
        return CubaLayer(id=node_id, shape=shape, window=0, nodes=(node_id,), projections=[proj],
                         bias=np.zeros(shape), threshold_float=0.0, leak=0.0, current_leak=0.0, role="or_pool")
    spec = node.neuron
    terms, rest = pre_form(node_id)
    if spec.model == "lif":
        leak = 1.0 - 1.0 / spec.tau
        gain = 1.0 / spec.tau if spec.decay_input else 1.0
    else:  # if
        leak, gain = 1.0, 1.0
    current_leak = 0.0 if spec.tau_current is None else 1.0 - 1.0 / spec.tau_current
    return CubaLayer(id=node_id, shape=shape, window=0, nodes=(node_id,), projections=_projections(terms, shapes, gain, shape),
                     bias=np.asarray(rest, dtype=np.float64).reshape(shape) * gain,
                     threshold_float=float(spec.threshold), leak=leak, current_leak=current_leak, reset=spec.reset)


# -- axonal delays (genome version 3) --------------------------------------------------------------------

def _through_edge(form: tuple[list[_Term], np.ndarray], edge, j: int) -> tuple[list[_Term], np.ndarray]:
    """A node's value as read through one of its edges: the edge's delay added to every term (a list of delays,
    one per element of the value, needs the value to be spikes: terms without linear operations)."""
    terms, rest = form
    if not edge.delay:
        return terms, rest
    if not isinstance(edge.delay, tuple):
        return [replace(t, extra=t.extra + edge.delay) for t in terms], rest
    per = np.asarray(edge.delay, dtype=np.int64)
    out = []
    for t in terms:
        if t.ops:
            raise _DelayError(f"one delay per source neuron needs spikes on this edge, but {edge.source!r} carries "
                              f"the analog output of a {t.ops[-1].kind} (from {t.source!r}); give one delay for the "
                              "whole edge, or delay the edges into that node", f"inputs[{j}].delay")
        out.append(replace(t, at_source=per if t.at_source is None else t.at_source + per))
    return out, rest


def _at_target(terms: list[_Term], edge, j: int) -> list[_Term]:
    """Terms as they reach this node's elements, with the edge's target_delay (one per element) added."""
    if edge.target_delay is None:
        return terms
    per = np.asarray(edge.target_delay, dtype=np.int64)
    for t in terms:
        if t.at_source is not None:
            raise _DelayError(f"the spikes on this path already wait per source neuron (a delay list on an edge "
                              f"before, from {t.source!r}); delays per source and per target neuron on one path would "
                              "give every synapse its own delay; keep one of them", f"inputs[{j}].target_delay")
    return [replace(t, at_target=per) for t in terms]


def _then(term: _Term, op: "_Op", source: str, j: int) -> _Term:
    """A term followed by one more linear operation (delays per target neuron must be the last step)."""
    if term.at_target is not None:
        raise _DelayError(f"{source!r} delays its input per neuron (target_delay), which then feeds another linear "
                          "operation here, not neurons; delay this edge instead", f"inputs[{j}]")
    return replace(term, ops=term.ops + (op,))


# -- linear operations ------------------------------------------------------------------------------

def _node_op(genome: Genome, weights: Weights, node_id: str, analog_maxpool: str) -> tuple[_Op, np.ndarray]:
    """The node's linear map and its constant (bias) part, as an operation on its input's values."""
    node = genome.by_id[node_id]
    (src,) = node.forward_inputs
    in_shape, out_shape = genome.shapes[src], genome.shapes[node_id]
    w = weights.get(node_id, {})
    tag = node.type_tag
    if tag == "conv2d":
        bias = np.asarray(w["bias"], dtype=np.float64) if node.bias else np.zeros(out_shape[0])
        op = _Op("conv2d", in_shape, out_shape, np.asarray(w["weight"], dtype=np.float64), node.kernel, node.stride,
                 node.padding)
        return op, bias.reshape(-1, 1, 1) * np.ones(out_shape)
    if tag == "dense":
        bias = np.asarray(w["bias"], dtype=np.float64) if node.bias else np.zeros(out_shape[0])
        return _Op("dense", in_shape, out_shape, np.asarray(w["weight"], dtype=np.float64)), bias
    if tag == "batchnorm":
        s = np.asarray(w["weight"], np.float64) / np.sqrt(np.asarray(w["running_var"], np.float64) + node.eps)
        shift = np.asarray(w["bias"], np.float64) - np.asarray(w["running_mean"], np.float64) * s
        per = (-1,) + (1,) * (len(out_shape) - 1)
        return _Op("scale", in_shape, out_shape, s), shift.reshape(per) * np.ones(out_shape)
    # avgpool2d, or a maxpool2d of analog values replaced on request (analog_maxpool == "avgpool")
    kh, kw = node.kernel
    padding = tuple(getattr(node, "padding", (0, 0)) or (0, 0))
    op = _Op("avgpool2d", in_shape, out_shape, np.full(in_shape[0], 1.0 / (kh * kw)), node.kernel, node.stride,
             padding)  # type: ignore[arg-type]
    return op, np.zeros(out_shape)


def _as_projection(op: _Op, source: str, delay: int) -> RateProjection:
    return RateProjection(source, {"scale": "identity"}.get(op.kind, op.kind), op.weight, op.kernel, op.stride,
                          op.padding, delay=delay)


def _with_delays(p: RateProjection, term: _Term) -> RateProjection:
    """The projection of a term with the term's axonal delays."""
    if term.extra == 0 and term.at_source is None and term.at_target is None:
        return p
    per, at = (term.at_source, "source") if term.at_source is not None else (term.at_target, "target")
    return replace(p, extra_delay=term.extra, neuron_delays=per, neuron_delays_at=at)


def _delay_key(term: _Term) -> tuple:
    """Terms with equal delays (one number, per source and per target neuron) can share a projection."""
    return (term.extra, None if term.at_source is None else term.at_source.tobytes(),
            None if term.at_target is None else term.at_target.tobytes())


def _apply_op(op: _Op, x: np.ndarray) -> np.ndarray:
    """One operation on one value (no batch axis), in float64."""
    if op.kind == "dense":
        return op.weight @ x.reshape(-1)
    out = _as_projection(op, "", 1).apply(x.reshape((1,) + op.in_shape))
    return out.reshape(op.out_shape)


def _fold_scales(ops: tuple[_Op, ...]) -> list[_Op]:
    """Fold per-channel scales into the neighbouring linear op (exact: both are linear)."""
    out: list[_Op] = []
    pending: np.ndarray | None = None       # a scale waiting for the next op (it came first in the chain)
    for op in ops:
        if op.kind == "scale":
            if out:
                prev = out.pop()
                out.append(_scale_output(prev, op.weight))
            else:
                pending = op.weight if pending is None else pending * op.weight
                pending_shape = op.in_shape
            continue
        if pending is not None:
            op = _scale_input(op, pending, pending_shape)
            pending = None
        out.append(op)
    if pending is not None:
        out.append(_Op("scale", pending_shape, pending_shape, pending))
    return out


def _scale_output(op: _Op, s: np.ndarray) -> _Op:
    if op.kind == "conv2d":
        w = op.weight * s.reshape(-1, 1, 1, 1)
    elif op.kind == "dense":
        w = op.weight * s.reshape(-1, 1)
    else:  # avgpool2d / scale: one weight per channel
        w = op.weight * s
    return _Op(op.kind, op.in_shape, op.out_shape, w, op.kernel, op.stride, op.padding)


def _scale_input(op: _Op, s: np.ndarray, shape: Shape) -> _Op:
    if op.kind == "conv2d":
        w = op.weight * s.reshape(1, -1, 1, 1)
    elif op.kind == "dense":
        per_feature = np.repeat(s, int(np.prod(shape[1:]))) if len(shape) > 1 else s
        w = op.weight * per_feature.reshape(1, -1)
    else:
        w = op.weight * s
    return _Op(op.kind, op.in_shape, op.out_shape, w, op.kernel, op.stride, op.padding)


def _projections(terms: list[_Term], shapes: dict[str, Shape], gain: float, dest_shape: Shape
                 ) -> list[RateProjection]:
    """One projection per (source, delay, axonal delays): parallel paths are summed before quantization (one
    rounding)."""
    groups: dict[tuple, list[RateProjection]] = {}
    for term in terms:
        groups.setdefault((term.source, term.delay, _delay_key(term)), []).append(_term_projection(term, shapes, gain))
    out = []
    for (source, delay, _), projs in groups.items():
        if len(projs) == 1:
            out.append(projs[0])
            continue
        first = projs[0]
        same = all((p.kind, p.kernel, p.stride, p.padding, np.shape(p.weight)) ==
                   (first.kind, first.kernel, first.stride, first.padding, np.shape(first.weight))
                   and p.kind != "sparse" for p in projs)
        if same:
            out.append(replace(first, weight=sum(np.asarray(p.weight) for p in projs)))
        else:
            m = sum(p.matrix(shapes[source], dest_shape) for p in projs).tocsr()
            m.sum_duplicates()
            m.eliminate_zeros()
            m.sort_indices()
            out.append(replace(first, kind="sparse", weight=m, kernel=(1, 1), stride=(1, 1), padding=(0, 0)))
    return out


def _term_projection(term: _Term, shapes: dict[str, Shape], gain: float) -> RateProjection:
    ops = _fold_scales(term.ops)
    if not ops:
        c = shapes[term.source][0]
        return _with_delays(RateProjection(term.source, "identity", np.full(c, gain), delay=term.delay), term)
    if len(ops) == 1:
        op = ops[0]
        return _with_delays(_as_projection(_Op(op.kind, op.in_shape, op.out_shape, op.weight * gain, op.kernel,
                                               op.stride, op.padding), term.source, term.delay), term)
    return _with_delays(RateProjection(term.source, "sparse", _compose(ops) * gain, delay=term.delay), term)


def _compose(ops: list[_Op]):  # -> scipy.sparse.csr_matrix
    """A chain of linear maps as one sparse matrix over flat indices (exact composition)."""
    m = None
    for op in ops:
        step = _as_projection(op, "", 1).matrix(op.in_shape, op.out_shape)
        m = step if m is None else step @ m
    m = m.tocsr()
    m.sum_duplicates()
    m.eliminate_zeros()
    m.sort_indices()
    return m
