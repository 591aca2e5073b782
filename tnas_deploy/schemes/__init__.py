"""Coding schemes and their registry: `scheme_for(genome_or_network)` is the one place that reads a coding's name.

Each scheme is a sub-package (`ttfs/`, `rate/`) implementing `base.Scheme`; see docs/architecture.md,
"Adding a coding scheme".
"""
from __future__ import annotations

from typing import Any

from ..errors import DeployError
from .base import CompileOptions, ExportRequest, Scheme
from .rate import RateScheme
from .ttfs import TtfsScheme

SCHEMES: dict[str, Scheme] = {scheme.name: scheme for scheme in (TtfsScheme(), RateScheme())}


def scheme_named(name: str) -> Scheme:
    """The scheme of a coding name as genomes, artifacts and summaries record it."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise DeployError(f"unknown coding scheme {name!r}; this tnas-deploy knows {sorted(SCHEMES)}") from None


def scheme_for(target: Any) -> Scheme:
    """The scheme of a genome (`genome.coding.scheme`), a compiled network (`net.coding`) or a summary dict."""
    if isinstance(target, dict):
        return scheme_named(target.get("coding", "ttfs"))
    coding = target.coding
    return scheme_named(coding if isinstance(coding, str) else coding.scheme)


__all__ = ["SCHEMES", "CompileOptions", "ExportRequest", "Scheme", "scheme_for", "scheme_named"]
