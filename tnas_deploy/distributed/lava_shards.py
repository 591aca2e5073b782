"""Lava runs sharded over Ray workers: the samples split into contiguous slices, each slice one guarded Lava run
in a Ray task (`slice_task.run_slice`), the results merged in sample order.

Every sample's run starts from reset state (a sample occupies its own period, docs/lava.md), so a slice's result
is exactly that of the same samples inside one long run: the merged result is bit-identical to one worker's.

What a user sees:
- progress across all workers in one bar (a `SliceBoard` actor collects the samples each slice has done);
- a slice whose Ray worker dies (killed, out of memory, its node lost) is reported on stderr, naming the slice
  and the worker, and run once more; a second loss is a `BackendError` naming the slice (exit 3);
- a slice that fails by itself (a model raises, `--timeout`, a Lava worker killed inside the slice) is a
  `BackendError` naming the slice; it is not retried (running it again would fail again);
- SIGINT, SIGTERM and SIGHUP stop every slice (`stop_slices`: each Lava run stops in order; a Ray worker that
  does not within `CANCEL_GRACE_S` is killed, and its Lava workers with it, `slice_task`), the local cluster is
  shut down (`cluster`), and `StoppedBySignal` is raised.
"""
from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BackendError, DeployError
from ..lava_runtime.signals import StoppedBySignal, stop_signals_guarded
from ..result import SimResult, concat_results
from .board import SliceBoard
from .cluster import RayCluster, ray_cluster
from .slice_task import run_slice

#: What `StoppedBySignal` says was done after a stop signal.
STOPPED = "the Ray workers and their Lava runs were stopped and cleaned up"
#: Seconds between two looks at the slices' progress.
PROGRESS_POLL_S = 0.25
#: How long stopped slices get to stop their Lava runs in order before their Ray workers are killed.
CANCEL_GRACE_S = 2.5
#: Runs of a slice whose Ray worker died before it is given up.
ATTEMPTS = 2


@dataclass(frozen=True)
class Slice:
    """Samples `start` .. `stop` - 1 of the run, as slice `index`."""

    index: int
    start: int
    stop: int

    def describe(self) -> str:
        return f"slice {self.index + 1} (samples {self.start}-{self.stop - 1})"


def split_samples(samples: int, workers: int) -> list[Slice]:
    """`samples` split into min(workers, samples) contiguous slices whose sizes differ by one at most."""
    count = max(1, min(workers, samples))
    bounds = [samples * k // count for k in range(count + 1)]
    return [Slice(k, bounds[k], bounds[k + 1]) for k in range(count)]


def require_workers(workers: int | None, address: str | None) -> None:
    """Refuse a number of workers below 1 and an empty address."""
    if workers is not None and workers < 1:
        raise DeployError(f"expected a number of workers >= 1, got {workers}", None, "--workers")
    if address is not None and not address.strip():
        raise DeployError("expected the address of a Ray cluster (host:port, or 'auto'), got an empty one", None,
                          "--ray-address")


def run_sharded(net: Any, x: np.ndarray, workers: int | None, address: str | None = None,
                progress: Callable[[float], None] | None = None, timeout: float | None = None,
                hardware: bool = False, netx_file: bytes | None = None,
                notify: Callable[[str], None] | None = None) -> SimResult:
    """Run the samples `x` of `net` on Lava in slices over Ray workers (module doc) and merge the results.

    `workers` None: one slice per CPU of the cluster at `address` (a local cluster has `workers` CPUs).
    `netx_file`: the content of a netx file to run with lava-dl instead (`verify --backend netx`).
    `notify` receives the one-line reports of lost workers (default: printed on stderr)."""
    require_workers(workers, address)
    say = notify or _print_note
    # Ray's driver prints the cluster's error messages (a worker that died, ...) on stdout, which is the command's
    # (--json): they are dropped; what matters reaches us as an exception, and is reported naming slice and worker
    with stop_signals_guarded() as guard, redirect_stdout(io.StringIO()):
        with ray_cluster(workers or 1, address) as cluster:     # a signal while Ray starts ends it at once
            guard.defer()    # from here on, signals are noted and acted upon in the loop, never inside Ray's calls
            guard.raise_if_signalled(STOPPED)
            slices = split_samples(len(x), workers or cluster.cpus)
            results = _run_slices(cluster, net, x, slices, guard, progress, timeout, hardware, netx_file, say)
    return concat_results([results[s.index] for s in slices])


def _run_slices(cluster: RayCluster, net: Any, x: np.ndarray, slices: list[Slice], guard: Any,
                progress: Callable[[float], None] | None, timeout: float | None, hardware: bool,
                netx_file: bytes | None, say: Callable[[str], None]) -> dict[int, SimResult]:
    ray = cluster.ray
    board = ray.remote(num_cpus=0)(SliceBoard).remote()
    task = ray.remote(num_cpus=1, max_retries=0)(run_slice)
    net_ref = ray.put(net)
    netx_ref = ray.put(netx_file) if netx_file is not None else None

    def submit(piece: Slice) -> Any:
        return task.remote(piece.index, net_ref, x[piece.start:piece.stop], timeout, hardware, board,
                           cluster.scratch, netx_ref)

    pending = {submit(piece): piece for piece in slices}
    attempts = {piece.index: 1 for piece in slices}
    results: dict[int, SimResult] = {}
    shown = 0.0
    last_look = 0.0
    try:
        while pending:
            guard.raise_if_signalled(STOPPED)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.05)
            now = time.monotonic()
            if progress is not None and (ready or now - last_look >= PROGRESS_POLL_S):
                last_look = now
                shown = _show_progress(ray, board, progress, shown)
            for ref in ready:
                piece = pending.pop(ref)
                try:
                    results[piece.index] = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    guard.raise_if_signalled(STOPPED)
                    raise _slice_failure(piece, exc) from None
                except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                        ray.exceptions.OutOfMemoryError, ray.exceptions.LocalRayletDiedError) as exc:
                    guard.raise_if_signalled(STOPPED)
                    who = _worker_of(ray, board, piece)
                    if attempts[piece.index] >= ATTEMPTS:
                        raise BackendError(f"{piece.describe()} failed twice: its Ray worker {who} died "
                                           f"({_first_line(exc)}); the run was stopped", None, "--workers") from None
                    say(f"{piece.describe()}: its Ray worker {who} died ({_first_line(exc)}); "
                        f"running the slice again")
                    attempts[piece.index] += 1
                    _call(ray, board.restart.remote(piece.index))
                    pending[submit(piece)] = piece
                except ray.exceptions.RayError as exc:       # Ray itself failed (object lost, system error)
                    guard.raise_if_signalled(STOPPED)
                    raise BackendError(f"{piece.describe()}: Ray failed: {_first_line(exc)}", None,
                                       "--workers") from None
        if progress is not None:
            _show_progress(ray, board, progress, shown)
        return results
    finally:
        stop_slices(ray, list(pending))
        try:
            ray.kill(board)
        except Exception:  # noqa: BLE001 - the board is gone with its worker
            pass


