"""The base of every lowered layer, whatever the coding: an id, a shape, a window and the genome nodes it
came from. Each coding scheme defines its layer types on top (`schemes/<name>/layers.py`) and registers
them by `kind`, so artifacts can store and restore any layer without knowing the schemes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .projection import Projection, Shape


@dataclass
class Layer:
    id: str
    shape: Shape
    window: int
    nodes: tuple[str, ...] = ()

    kind: ClassVar[str] = ""
    #: A population of neurons on the chip (the input is injected by the host, views are routing).
    holds_neurons: ClassVar[bool] = False

    def incoming(self) -> list[Projection]:
        """The synapses into this layer (none for the input and views)."""
        return []

    # -- artifact (de)serialisation: the common fields are written by `artifact.py` ------------------
    def to_json(self) -> dict[str, Any]:
        """The layer's own fields (beyond id, kind, shape, window, nodes) as JSON."""
        return {}

    def arrays(self) -> dict[str, np.ndarray]:
        """The layer's integer (and float) tensors, stored as datasets."""
        return {}

    @classmethod
    def from_json(cls, common: dict[str, Any], spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> "Layer":
        """Rebuild a stored layer: `common` holds id, shape, window and nodes."""
        return cls(**common)

    def summary_fields(self, net: Any) -> dict[str, Any]:
        """What the compile summary shows of this layer beyond shape, neurons, synapses and weights."""
        return {}

    def view_of(self) -> tuple[str, ...]:
        """For a routing view (flatten, concat): the layers it shows, in order; empty for everything else."""
        return ()

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def channels(self) -> int:
        return self.shape[0]


#: Every layer type by its `kind` (each scheme registers its own with `@register_layer`).
LAYER_KINDS: dict[str, type[Layer]] = {}


def register_layer(cls: type[Layer]) -> type[Layer]:
    if cls.kind in LAYER_KINDS and LAYER_KINDS[cls.kind] is not cls:
        raise ValueError(f"two layer types claim the kind {cls.kind!r}")
    LAYER_KINDS[cls.kind] = cls
    return cls


def populations_behind(by_id: dict[str, Layer], layer_id: str) -> list[str]:
    """The layers that really send the spikes of `layer_id`: itself, or for a view the layers behind it."""
    sources = by_id[layer_id].view_of()
    if not sources:
        return [layer_id]
    return [p for s in sources for p in populations_behind(by_id, s)]
