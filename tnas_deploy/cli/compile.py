"""`tnas-deploy compile`: quantize a genome for a chip and write a compiled artifact."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import print_summary


def command(args: argparse.Namespace) -> int:
    """Compile a genome (`args.genome`) into an artifact and print its summary."""
    from ..artifact import save_artifact
    from ..compiler import compile_network, load_inputs
    from ..schemes import CompileOptions
    from ..summary import summarize

    inputs = load_inputs(args.genome, args.weights, args.profile, args.calibration)
    net = compile_network(inputs, CompileOptions(saturate=args.saturate, margin=args.margin, steps=args.steps,
                                                 analog_maxpool=args.analog_maxpool, progress=not args.json))
    summary = summarize(net)
    out = args.output or Path("build") / f"{net.name}.{inputs.profile.name}.tdart"
    save_artifact(net, out, summary)
    summary["artifact"] = str(out)
    print_summary(summary, args.json)
    if not args.json:
        print(f"wrote {out}")
    return 0
