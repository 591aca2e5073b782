"""Stop signals around a Lava run: SIGINT, SIGTERM and SIGHUP all end it through the same guarded path.

Without a guard, SIGTERM (`kill PID`, every CI runner's time-out) or SIGHUP (a closed terminal) kills the
parent at once and leaves Lava's ~15 worker processes running as orphans, plus their shared memory and
temporary files. While a `StopSignalGuard` is entered (main thread only: Python cannot install handlers
elsewhere, and a run in another thread keeps whatever the main thread decided), the three signals are
recorded instead:

- until the Lava workers are forked, the first signal raises `StoppedBySignal` at once: nothing exists yet
  but the run's temporary directory, which the `with` around it removes;
- from `defer()` on (just before `run()` forks the workers) it is only noted, and the run's polling loop
  raises it (`raise_if_signalled`), so no exception can land in the middle of starting or stopping Lava;
- in a forked Lava worker (or Lava's shared-memory server) the inherited handler does nothing: a signal sent
  to the whole process group (a terminal's Ctrl-C or hang-up, a service manager's SIGTERM) does not kill
  them before the parent stops them in order.

A signal the user already ignores (`nohup` ignores SIGHUP; a shell's background job SIGINT) stays ignored.
The previous handlers are restored when the guard exits. Importing this module does not import Lava.
"""
from __future__ import annotations

import os
import signal
import threading
from types import TracebackType

#: The signals that stop a Lava run (the CLI exits with 128 + the signal's number, as shells report it).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: What `StoppedBySignal` says was done: the usual outcome, and that of a signal before the workers existed.
CLEANED_UP = "the Lava run was stopped and cleaned up"
NOT_STARTED = "the Lava run had not started; its files were removed"


class StoppedBySignal(KeyboardInterrupt):
    """The run was stopped because the process received SIGINT, SIGTERM or SIGHUP.

    A `KeyboardInterrupt`, so that code written for Ctrl-C treats every stop request alike; the CLI exits
    with `exit_code` (130, 143, 129). `outcome` says what was done about the Lava run, for the message.
    """

    def __init__(self, signum: int, outcome: str = NOT_STARTED):
        super().__init__(signum)
        self.signum = signum
        self.outcome = outcome

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        how = "interrupted by SIGINT (Ctrl-C)" if self.signum == signal.SIGINT else f"stopped by {self.signal_name}"
        return f"{how}; {self.outcome}"


class StopSignalGuard:
    """Records SIGINT, SIGTERM and SIGHUP while entered (see the module docstring). Re-entrant: an inner
    `with` of the guard that is already active does nothing, so a whole run (temporary files, building,
    running, reading results) and its `run_guarded` share one guard."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._owner = os.getpid()
        self._immediate = True
        self._previous: dict[int, object] = {}
        self._depth = 0

    def __enter__(self) -> StopSignalGuard:
        self._depth += 1
        if self._depth == 1:
            _active.guard = self
            if threading.current_thread() is threading.main_thread():
                for signum in STOP_SIGNALS:
                    previous = signal.getsignal(signum)
                    if previous is not signal.SIG_IGN:
                        self._previous[signum] = previous
                        signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._depth -= 1
        if self._depth:
            return
        self._immediate = False
        for signum, previous in self._previous.items():
            # a handler installed from C reads back as None: the default is the closest we can restore
            signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        self._previous.clear()
        _active.guard = None
        if self.signum is not None and not isinstance(exc, KeyboardInterrupt):
            # asked to stop while results were read out or the run was failing anyway: the request wins,
            # so that a CI runner's time-out is reported as such
            raise StoppedBySignal(self.signum, CLEANED_UP) from exc

    @property
    def installed(self) -> bool:
        """Whether the handlers are in place (only in the main thread)."""
        return bool(self._previous)

    def defer(self) -> None:
        """From now on a signal is only noted; `raise_if_signalled` raises it."""
        self._immediate = False

    def raise_if_signalled(self, outcome: str = CLEANED_UP) -> None:
        """Raise `StoppedBySignal` if a stop signal arrived."""
        if self.signum is not None:
            raise StoppedBySignal(self.signum, outcome)

    def _on_signal(self, signum: int, frame: object) -> None:
        if os.getpid() != self._owner:
            return              # a forked Lava worker: the parent stops it through Lava's own protocol
        if self.signum is None:
            self.signum = signum
        if self._immediate:
            self._immediate = False      # one asynchronous raise at most: never interrupt the clean-up
            raise StoppedBySignal(signum)


#: The guard entered in this thread, if any (`.guard`).
_active = threading.local()


def stop_signals_guarded() -> StopSignalGuard:
    """The guard of this thread's Lava run in progress, or a new one: `with stop_signals_guarded() as guard`."""
    guard = getattr(_active, "guard", None)
    return guard if guard is not None else StopSignalGuard()


def start_resource_tracker_immune_to_hangup() -> None:
    """Start multiprocessing's resource tracker (if it is not running yet) with SIGHUP blocked.

    The tracker ignores SIGINT and SIGTERM by itself but not SIGHUP, so a terminal's hang-up would kill it
    and multiprocessing would warn that it "died unexpectedly" while the run is cleaned up. A signal mask
    survives the tracker's exec; here a SIGHUP arriving meanwhile stays pending until the mask is restored.
    """
    from multiprocessing import resource_tracker

    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        resource_tracker.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
