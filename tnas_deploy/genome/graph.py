"""The genome: task, coding, time discretisation and a validated graph of nodes.

`load_genome(path)` is the only way user files come in: JSON syntax, then the shipped JSON Schema of
the file's version, then each node's own checks, then (version 2) the expansion of `snas_cell` nodes,
then graph checks (unique ids, known sources, acyclic apart from declared recurrent edges, one input,
one readout, what the coding allows, shapes agreeing along every edge).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from ..errors import DeployError
from ..json_input import MAX_NESTING, nesting_depth, parse_json
from .coding import CODING_RULES, CODINGS
from .delays import check_delay_version, check_delays
from .nodes import Add, Input, NeuronNode, Node, NodeError, Readout, Shape, listed, node_from_json
from .schema_check import json_path, schema_problem
from .snas_cell import CellError, SnasCell, expand_cells

FORMAT = "tnas-genome"
SUPPORTED_VERSIONS = (1, 2, 3, 4)
DEFAULT_WINDOW_MARGIN = 1.5
MAX_RATE_STEPS = 65536
#: What a rate input value means (coding.input): intensities in [0, 1], or event counts per bin.
RATE_INPUTS = ("intensity", "counts")


@dataclass(frozen=True)
class Task:
    input_shape: Shape
    classes: tuple[str, ...]
    description: str | None = None
    #: Version 3: a regression readout's real-valued outputs (then `classes` is empty).
    outputs: tuple[str, ...] = ()

    @property
    def regression(self) -> bool:
        """The readout gives real-valued outputs (task.outputs), not class scores."""
        return bool(self.outputs)

    @property
    def names(self) -> tuple[str, ...]:
        """One name per readout output: the classes, or a regression's outputs."""
        return self.outputs if self.outputs else self.classes

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input_shape": list(self.input_shape)}
        if self.outputs:
            out["outputs"] = list(self.outputs)
        else:
            out["classes"] = list(self.classes)
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
    #: "ttfs" (then `time` is set) or "rate" (version 2; then `steps` is set and `time` is None).
    coding: str
    time: TimeSpec | None
    nodes: tuple[Node, ...]
    provenance: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    description: str | None = None
    version: int = 1
    #: Rate coding: T, the number of steps the input is presented (docs/rate.md). None for TTFS.
    steps: int | None = None
    #: Rate coding: what an input value means: "intensity" (in [0, 1], sent as 8-bit graded spikes) or
    #: "counts" (event counts per time bin, sent as they are). None for TTFS.
    rate_input: str | None = None
    #: Sigma-delta coding (version 4): each layer's delta threshold as a fraction of its calibration peak, or None
    #: for the compile's default (docs/sdnn.md). `steps` is then optional: None runs until the readout settles.
    delta_threshold: float | None = None
    #: Version 3: the genome's numbers are a chip's integers at these state scales (docs/genome.md, section 12):
    #: {"state_scales": {node id: state units per unit}, "source": ...}; compile uses them as they are.
    chip_integers: dict[str, Any] | None = None
    #: Where the genome was read from (for error messages and relative weight paths); not serialised.
    source: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Each coding has its own time description; a genome with both (or neither) could not be written.
        rules = CODING_RULES.get(self.coding)
        if rules is None:
            raise ValueError(f"coding must be one of {list(CODINGS)}, got {self.coding!r}")
        if rules.time_block == "time" and (self.time is None or self.steps is not None):
            raise ValueError(f"a {self.coding} genome has a TimeSpec `time` and no `steps`")
        if rules.time_block == "settle":
            if self.time is not None or self.version < rules.min_version:
                raise ValueError(f"a {self.coding} genome is version {rules.min_version} or later and has no `time`")
            if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, int)
                                           or not 1 <= self.steps <= MAX_RATE_STEPS):
                raise ValueError(f"steps must be an integer from 1 to {MAX_RATE_STEPS}, got {self.steps!r}")
        if rules.time_block == "steps":
            if self.time is not None or self.version < rules.min_version:
                raise ValueError(f"a {self.coding} genome is version {rules.min_version} or later and has `steps`, "
                                 "not `time`")
            if isinstance(self.steps, bool) or not isinstance(self.steps, int) or not 1 <= self.steps <= MAX_RATE_STEPS:
                raise ValueError(f"rate steps must be an integer from 1 to {MAX_RATE_STEPS}, got {self.steps!r}")
            if self.rate_input is None:
                object.__setattr__(self, "rate_input", "intensity")
            if self.rate_input not in RATE_INPUTS:
                raise ValueError(f"rate input must be one of {list(RATE_INPUTS)}, got {self.rate_input!r}")

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
        """The nodes with a forward edge from `node_id`, in file order."""
        return [self.nodes[k] for k in self._consumer_positions.get(node_id, ())]

    @cached_property
    def _consumer_positions(self) -> dict[str, list[int]]:
        positions: dict[str, list[int]] = {}
        for k, node in enumerate(self.nodes):
            for source in dict.fromkeys(node.forward_inputs):
                positions.setdefault(source, []).append(k)
        return positions

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
        if CODING_RULES[self.coding].time_block == "settle":
            out["coding"] = {"scheme": self.coding, **({"steps": self.steps} if self.steps is not None else {}),
                             **({"delta_threshold": self.delta_threshold} if self.delta_threshold is not None else {})}
        elif self.time is None:
            out["coding"] = {"scheme": self.coding, "steps": self.steps, "input": self.rate_input}
        else:
            out["coding"] = {"scheme": self.coding}
            out["time"] = self.time.to_json()  # type: ignore[union-attr]
        if self.weights is not None:
            out["weights"] = self.weights
        out["provenance"] = json.loads(json.dumps(self.provenance, sort_keys=True))  # canonical key order
        if self.chip_integers is not None:
            out["chip_integers"] = json.loads(json.dumps(self.chip_integers, sort_keys=True))
        out["nodes"] = [n.to_json() for n in self.nodes]
        return out

    def dumps(self) -> str:
        """Canonical JSON text (sorted keys inside free-form provenance, fixed indentation)."""
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"


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
    version = obj["version"]
    if nesting_depth(obj, MAX_NESTING) > MAX_NESTING:   # before any recursive walk (schema, json.dumps)
        raise DeployError(f"nested deeper than {MAX_NESTING} levels; no genome nests that deep", where)
    check_delay_version(obj, version, where)     # before the schema: its message would not name the version
    _check_coding_version(obj, version, where)
    problem = schema_problem(obj, int(version))   # 1.0 is 1, as in the schema; True fails its const
    if problem is not None:
        raise DeployError(problem[0], where, problem[1])
    bad = _non_finite(obj)
    if bad is not None:   # NaN/Infinity are not JSON; Python's parser accepts them (and 1e400 becomes inf)
        raise DeployError("expected a finite number, got NaN or infinity", where, json_path(bad, obj))
    raw_nodes = obj["nodes"]

    def at(i: int, field: str | None = None) -> str:
        return f"nodes[{i}] (id {raw_nodes[i].get('id')!r})" + (f".{field}" if field else "")

    coding = obj["coding"]["scheme"]
    items: list[Node | SnasCell] = []
    for i, raw in enumerate(raw_nodes):
        try:
            items.append(SnasCell.from_json(raw) if raw.get("type") == SnasCell.type_tag else node_from_json(raw))
        except NodeError as exc:
            raise DeployError(str(exc), where, at(i, exc.field)) from None
        refusal = CODING_RULES[coding].snas_cell
        if isinstance(items[-1], SnasCell) and refusal is not None:
            raise DeployError(refusal, where, at(i, "type"))
        if version == 1 and isinstance(items[-1], Add) and len(items[-1].forward_inputs) < 2:
            # Version 1 counts only forward inputs of an add (recurrent edges cannot compile there anyway).
            raise DeployError(f"add takes at least 2 forward input(s), got {len(items[-1].forward_inputs)}",
                              where, at(i, "inputs"))
    task = _task(obj["task"], where)
    try:
        nodes, origin = expand_cells(items, task.input_shape)
    except CellError as exc:
        raise DeployError(str(exc), where, at(exc.index, exc.field)) from None
    time = obj.get("time")
    genome = Genome(
        name=obj["name"],
        task=task,
        coding=coding,
        time=None if time is None else TimeSpec(time["steps_per_window"],
                                                float(time.get("window_margin", DEFAULT_WINDOW_MARGIN))),
        nodes=tuple(nodes),
        provenance=obj.get("provenance", {}),
        weights=obj.get("weights"),
        description=obj.get("description"),
        version=version,
        steps=obj["coding"].get("steps"),
        rate_input=obj["coding"].get("input", "intensity") if CODING_RULES[coding].time_block == "steps" else None,
        chip_integers=obj.get("chip_integers"),
        delta_threshold=obj["coding"].get("delta_threshold"),
        source=Path(source) if source is not None else None,
    )

    def generated(k: int) -> bool:
        return genome.nodes[k].id != raw_nodes[origin[k]].get("id")

    def locate(k: int) -> str:
        """A node's place in the file; a node generated from a snas_cell is named after its cell."""
        i = origin[k]
        suffix = f" -> {genome.nodes[k].id!r}" if generated(k) else ""
        return f"nodes[{i}] (id {raw_nodes[i].get('id')!r}{suffix})"

    _check_graph(genome, where, locate, lambda k: locate(k) if generated(k) else f"nodes[{origin[k]}]")
    check_delays(genome, where, locate)
    _check_version3(genome, where, locate)
    return genome


