"""What an importer returns: a genome (JSON, validated when the CLI writes it) and its weights."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..weights import Weights


@dataclass
class Imported:
    """A genome (JSON object, not yet validated) and its weights, from another tool's file."""

    genome: dict[str, Any]
    weights: Weights
    notes: list[str] = field(default_factory=list)


#: A valid genome node id.
ID_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def unique_id(name: str, taken: set[str]) -> str:
    """A genome id (`^[A-Za-z_][A-Za-z0-9_]{0,63}$`) close to `name`, not yet in `taken` (which it joins)."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", str(name))[:56] or "n"
    if not re.match(r"[A-Za-z_]", base):
        base = "n_" + base
    return unique_name(base, taken)


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name_2`, `name_3`, ... whichever is not yet in `taken` (which it joins)."""
    candidate, k = name, 1
    while candidate in taken:
        k += 1
        candidate = f"{name}_{k}"
    taken.add(candidate)
    return candidate


__all__ = ["ID_PATTERN", "Imported", "unique_id", "unique_name"]
