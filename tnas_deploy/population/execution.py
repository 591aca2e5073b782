"""Running the evaluation of many genomes: one Ray task (one CPU) per genome on the Ray runtime of
`distributed.cluster` (a local cluster started for the batch and always shut down, or a running cluster at
`ray_address`); or one after the other in this process (`run_serial`, for embedding and tests).

Rows reach the caller (`on_row`) as they finish, in any order; the caller stores them. A genome whose Ray
worker died (killed, out of memory, its node lost) is reported on stderr and evaluated once more; if its
worker dies again, its row fails with `transient: true`, so that a resumed batch evaluates it again, and the
batch goes on. SIGINT, SIGTERM and SIGHUP stop the batch: the running tasks are cancelled, the local cluster
is shut down, and `StoppedBySignal` is raised (the rows already written stay, for a resume).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from ..distributed.cluster import RayCluster, ray_cluster
from ..distributed.lava_shards import require_workers
from ..lava_runtime.signals import stop_signals_guarded
from .evaluate import ROW_VERSION, EvalSettings, evaluate_entry
from .listing import PopulationEntry

#: What runs a batch: (entries, settings, settings key, on_row) -> None.
Executor = Callable[[list[PopulationEntry], EvalSettings, str, Callable[[dict[str, Any]], None]], None]
#: What `StoppedBySignal` says was done after a stop signal.
STOPPED = "the Ray workers were stopped and the cluster shut down; rows written so far are kept for a resume"
#: Runs of a genome whose Ray worker died before its row says so.
ATTEMPTS = 2
#: Seconds between two looks for a stop signal while tasks run.
POLL_S = 0.1


def run_serial(entries: list[PopulationEntry], settings: EvalSettings, key: str,
               on_row: Callable[[dict[str, Any]], None]) -> None:
    """Evaluate the entries one after the other in this process."""
    for entry in entries:
        on_row(evaluate_entry(str(entry.path), entry.shown, entry.sha256, entry.problem, settings, key))


def ray_executor(workers: int | None = None, ray_address: str | None = None,
                 notify: Callable[[str], None] | None = None) -> Executor:
    """An executor that runs each genome as a Ray task, at most `workers` at a time (default: a local cluster
    with every CPU of this machine, or every CPU of the cluster at `ray_address`). `notify` receives the
    one-line reports of lost workers (default: printed on stderr)."""
    require_workers(workers, ray_address)

    def run(entries: list[PopulationEntry], settings: EvalSettings, key: str,
            on_row: Callable[[dict[str, Any]], None]) -> None:
        if not entries:
            return
        with stop_signals_guarded() as guard:
            guard.defer()        # signals are noted and acted upon in the loop, never inside Ray's calls
            with ray_cluster(workers or os.cpu_count() or 1, ray_address) as cluster:
                guard.raise_if_signalled(STOPPED)
                _run_tasks(cluster, entries, settings, key, on_row, guard, workers or cluster.cpus,
                           notify or _print_note)
    return run


def _run_tasks(cluster: RayCluster, entries: list[PopulationEntry], settings: EvalSettings, key: str,
               on_row: Callable[[dict[str, Any]], None], guard: Any, limit: int, say: Callable[[str], None]) -> None:
    ray = cluster.ray
    task = ray.remote(num_cpus=1, max_retries=0)(evaluate_entry)
    settings_ref = ray.put(settings)
    waiting = list(reversed(entries))            # popped from the end: submitted in path order
    running: dict[Any, PopulationEntry] = {}
    attempts: dict[str, int] = {}
    lost = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError, ray.exceptions.OutOfMemoryError,
            ray.exceptions.LocalRayletDiedError)
    try:
        while waiting or running:
            while waiting and len(running) < limit:
                entry = waiting.pop()
                attempts[entry.shown] = attempts.get(entry.shown, 0) + 1
                ref = task.remote(str(entry.path), entry.shown, entry.sha256, entry.problem, settings_ref, key)
                running[ref] = entry
            guard.raise_if_signalled(STOPPED)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            for ref in ready:
                entry = running.pop(ref)
                try:
                    row = ray.get(ref)
                except lost as exc:
                    guard.raise_if_signalled(STOPPED)
                    if attempts[entry.shown] < ATTEMPTS:
                        say(f"{entry.shown}: its Ray worker died ({_first_line(exc)}); evaluating it again")
                        waiting.append(entry)
                        continue
                    row = _lost_row(entry, key, f"its Ray worker died twice ({_first_line(exc)})")
                except ray.exceptions.RayError as exc:   # evaluate_entry turns every error into a row: not this
                    guard.raise_if_signalled(STOPPED)
                    row = _lost_row(entry, key, f"its Ray task failed ({_first_line(exc)})")
                on_row(row)
    finally:
        for ref in running:       # stopped or failed: the genomes still running are cancelled
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished, or its worker already gone
                pass


def _lost_row(entry: PopulationEntry, key: str, why: str) -> dict[str, Any]:
    return {"genome": entry.shown, "sha256": entry.sha256, "settings": key, "version": ROW_VERSION,
            "status": "failed", "transient": True, "error": f"{entry.shown}: {why}"}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _print_note(line: str) -> None:
    print(f"tnas-deploy: note: {line}", file=sys.stderr, flush=True)
