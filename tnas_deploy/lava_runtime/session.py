"""One guarded Lava run, for every coding scheme: its private folder, starting it, following its progress,
noticing failed workers, time-outs and stop signals, and always stopping it without leaving anything behind.

Guarantees, whatever ends the run (success, exception, failed or killed worker, `--timeout`, SIGINT,
SIGTERM, SIGHUP):
- the Lava runtime is stopped: through Lava's own `stop()` when its workers are all alive (within
  `STOP_GRACE_S`, `SIGNAL_STOP_GRACE_S` after a signal), otherwise by `teardown.abort_run`, which kills the
  workers and shuts Lava's shared memory down itself; no worker survives the parent;
- no shared-memory segment (`/dev/shm/psm_*`), `pymp-*` folder or `tnas-lava-*` folder stays, and
  multiprocessing has no leak to warn about;
- a stop signal ends the run through the same path and then raises `signals.StoppedBySignal` (a
  `KeyboardInterrupt`; exit status 128 + signal number from the CLI); Lava's workers do not die of the signal
  themselves (`signals` explains how).

Use `lava_workdir()` around building, running and reading one run, and `run_guarded` to run it.
Importing this module does not import Lava.
"""
from __future__ import annotations

import multiprocessing
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BackendError
from .signals import NOT_STARTED, StoppedBySignal, start_resource_tracker_immune_to_hangup, stop_signals_guarded
from .teardown import (abort_run, describe_dead_workers, ended, lava_workers, record_shared_memory,
                       remove_leftovers)

#: How long Lava's own stop() may take before the run is ended by force (success, time-out, parent's error).
STOP_GRACE_S = 5.0
#: The same after a stop signal: stopping and cleaning up must fit in about 5 s (the force takes < 1 s).
SIGNAL_STOP_GRACE_S = 2.0


@dataclass
class LavaTiming:
    build_s: float        # constructing processes and connections
    run_s: float          # from run() to the last step done (compile + fork + steps)
    readout_s: float      # getting results out of the shared buffers
    steps: int


@contextmanager
def lava_workdir() -> Iterator[Path]:
    """A private temporary folder (`tnas-lava-*` under TMPDIR) for one run's memory-mapped files, removed at
    the end; SIGINT, SIGTERM and SIGHUP are guarded from its creation to its removal (`signals`)."""
    with stop_signals_guarded() as guard:
        folder = tempfile.mkdtemp(prefix="tnas-lava-")
        try:
            yield Path(folder)
        finally:
            guard.defer()            # a signal now must not interrupt the removal
            shutil.rmtree(folder, ignore_errors=True)


def shared_array(path: Path, values: np.ndarray) -> str:
    """Write `values` (their dtype and shape; an empty array as one zero) to `path` as a raw file that a run's
    Lava processes map by name once they are forked; returns the path as a string for their parameters."""
    values = np.asarray(values)
    mm = np.memmap(path, dtype=values.dtype, mode="w+", shape=values.shape if values.size else (1,))
    mm[:] = values if values.size else 0
    mm.flush()
    del mm
    return str(path)


def progress_file(workdir: Path) -> Path:
    """`workdir/progress`, an int64 0: a run's input process writes the last step done into it (`run_guarded`)."""
    path = workdir / "progress"
    shared_array(path, np.zeros(1, dtype=np.int64))
    return path


def run_guarded(root, condition, cfg, progress_file: Path, total: int, period: int,
                progress: Callable[[int], None] | None, timeout: float | None) -> None:
    """Run `root` under `condition` (non-blocking, `total` steps) and `cfg`, and stop it whatever happens.

    `progress_file` holds the last step done (an int64 the input process writes); `progress(n)` is called with
    the number of `period`-step samples finished since its last call. Raises `BackendError` when a worker
    fails or is killed, or after `timeout` seconds; `StoppedBySignal` after SIGINT, SIGTERM or SIGHUP.
    """
    with stop_signals_guarded() as guard:
        guard.defer()                    # from here on, signals are handled at the points below
        guard.raise_if_signalled(NOT_STARTED)
        if guard.installed:
            start_resource_tracker_immune_to_hangup()
        children_before = set(multiprocessing.active_children())
        started = time.monotonic()
        try:
            root.run(condition=condition, run_cfg=cfg)
            done_at = np.memmap(progress_file, dtype=np.int64, mode="r", shape=(1,))
            services = list(getattr(root.runtime, "service_to_runtime", []))
            workers = lava_workers(root)
            reported = 0
            while True:
                guard.raise_if_signalled()
                step = int(done_at[0])
                if progress is not None and step // period > reported:
                    progress(step // period - reported)
                    reported = step // period
                if step >= total:
                    break
                # a worker that ended (a model raised, or it was killed), or a runtime service answering
                # before the last step: a model failed, and Lava's stop() would wait for it forever
                dead = ended(workers)
                answered = not dead and any(port.probe() for port in services)
                if answered and int(done_at[0]) >= total:
                    continue     # the last step was written after `step` was read: the run ended normally
                if dead or answered:
                    raise BackendError(f"a Lava process failed at step {step} of {total}"
                                       + describe_dead_workers(root, dead))
                if timeout is not None and time.monotonic() - started > timeout:
                    raise BackendError(f"the Lava run did not finish within the time-out of {timeout:g} s "
                                       f"({step} of {total} steps done); raise --timeout", None, "--timeout")
                time.sleep(0.005)
            root.wait()
        except StoppedBySignal as stop:
            problems = _stop(root, children_before, SIGNAL_STOP_GRACE_S)
            if problems:
                stop.outcome = "the Lava run was stopped, but " + "; ".join(problems)
            raise
        except BaseException as exc:
            _raise_if_left(_stop(root, children_before, _grace(guard)), exc)
            raise
        _raise_if_left(_stop(root, children_before, _grace(guard)), None)


def _grace(guard) -> float:
    return SIGNAL_STOP_GRACE_S if guard.signum is not None else STOP_GRACE_S


def _stop(root, children_before: set, grace: float) -> list[str]:
    """Stop the runtime with Lava's stop(), unless a worker has ended (then stop() would wait for it forever);
    if that does not end every process of the run within `grace` seconds, end them by force. Then remove
    whatever shared memory is left (its server may have been killed). Returns what could not be removed."""
    shared = record_shared_memory(root)
    problems: list[str] = []
    force = bool(ended(lava_workers(root)))
    if not force:
        stopper = threading.Thread(target=_quiet_stop, args=(root,), daemon=True)
        stopper.start()
        stopper.join(grace)
        force = stopper.is_alive() or any(c not in children_before for c in multiprocessing.active_children())
    if force:
        problems = abort_run(root, children_before)
    return problems + remove_leftovers(shared)


def _quiet_stop(root) -> None:
    try:
        root.stop()
    except Exception:  # noqa: BLE001 - a runtime that failed to start has nothing to stop; the force follows
        pass


def _raise_if_left(problems: list[str], cause: BaseException | None) -> None:
    if problems:
        raise BackendError("the Lava run could not be cleaned up: " + "; ".join(problems)) from cause
