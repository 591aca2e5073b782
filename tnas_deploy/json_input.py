"""Reading user JSON safely: syntax errors with their line, and a bound on how deeply values nest.

Python's `json` parses recursively and raises `RecursionError` (a traceback, not a message) for arrays or
objects nested about a thousand deep; values that parse but nest hundreds deep still break every recursive
walk after parsing (schema checks, `json.dumps` into artifacts). No file of tnas-deploy needs more than a
dozen levels, so anything deeper than `MAX_NESTING` is refused up front with the line where it happens.
`nesting_depth` serves parsed documents of other formats too (TOML profiles).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .errors import DeployError

#: Deepest nesting of arrays and objects accepted in a user file (a genome needs 5; provenance is free-form).
MAX_NESTING = 100

#: A JSON string (skipped: brackets inside it do not nest) or one bracket.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def parse_json(text: str, where: str | Path | None, what: str = "JSON") -> Any:
    """The value of `text`; a `DeployError` naming `where` for malformed or too deeply nested JSON."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeployError(f"malformed {what} at line {exc.lineno}, column {exc.colno}: {exc.msg}", where) from None
    except RecursionError:
        value, too_deep = None, True
    else:
        too_deep = nesting_depth(value, MAX_NESTING) > MAX_NESTING
    if too_deep:
        line = _line_too_deep(text, MAX_NESTING)
        raise DeployError(f"{what} nested deeper than {MAX_NESTING} levels"
                          + (f" (at line {line})" if line is not None else "")
                          + "; no tnas-deploy file nests that deep", where)
    return value


def nesting_depth(value: Any, stop_after: int | None = None) -> int:
    """How deeply lists/tuples and dicts nest in `value` (a scalar: 0, `[]`: 1, `[[1]]`: 2), level by level,
    without recursion. With `stop_after`, returns as soon as the depth exceeds it (a number > stop_after,
    not the exact depth), so a self-referencing structure ends too."""
    depth = 0
    level = [value]
    while True:
        containers = [item for item in level if isinstance(item, (dict, list, tuple))]
        if not containers:
            return depth
        depth += 1
        if stop_after is not None and depth > stop_after:
            return depth
        level = [child for item in containers for child in (item.values() if isinstance(item, dict) else item)]


def _line_too_deep(text: str, limit: int) -> int | None:
    """The line of the first bracket that opens level `limit + 1` (strings skipped), or None."""
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return text.count("\n", 0, match.start()) + 1
        elif token in "]}":
            depth -= 1
    return None


__all__ = ["MAX_NESTING", "nesting_depth", "parse_json"]
