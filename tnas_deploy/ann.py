"""The ReLU ANN counterpart of a genome: the network the architecture search trains.

Every node with a neuron applies ReLU to its output (the TTFS neuron computes exactly ReLU, see
`tnas_deploy.schemes.ttfs.mapping`); the readout returns the flattened membrane of its input node as logits.
Parameter names are `<node id>.<tensor>` (PyTorch's own names), the same as in the weights file.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .errors import DeployError
from .genome import Genome
from .genome import nodes as N
from .torch_weights import NodeWeights
from .weights import Weights


class AnnCounterpart(NodeWeights):
    def __init__(self, genome: Genome):
        super().__init__()
        if any(e.recurrent for n in genome.nodes for e in n.inputs):
            raise DeployError("recurrent edges have no ReLU ANN counterpart (they need rate coding)",
                              genome.source, "nodes")
        self.genome = genome
        self.layers = nn.ModuleDict()
        for node in genome.nodes:
            module = self._module_for(node, genome)
            if module is not None:
                self.layers[node.id] = module

    @staticmethod
    def _module_for(node: N.Node, genome: Genome) -> nn.Module | None:
        in_shape = genome.shapes[node.forward_inputs[0]] if node.forward_inputs else None
        if isinstance(node, N.Conv2d):
            return nn.Conv2d(in_shape[0], node.out_channels, node.kernel, node.stride, node.padding, bias=node.bias)
        if isinstance(node, N.Dense):
            return nn.Linear(in_shape[0], node.units, bias=node.bias)
        if isinstance(node, N.BatchNorm):
            cls = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
            return cls(in_shape[0], eps=node.eps)
        if isinstance(node, N.MaxPool2d):
            return nn.MaxPool2d(node.kernel, node.stride)
        if isinstance(node, N.AvgPool2d):
            return nn.AvgPool2d(node.kernel, node.stride, node.padding)   # zeros count in the mean
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[self.genome.readout.id]

    def forward_all(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every node's output (after its ReLU, where it has a neuron), keyed by node id."""
        out: dict[str, torch.Tensor] = {}
        for node_id in self.genome.order:
            node = self.genome.by_id[node_id]
            args = [out[s] for s in node.forward_inputs]
            if isinstance(node, N.Input):
                y = x
            elif node_id in self.layers:
                y = self.layers[node_id](args[0])
            elif isinstance(node, (N.Flatten, N.Readout)):
                y = args[0].flatten(1)
            elif isinstance(node, N.Add):
                y = torch.stack(args).sum(0)
            elif isinstance(node, N.Concat):
                y = torch.cat(args, dim=1)
            else:  # pragma: no cover - every registered type is handled above
                raise TypeError(node.type_tag)
            if node.spiking:
                y = torch.relu(y)
            out[node_id] = y
        return out


def build_ann(genome: Genome, weights: Weights | None = None, dtype: torch.dtype = torch.float32) -> AnnCounterpart:
    """The ReLU ANN of `genome`, in eval mode, with `weights` loaded if given."""
    model = AnnCounterpart(genome).to(dtype)     # cast first: loading float64 weights keeps full precision
    if weights is not None:
        model.load_weights(weights)
    return model.eval()


def ann_activations(genome: Genome, weights: Weights, x: np.ndarray, batch: int = 512) -> dict[str, np.ndarray]:
    """All node outputs of the ANN in float64 for the samples `x` (N, *input_shape)."""
    model = build_ann(genome, weights, torch.float64)
    parts: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for start in range(0, len(x), batch):
            acts = model.forward_all(torch.as_tensor(x[start:start + batch], dtype=torch.float64))
            for k, v in acts.items():
                parts.setdefault(k, []).append(v.numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}
