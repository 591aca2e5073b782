"""The scheme-free part of the Lava backend: one guarded run, and the processes every scheme shares.

Importing this package never imports Lava; `lava_available()` and `loihi2_available()` say what can run.
Modules: `session` (a run's private folder and `run_guarded`: start, progress, time-out, failed workers,
always stop), `signals` (SIGINT, SIGTERM and SIGHUP around a run), `teardown` (ending a run that cannot stop
normally, its workers and shared memory included), `processes` and `models` (the periodic base model and the
delay line; these two import Lava). Each scheme's own processes, models and runner are in
`schemes/<coding>/lava/`.
"""
from __future__ import annotations

import importlib.util


def lava_available() -> bool:
    """lava-nc importable (CPython 3.10)."""
    return importlib.util.find_spec("lava") is not None and importlib.util.find_spec("lava.magma") is not None


def loihi2_available() -> bool:
    """Intel's lava-loihi extension importable (the same check as `lava.utils.loihi.is_installed`)."""
    if not lava_available():
        return False
    try:
        return importlib.util.find_spec("lava.utils.loihi2_profiler") is not None
    except ModuleNotFoundError:
        return False
