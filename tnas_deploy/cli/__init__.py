"""The `tnas-deploy` command line. Every user error prints one message naming file, field and expectation
and exits with 2; nothing half-written is left behind (artifacts are written atomically).

`main` parses the arguments and dispatches to one module per command (`compile`, `inspect`, `run`, `verify`,
`golden`, `export`, `import_`, `bench`, `view`), each exposing `command(args) -> int`.

Exit codes: 0 success, 1 `verify` mismatch, 2 bad input, 3 backend failure (time-out, failed or killed Lava
worker); a Lava run stopped by a signal exits with 128 + its number after cleaning up: 130 SIGINT (Ctrl-C),
143 SIGTERM, 129 SIGHUP (docs/lava.md, "Stopping a run")."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from ..errors import DeployError
from ..lava_runtime.signals import StoppedBySignal
from . import bench, compile, export, golden, import_, inspect, run, verify, view
from .common import EXIT_BACKEND, EXIT_MISMATCH, EXIT_USAGE
from .parser import BACKENDS, build_parser

__all__ = ["BACKENDS", "COMMANDS", "EXIT_BACKEND", "EXIT_INTERRUPTED", "EXIT_MISMATCH", "EXIT_USAGE", "build_parser",
           "main"]

#: Ctrl-C outside a Lava run (128 + SIGINT, as shells report it); a Lava run stopped by a signal gives
#: `StoppedBySignal.exit_code` (130, 143, 129).
EXIT_INTERRUPTED = 130

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "compile": compile.command, "inspect": inspect.command, "run": run.command, "verify": verify.command,
    "golden": golden.command, "bench": bench.command, "export": export.command, "import": import_.command,
    "view": view.command}


def main(argv: list[str] | None = None) -> int:
    """Run `tnas-deploy` with `argv` (default: sys.argv[1:]); returns the exit code."""
    args = build_parser().parse_args(argv)
    from ..errors import BackendError  # no Lava import: the runner imports Lava lazily
    try:
        return COMMANDS[args.command](args)
    except BackendError as exc:
        print(f"tnas-deploy: error: {exc}", file=sys.stderr)
        return EXIT_BACKEND
    except DeployError as exc:
        print(f"tnas-deploy: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StoppedBySignal as exc:     # SIGINT, SIGTERM or SIGHUP during a Lava run, which is cleaned up
        print(f"tnas-deploy: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tnas-deploy: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:       # `tnas-deploy inspect a.tdart | head`: the reader left; not an error of ours
        sys.stdout = open(os.devnull, "w")   # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 0
