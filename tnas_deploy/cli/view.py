"""`tnas-deploy view`: look at a genome or compiled artifact in netron (as an ONNX graph)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def command(args: argparse.Namespace) -> int:
    """Show a genome or artifact in netron, or only write its ONNX view."""
    import signal
    import tempfile
    import time

    from ..interop.netron_view import serve, stop, write_view

    if args.export is not None:
        print(write_view(args.source, args.export))
        return 0

    def _terminate(signum: int, frame: Any) -> None:   # `kill` stops the server like Ctrl-C (temp dir removed)
        raise KeyboardInterrupt

    with tempfile.TemporaryDirectory(prefix="tnas-view-") as tmp:   # netron serves this directory only
        path = write_view(args.source, Path(tmp) / f"{args.source.stem}.onnx")
        url = serve(path, args.port, browse=not args.no_browser)
        previous = signal.signal(signal.SIGTERM, _terminate)
        print(f"netron is showing {args.source} at {url} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("stopped", flush=True)
        finally:
            signal.signal(signal.SIGTERM, previous)
            stop(url)
    return 0
