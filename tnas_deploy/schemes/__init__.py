"""Coding schemes and their registry: `scheme_for(genome_or_network)` is the one place that reads a coding's name.

Each scheme is a sub-package (`ttfs/`, `rate/`) implementing `base.Scheme`; see docs/architecture.md,
"Adding a coding scheme".
"""
from __future__ import annotations

from typing import Any

from ..errors import DeployError
from .base import CompileOptions, ExportRequest, Scheme
from .rate import RateScheme
from .sdnn import SdnnScheme
from .ttfs import TtfsScheme

SCHEMES: dict[str, Scheme] = {scheme.name: scheme for scheme in (TtfsScheme(), RateScheme(), SdnnScheme())}


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


def scheme_to_compile(genome: Any, coding: str | None) -> Scheme:
    """The scheme that compiles `genome`: its own coding's, or with `--coding` that coding's scheme when it compiles
    genomes of the genome's coding (sigma-delta lowers the ANN of a TTFS genome). Refuses the others, naming
    --coding."""
    own = scheme_for(genome)
    if coding is None or coding == own.name:
        return own
    if coding not in SCHEMES:
        raise DeployError(f"unknown coding {coding!r}; expected the genome's own ({own.name!r}) or one of "
                          f"{sorted(SCHEMES)}", genome.source, "--coding")
    scheme = SCHEMES[coding]
    if own.name not in scheme.lowers_codings:
        takes = [name for name, s in SCHEMES.items() if own.name in s.lowers_codings]
        raise DeployError(f"a genome of coding {own.name!r} compiles as {own.name!r}"
                          + "".join(f" or {t!r}" for t in takes)
                          + f", not as {coding!r}" + (" (rate coding needs a trained rate model)"
                                                      if coding == "rate" else ""), genome.source, "--coding")
    return scheme


__all__ = ["SCHEMES", "CompileOptions", "ExportRequest", "Scheme", "scheme_for", "scheme_named", "scheme_to_compile"]