def _task(task: dict[str, Any], where: str) -> Task:
    """The task block; version 3 has class names or a regression's output names, exactly one of the two."""
    if ("classes" in task) == ("outputs" in task):
        raise DeployError("expected either 'classes' (the class names of a classifier) or 'outputs' (the names of a "
                          "regression readout's real-valued outputs), " + ("got both" if "classes" in task else
                                                                          "got neither"), where, "task")
    return Task(tuple(task["input_shape"]), tuple(task.get("classes", ())), task.get("description"),
                tuple(task.get("outputs", ())))


def _check_version3(genome: Genome, where: str, locate: Callable[[int], str]) -> None:
    """Regression readouts, leaky readouts and chip_integers (version 3), where the coding allows them;
    chip_integers names nodes."""
    rules = CODING_RULES[genome.coding]
    if genome.task.regression and rules.regression_readout is not None:
        raise DeployError(rules.regression_readout, where, "task.outputs")
    if genome.readout.tau is not None and rules.leaky_readout is not None:
        raise DeployError(rules.leaky_readout, where, f"{locate(genome.nodes.index(genome.readout))}.tau")
    if genome.chip_integers is None:
        return
    if rules.chip_integers is not None:
        raise DeployError(rules.chip_integers, where, "chip_integers")
    for key in ("state_scales", "thresholds"):       # thresholds: sigma-delta (version 4)
        for node_id in genome.chip_integers.get(key, {}):
            if node_id not in genome.by_id:
                raise DeployError(f"unknown node {node_id!r}; expected one of {listed(genome.by_id)}", where,
                                  f"chip_integers.{key}.{node_id}")


