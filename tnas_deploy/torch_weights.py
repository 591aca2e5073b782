"""Weights by node id (`tnas_deploy.weights.Weights`) in and out of a torch model whose modules sit in a
`layers` ModuleDict keyed by node id, so parameters are named `layers.<node id>.<tensor>` (PyTorch names)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .weights import Weights


class NodeWeights(nn.Module):
    """Base of the ANN counterpart and the rate SNN: loading and exporting weights by node id."""

    layers: nn.ModuleDict

    def load_weights(self, weights: Weights) -> "NodeWeights":
        """Load every tensor (strict: each must be a parameter or buffer of the model); batch-norm step
        counters keep their own values."""
        own = self.state_dict()
        state = {f"layers.{nid}.{name}": torch.as_tensor(np.asarray(arr))
                 for nid, tensors in weights.items() for name, arr in tensors.items()}
        for key in own:
            if key.endswith("num_batches_tracked"):
                state[key] = own[key]
        self.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)
        return self

    def export_weights(self) -> Weights:
        """{node id: {tensor name: array}} in PyTorch names and layouts, for `tnas_deploy.weights.save_weights`."""
        out: Weights = {}
        for key, value in self.state_dict().items():
            _, node_id, name = key.split(".")
            if name != "num_batches_tracked":
                out.setdefault(node_id, {})[name] = value.detach().cpu().numpy()
        return out
