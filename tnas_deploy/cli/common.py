"""Helpers shared by several `tnas-deploy` commands: exit codes, printing a summary, loading run inputs
and executing a backend."""
from __future__ import annotations

import argparse
import json
from typing import Any

EXIT_MISMATCH = 1
EXIT_USAGE = 2
EXIT_BACKEND = 3


def print_summary(summary: dict[str, Any], as_json: bool) -> None:
    """Print an artifact summary as a table, or as JSON."""
    from ..summary import format_table
    print(json.dumps(summary, indent=2, sort_keys=True) if as_json else format_table(summary))


def load_run_inputs(args: argparse.Namespace) -> tuple[Any, Any]:
    """The compiled network of `args.artifact` and the data of `args.input` (first `args.samples` samples)."""
    from ..artifact import load_artifact
    from ..schemes import scheme_for
    net, _ = load_artifact(args.artifact)
    data = scheme_for(net).load_data(args.input, net, window_us=getattr(args, "event_window_us", None))
    data = data.head(args.samples)
    return net, data


def execute(net: Any, x: Any, backend: str, args: argparse.Namespace) -> tuple[Any, float]:
    """Run `x` on a backend with a progress bar; returns (result, seconds). `--workers` and `--ray-address` go to
    the backend the user named; the reference run `verify` adds for comparison ignores them."""
    from ..runner import run_backend
    show = not getattr(args, "no_progress", False) and not getattr(args, "json", False)
    named = backend != "reference" or getattr(args, "backend", None) == "reference"
    workers, address = (getattr(args, "workers", None), getattr(args, "ray_address", None)) if named else (None, None)
    return run_backend(net, x, backend, progress=show, timeout=getattr(args, "timeout", None), workers=workers,
                       ray_address=address)