def _non_finite(obj: Any) -> tuple[Any, ...] | None:
    """The path of the first NaN or infinite number (in document order) in a parsed JSON value, or None."""
    try:
        json.dumps(obj, allow_nan=False)   # fast (C) when every number is finite, the usual case
        return None
    except (ValueError, TypeError):
        pass   # a NaN or infinity somewhere (or a value of a Python caller that is not plain JSON): find it
    pending: list[tuple[Any, tuple[Any, ...]]] = [(obj, ())]
    while pending:   # depth first, children pushed in reverse so the first one is looked at first
        value, path = pending.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                return path
            continue
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        pending.extend((child, path + (key,)) for key, child in reversed(list(items))
                       if isinstance(child, (float, dict, list)))
    return None


def load_genome(path: str | Path) -> Genome:
    """Read and validate a genome file; every problem becomes a `DeployError` naming file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeployError("file not found", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DeployError(f"cannot read genome: {exc}", path) from None
    return genome_from_json(parse_json(text, path), path)


def _topological_order(nodes: tuple[Node, ...]) -> tuple[str, ...]:
    """Kahn's algorithm by levels: level 0 is the nodes without forward inputs, level k+1 the nodes whose last
    forward input is on level k; within a level, file order. Raises `_Cycle` naming every node left out (on a
    cycle, behind one, or fed by an unknown id)."""
    position = {n.id: k for k, n in enumerate(nodes)}
    waiting = {n.id: len(set(n.forward_inputs)) for n in nodes}
    users: dict[str, list[str]] = {}
    for n in nodes:
        for source in set(n.forward_inputs):
            users.setdefault(source, []).append(n.id)
    order: list[str] = []
    level = [n.id for n in nodes if waiting[n.id] == 0]
    while level:
        order += level
        ready = []
        for node_id in level:
            for user in users.get(node_id, ()):
                waiting[user] -= 1
                if waiting[user] == 0:
                    ready.append(user)
        level = sorted(ready, key=position.__getitem__)
    if len(order) < len(waiting):
        placed = set(order)
        raise _Cycle(sorted(node_id for node_id in waiting if node_id not in placed))
    return tuple(order)


class _Cycle(Exception):
    def __init__(self, ids: list[str]):
        self.ids = ids


def _check_graph(genome: Genome, where: str, locate: Callable[[int], str] | None = None,
                 short: Callable[[int], str] | None = None) -> None:
    """Graph checks. `locate(k)` names genome.nodes[k] in messages (`nodes[i] (id 'c1')`), `short(k)`
    without the id; by default the position in `genome.nodes`."""
    if locate is None:
        locate = lambda k: f"nodes[{k}] (id {genome.nodes[k].id!r})"  # noqa: E731
    if short is None:
        short = lambda k: f"nodes[{k}]"  # noqa: E731
    ids: dict[str, int] = {}
    for i, node in enumerate(genome.nodes):
        if node.id in ids:
            raise DeployError(f"duplicate id {node.id!r} (also {short(ids[node.id])}); ids must be unique", where,
                              f"{short(i)}.id")
        ids[node.id] = i
    for i, node in enumerate(genome.nodes):
        for j, edge in enumerate(node.inputs):
            if edge.source not in ids:
                raise DeployError(f"unknown source node {edge.source!r}; expected one of {listed(ids)}", where,
                                  f"{locate(i)}.inputs[{j}]")
            if edge.source == node.id and not edge.recurrent:
                raise DeployError("a node cannot feed itself except through a recurrent edge", where,
                                  f"{locate(i)}.inputs[{j}]")
    inputs = [n for n in genome.nodes if isinstance(n, Input)]
    readouts = [n for n in genome.nodes if isinstance(n, Readout)]
    if len(inputs) != 1:
        raise DeployError(f"expected exactly one node of type 'input', found {len(inputs)}", where, "nodes")
    if len(readouts) != 1:
        raise DeployError(f"expected exactly one node of type 'readout', found {len(readouts)}", where, "nodes")
    _check_coding(genome, where, locate)
    used = {e.source for n in genome.nodes for e in n.inputs if e.source != n.id}   # by another node
    for node in genome.nodes:
        if isinstance(node, Readout):
            continue
        if node.id not in used:
            raise DeployError("this node's output is used by no other node (dead end); connect it or remove it",
                              where, locate(ids[node.id]))
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
                          locate(i) + (f".{exc.cause.field}" if exc.cause.field else "")) from None
    n_logits = genome.shapes[genome.readout.id][0]
    if genome.task.regression and n_logits != len(genome.task.outputs):
        raise DeployError(f"the readout has {n_logits} outputs but task.outputs names {len(genome.task.outputs)}",
                          where, locate(ids[genome.readout.id]))
    if n_logits != len(genome.task.names):
        raise DeployError(f"the readout has {n_logits} outputs but task.classes names {len(genome.task.classes)} classes",
                          where, locate(ids[genome.readout.id]))


def _check_coding_version(obj: dict[str, Any], version: int, where: str) -> None:
    """Before the schema: a coding newer than the genome's version (sigma-delta needs version 4) is named as such."""
    coding = obj.get("coding")
    scheme = coding.get("scheme") if isinstance(coding, dict) else None
    rules = CODING_RULES.get(scheme) if isinstance(scheme, str) else None
    if rules is not None and rules.names_min_version and version < rules.min_version:
        raise DeployError(f"coding {scheme!r} needs genome version {rules.min_version} or later, this genome is "
                          f"version {version}", where, "version")


