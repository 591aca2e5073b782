"""The genome: task, coding, time discretisation and a validated graph of nodes.

`load_genome(path)` is the only way user files come in: JSON syntax, then the shipped JSON Schema,
then each node's own checks, then graph checks (unique ids, known sources, acyclic apart from
declared recurrent edges, one input, one readout, shapes agreeing along every edge).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from ..errors import DeployError
from .nodes import Input, Node, NodeError, Readout, Shape, node_from_json

FORMAT = "tnas-genome"
SUPPORTED_VERSIONS = (1,)
DEFAULT_WINDOW_MARGIN = 1.5


@dataclass(frozen=True)
class Task:
    input_shape: Shape
    classes: tuple[str, ...]
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input_shape": list(self.input_shape), "classes": list(self.classes)}
        if self.description is not None:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class TimeSpec:
    steps_per_window: int
    window_margin: float = DEFAULT_WINDOW_MARGIN

    def to_json(self) -> dict[str, Any]:
        return {"steps_per_window": self.steps_per_window, "window_margin": self.window_margin}


@dataclass(frozen=True)
class Genome:
    name: str
    task: Task
    coding: str
    time: TimeSpec
    nodes: tuple[Node, ...]
    provenance: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    description: str | None = None
    version: int = 1
    #: Where the genome was read from (for error messages and relative weight paths); not serialised.
    source: Path | None = field(default=None, compare=False)

    # -- graph queries ---------------------------------------------------------------------------
    @cached_property
    def by_id(self) -> dict[str, Node]:
        return {n.id: n for n in self.nodes}

    @cached_property
    def order(self) -> tuple[str, ...]:
        """Node ids in a topological order of the forward edges (stable: ties keep file order)."""
        return _topological_order(self.nodes)

    @cached_property
    def shapes(self) -> dict[str, Shape]:
        return _infer_shapes(self)

    @property
    def input_node(self) -> Node:
        return next(n for n in self.nodes if isinstance(n, Input))

    @property
    def readout(self) -> Readout:
        return next(n for n in self.nodes if isinstance(n, Readout))  # type: ignore[return-value]

    def consumers(self, node_id: str) -> list[Node]:
        return [n for n in self.nodes if node_id in n.forward_inputs]

    def weights_path(self) -> Path | None:
        if self.weights is None:
            return None
        base = self.source.parent if self.source is not None else Path.cwd()
        return base / self.weights

    # -- (de)serialisation -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT, "version": self.version, "name": self.name}
        if self.description is not None:
            out["description"] = self.description
        out["task"] = self.task.to_json()
        out["coding"] = {"scheme": self.coding}
        out["time"] = self.time.to_json()
        if self.weights is not None:
            out["weights"] = self.weights
        out["provenance"] = json.loads(json.dumps(self.provenance, sort_keys=True))  # canonical key order
        out["nodes"] = [n.to_json() for n in self.nodes]
        return out

    def dumps(self) -> str:
        """Canonical JSON text (sorted keys inside free-form provenance, fixed indentation)."""
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"


# JSON Schema counts 16.0 as an integer; the genome wants real integers (a kernel of 3.0 is a typo to report).
_STRICT_VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)))


def _schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("schema/genome-v1.schema.json").read_text()
    return json.loads(text)


def _json_path(path: Any, obj: Any = None) -> str:
    """`nodes[2] (id 'c1').kernel`: a node's id is named as in the node and graph errors."""
    parts = list(path)
    out = ""
    for k, part in enumerate(parts):
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        if k == 1 and parts[0] == "nodes" and isinstance(obj, dict):
            node = obj["nodes"][part]
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                out += f" (id {node['id']!r})"
    return out or "(top level)"


def genome_from_json(obj: Any, source: Path | str | None = None) -> Genome:
    """Validate a parsed genome (schema, nodes, graph) and build it; raises `DeployError`."""
    where = str(source) if source is not None else "<genome>"
    if not isinstance(obj, dict):
        raise DeployError("expected a JSON object at the top level", where)
    if obj.get("format") != FORMAT:
        raise DeployError(f"expected \"{FORMAT}\", got {obj.get('format')!r}", where, "format")
    if obj.get("version") not in SUPPORTED_VERSIONS:
        raise DeployError(f"unsupported version {obj.get('version')!r}; this tnas-deploy reads {list(SUPPORTED_VERSIONS)}",
                          where, "version")
    validator = _STRICT_VALIDATOR(_schema())
    errors = list(validator.iter_errors(obj))
    if errors:
        err = _most_useful(errors)
        raise DeployError(_describe_schema_error(err, obj), where, _json_path(err.absolute_path, obj))
    bad = _non_finite(obj)
    if bad is not None:   # NaN/Infinity are not JSON; Python's parser accepts them (and 1e400 becomes inf)
        raise DeployError("expected a finite number, got NaN or infinity", where, _json_path(bad, obj))
    nodes = []
    for i, raw in enumerate(obj["nodes"]):
        try:
            nodes.append(node_from_json(raw))
        except NodeError as exc:
            raise DeployError(str(exc), where, f"nodes[{i}] (id {raw.get('id')!r})"
                              + (f".{exc.field}" if exc.field else "")) from None
    task = obj["task"]
    time = obj["time"]
    genome = Genome(
        name=obj["name"],
        task=Task(tuple(task["input_shape"]), tuple(task["classes"]), task.get("description")),
        coding=obj["coding"]["scheme"],
        time=TimeSpec(time["steps_per_window"], float(time.get("window_margin", DEFAULT_WINDOW_MARGIN))),
        nodes=tuple(nodes),
        provenance=obj.get("provenance", {}),
        weights=obj.get("weights"),
        description=obj.get("description"),
        version=obj["version"],
        source=Path(source) if source is not None else None,
    )
    _check_graph(genome, where)
    return genome


