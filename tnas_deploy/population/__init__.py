"""Evaluating a population of genomes (issue 15): `tnas-deploy bench --population` and `evaluate_population`.

A population is a folder of genome `.json` files or a text file listing genome paths (`listing`). Each genome
is compiled with the given calibration data for the compile profile, run on the data, and costed on every
requested profile (`evaluate`), as one Ray task per genome (`execution`). A malformed genome becomes a row
that says what is wrong with it; the batch goes on. Rows are appended to `results.jsonl` as they finish
(`results`), so a stopped batch resumes where it was; the final table and report (`report`, with the Pareto
fronts of `pareto`) list the genomes sorted by path, so they do not depend on the order workers finished in.

Modules, each importing only those before it: `listing`, `evaluate`, `results`, `pareto`, `execution`,
`report`; this one ties them together.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..energy.model import STATIC_MODES
from ..errors import DeployError
from ..progress import progress_bar
from .evaluate import EvalSettings
from .execution import Executor, ray_executor, run_serial
from .listing import PopulationEntry, list_population, listed_entries
from .pareto import dominates, pareto_front
from .report import fronts, text_table, write_population_report
from .results import RESULTS_FILE, ResultFile

__all__ = ["PopulationEntry", "PopulationResult", "RESULTS_FILE", "dominates", "evaluate_population",
           "list_population", "pareto_front", "run_serial"]


@dataclass
class PopulationResult:
    """The rows of a population (one per genome, sorted by genome path), how many were evaluated now and how
    many were taken from an earlier run's results, and the files written (none without an output folder)."""

    rows: list[dict[str, Any]]
    evaluated: int
    reused: int
    files: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The rows of the genomes that could not be evaluated (each with its `error`)."""
        return [row for row in self.rows if row.get("status") != "ok"]

    def front(self, chip: str, accuracy: str = "war", cost: str = "energy_uj") -> list[str]:
        """The genomes on the Pareto front of `accuracy` ("war", "uar") against `cost` ("energy_uj",
        "latency_ms") on `chip`, sorted by path."""
        return fronts(self.rows).get((chip, accuracy, cost), [])

    def table(self) -> list[str]:
        """The population as aligned text lines (what `tnas-deploy bench --population` prints)."""
        return text_table(self.rows)


def evaluate_population(genomes: str | Path | Sequence[str | Path], data: str | Path,
                        calibration: str | Path | None = None, profiles: Sequence[str] = ("loihi2",),
                        workers: int | None = None, ray_address: str | None = None, fast: bool = False,
                        out_dir: str | Path | None = None, samples: int | None = None,
                        compile_profile: str = "loihi2", static_mode: str = "whole-chip", progress: bool = False,
                        executor: Executor | None = None) -> PopulationResult:
    """Evaluate every genome of a population (a folder, a list file, or a sequence of genome paths) on `data`
    and each of `profiles`; compiled for `compile_profile` with `calibration` (default: the data).

    Runs as Ray tasks, at most `workers` at a time, on a local cluster started for the call or on the one at
    `ray_address`; `executor=run_serial` evaluates in this process instead. `fast` takes costs from the fast
    cost path instead of the reference simulator; `static_mode` is `bench --static`'s. With `out_dir`, rows are
    appended to `out_dir/results.jsonl` as they finish and rows already there (same genome content, same
    settings) are reused, and population.md and population.html are written at the end.
    """
    if workers is not None and workers < 1:
        raise DeployError(f"expected a number of workers >= 1, got {workers}", None, "--workers")
    if static_mode not in STATIC_MODES:
        raise DeployError(f"expected one of {list(STATIC_MODES)}, got {static_mode!r}", None, "--static")
    if samples is not None and samples < 1:
        raise DeployError(f"expected a number of samples >= 1, got {samples}", None, "--samples")
    for name, path in (("--input", data), ("--calibration", calibration)):
        if path is not None and not Path(path).is_file():
            raise DeployError("no such file", path, name)
    entries = (list_population(genomes) if isinstance(genomes, (str, Path)) else listed_entries(genomes))
    settings = EvalSettings(str(data), None if calibration is None else str(calibration), tuple(profiles),
                            compile_profile, samples, fast, static_mode)
    key = settings.key()
    store = ResultFile(Path(out_dir) / RESULTS_FILE) if out_dir is not None else None
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for entry in entries:
        earlier = store.done(entry, key) if store is not None else None
        if earlier is not None:
            rows[entry.shown] = earlier
        else:
            todo.append(entry)
    reused = len(rows)
    with progress_bar(len(todo), "evaluating genomes", enabled=progress and bool(todo), unit="genomes") as bar:
        def on_row(row: dict[str, Any]) -> None:
            if store is not None:
                store.append(row)
            rows[row["genome"]] = row
            bar.update(1)
        (executor or ray_executor(workers, ray_address))(todo, settings, key, on_row)
    ordered = [rows[entry.shown] for entry in entries]
    files = []
    if out_dir is not None:
        measured = next((r for r in ordered if r.get("status") == "ok"), {})
        files = write_population_report(ordered, Path(out_dir), {
            "data": str(data), "samples": measured.get("samples", samples or "all"),
            "compile_profile": compile_profile,
            "path": "fast cost path" if fast else "reference simulator"})
    return PopulationResult(ordered, len(todo), reused, files)
