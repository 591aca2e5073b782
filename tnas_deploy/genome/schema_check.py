"""Checking a parsed genome against the shipped JSON Schema of its version, in time linear in its size.

`jsonschema` takes about a millisecond per node, which makes a genome of 100,000 nodes take minutes. The
nodes of a real genome are few distinct kinds that differ only in their ids, edge sources and labels, and the
schema constrains those only through `$defs/id` (a string matching a pattern) and `label` (any string). So each
node is first reduced to a *template*: valid ids and sources become one placeholder id, labels become "". The
schema then sees the top level with each distinct template once. Only when that fails are the nodes behind
the failing templates validated as they are, which gives exactly the errors (and so the message) of
validating the whole file: valid nodes produce no errors. `tests/test_hostile_inputs.py` checks that the
schemas keep the shape this relies on.
"""
from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any, Callable, Iterable

import jsonschema

#: An id every schema version accepts; stands for every valid id and edge source in a template.
PLACEHOLDER_ID = "n"

# JSON Schema counts 16.0 as an integer; the genome wants real integers (a kernel of 3.0 is a typo to report).
_STRICT_VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)))


@functools.lru_cache(maxsize=None)
def schema(version: int) -> dict[str, Any]:
    """The shipped JSON Schema of a genome format version (read once)."""
    text = resources.files(__package__).joinpath(f"schema/genome-v{version}.schema.json").read_text()
    return json.loads(text)


@functools.lru_cache(maxsize=None)
def _validator(version: int) -> Any:
    return _STRICT_VALIDATOR(schema(version))


def json_path(path: Iterable[Any], obj: Any = None) -> str:
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


def schema_problem(obj: dict[str, Any], version: int) -> tuple[str, str] | None:
    """The most useful schema error of `obj` as (message, field), or None when it is valid."""
    validator = _validator(version)
    nodes = obj.get("nodes")
    if not isinstance(nodes, list):
        return _most_useful(obj, [(e, tuple(e.absolute_path)) for e in validator.iter_errors(obj)])
    id_ok = re.compile(schema(version)["$defs"]["id"]["pattern"]).search
    kinds: dict[Any, int] = {}
    templates: list[Any] = []
    kind_of: list[int] = []
    for node in nodes:
        template = _template(node, id_ok)
        key = _key(template)
        kind = kinds.get(key) if key is not None else None
        if kind is None:
            kind = len(templates)
            templates.append(template)
            if key is not None:
                kinds[key] = kind
        kind_of.append(kind)
    reduced = [e for e in validator.iter_errors({**obj, "nodes": templates}) if not _too_few(e, nodes)]
    if not reduced:
        return None
    failing = {e.absolute_path[1] for e in reduced if len(e.absolute_path) >= 2 and e.absolute_path[0] == "nodes"}
    suspects = [i for i, kind in enumerate(kind_of) if kind in failing]

    def original(path: tuple[Any, ...]) -> tuple[Any, ...]:
        return ("nodes", suspects[path[1]]) + path[2:] if len(path) >= 2 and path[0] == "nodes" else path

    errors = validator.iter_errors({**obj, "nodes": [nodes[i] for i in suspects]})
    return _most_useful(obj, [(e, original(tuple(e.absolute_path))) for e in errors if not _too_few(e, nodes)])


def _template(node: Any, id_ok: Callable[[str], Any]) -> Any:
    """`node` with every valid id and edge source replaced by PLACEHOLDER_ID and its label by "" (invalid
    ones stay, so that the template fails as the node does)."""
    if type(node) is not dict:
        return node
    template = dict(node)
    if isinstance(template.get("id"), str) and id_ok(template["id"]):
        template["id"] = PLACEHOLDER_ID
    if isinstance(template.get("label"), str):
        template["label"] = ""
    inputs = template.get("inputs")
    if type(inputs) is list:
        template["inputs"] = [_edge_template(e, id_ok) for e in inputs]
    return template


def _edge_template(edge: Any, id_ok: Callable[[str], Any]) -> Any:
    if isinstance(edge, str) and id_ok(edge):
        return PLACEHOLDER_ID
    if type(edge) is dict and isinstance(edge.get("node"), str) and id_ok(edge["node"]):
        return {**edge, "node": PLACEHOLDER_ID}
    return edge


def _key(value: Any) -> Any:
    """A hashable key equal for two values only if they have the same types and equal contents (so the
    schema judges them alike), or None when there is none (e.g. a NaN, which equals nothing)."""
    try:
        key = _key_of(value)
        hash(key)
    except TypeError:
        return None
    return key


def _key_of(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return kind, tuple((type(k), k, _key_of(v)) for k, v in value.items())
    if kind is list or kind is tuple:
        return kind, tuple(_key_of(v) for v in value)
    return kind, value


def _too_few(error: jsonschema.ValidationError, nodes: list[Any]) -> bool:
    """The `minItems` error of a reduced node list that the full list does not have."""
    return error.validator == "minItems" and list(error.absolute_path) == ["nodes"] and len(nodes) >= 2


def _most_useful(obj: Any, errors: list[tuple[jsonschema.ValidationError, tuple[Any, ...]]]
                 ) -> tuple[str, str] | None:
    if not errors:
        return None
    # Prefer the deepest error (it names the exact field); `best_match` prefers shallow ones for if/then.
    err, path = max(errors, key=lambda item: (len(item[1]), -len(item[0].context or [])))
    return _describe(err), json_path(path, obj)


def _describe(err: jsonschema.ValidationError) -> str:
    if err.validator == "not" and isinstance(err.schema, dict) and "description" in err.schema:
        return err.schema["description"]   # the schema says why the value is forbidden here
    if err.validator == "additionalProperties":
        return f"{err.message}; see docs/genome.md for the fields of this object"
    if err.validator == "oneOf" and err.context:
        return "; or ".join(sorted({c.message for c in err.context}))
    if err.validator == "enum" and err.absolute_path and list(err.absolute_path)[-1] == "type":
        return f"unknown node type {err.instance!r}; expected one of {err.validator_value}"
    return err.message


__all__ = ["PLACEHOLDER_ID", "json_path", "schema", "schema_problem"]
