"""Checks of the axonal delays a genome's edges declare (version 3, rate coding; docs/genome.md, section 12.1).

An edge's `delay` (one number, or one per element of its source's output) and `target_delay` (one per element
of the node's output) count the steps a spike waits after the usual one-step hop. The edge itself checks each
number (`genome.edges`); here: the version, the coding, where delays may sit and the lengths of the lists.
Whether a chip holds them is checked when compiling, against the profile.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from ..errors import DeployError
from .coding import CODING_RULES
from .schema_check import json_path

#: The edge fields that declare delays.
DELAY_FIELDS = ("delay", "target_delay")
#: The first genome version with delays.
DELAYS_SINCE_VERSION = 3


def check_delay_version(obj: dict[str, Any], version: int, where: str) -> None:
    """Before the schema: delays need version 3, and a snas_cell's input edge takes none (a cell is expanded into
    its own nodes and edges, which would drop it)."""
    nodes = obj.get("nodes")
    if not isinstance(nodes, list):
        return
    for i, raw in enumerate(nodes):
        edges = raw.get("inputs") if isinstance(raw, dict) else None
        if not isinstance(edges, list):
            continue
        for j, edge in enumerate(edges):
            key = next((k for k in DELAY_FIELDS if k in edge), None) if isinstance(edge, dict) else None
            if key is None:
                continue
            field = f"{json_path(('nodes', i), obj)}.inputs[{j}].{key}"
            if version < DELAYS_SINCE_VERSION:
                raise DeployError(f"axonal delays need genome version {DELAYS_SINCE_VERSION} (\"version\": "
                                  f"{DELAYS_SINCE_VERSION}); a version {version} edge has only \"node\" and "
                                  "\"recurrent\"", where, field)
            if raw.get("type") == "snas_cell":
                raise DeployError("a snas_cell's input edge takes no delay (the cell is expanded into its own nodes); "
                                  "delay the edge into the node before the cell instead", where, field)


def check_delays(genome: Any, where: str, locate: Callable[[int], str]) -> None:
    """After the graph checks (shapes known): the coding allows delays, they are not on the readout's edge, the
    lists have one delay per element, and `target_delay` sits on a node whose value feeds neurons (it carries a
    neuron) or the membrane readout (its input node)."""
    refusal = CODING_RULES[genome.coding].edge_delay
    readout = genome.readout
    readout_source = readout.forward_inputs[0] if readout.mode == "membrane" else None
    for k, node in enumerate(genome.nodes):
        for j, edge in enumerate(node.inputs):
            if not edge.delayed:
                continue
            at = f"{locate(k)}.inputs[{j}]"
            key = "delay" if edge.delay != 0 else "target_delay"
            if refusal is not None:
                raise DeployError(refusal, where, f"{at}.{key}")
            if node is readout:
                raise DeployError("the readout adds up its input over the whole run, so a delay on its edge changes "
                                  f"nothing; put it on the edges into {edge.source!r}", where, f"{at}.{key}")
            if isinstance(edge.delay, tuple):
                _check_length(edge.delay, genome.shapes[edge.source], f"the output of {edge.source!r}", where,
                              f"{at}.delay")
            if edge.target_delay is None:
                continue
            if isinstance(edge.delay, tuple):
                raise DeployError("one delay per source neuron (delay) and per target neuron (target_delay) on one "
                                  "edge would give every synapse its own delay, which a genome edge does not hold; "
                                  "keep one of the two lists (a single number in delay may go with target_delay)",
                                  where, f"{at}.target_delay")
            if node.neuron is None and node.id != readout_source:
                raise DeployError(f"target_delay delays the input of this node's neurons, but {node.type_tag} "
                                  f"{node.id!r} carries no neuron (nor is it the membrane readout's input); give it "
                                  "a neuron, or delay each source neuron with a list in delay", where,
                                  f"{at}.target_delay")
            _check_length(edge.target_delay, genome.shapes[node.id], "this node's output", where,
                          f"{at}.target_delay")


def _check_length(delays: tuple[int, ...], shape: tuple[int, ...], what: str, where: str, field: str) -> None:
    size = math.prod(shape)
    if len(delays) != size:
        raise DeployError(f"expected one delay per element of {what}, {size} for shape {list(shape)} (flat, in "
                          f"channel-major order), got {len(delays)}", where, field)


def edge_delay_steps(edge: Any) -> int:
    """The longest delay of an edge, in steps after the usual hop (both lists' largest entries added)."""
    delay = max(edge.delay) if isinstance(edge.delay, tuple) else edge.delay
    return delay + (max(edge.target_delay) if edge.target_delay is not None else 0)


__all__ = ["DELAY_FIELDS", "DELAYS_SINCE_VERSION", "check_delay_version", "check_delays", "edge_delay_steps"]
