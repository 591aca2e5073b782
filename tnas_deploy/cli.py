"""The `tnas-deploy` command line. Every user error prints one message naming file, field and expectation
and exits with 2; nothing half-written is left behind (artifacts are written atomically)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .errors import DeployError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors also exit with 2, with our prefix
        self.print_usage(sys.stderr)
        print(f"tnas-deploy: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tnas-deploy", description="Deploy searched TTFS spiking networks to neuromorphic chips.")
    p.add_argument("--version", action="version", version=f"tnas-deploy {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser("compile", help="quantize a genome for a chip and write a compiled artifact")
    c.add_argument("genome", type=Path, help="genome JSON file (docs/genome.md)")
    c.add_argument("--weights", type=Path, help="weights: HDF5 (one group per node) or a PyTorch state_dict (.pt); "
                                                "default: the genome's `weights` entry")
    c.add_argument("--profile", default="loihi2", help="hardware profile name or .toml path (default: loihi2)")
    c.add_argument("--calibration", type=Path, help=".npz data used to choose window lengths and check headroom")
    c.add_argument("-o", "--output", type=Path, help="artifact path (default: build/<genome name>.<profile>.tdart)")
    c.add_argument("--saturate", action="store_true",
                   help="clip values that overflow their fixed-point format instead of failing")
    c.add_argument("--margin", type=float, help="window length = margin x largest calibration activation")
    c.add_argument("--steps", type=int, help="override the genome's steps per window")
    c.add_argument("--json", action="store_true", help="print the summary as JSON")

    i = sub.add_parser("inspect", help="print the summary of a compiled artifact")
    i.add_argument("artifact", type=Path)
    i.add_argument("--json", action="store_true")

    r = sub.add_parser("run", help="run a compiled artifact on input data")
    r.add_argument("artifact", type=Path)
    r.add_argument("--input", type=Path, required=True, help=".npz with x (and optional labels y)")
    r.add_argument("--backend", choices=["reference"], default="reference")
    r.add_argument("--samples", type=int, help="use only the first N samples")
    r.add_argument("-o", "--output", type=Path, help="write spike times, readout values and predictions (.npz)")
    r.add_argument("--json", action="store_true", help="print the result summary as JSON")
    r.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"compile": _compile, "inspect": _inspect, "run": _run}[args.command](args)
    except DeployError as exc:
        print(f"tnas-deploy: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tnas-deploy: interrupted", file=sys.stderr)
        return 130


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    from .summary import format_table
    print(json.dumps(summary, indent=2, sort_keys=True) if as_json else format_table(summary))


def _compile(args: argparse.Namespace) -> int:
    from .artifact import save_artifact
    from .compiler import load_inputs, compile_network
    from .summary import summarize

    inputs = load_inputs(args.genome, args.weights, args.profile, args.calibration)
    net = compile_network(inputs, saturate=args.saturate, margin=args.margin, steps=args.steps)
    summary = summarize(net)
    out = args.output or Path("build") / f"{net.name}.{inputs.profile.name}.tdart"
    save_artifact(net, out, summary)
    summary["artifact"] = str(out)
    _print_summary(summary, args.json)
    if not args.json:
        print(f"wrote {out}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from .artifact import load_artifact
    _, summary = load_artifact(args.artifact)
    summary["artifact"] = str(args.artifact)
    _print_summary(summary, args.json)
    return 0


def _run(args: argparse.Namespace) -> int:
    from .artifact import load_artifact
    from .data import load_dataset
    from .runner import run_reference, save_result

    net, _ = load_artifact(args.artifact)
    data = load_dataset(args.input, net.input_shape, len(net.classes)).head(args.samples)
    result, seconds = run_reference(net, data.x, progress=not args.no_progress and not args.json)
    report: dict[str, Any] = {"artifact": str(args.artifact), "backend": args.backend, "samples": result.samples,
                              "seconds": round(seconds, 3)}
    if data.y is not None:
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
        print("spikes per sample: " + ", ".join(f"{k} {v:.1f}" for k, v in report["spikes_per_sample"].items()))
        if report["saturated_layers"]:
            print(f"warning: states saturated in {report['saturated_layers']} (values were clipped, not wrapped)")
        if args.output:
            print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