def stop_slices(ray: Any, refs: list) -> None:
    """Stop the slices still running: first as Ctrl-C would (Ray raises KeyboardInterrupt in the task, and its
    guarded Lava run stops in order, removing its shared memory), then, after `CANCEL_GRACE_S`, by killing their
    Ray workers (the Lava workers those forked die with them: `slice_task`)."""
    for ref in refs:
        _cancel(ray, ref, force=False)
    deadline = time.monotonic() + CANCEL_GRACE_S
    while refs and time.monotonic() < deadline:
        _, refs = ray.wait(refs, num_returns=len(refs), timeout=0.05)
    for ref in refs:
        _cancel(ray, ref, force=True)


def _cancel(ray: Any, ref: Any, force: bool) -> None:
    try:
        ray.cancel(ref, force=force)
    except Exception:  # noqa: BLE001 - already finished, or its worker already gone
        pass


def _show_progress(ray: Any, board: Any, progress: Callable[[float], None], shown: float) -> float:
    """Move the bar to the samples done over all slices (never backwards: a slice run again starts from 0)."""
    state = _call(ray, board.snapshot.remote())
    if state is None:
        return shown
    done = sum(state[0].values())
    if done > shown:
        progress(done - shown)
        return done
    return shown


def _worker_of(ray: Any, board: Any, piece: Slice) -> str:
    state = _call(ray, board.snapshot.remote())
    found = state[1].get(piece.index) if state is not None else None
    return f"(process {found[0]} on {found[1]})" if found else "(which had not started the slice yet)"


def _call(ray: Any, ref: Any) -> Any:
    """An actor call's answer, or None if the board does not answer in time."""
    try:
        return ray.get(ref, timeout=5)
    except Exception:  # noqa: BLE001 - progress and worker names are a courtesy; the run goes on without them
        return None


def _slice_failure(piece: Slice, exc: Any) -> DeployError:
    """The error a slice raised, with the slice named; anything but our own errors is a backend failure."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, StoppedBySignal):
        return BackendError(f"{piece.describe()}: its Ray worker was stopped by {cause.signal_name}", None,
                            "--workers")
    if isinstance(cause, DeployError):
        return type(cause)(f"{piece.describe()}: {cause.message}", cause.file, cause.field)
    return BackendError(f"{piece.describe()} failed in its Ray worker: {cause!r}" if cause is not None
                        else f"{piece.describe()} failed in its Ray worker: {_first_line(exc)}", None, "--workers")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _print_note(line: str) -> None:
    print(f"tnas-deploy: note: {line}", file=sys.stderr, flush=True)


__all__ = ["ATTEMPTS", "STOPPED", "Slice", "require_workers", "run_sharded", "split_samples"]
