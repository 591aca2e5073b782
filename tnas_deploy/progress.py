"""Progress of long work (runs, the compile's headroom pass), all shown from here, on stderr.

On a terminal: a tqdm bar with the elapsed time and an estimate of the time left. Elsewhere (a log file, CI,
a pipe) a bar would be noise, so a plain line is printed every few seconds instead, with the estimate:

    headroom on calibration data: 120/360 samples, 33 %, about 40 s left

and, if any line was printed, a last one when the work is done. The interval is PROGRESS_INTERVAL_S seconds,
or the number of seconds in the environment variable TNAS_DEPLOY_PROGRESS_INTERVAL (0: a line per update).
Work is counted in samples (or another `unit`: a population batch counts genomes); an update may be a fraction
of a sample (one time step of a batch of samples is that fraction of each), so long simulations report often
enough for the estimate to mean something.

tqdm's default lock is a multiprocessing RLock, and creating it fixes multiprocessing's start method;
Lava then fails at import (it calls `set_start_method('fork')` itself). Giving tqdm a thread lock before
any bar exists avoids that, so every bar in tnas-deploy comes from `progress_bar`.
"""
from __future__ import annotations

import math
import os
import sys
import threading
import time
from types import TracebackType
from typing import Callable, TextIO

from tqdm import tqdm

from .errors import DeployError

tqdm.set_lock(threading.RLock())

#: Seconds between two plain progress lines when stderr is not a terminal.
PROGRESS_INTERVAL_S = 5.0
#: The environment variable that overrides PROGRESS_INTERVAL_S.
INTERVAL_VARIABLE = "TNAS_DEPLOY_PROGRESS_INTERVAL"
_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total_fmt} {unit} [{elapsed}<{remaining}]"


class Progress:
    """Samples done out of `total`, shown as a bar on a terminal or as plain lines elsewhere (module doc).

    Use as a context manager; `update(n)` adds n samples (a float is fine) and is what a simulator's
    `progress` callback receives. Disabled (`enabled=False`, e.g. `--no-progress` or `--json`), it shows nothing.
    """

    def __init__(self, total: int, desc: str, enabled: bool = True, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, unit: str = "samples"):
        self.total = total
        self.unit = unit
        self.desc = desc
        self.done = 0.0
        self._stream = stream if stream is not None else sys.stderr
        self._clock = clock
        self._lock = threading.Lock()
        self._bar: tqdm | None = None
        self._lines = False
        self._printed = False
        if not enabled:
            return
        if _is_terminal(self._stream):
            self._bar = tqdm(total=total, desc=desc, file=self._stream, leave=False, bar_format=_BAR_FORMAT,
                             unit=unit)
        else:
            self._lines = True
            self._interval = progress_interval()
            self._start = self._last = clock()

    def update(self, n: float = 1) -> None:
        """Add `n` samples of work done."""
        with self._lock:
            self.done += n
            if self._bar is not None:
                self._bar.update(n)
            elif self._lines:
                now = self._clock()
                if now - self._last >= self._interval:
                    self._last = now
                    self._print(self._line(now))

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            elif self._lines and self._printed:
                self._print(f"{self.desc}: {_count(self.done)}/{self.total} {self.unit}, done in "
                            f"{_duration(self._clock() - self._start)}")
            self._lines = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:   # failed: no "done" line, just stop showing progress
            self._lines = False
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def _line(self, now: float) -> str:
        share = self.done / self.total if self.total else 1.0
        line = f"{self.desc}: {_count(self.done)}/{self.total} {self.unit}, {100 * share:.0f} %"
        if 0 < self.done < self.total:
            left = (now - self._start) * (self.total - self.done) / self.done
            line += f", about {_duration(left)} left" if left >= 0.5 else ", almost done"
        return line

    def _print(self, line: str) -> None:
        print(line, file=self._stream, flush=True)
        self._printed = True


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "samples") -> Progress:
    """Progress of `total` samples (or `unit`) of work called `desc` on stderr (module doc); cleared or closed
    when done."""
    return Progress(total, desc, enabled, unit=unit)


def progress_interval() -> float:
    """Seconds between plain progress lines: TNAS_DEPLOY_PROGRESS_INTERVAL, or PROGRESS_INTERVAL_S."""
    text = os.environ.get(INTERVAL_VARIABLE)
    if text is None or not text.strip():
        return PROGRESS_INTERVAL_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise DeployError(f"expected a number of seconds >= 0, got {text!r}", None, INTERVAL_VARIABLE)
    return value


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):   # no isatty, or a closed stream
        return False


def _count(done: float) -> str:
    """Samples done: whole samples (a fraction shows once the sample is finished)."""
    return str(int(done + 1e-9))


def _duration(seconds: float) -> str:
    if seconds < 0.5:
        return "less than a second"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = ["INTERVAL_VARIABLE", "PROGRESS_INTERVAL_S", "Progress", "progress_bar", "progress_interval"]