def _non_finite(obj: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """The path of the first NaN or infinite number in a parsed JSON value, or None."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else path
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        found = _non_finite(value, path + (key,))
        if found is not None:
            return found
    return None


def _most_useful(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    # Prefer the deepest error (it names the exact field); `best_match` prefers shallow ones for if/then.
    return max(errors, key=lambda e: (len(e.absolute_path), -len(e.context or [])))


def _describe_schema_error(err: jsonschema.ValidationError, obj: Any) -> str:
    if err.validator == "additionalProperties":
        return f"{err.message}; see docs/genome.md for the fields of this object"
    if err.validator == "oneOf" and err.context:
        return "; or ".join(sorted({c.message for c in err.context}))
    if err.validator == "enum" and err.absolute_path and list(err.absolute_path)[-1] == "type":
        return f"unknown node type {err.instance!r}; expected one of {err.validator_value}"
    return err.message


def load_genome(path: str | Path) -> Genome:
    """Read and validate a genome file; every problem becomes a `DeployError` naming file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeployError("file not found", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DeployError(f"cannot read genome: {exc}", path) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeployError(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", path) from None
    return genome_from_json(obj, path)


def _topological_order(nodes: tuple[Node, ...]) -> tuple[str, ...]:
    remaining = {n.id: set(n.forward_inputs) for n in nodes}
    order: list[str] = []
    while remaining:
        ready = [n.id for n in nodes if n.id in remaining and not (remaining[n.id] - set(order))]
        if not ready:
            raise _Cycle(sorted(remaining))
        for node_id in ready:
            order.append(node_id)
            del remaining[node_id]
    return tuple(order)


class _Cycle(Exception):
    def __init__(self, ids: list[str]):
        self.ids = ids


def _check_graph(genome: Genome, where: str) -> None:
    ids: dict[str, int] = {}
    for i, node in enumerate(genome.nodes):
        if node.id in ids:
            raise DeployError(f"duplicate id {node.id!r} (also nodes[{ids[node.id]}]); ids must be unique", where,
                              f"nodes[{i}].id")
        ids[node.id] = i
    for i, node in enumerate(genome.nodes):
        for j, edge in enumerate(node.inputs):
            if edge.source not in ids:
                raise DeployError(f"unknown source node {edge.source!r}; expected one of {sorted(ids)}", where,
                                  f"nodes[{i}] (id {node.id!r}).inputs[{j}]")
            if edge.source == node.id and not edge.recurrent:
                raise DeployError("a node cannot feed itself except through a recurrent edge", where,
                                  f"nodes[{i}] (id {node.id!r}).inputs[{j}]")
    inputs = [n for n in genome.nodes if isinstance(n, Input)]
    readouts = [n for n in genome.nodes if isinstance(n, Readout)]
    if len(inputs) != 1:
        raise DeployError(f"expected exactly one node of type 'input', found {len(inputs)}", where, "nodes")
    if len(readouts) != 1:
        raise DeployError(f"expected exactly one node of type 'readout', found {len(readouts)}", where, "nodes")
    for node in genome.nodes:
        if isinstance(node, Readout):
            continue
        if not genome.consumers(node.id) and not any(
                e.source == node.id for n in genome.nodes if n.id != node.id for e in n.inputs):
            raise DeployError("this node's output is used by no other node (dead end); connect it or remove it",
                              where, f"nodes[{ids[node.id]}] (id {node.id!r})")
    try:
        genome.order  # noqa: B018 - computes and caches the order, detecting cycles
    except _Cycle as exc:
        raise DeployError(f"the forward edges form a cycle through {exc.ids}; declare a backward edge as "
                          "{\"node\": ..., \"recurrent\": true}", where, "nodes") from None
    try:
        genome.shapes  # noqa: B018
    except _ShapeError as exc:
        i = ids[exc.node_id]
        raise DeployError(str(exc.cause), where,
                          f"nodes[{i}] (id {exc.node_id!r})" + (f".{exc.cause.field}" if exc.cause.field else "")) from None
    n_logits = genome.shapes[genome.readout.id][0]
    if n_logits != len(genome.task.classes):
        raise DeployError(f"the readout has {n_logits} outputs but task.classes names {len(genome.task.classes)} classes",
                          where, f"nodes[{ids[genome.readout.id]}] (id {genome.readout.id!r})")


class _ShapeError(Exception):
    def __init__(self, node_id: str, cause: NodeError):
        self.node_id = node_id
        self.cause = cause


def _infer_shapes(genome: Genome) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {}
    for node_id in genome.order:
        node = genome.by_id[node_id]
        try:
            if isinstance(node, Input):
                shapes[node_id] = genome.task.input_shape
            else:
                shapes[node_id] = node.output_shape([shapes[s] for s in node.forward_inputs])
        except NodeError as exc:
            raise _ShapeError(node_id, exc) from None
    # A recurrent edge adds its source to the destination at the next step: shapes must agree.
    for node in genome.nodes:
        for edge in node.inputs:
            if edge.recurrent and shapes[edge.source] != shapes[node.id]:
                raise _ShapeError(node.id, NodeError(
                    f"recurrent edge from {edge.source!r} has shape {list(shapes[edge.source])} "
                    f"but this node's output is {list(shapes[node.id])}", "inputs"))
    return shapes
