"""`tnas-deploy run`: run a compiled artifact on input data and report accuracy (or a regression readout's
errors) and spike counts."""
from __future__ import annotations

import argparse
import json
from typing import Any

from .common import load_run_inputs


def command(args: argparse.Namespace) -> int:
    """Run an artifact on input data and print (or write) the results."""
    from .. import api
    from ..regression import regression_lines
    from ..runner import save_result

    net, data = load_run_inputs(args)
    run = api.run(net, data, backend=args.backend, timeout=args.timeout,
                  progress=not args.no_progress and not args.json, workers=args.workers, ray_address=args.ray_address)
    result, seconds, outputs = run.result, run.seconds, run.regression is not None
    report: dict[str, Any] = {"artifact": str(args.artifact), **run.to_dict()}
    if args.output:
        save_result(args.output, net, result, data)
        report["output"] = str(args.output)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(f"{net.name}: {result.samples} samples on the {args.backend} backend in {seconds:.2f} s")
        if "accuracy" in report:
            print(f"accuracy: {report['accuracy'] * 100:.2f} % ({int(round(report['accuracy'] * result.samples))}"
                  f"/{result.samples})")
        for line in regression_lines(report["regression"]) if outputs else []:
            print(line)
        print("spikes per sample: " + ", ".join(f"{k} {v:.1f}" for k, v in report["spikes_per_sample"].items()))
        if report["saturated_layers"]:
            print(f"warning: states saturated in {report['saturated_layers']} (values were clipped, not wrapped)")
        if args.output:
            print(f"wrote {args.output}")
    return 0
