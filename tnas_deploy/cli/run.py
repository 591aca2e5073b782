"""`tnas-deploy run`: run a compiled artifact on input data and report accuracy (or a regression readout's
errors) and spike counts."""
from __future__ import annotations

import argparse
import json
from typing import Any

from .common import execute, load_run_inputs


def command(args: argparse.Namespace) -> int:
    """Run an artifact on input data and print (or write) the results."""
    from ..regression import regression_block, regression_lines, regression_outputs
    from ..runner import save_result

    net, data = load_run_inputs(args)
    result, seconds = execute(net, data.x, args.backend, args)
    report: dict[str, Any] = {"artifact": str(args.artifact), "backend": args.backend, "samples": result.samples,
                              "seconds": round(seconds, 3)}
    outputs = regression_outputs(net)
    if outputs:
        report["regression"] = regression_block(result.logits, data.y, outputs)
    elif data.y is not None:
        report["accuracy"] = float((result.predictions == data.y).mean())
    report["spikes_per_sample"] = {k: float(v["spikes"].mean()) for k, v in result.counts.items()
                                   if k in result.spike_times}   # layers that spike (not views or the readout)
    report["saturated_layers"] = [k for k, v in result.saturated.items() if v]
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
