"""The structure of a NIR graph as the importer walks it: nested graphs flattened, every parameter checked to
be real and finite, the edges that close cycles found (they become the genome's backward edges), and a
topological order of the rest.

Nested graphs (snnTorch exports its recurrent layers RLeaky and RSynaptic as one) are flattened: node `x` of
subgraph `g` becomes `g.x`, the subgraph's own `Input` and `Output` nodes pass their input on, and an edge to
or from `g` is an edge to the subgraph's input or from its output (an edge may also name an inner node `g.x`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DeployError

#: NIR node types whose output is spikes.
NEURON_TYPES = ("IF", "LIF", "CubaLIF", "Threshold")
#: Node attributes that are not parameters (types are checked where they are used, metadata is free-form).
NOT_PARAMETERS = frozenset({"metadata", "input_type", "output_type"})


class PassThrough:
    """A flattened subgraph's own Input or Output node: its value is its input's."""

    def __init__(self, kind: str):
        self.kind = kind
        self.metadata: dict[str, Any] = {}


@dataclass
class Loop:
    """A backward edge (source -> target) and the nodes of the cycle it closes, from target to source."""

    source: str
    target: str
    path: list[str]


@dataclass
class FlatGraph:
    """A NIR graph without nesting: nodes, forward edges (a DAG), backward edges, a topological order."""

    nodes: dict[str, Any]
    incoming: dict[str, list[str]]         # forward sources of every node
    outgoing: dict[str, list[str]]         # forward and backward targets of every node
    loops: list[Loop] = field(default_factory=list)
    order: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_target: dict[str, list[Loop]] = {}
        for loop in self.loops:
            self.by_target.setdefault(loop.target, []).append(loop)

    def recurrent_into(self, name: str) -> list[Loop]:
        """The backward edges into node `name`."""
        return self.by_target.get(name, [])


def flatten(graph, where: Path) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The graph's nodes and edges with every nested graph (any depth) spliced in (module documentation)."""
    import nir

    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, str] = {}      # subgraph name -> its flattened Input
    exit_: dict[str, str] = {}      # subgraph name -> its flattened Output
    for name, node in graph.nodes.items():
        if not isinstance(node, nir.NIRGraph):
            nodes[name] = node
            continue
        inner_nodes, inner_edges = flatten(node, where)
        ends = {kind: [k for k, v in node.nodes.items() if isinstance(v, cls)]
                for kind, cls in (("Input", nir.Input), ("Output", nir.Output))}
        for kind, found in ends.items():
            if len(found) != 1:
                raise DeployError(f"a nested graph with {len(found)} {kind} nodes; tnas-deploy splices in nested graphs "
                                  f"with one Input and one Output", where, f"node {name!r}.nodes")
        for k, v in inner_nodes.items():
            flat = f"{name}.{k}"
            if flat in graph.nodes:
                raise DeployError(f"flattening the nested graph {name!r} gives a node {flat!r}, a name the graph already "
                                  "uses", where, f"node {flat!r}")
            nodes[flat] = PassThrough(type(v).__name__) if k in ends["Input"] + ends["Output"] else v
        edges.extend((f"{name}.{a}", f"{name}.{b}") for a, b in inner_edges)
        entry[name], exit_[name] = f"{name}.{ends['Input'][0]}", f"{name}.{ends['Output'][0]}"
    for k, (a, b) in enumerate(graph.edges):
        a, b = exit_.get(a, a), entry.get(b, b)
        for end in (a, b):
            if end not in nodes:
                raise DeployError(f"edge from {a!r} to {b!r} names an unknown node", where, f"edges[{k}]")
        edges.append((a, b))
    return nodes, edges


