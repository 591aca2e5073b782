"""A netx file's last `average` layer (SLAYER's class readout) as a genome membrane readout (docs/interop.md).

SLAYER's average block (`lava/lib/dl/slayer/block/base.py`, `AbstractAverage.forward`) splits the previous
layer's neurons, flat in C, H, W order, into `num_outputs` groups of consecutive neurons and takes each group's
mean at every step; a classifier then ranks the groups by their spike rate. netx 0.6.0 cannot build the layer
(`create_average` raises NotImplementedError), so lava-dl runs such files without it (its own ntidigits test uses
`num_layers=5`). The import reads it as a dense node of weight 1 from every neuron to its group, without neuron,
into a membrane readout: the logits are each group's spike count over the run, the mean's ranking (times the
group size), in integers a chip adds exactly.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DeployError
from .imported import unique_id


def average_readout(group: Any, source: str, source_shape: tuple[int, ...], taken: set[str], path: Path, where: str,
                    notes: list[str]) -> tuple[list[dict[str, Any]], dict[str, np.ndarray], tuple[int, ...]]:
    """The genome nodes (a flatten if the source is not flat, then the group-sum dense node without neuron: new ids
    not in `taken`, which gets them), the dense node's weights and its output shape, for an `average` layer
    `where` reading population `source`."""
    try:
        groups = int(np.prod(np.asarray(group["shape"][()]).reshape(-1)))
    except KeyError:
        raise DeployError("missing 'shape' (the number of groups)", path, f"{where}/shape") from None
    size = math.prod(source_shape)
    if groups < 1 or size % groups:
        raise DeployError(f"{groups} groups do not split the previous layer's {size} neurons evenly", path,
                          f"{where}/shape")
    nodes: list[dict[str, Any]] = []
    node_id = unique_id(f"average{where.rsplit('/', 1)[-1]}", taken)
    if len(source_shape) > 1:
        flat = unique_id(f"{node_id}_flat", taken)
        nodes.append({"id": flat, "type": "flatten", "inputs": [source]})
        source = flat
    per = size // groups
    weight = np.kron(np.eye(groups), np.ones((1, per)))       # neuron k -> group k // per
    nodes.append({"id": node_id, "type": "dense", "inputs": [source], "units": groups, "bias": False,
                  "neuron": None})
    notes.append(f"{where}: netx cannot run an 'average' layer (NotImplementedError); imported as a membrane readout "
                 f"of the spike counts summed over each of the {groups} groups of {per} neurons (SLAYER's average "
                 f"takes their mean: the same ranking, {per} times smaller)")
    return nodes, {"weight": weight}, (groups,)


__all__ = ["average_readout"]
