"""`tnas-deploy golden`: record spike times, readout values and predictions as a golden file."""
from __future__ import annotations

import argparse

from .common import load_run_inputs


def command(args: argparse.Namespace) -> int:
    """Record a backend's results on input data as a golden file."""
    from .. import api
    from ..verify import save_golden

    net, data = load_run_inputs(args)
    result = api.run(net, data, backend=args.backend, timeout=args.timeout,
                     progress=not args.no_progress, workers=args.workers,
                     ray_address=args.ray_address).result
    save_golden(args.output, args.artifact, data.x, result, args.backend, data.sha256)
    print(f"wrote {args.output}: {result.samples} samples, {result.spike_total()} spikes, backend {args.backend}")
    return 0