def check_parameters(nodes: dict[str, Any], fail: Callable[..., DeployError]) -> None:
    """Every parameter array is real, numeric and finite; a string only as a Conv2d padding ('same', 'valid').

    numpy would turn a complex weight into its real part with only a warning, and a text into an error from
    deep inside the import; both are refused here, naming the node and the parameter."""
    for name, node in nodes.items():
        if isinstance(node, PassThrough):
            continue
        if type(node).__name__ == "Input":    # its shape is its one parameter
            params = {"input_type": next(iter((node.input_type or {}).values()), None)}
        else:
            params = {k: v for k, v in vars(node).items() if k not in NOT_PARAMETERS}
        for param, value in params.items():
            if value is None:
                continue
            if isinstance(value, (str, bytes)) and param == "padding":
                continue
            try:
                arr = np.asarray(value)
            except (ValueError, TypeError) as exc:
                raise fail(name, f"expected an array of real numbers, got {type(value).__name__} ({exc})", param) \
                    from None
            kind = arr.dtype.kind
            if kind == "c":
                raise fail(name, f"complex values (dtype {arr.dtype}): the genome's weights and neuron parameters are "
                           "real, and importing would drop the imaginary part", param)
            if kind not in "biuf":
                raise fail(name, f"expected real numbers, got dtype {arr.dtype}", param)
            if kind == "f" and not np.all(np.isfinite(arr)):
                bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
                raise fail(name, f"{bad} non-finite value(s) (NaN or infinity); expected finite numbers", param)


def structure(nodes: dict[str, Any], edges: list[tuple[str, str]], start: str, where: Path) -> FlatGraph:
    """Split the edges into forward edges (a DAG) and backward edges, one per cycle, found by a depth-first walk
    from `start` (the Input) that follows edges in file order: an edge back to a node on the walk's path closes
    a cycle. Then a topological order of the forward edges (ties in node order)."""
    names = list(nodes)
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        succ[a].append(b)
    back: set[tuple[str, str]] = set()
    loops: list[Loop] = []
    state: dict[str, int] = {}           # 1 on the current path, 2 done
    for root in [start] + names:
        if root in state:
            continue
        path: list[str] = [root]
        stack: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node, k = stack[-1]
            if k == len(succ[node]):
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            stack[-1] = (node, k + 1)
            nxt = succ[node][k]
            if state.get(nxt) == 1:
                if (node, nxt) not in back:
                    back.add((node, nxt))
                    loops.append(Loop(node, nxt, path[path.index(nxt):]))
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, 0))
    incoming: dict[str, list[str]] = {n: [] for n in names}
    outgoing: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        outgoing[a].append(b)
        if (a, b) not in back:
            incoming[b].append(a)
    return FlatGraph(nodes, incoming, outgoing, loops, topological(names, incoming, where))


def is_neuron(node: Any) -> bool:
    """A spiking NIR node: its output is spikes, a population in the genome."""
    return type(node).__name__ in NEURON_TYPES


def biased_nodes(nodes: dict[str, Any]) -> list[str]:
    """The Affine and Conv2d nodes with a non-zero bias, in node order."""
    return [n for n, node in nodes.items() if type(node).__name__ in ("Affine", "Conv2d")
            and getattr(node, "bias", None) is not None and np.any(np.asarray(node.bias, dtype=np.float64) != 0)]


def biased_inputs(flat: FlatGraph) -> dict[str, str | None]:
    """For every node, the first node whose non-zero bias reaches its input (by forward or backward edges), or None.

    A neuron's output (spikes) carries no bias, so every loop (each passes a neuron) settles: iterate to the
    fixed point."""
    own = set(biased_nodes(flat.nodes))
    sources = {n: list(flat.incoming[n]) for n in flat.nodes}
    for loop in flat.loops:
        sources[loop.target].append(loop.source)
    into: dict[str, str | None] = {n: None for n in flat.nodes}

    def carried(s: str) -> str | None:
        """The bias in source s's output."""
        if s in own:
            return s
        return None if is_neuron(flat.nodes[s]) else into[s]

    changed = True
    while changed:
        changed = False
        for n in flat.order:
            found = next((b for b in map(carried, sources[n]) if b is not None), None)
            if found != into[n]:
                into[n], changed = found, True
    return into


def topological(names: list[str], incoming: dict[str, list[str]], where: Path) -> list[str]:
    done: list[str] = []
    placed: set[str] = set()
    remaining = list(names)
    while remaining:
        ready = [n for n in remaining if all(s in placed for s in incoming[n])]
        if not ready:  # pragma: no cover - `structure` removed an edge from every cycle
            raise DeployError(f"the graph has a cycle through {sorted(remaining)}", where, "edges")
        done.extend(ready)
        placed.update(ready)
        remaining = [n for n in remaining if n not in placed]
    return done


__all__ = ["NEURON_TYPES", "FlatGraph", "Loop", "PassThrough", "biased_inputs", "biased_nodes", "check_parameters",
           "flatten", "is_neuron", "structure", "topological"]
