"""Edges of the genome graph: the source node, whether the edge is recurrent, and its axonal delays (version 3).

`NodeError` (a node's or edge's own values are wrong) lives here too, so that `nodes` can build on both.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any


class NodeError(ValueError):
    """A node's own values or shapes are wrong; `field` names the offending key."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


#: The longest delay an edge may declare, in steps (the longest run of a rate genome); a chip allows far less
#: (its profile's `resources.max_synaptic_delay`, checked when compiling).
MAX_EDGE_DELAY = 65536


@dataclass(frozen=True)
class Edge:
    """A connection from node `source`; recurrent edges deliver one time step later (rate coding).

    Version 3 (rate coding) adds axonal delays, in whole steps after the usual one-step hop: `delay` is one
    number for the whole edge or a tuple with one per element of the source's output (per source neuron), and
    `target_delay` a tuple with one per element of this node's output (the input the edge brings to neuron j
    arrives target_delay[j] steps later; lava-dl netx's `delay` of a dense layer). docs/genome.md, section 12.1.
    A recurrent edge with `same_step` (version 3) reads its source in the same step, as a forward edge would:
    a loop through one population then takes one step, as a Loihi synapse and snnTorch's RLeaky (12.5).
    """

    source: str
    recurrent: bool = False
    delay: int | tuple[int, ...] = 0
    target_delay: tuple[int, ...] | None = None
    same_step: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.same_step, bool):
            raise NodeError(f"expected true or false, got {self.same_step!r}", "same_step")
        if self.same_step and not self.recurrent:
            raise NodeError("same_step is for a backward edge (\"recurrent\": true): a forward edge already reads its "
                            "source in the same step", "same_step")
        if isinstance(self.delay, (list, tuple)):
            object.__setattr__(self, "delay", _delays(self.delay, "delay"))
        else:
            object.__setattr__(self, "delay", _delay(self.delay, "delay"))
        if self.target_delay is not None:
            if not isinstance(self.target_delay, (list, tuple)):
                raise NodeError("expected a list of delays, one per element of this node's output, got "
                                f"{self.target_delay!r}", "target_delay")
            object.__setattr__(self, "target_delay", _delays(self.target_delay, "target_delay"))

    @property
    def delayed(self) -> bool:
        """Whether the edge declares any delay (version 3)."""
        return self.delay != 0 or self.target_delay is not None

    def to_json(self) -> str | dict[str, Any]:
        if not self.recurrent and not self.delayed:
            return self.source
        out: dict[str, Any] = {"node": self.source}
        if self.recurrent:
            out["recurrent"] = True
        if self.same_step:
            out["same_step"] = True
        if self.delay != 0:
            out["delay"] = list(self.delay) if isinstance(self.delay, tuple) else self.delay
        if self.target_delay is not None:
            out["target_delay"] = list(self.target_delay)
        return out

    @staticmethod
    def from_json(obj: str | dict[str, Any]) -> "Edge":
        if isinstance(obj, str):
            return Edge(obj)
        return Edge(obj["node"], bool(obj.get("recurrent", False)), obj.get("delay", 0), obj.get("target_delay"),
                    obj.get("same_step", False))


def _delay(value: Any, name: str) -> int:
    """One delay: a whole number of steps from 0 to MAX_EDGE_DELAY."""
    if isinstance(value, float) and value.is_integer():
        raise NodeError(f"expected a whole number of steps written without a decimal point, got {value!r}", name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise NodeError(f"expected a whole number of steps, got {value!r}", name)
    value = int(value)
    if value < 0:
        raise NodeError(f"a delay cannot be negative, got {value}: it counts the steps a spike waits after the usual "
                        "one-step hop", name)
    if value > MAX_EDGE_DELAY:
        raise NodeError(f"a delay of {value} steps is more than {MAX_EDGE_DELAY}, the longest run of a rate genome",
                        name)
    return value


def _delays(values: Any, name: str) -> tuple[int, ...]:
    if len(values) == 0:
        raise NodeError("expected at least one delay", name)
    return tuple(_delay(v, f"{name}[{k}]") for k, v in enumerate(values))


__all__ = ["Edge", "MAX_EDGE_DELAY", "NodeError"]