def _check_coding(genome: Genome, where: str, locate: Callable[[int], str]) -> None:
    """What the genome's coding allows (`coding.CODING_RULES`): neuron models, neuron nodes, recurrent edges and
    readout modes. Version 1 keeps its own rules (TTFS only; recurrent edges pass validation and are refused
    when compiled).
    """
    rules = CODING_RULES[genome.coding]
    for k, node in enumerate(genome.nodes):
        if rules.neuron_node is not None and isinstance(node, NeuronNode):   # before its neuron's model
            raise DeployError(rules.neuron_node, where, f"{locate(k)}.type")
        model = node.neuron.model if node.neuron is not None else None
        if model is not None and model not in rules.neuron_models:
            raise DeployError(rules.wrong_neuron.replace("{model}", repr(model)), where, f"{locate(k)}.neuron.model")
        if rules.recurrent_edge is not None and genome.version >= 2:
            for j, edge in enumerate(node.inputs):
                if edge.recurrent:
                    raise DeployError(rules.recurrent_edge, where, f"{locate(k)}.inputs[{j}]")
        if isinstance(node, Readout):
            src = genome.by_id[node.forward_inputs[0]]
            if node.mode == "spike_count" and rules.spike_count_readout is not None:
                raise DeployError(rules.spike_count_readout, where, f"{locate(k)}.mode")
            if node.mode == "spike_count" and src.neuron is None:
                raise DeployError(f"readout mode 'spike_count' counts the spikes of its input, but {src.id!r} carries "
                                  "no neuron; give it one or use mode 'membrane'", where, f"{locate(k)}.mode")
            if node.mode == "membrane" and not rules.membrane_reads_neuron and src.neuron is not None:
                raise DeployError(f"readout mode 'membrane' reads the potential of a node without neuron, but "
                                  f"{src.id!r} carries one; use mode 'spike_count' to count its spikes, or remove "
                                  "the neuron", where, f"{locate(k)}.mode")


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
