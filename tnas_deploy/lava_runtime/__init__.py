"""Lava backend: run compiled TTFS and rate networks on Lava's CPU simulator (`fixed_pt`) or on Loihi 2.

Importing this package never imports Lava; `lava_available()` and `loihi2_available()` say what can run.
Parts: `schedule` (when each population integrates and fires), `processes` and `models` (the custom
TTFS processes and their fixed-point models), `runner` (build, run, stop, collect); for rate coding
`rate_processes`, `rate_models` and `rate_runner` (which `runner.run_lava` dispatches to).
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
