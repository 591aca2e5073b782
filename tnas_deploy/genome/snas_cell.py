"""The `snas_cell` node of genome version 2 (SNASNet, Kim et al., ECCV 2022) and its expansion.

A cell is an N x N matrix of operations between N cell nodes (docs/genome.md, "snas_cell"). It is not a
`Node`: `genome_from_json` expands every cell into primitive nodes (`neuron`, `conv2d`, `batchnorm`,
`avgpool2d`, `add`) right after parsing, with deterministic ids derived from the cell id, and redirects
every edge that names the cell to the cell's output. Everything after loading (graph checks, weights,
lowering, `Genome.to_json`) sees only the expanded graph.

Generated ids, for a cell `c` (no dots: weights are looked up by `<node id>.<tensor>`):

* `c_n{i}_lif`  the neuron on node i's value, shared by all its LIF-conv operations;
* `c_e{i}{j}_conv`, `c_e{i}{j}_bn`  operation 2 or 3 on the edge i -> j;
* `c_e{i}{j}_pool`  operation 4 on the edge i -> j;
* `c_n{j}`  the sum at node j, when node j has more than one incoming contribution (or a backward one).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar, Sequence

from .nodes import (Add, AvgPool2d, BatchNorm, Conv2d, Edge, Input, NeuronNode, NeuronSpec, Node, NodeError, Shape,
                    listed)

#: Operation codes of the matrix, as in SNASNet.
OPS: dict[int, str] = {0: "zero", 1: "identity", 2: "LIF-conv1x1-BN", 3: "LIF-conv3x3-BN", 4: "avgpool3x3"}
MIN_NODES, MAX_NODES = 2, 8
#: Node ids may have 64 characters; the longest generated suffix ("_e01_conv") has 9.
MAX_ID_LENGTH = 64 - 9


class CellError(NodeError):
    """A problem found while expanding cells; `index` is the cell's position in the file's `nodes`."""

    def __init__(self, index: int, message: str, field: str | None = None):
        super().__init__(message, field)
        self.index = index


@dataclass(frozen=True)
class SnasCell:
    """One SNASNet cell: `matrix[i][j]` is the operation on the edge from cell node i to cell node j.

    Entries above the diagonal are forward edges; entries below it are backward edges, added to their
    destination one step later (recurrent). Node 0 is the cell input, node N-1 the cell output.
    """

    id: str
    inputs: tuple[Edge, ...]
    matrix: tuple[tuple[int, ...], ...]
    neuron: NeuronSpec | None = None
    label: str | None = None

    type_tag: ClassVar[str] = "snas_cell"

    def __post_init__(self) -> None:
        if len(self.id) > MAX_ID_LENGTH:
            raise NodeError(f"a snas_cell id has at most {MAX_ID_LENGTH} characters, so that the ids generated "
                            f"from it (e.g. '{self.id}_e01_conv') stay within 64", "id")
        if [e.recurrent for e in self.inputs] != [False]:
            raise NodeError(f"snas_cell takes exactly 1 forward input and no recurrent one, got "
                            f"{[e.to_json() for e in self.inputs]}", "inputs")
        if self.neuron is None:
            raise NodeError("a snas_cell needs the neuron of its LIF-conv operations, e.g. "
                            "{\"model\": \"lif\", \"tau\": 1.3333333333333333}", "neuron")
        if self.neuron.model not in ("if", "lif"):
            raise NodeError(f"a snas_cell's neuron is 'lif' or 'if', got {self.neuron.model!r}", "neuron.model")
        object.__setattr__(self, "matrix", _check_matrix(self.matrix))

    @property
    def size(self) -> int:
        return len(self.matrix)

    @staticmethod
    def from_json(obj: dict[str, Any]) -> "SnasCell":
        neuron = obj.get("neuron")
        return SnasCell(id=obj["id"], inputs=tuple(Edge.from_json(e) for e in obj.get("inputs", [])),
                        matrix=obj.get("matrix"),  # type: ignore[arg-type]
                        neuron=None if neuron is None else NeuronSpec.from_json(neuron), label=obj.get("label"))

    def expand(self, source: str, channels: int) -> tuple[list[Node], str]:
        """Primitive nodes of the cell fed by node `source` with `channels` channels, and the output's id."""
        n, m, c = self.size, self.matrix, self.id
        where = f"snas_cell {c}" + (f" ({self.label})" if self.label else "")

        def contributors(j: int) -> list[int]:   # ascending i: forward edges first, then backward ones
            return [i for i in range(n) if m[i][j]]

        def needs_sum(j: int) -> bool:
            # node 0's forward contribution is the cell input; every other node has one (checked)
            return len(contributors(j)) + (j == 0) > 1

        def edge_out(i: int, j: int) -> str:
            op = m[i][j]
            return value[i] if op == 1 else f"{c}_e{i}{j}_bn" if op in (2, 3) else f"{c}_e{i}{j}_pool"

        # Ids of the node values first (a value's id depends only on forward edges, from lower nodes),
        # so that backward edges can name values that are generated later.
        value: dict[int, str] = {}
        for j in range(n):
            if needs_sum(j):
                value[j] = f"{c}_n{j}"
            else:
                value[j] = source if j == 0 else edge_out(contributors(j)[0], j)

        nodes: list[Node] = []
        for i in range(n):
            if needs_sum(i):
                edges = [Edge(source)] if i == 0 else []
                edges += [Edge(edge_out(k, i), recurrent=k > i) for k in contributors(i)]
                nodes.append(Add(f"{c}_n{i}", tuple(edges), label=f"{where}: node {i}, the sum of its inputs"))
            targets = [j for j in range(n) if m[i][j]]
            lif = f"{c}_n{i}_lif"
            if any(m[i][j] in (2, 3) for j in targets):
                nodes.append(NeuronNode(lif, (Edge(value[i]),), self.neuron,
                                        label=f"{where}: the neuron on node {i}, shared by its conv operations"))
            for j in targets:
                op = m[i][j]
                what = f"{where}: edge {i}->{j} op {op} ({OPS[op]})" + (", backward" if i > j else "")
                if op in (2, 3):
                    k = 1 if op == 2 else 3
                    nodes.append(Conv2d(f"{c}_e{i}{j}_conv", (Edge(lif),), label=what, out_channels=channels,
                                        kernel=(k, k), padding=(k // 2, k // 2), bias=False))
                    nodes.append(BatchNorm(f"{c}_e{i}{j}_bn", (Edge(f"{c}_e{i}{j}_conv"),), label=what))
                elif op == 4:
                    nodes.append(AvgPool2d(f"{c}_e{i}{j}_pool", (Edge(value[i]),), label=what, kernel=(3, 3),
                                           stride=(1, 1), padding=(1, 1)))
        return nodes, value[n - 1]


def _check_matrix(matrix: Any) -> tuple[tuple[int, ...], ...]:
    if not isinstance(matrix, (list, tuple)) or not MIN_NODES <= len(matrix) <= MAX_NODES:
        size = len(matrix) if isinstance(matrix, (list, tuple)) else type(matrix).__name__
        raise NodeError(f"expected an N x N matrix with N from {MIN_NODES} to {MAX_NODES}, got {size} rows", "matrix")
    n = len(matrix)
    for i, row in enumerate(matrix):
        if not isinstance(row, (list, tuple)) or len(row) != n:
            got = f"{len(row)} entries" if isinstance(row, (list, tuple)) else repr(row)
            raise NodeError(f"the matrix has {n} rows, so each row needs {n} entries; got {got}", f"matrix[{i}]")
        for j, op in enumerate(row):
            if not isinstance(op, int) or isinstance(op, bool) or op not in OPS:
                raise NodeError(f"expected an operation code 0 to 4 ({', '.join(f'{k} {v}' for k, v in OPS.items())}),"
                                f" got {op!r}", f"matrix[{i}][{j}]")
    for i in range(n):
        if matrix[i][i]:
            raise NodeError("the diagonal must be 0: a cell node has no edge to itself", f"matrix[{i}][{i}]")
    for j in range(1, n):
        if not any(matrix[i][j] for i in range(j)):
            raise NodeError(f"node {j} has no forward input: the entries above the diagonal in column {j} "
                            f"(matrix[0..{j - 1}][{j}]) are all 0", "matrix")
    # Every node now has a forward input from a lower node, so all nodes, the output N-1 included, are
    # reachable from node 0 through forward edges. What remains is the other direction:
    reaches = {n - 1}
    changed = True
    while changed:
        changed = False
        for i in range(n):
            if i not in reaches and any(matrix[i][j] and j in reaches for j in range(n)):
                reaches.add(i)
                changed = True
    for i in range(n - 1):
        if i not in reaches:
            raise NodeError(f"node {i} does not lead to the cell output (node {n - 1}) through any edge, so its "
                            "operations would be computed for nothing; connect it or use a smaller matrix",
                            f"matrix[{i}]")
    return tuple(tuple(row) for row in matrix)


def expand_cells(items: Sequence[Node | SnasCell], input_shape: Shape) -> tuple[list[Node], list[int]]:
    """Replace every cell by its primitive nodes and redirect edges that name a cell to its output.

    Returns the nodes, in file order with each cell's nodes in its place, and for each node the index
    of the file entry it comes from (for error messages). Raises `CellError`.
    """
    cells: dict[str, tuple[int, SnasCell]] = {}
    first: dict[str, int] = {}
    for k, item in enumerate(items):
        if isinstance(item, SnasCell):
            cells[item.id] = (k, item)
    for k, item in enumerate(items):
        if item.id in cells and item.id in first:
            # A cell's id disappears in the expansion, so this cannot be left to the graph checks.
            raise CellError(k, f"duplicate id {item.id!r} (also nodes[{first[item.id]}]); ids must be unique", "id")
        first.setdefault(item.id, k)
    if not cells:
        return list(items), list(range(len(items)))  # type: ignore[arg-type]
    plain: dict[str, Node] = {}
    for item in items:
        if isinstance(item, Node):
            plain.setdefault(item.id, item)   # duplicates are reported by the graph checks
    shapes = _known_shapes(plain, cells, input_shape)
    outputs: dict[str, str] = {}
    expanded: dict[str, list[Node]] = {}
    for cell_id in cells:
        # Follow the chain of cells this one reads from (checking each, in that order) down to a value that is
        # not an unexpanded cell, then expand the chain from its far end: no recursion, however long the chain.
        chain: list[str] = []
        on_chain: set[str] = set()
        current = cell_id
        while current in cells and current not in outputs:
            index, cell = cells[current]
            if current in on_chain:
                raise CellError(index, f"the forward edges form a cycle through the cells {sorted(on_chain)}", "inputs")
            chain.append(current)
            on_chain.add(current)
            src = cell.inputs[0].source
            if src not in plain and src not in cells:
                known = listed(set(plain) | set(cells))
                raise CellError(index, f"unknown source node {src!r}; expected one of {known}", "inputs[0]")
            shape = shapes.get(src)
            if shape is not None and len(shape) != 3:
                raise CellError(index, f"snas_cell expects input of shape [channels, height, width], got {list(shape)}",
                                "inputs")
            current = src
        for chained in reversed(chain):
            cell = cells[chained][1]
            src = cell.inputs[0].source
            shape = shapes.get(src)
            # An unknown shape has a cause upstream that the graph checks report first; 1 is a stand-in.
            channels = shape[0] if shape is not None else 1
            expanded[chained], outputs[chained] = cell.expand(outputs.get(src, src), channels)

    def resolve(source: str) -> str:
        """The id that carries the value of `source`: a cell's output."""
        return outputs.get(source, source)

    result: list[Node] = []
    origin: list[int] = []
    for k, item in enumerate(items):
        if isinstance(item, SnasCell):
            generated = expanded[item.id]
        elif any(e.source in cells for e in item.inputs):
            generated = [replace(item, inputs=tuple(replace(e, source=resolve(e.source)) for e in item.inputs))]
        else:
            generated = [item]
        result += generated
        origin += [k] * len(generated)
    return result, origin


def _known_shapes(plain: dict[str, Node], cells: dict[str, tuple[int, SnasCell]], input_shape: Shape
                  ) -> dict[str, Shape | None]:
    """Every id's shape by the graph's own rules (a cell keeps its input's shape), or None when it cannot be
    known (unknown id, cycle, shape error): then the graph checks, which run on the expanded nodes, report the
    cause. Kahn's algorithm over the forward edges of the unexpanded graph, so no recursion."""
    sources: dict[str, list[str]] = {node_id: list(node.forward_inputs) for node_id, node in plain.items()}
    sources.update({cell_id: [cell.inputs[0].source] for cell_id, (_, cell) in cells.items()})
    waiting = {node_id: len(set(srcs)) for node_id, srcs in sources.items()}
    users: dict[str, list[str]] = {}
    for node_id, srcs in sources.items():
        for src in set(srcs):
            users.setdefault(src, []).append(node_id)
    shapes: dict[str, Shape | None] = {}
    ready = [node_id for node_id, count in waiting.items() if count == 0]
    while ready:
        node_id = ready.pop()
        if node_id in cells:
            shape = shapes.get(cells[node_id][1].inputs[0].source)
        elif isinstance(plain[node_id], Input):
            shape = input_shape
        else:
            node = plain[node_id]
            ins = [shapes.get(src) for src in node.forward_inputs]   # unknown ids never become ready
            try:
                shape = None if None in ins else node.output_shape(ins)  # type: ignore[arg-type]
            except NodeError:
                shape = None
        shapes[node_id] = shape
        for user in users.get(node_id, ()):
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    return shapes   # ids on a cycle, behind one or fed by an unknown id are absent: None


__all__ = ["CellError", "MAX_NODES", "MIN_NODES", "OPS", "SnasCell", "expand_cells"]
