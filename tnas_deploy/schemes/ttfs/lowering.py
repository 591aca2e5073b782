"""Genome + float weights -> the lowered TTFS network (float weights, batch norm folded, windows assigned).

The rules of TTFS coding are checked here, each with a message saying what to change in the genome:
every synapse carries spikes (so a conv2d/dense/avgpool2d input must spike), a batchnorm directly
follows the conv2d/dense it is folded into, the readout reads the membrane of a non-spiking linear node.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import DeployError
from ...genome import Genome
from ...genome import nodes as N
from .layers import ConcatLayer, FlattenLayer, InputLayer, MaxPoolLayer, ReadoutLayer, TtfsLayer
from ...layers import Layer
from ...linear_nodes import fold_batchnorm, linear_projection
from ...projection import Projection
from ...weights import Weights


@dataclass
class _Linear:
    """A linear node without neuron, waiting to be folded (batchnorm) and closed (neuron or readout)."""

    first: str
    nodes: tuple[str, ...]
    projections: list[Projection]
    bias: np.ndarray          # per channel (3-D shapes) or per feature
    shape: tuple[int, ...]
    window: int               # window of its sources (after alignment)
    flattened: bool = False   # a flatten sits between it and what follows (bias is then per neuron)


def lower(genome: Genome, weights: Weights) -> list[Layer]:
    """Lower a validated genome with checked weights; raises `DeployError` naming the offending node."""
    where = genome.source or "<genome>"
    index = {n.id: i for i, n in enumerate(genome.nodes)}

    def fail(node_id: str, message: str, field: str = "") -> DeployError:
        return DeployError(message, where, f"nodes[{index[node_id]}] (id {node_id!r})" + (f".{field}" if field else ""))

    if genome.coding != "ttfs":
        raise DeployError(f"coding {genome.coding!r} is not supported by the TTFS compiler", where, "coding.scheme")
    layers: dict[str, Layer] = {}
    spiking: dict[str, str] = {}       # node id -> layer id whose spikes represent the node's output
    pending: dict[str, _Linear] = {}   # node id -> linear chain without neuron yet

    def spike_source(node: N.Node, src: str) -> Layer:
        if src in spiking:
            return layers[spiking[src]]
        if src in pending:
            origin = pending[src].nodes[-1] if genome.by_id[src].type_tag == "flatten" else src
            origin = next((n for n in reversed(pending[src].nodes) if genome.by_id[n].may_spike), origin)
            raise fail(node.id, f"in TTFS coding every synapse carries spikes, but {node.type_tag} {node.id!r} receives "
                                f"analog values from {src!r}, which has no neuron; give {origin!r} a neuron "
                                f"{{\"model\": \"ttfs\"}}", "inputs")
        raise fail(node.id, f"input {src!r} cannot feed a {node.type_tag} in TTFS coding", "inputs")

    def aligned(sources: list[Layer]) -> tuple[int, list[int]]:
        top = max(s.window for s in sources)
        return top, [top - s.window for s in sources]

    def close(node: N.Node, lin: _Linear) -> None:
        """A linear chain reaches a neuron: it becomes a TTFS layer."""
        layer = TtfsLayer(id=lin.first, shape=lin.shape, window=lin.window + 1, nodes=lin.nodes,
                          projections=lin.projections, bias=lin.bias)
        layers[layer.id] = layer
        spiking[node.id] = layer.id

    for node_id in genome.order:
        node = genome.by_id[node_id]
        shape = genome.shapes[node_id]
        if any(e.recurrent for e in node.inputs):
            raise fail(node_id, "recurrent edges need rate coding, which the TTFS compiler does not do", "inputs")
        if isinstance(node, N.Input):
            layers[node_id] = InputLayer(id=node_id, shape=shape, window=0, nodes=(node_id,))
            spiking[node_id] = node_id
            continue
        srcs = list(node.forward_inputs)
        if isinstance(node, (N.Conv2d, N.Dense, N.AvgPool2d)):
            src = spike_source(node, srcs[0])
            proj, bias = linear_projection(node, src.id, weights.get(node_id, {}), shape)
            lin = _Linear(node_id, (node_id,), [proj], bias, shape, src.window)
        elif isinstance(node, N.BatchNorm):
            src_id = srcs[0]
            if src_id not in pending or pending[src_id].flattened:
                raise fail(node_id, f"a batchnorm is folded into the conv2d/dense/avgpool2d before it, so it must directly "
                                    f"follow one without a neuron; {src_id!r} is not such a node", "inputs")
            if len(genome.consumers(src_id)) != 1:
                raise fail(node_id, f"{src_id!r} feeds other nodes besides this batchnorm; folding would change them",
                           "inputs")
            lin = _fold_batchnorm(pending.pop(src_id), weights[node_id], node.eps)
            lin.nodes = lin.nodes + (node_id,)
        elif isinstance(node, N.Add):
            if not node.spiking:
                raise fail(node_id, "in TTFS coding an add of spike trains needs a neuron to fire the sum; "
                                    "give it a neuron {\"model\": \"ttfs\"}", "neuron")
            sources = [spike_source(node, s) for s in srcs]
            top, delays = aligned(sources)
            projs = [Projection(s.id, "identity", np.ones(shape[0]), delay_windows=d) for s, d in zip(sources, delays)]
            lin = _Linear(node_id, (node_id,), projs, np.zeros(shape[0]), shape, top)
        elif isinstance(node, N.Concat):
            if node.spiking:
                raise fail(node_id, "concat only routes spikes; a neuron on it would fire the same values again; "
                                    "remove the neuron", "neuron")
            sources = [spike_source(node, s) for s in srcs]
            top, delays = aligned(sources)
            layers[node_id] = ConcatLayer(id=node_id, shape=shape, window=top, nodes=(node_id,),
                                          sources=tuple(s.id for s in sources), delay_windows=tuple(delays))
            spiking[node_id] = node_id
            continue
        elif isinstance(node, N.MaxPool2d):
            src = spike_source(node, srcs[0])
            layers[node_id] = MaxPoolLayer(id=node_id, shape=shape, window=src.window, nodes=(node_id,),
                                           source=src.id, kernel=node.kernel, stride=node.stride)  # type: ignore[arg-type]
            spiking[node_id] = node_id
            continue
        elif isinstance(node, N.Flatten):
            if srcs[0] in pending:   # flattening a membrane that the readout will read
                lin = pending.pop(srcs[0])
                pending[node_id] = _Linear(lin.first, lin.nodes + (node_id,), lin.projections,
                                           _per_neuron(lin.bias, lin.shape), shape, lin.window, flattened=True)
                continue
            src = spike_source(node, srcs[0])
            layers[node_id] = FlattenLayer(id=node_id, shape=shape, window=src.window, nodes=(node_id,), source=src.id)
            spiking[node_id] = node_id
            continue
        elif isinstance(node, N.Readout):
            src_id = srcs[0]
            if src_id not in pending:
                raise fail(node_id, f"the readout reads a membrane, so its input must be a conv2d/dense/avgpool2d "
                                    f"(optionally + batchnorm) without neuron; {src_id!r} spikes", "inputs")
            lin = pending.pop(src_id)
            layers[node_id] = ReadoutLayer(id=node_id, shape=shape, window=lin.window, nodes=lin.nodes + (node_id,),
                                           projections=lin.projections, bias=_per_neuron(lin.bias, lin.shape))
            continue
        else:  # pragma: no cover
            raise fail(node_id, f"node type {node.type_tag!r} has no TTFS lowering")
        if node.spiking:
            close(node, lin)
        else:
            pending[node_id] = lin
    # Insertion order follows the genome's topological order, except that a linear chain is inserted when its
    # neuron is reached, which still puts every layer after its sources.
    return list(layers.values())


def _per_neuron(bias: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if bias.size == int(np.prod(shape)):
        return bias.reshape(-1)
    return np.repeat(bias, int(np.prod(shape[1:])))


def _fold_batchnorm(lin: _Linear, bn: dict[str, np.ndarray], eps: float) -> _Linear:
    """The chain `lin` with the batchnorm after it folded in (`linear_nodes.fold_batchnorm`)."""
    projs, bias = fold_batchnorm(lin.projections, lin.bias, bn, eps)
    return _Linear(lin.first, lin.nodes, projs, bias, lin.shape, lin.window)