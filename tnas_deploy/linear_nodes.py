"""A genome's linear nodes as projections: what the TTFS and sigma-delta lowerings share.

Both lower the same ReLU ANN: a conv2d, dense or avgpool2d node becomes one projection from the layer that sends
its input, and a batchnorm after it folds into that projection's weights and bias. The coding-specific parts
(which layer sends, what closes a linear chain) stay in each scheme's `lowering.py`.
"""
from __future__ import annotations

import numpy as np

from .genome import nodes as N
from .projection import Projection


def linear_projection(node: N.Conv2d | N.Dense | N.AvgPool2d, source: str, node_weights: dict[str, np.ndarray],
                      shape: tuple[int, ...]) -> tuple[Projection, np.ndarray]:
    """The projection from layer `source` that computes `node` (output `shape`), and its bias (float64, per channel
    or feature; zeros when the node has none). An avgpool2d is a per-channel projection of 1/(kh x kw)."""
    if isinstance(node, N.Conv2d):
        proj = Projection(source, "conv2d", node_weights["weight"], node.kernel, node.stride, node.padding)
    elif isinstance(node, N.Dense):
        proj = Projection(source, "dense", node_weights["weight"])
    else:
        proj = Projection(source, "avgpool2d", np.full(shape[0], 1.0 / (node.kernel[0] * node.kernel[1])),
                          node.kernel, node.stride, node.padding)  # type: ignore[arg-type]
    return proj, np.asarray(node_weights.get("bias", np.zeros(shape[0])), dtype=np.float64)


def fold_batchnorm(projections: list[Projection], bias: np.ndarray, bn: dict[str, np.ndarray], eps: float
                   ) -> tuple[list[Projection], np.ndarray]:
    """y = gamma * (x - mean) / sqrt(var + eps) + beta folded into the preceding linear map (per channel): the
    scaled projections and the new bias."""
    scale = bn["weight"] / np.sqrt(bn["running_var"] + eps)
    projs = []
    for p in projections:
        w = np.asarray(p.weight, dtype=np.float64)
        w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1)) if p.kind in ("dense", "conv2d") else w * scale
        projs.append(Projection(p.source, p.kind, w, p.kernel, p.stride, p.padding, p.delay_windows))
    return projs, (bias - bn["running_mean"]) * scale + bn["bias"]
