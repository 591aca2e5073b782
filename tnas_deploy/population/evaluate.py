"""Evaluating one genome of a population into one result row (a plain, JSON-ready dict).

`evaluate_entry` is what each Ray task runs: it compiles the genome for the compile profile with the given
calibration data, runs the data, and estimates energy and latency on every requested profile. Whatever goes
wrong with one genome (a malformed file, weights that do not match, a network that does not compile) becomes
that genome's row with `status: failed` and the one-line message the CLI would print, so that one bad genome
never ends the batch. The row holds no timings: the same genome and settings give the same row, whichever
worker ran it.

Two paths give the numbers: the reference simulator (`fast=False`: `api.evaluate`, what `tnas-deploy bench`
runs), and the fast cost path (`fast=True`: `fast_cost.estimate_cost`, one batched forward pass for the codings
that offer one, the reference simulator for the others); both give the same numbers, and the row's `method`
says which ran.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import DeployError
from ..io_utils import sha256_file

#: The version of a result row's fields; a row of another version is evaluated again on resume.
ROW_VERSION = 1


@dataclass(frozen=True)
class EvalSettings:
    """What every genome of a batch is evaluated with (the same for all rows)."""

    data: str
    calibration: str | None
    profiles: tuple[str, ...]
    compile_profile: str = "loihi2"
    samples: int | None = None
    fast: bool = False
    static_mode: str = "whole-chip"

    def key(self) -> str:
        """A hash of the settings and of the data, calibration and profile files they name: rows evaluated
        with other settings or changed files are not reused on resume."""
        from ..profiles import load_profile
        files = {"data": sha256_file(self.data)}
        if self.calibration is not None:
            files["calibration"] = sha256_file(self.calibration)
        for name in sorted(set(self.profiles) | {self.compile_profile}):
            files[f"profile {name}"] = load_profile(name).sha256
        text = json.dumps({"version": ROW_VERSION, "settings": asdict(self), "files": files}, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def evaluate_entry(genome: str, shown: str, sha256: str | None, problem: str | None, settings: EvalSettings,
                   settings_key: str) -> dict[str, Any]:
    """The result row of one genome (never raises for a problem of that genome: the row says it)."""
    row: dict[str, Any] = {"genome": shown, "sha256": sha256, "settings": settings_key, "version": ROW_VERSION}
    if problem is not None:
        return {**row, "status": "failed", "error": problem}
    try:
        measured = measure(Path(genome), settings)
    except DeployError as exc:
        return {**row, "status": "failed", "error": str(exc)}
    except MemoryError:
        return {**row, "status": "failed", "error": f"{genome}: out of memory while evaluating"}
    except Exception as exc:  # noqa: BLE001 - a bug on one genome must not end the batch; the row names it
        return {**row, "status": "failed", "error": f"{genome}: internal error {type(exc).__name__}: {exc}"}
    return {**row, "status": "ok", "error": None, **measured}


def measure(genome: Path, settings: EvalSettings) -> dict[str, Any]:
    """Compile, run and estimate one genome; the row's measured fields."""
    if settings.fast:
        return _rounded(_fast_measure(genome, settings))
    return _rounded(_reference_measure(genome, settings))


def _reference_measure(genome: Path, settings: EvalSettings) -> dict[str, Any]:
    from ..api import evaluate
    evaluation = evaluate(genome, None, settings.data, list(settings.profiles), settings.calibration,
                          compile_profile=settings.compile_profile, samples=settings.samples,
                          static_mode=settings.static_mode)
    return evaluation.to_dict()


def _fast_measure(genome: Path, settings: EvalSettings) -> dict[str, Any]:
    from ..fast_cost import estimate_cost
    evaluation = estimate_cost(genome, None, settings.data, list(settings.profiles), settings.calibration,
                               compile_profile=settings.compile_profile, samples=settings.samples,
                               static_mode=settings.static_mode)
    return evaluation.to_dict()


def _rounded(value: Any) -> Any:
    """Floats to 10 significant digits: rows compare equal whatever worker (and summation order) made them."""
    if isinstance(value, float):
        return float(f"{value:.10g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if hasattr(value, "item") and callable(value.item):    # numpy scalars
        return _rounded(value.item())
    return value
