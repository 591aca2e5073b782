"""Genome + float weights -> the lowered sigma-delta network (float weights, batch norm folded).

A genome's ReLU ANN (`tnas_deploy.ann`) maps onto sigma-delta neurons one to one: every node with a neuron becomes
a population with ReLU activation; a linear node without neuron whose value feeds a synapse becomes a population
in Lava's UNIT mode (act = sigma + bias, signed); the readout's linear chain becomes the readout population. A
batchnorm folds into the conv2d/dense/avgpool2d before it, a max-pool keeps its own (exact) population, a flatten is
a view. `layer.window` is the hop at which a layer first receives input (the input sends at step 0; every graded
synapse adds one step).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import DeployError
from ...genome import Genome
from ...genome import nodes as N
from ...layers import Layer
from ...linear_nodes import fold_batchnorm, linear_projection
from ...projection import Projection
from ...weights import Weights
from .layers import SdnnFlattenLayer, SdnnInputLayer, SdnnMaxPoolLayer, SdnnReadoutLayer, SigmaDeltaLayer


@dataclass
class PendingLinear:
    """A linear node without neuron, waiting to be folded (batchnorm) and closed (neuron, readout or a consumer)."""

    first: str
    nodes: tuple[str, ...]
    projections: list[Projection]
    bias: np.ndarray          # per channel (3-D shapes) or per feature
    shape: tuple[int, ...]
    window: int
    flattened: bool = False   # a flatten sits between it and what follows (bias is then per neuron)
    before_flatten: "PendingLinear | None" = None   # with `flattened`: the chain as it was before the flatten


def lower_sdnn(genome: Genome, weights: Weights) -> list[Layer]:
    """Lower a validated ANN-style genome with checked weights; raises `DeployError` naming the offending node."""
    where = genome.source or "<genome>"
    index = {n.id: i for i, n in enumerate(genome.nodes)}

    def fail(node_id: str, message: str, field: str = "") -> DeployError:
        return DeployError(message, where, f"nodes[{index[node_id]}] (id {node_id!r})" + (f".{field}" if field else ""))

    layers: dict[str, Layer] = {}
    sending: dict[str, str] = {}           # node id -> layer id whose graded spikes carry the node's output
    pending: dict[str, PendingLinear] = {}

    def close(node_id: str, lin: PendingLinear, relu: bool) -> None:
        layer = SigmaDeltaLayer(id=lin.first, shape=lin.shape, window=lin.window + 1, nodes=lin.nodes,
                                projections=lin.projections, bias=_per_neuron(lin.bias, lin.shape), relu=relu)
        layers[layer.id] = layer
        sending[node_id] = layer.id

    def source(node: N.Node, src: str) -> Layer:
        """The layer sending `src`'s value; a linear chain without neuron becomes a UNIT population that sends it."""
        if src in pending:
            lin = pending.pop(src)
            if lin.before_flatten is None:
                close(src, lin, relu=False)
            else:
                close(lin.before_flatten.nodes[-1], lin.before_flatten, relu=False)
                layers[src] = SdnnFlattenLayer(id=src, shape=lin.shape, window=lin.window + 1, nodes=(src,),
                                               source=lin.first)
                sending[src] = src
        return layers[sending[src]]

    for node_id in genome.order:
        node = genome.by_id[node_id]
        shape = genome.shapes[node_id]
        if any(e.recurrent for e in node.inputs):
            raise fail(node_id, "recurrent edges have no ReLU ANN counterpart; sigma-delta coding lowers the ANN "
                                "of a feed-forward genome", "inputs")
        srcs = list(node.forward_inputs)
        if isinstance(node, N.Input):
            layers[node_id] = SdnnInputLayer(id=node_id, shape=shape, window=0, nodes=(node_id,))
            sending[node_id] = node_id
            continue
        if isinstance(node, (N.Conv2d, N.Dense, N.AvgPool2d)):
            src = source(node, srcs[0])
            proj, bias = linear_projection(node, src.id, weights.get(node_id, {}), shape)
            lin = PendingLinear(node_id, (node_id,), [proj], bias, shape, src.window)
        elif isinstance(node, N.BatchNorm):
            src_id = srcs[0]
            if src_id not in pending or pending[src_id].flattened:
                raise fail(node_id, f"a batchnorm is folded into the conv2d/dense/avgpool2d before it, so it must "
                                    f"directly follow one without a neuron; {src_id!r} is not such a node", "inputs")
            if len(genome.consumers(src_id)) != 1:
                raise fail(node_id, f"{src_id!r} feeds other nodes besides this batchnorm; folding would change them",
                           "inputs")
            lin = _fold_batchnorm(pending.pop(src_id), weights[node_id], node.eps)
            lin.nodes = lin.nodes + (node_id,)
        elif isinstance(node, N.Add):
            sources = [source(node, s) for s in srcs]
            projs = [Projection(s.id, "identity", np.ones(shape[0])) for s in sources]
            lin = PendingLinear(node_id, (node_id,), projs, np.zeros(shape[0]), shape, max(s.window for s in sources))
        elif isinstance(node, N.Concat):
            raise fail(node_id, "concat is not supported in sigma-delta coding yet (its sources would need one "
                                "payload scale); use it in TTFS or rate coding", "type")
        elif isinstance(node, N.MaxPool2d):
            src = source(node, srcs[0])
            layers[node_id] = SdnnMaxPoolLayer(id=node_id, shape=shape, window=src.window, nodes=(node_id,),
                                               source=src.id, kernel=node.kernel, stride=node.stride)  # type: ignore
            sending[node_id] = node_id
            continue
        elif isinstance(node, N.Flatten):
            if srcs[0] in pending:   # flattening values the readout (or a later consumer) will take
                lin = pending.pop(srcs[0])
                pending[node_id] = PendingLinear(lin.first, lin.nodes + (node_id,), lin.projections,
                                                 _per_neuron(lin.bias, lin.shape), shape, lin.window, flattened=True,
                                                 before_flatten=lin)
                continue
            src = source(node, srcs[0])
            layers[node_id] = SdnnFlattenLayer(id=node_id, shape=shape, window=src.window, nodes=(node_id,),
                                               source=src.id)
            sending[node_id] = node_id
            continue
        elif isinstance(node, N.Readout):
            src_id = srcs[0]
            if src_id not in pending:
                raise fail(node_id, f"the readout reads the value of a conv2d/dense/avgpool2d (optionally + "
                                    f"batchnorm) without neuron; {src_id!r} has a neuron", "inputs")
            lin = pending.pop(src_id)
            layers[node_id] = SdnnReadoutLayer(id=node_id, shape=shape, window=lin.window + 1,
                                               nodes=lin.nodes + (node_id,), projections=lin.projections,
                                               bias=_per_neuron(lin.bias, lin.shape))
            continue
        else:  # pragma: no cover
            raise fail(node_id, f"node type {node.type_tag!r} has no sigma-delta lowering")
        if node.spiking:
            close(node_id, lin, relu=True)
        else:
            pending[node_id] = lin
    return list(layers.values())


def _per_neuron(bias: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if bias.size == int(np.prod(shape)):
        return bias.reshape(-1)
    return np.repeat(bias, int(np.prod(shape[1:])))


def _fold_batchnorm(lin: PendingLinear, bn: dict[str, np.ndarray], eps: float) -> PendingLinear:
    """The chain `lin` with the batchnorm after it folded in (`linear_nodes.fold_batchnorm`)."""
    projs, bias = fold_batchnorm(lin.projections, lin.bias, bn, eps)
    return PendingLinear(lin.first, lin.nodes, projs, bias, lin.shape, lin.window)
