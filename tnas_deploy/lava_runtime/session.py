"""One guarded Lava run, for every coding scheme: start it, follow its progress, notice failed workers and
time-outs, and always stop it.

Guarantees: the Lava runtime is always stopped (success, exception, Ctrl-C, time-out, failed worker);
Lava's worker processes do not die of SIGINT (the parent handles Ctrl-C and stops them); any worker
still alive after `stop()` is terminated, then killed, so no orphan process survives and nothing hangs.
Importing this module does not import Lava.
"""
from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BackendError

STOP_GRACE_S = 5.0


@dataclass
class LavaTiming:
    build_s: float        # constructing processes and connections
    run_s: float          # from run() to the last step done (compile + fork + steps)
    readout_s: float      # getting results out of the shared buffers
    steps: int


def run_guarded(root, condition, cfg, progress_file: Path, total: int, period: int,
                 progress: Callable[[int], None] | None, timeout: float | None) -> None:
    started = time.monotonic()
    reported = 0
    grace = STOP_GRACE_S
    in_main = threading.current_thread() is threading.main_thread()
    # Workers are forked inside run(). While it runs, Ctrl-C is only noted: the workers inherit that
    # handler, so they never die of SIGINT themselves; this process raises it once they are up and then
    # stops them in order (see _stop).
    interrupted: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum)) if in_main else None
    try:
        try:
            root.run(condition=condition, run_cfg=cfg)
        finally:
            if in_main:
                signal.signal(signal.SIGINT, old)
        if interrupted:
            raise KeyboardInterrupt
        done_at = np.memmap(progress_file, dtype=np.int64, mode="r", shape=(1,))
        services = list(getattr(root.runtime, "service_to_runtime", []))
        # Lava keeps its worker processes here; a worker whose model raises exits without telling the runtime
        actors = list(getattr(getattr(root.runtime, "_messaging_infrastructure", None), "actors", []))
        while True:
            step = int(done_at[0])
            if progress is not None and step // period > reported:
                progress(step // period - reported)
                reported = step // period
            if step >= total:
                break
            # a worker that exited, or a runtime service answering before the last step: a model failed
            dead = [a for a in actors if not a.is_alive()]
            if dead or any(port.probe() for port in services):
                grace = 0.5          # the runtime cannot stop cleanly with a worker gone: end the rest
                raise BackendError(f"a Lava process failed at step {step} of {total}; the run was stopped"
                                   + _worker_error(dead))
            if timeout is not None and time.monotonic() - started > timeout:
                raise BackendError(f"the Lava run did not finish within the time-out of {timeout:g} s "
                                   f"({step} of {total} steps done); raise --timeout", None, "--timeout")
            time.sleep(0.005)
        root.wait()
    finally:
        _stop(root, grace)


def _worker_error(dead: list) -> str:
    for actor in dead:
        exc = getattr(actor, "exception", None)
        if exc:
            error, trace = exc
            return f":\n{trace}".rstrip()
    return ""


def _stop(root, grace: float = STOP_GRACE_S) -> None:
    """Stop the runtime; if it does not stop within `grace` seconds, end every worker that is left."""
    stopper = threading.Thread(target=_quiet_stop, args=(root,), daemon=True)
    stopper.start()
    stopper.join(grace)
    for child in multiprocessing.active_children():
        child.terminate()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(c.is_alive() for c in multiprocessing.active_children()):
        time.sleep(0.02)
    for child in multiprocessing.active_children():   # active_children() also reaps the ones that ended
        child.kill()


def _quiet_stop(root) -> None:
    try:
        root.stop()
    except Exception:  # noqa: BLE001 - a runtime that failed to start has nothing to stop
        pass
