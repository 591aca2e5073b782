"""`tnas-deploy compile`: quantize a genome for a chip and write a compiled artifact."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import print_summary


def command(args: argparse.Namespace) -> int:
    """Compile a genome (`args.genome`) into an artifact and print its summary."""
    from .. import api
    from ..artifact import save_artifact
    from ..summary import summarize

    net = api.compile(args.genome, args.weights, args.profile, args.calibration, saturate=args.saturate,
                      margin=args.margin, steps=args.steps, analog_maxpool=args.analog_maxpool, progress=not args.json,
                      coding=args.coding, delta_threshold=args.delta_threshold)
    summary = summarize(net)
    out = args.output or Path("build") / f"{net.name}.{net.profile['name']}.tdart"
    save_artifact(net, out, summary)
    summary["artifact"] = str(out)
    print_summary(summary, args.json)
    if not args.json:
        print(f"wrote {out}")
    return 0
