"""The `tnas-deploy` command line. Every user error prints one message naming file, field and expectation
and exits with 2; nothing half-written is left behind (artifacts are written atomically)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import DeployError

EXIT_MISMATCH = 1
EXIT_USAGE = 2
EXIT_BACKEND = 3
BACKENDS = ["reference", "lava", "loihi2"]


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
    c.add_argument("--steps", type=int, help="override the genome's steps per window (TTFS) or time steps T (rate)")
    c.add_argument("--analog-maxpool", choices=["refuse", "avgpool"], default="refuse",
                   help="rate coding: a max-pool of analog values has no exact chip realisation; 'avgpool' "
                        "replaces it by average pooling (a different network, recorded in the notes)")
    c.add_argument("--json", action="store_true", help="print the summary as JSON")

    i = sub.add_parser("inspect", help="print the summary of a compiled artifact")
    i.add_argument("artifact", type=Path)
    i.add_argument("--json", action="store_true")

    r = sub.add_parser("run", help="run a compiled artifact on input data")
    r.add_argument("artifact", type=Path)
    r.add_argument("--input", type=Path, required=True, help=".npz with x (and optional labels y), or an event file")
    r.add_argument("--event-window-us", type=float, help="event files: time window per sample in microseconds")
    r.add_argument("--backend", choices=BACKENDS, default="reference",
                   help="reference: integer numpy simulator; lava: Lava CPU simulator (fixed_pt); "
                        "loihi2: Loihi 2 hardware (needs Intel's lava-loihi)")
    r.add_argument("--samples", type=int, help="use only the first N samples")
    r.add_argument("-o", "--output", type=Path, help="write spike times, readout values and predictions (.npz)")
    r.add_argument("--timeout", type=float, help="stop a Lava run after this many seconds (exit 3)")
    r.add_argument("--json", action="store_true", help="print the result summary as JSON")
    r.add_argument("--no-progress", action="store_true")

    v = sub.add_parser("verify", help="check that two backends (or a golden file) agree bit for bit")
    v.add_argument("artifact", type=Path)
    src = v.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, help="run reference and Lava on these samples and compare")
    v.add_argument("--event-window-us", type=float, help="event files: time window per sample in microseconds")
    src.add_argument("--golden", type=Path, help="re-run the golden file's samples and compare with it")
    v.add_argument("--backend", choices=["reference", "lava"], default=None,
                   help="with --golden: the backend to re-run (default reference)")
    v.add_argument("--samples", type=int, help="use only the first N samples")
    v.add_argument("--timeout", type=float, help="stop the Lava run after this many seconds (exit 3)")
    v.add_argument("--json", action="store_true")
    v.add_argument("--no-progress", action="store_true")

    g = sub.add_parser("golden", help="record spike times, readout values and predictions as a golden file")
    g.add_argument("artifact", type=Path)
    g.add_argument("--input", type=Path, required=True)
    g.add_argument("--event-window-us", type=float, help="event files: time window per sample in microseconds")
    g.add_argument("-o", "--output", type=Path, required=True)
    g.add_argument("--backend", choices=["reference", "lava"], default="reference")
    g.add_argument("--samples", type=int)
    g.add_argument("--timeout", type=float)
    g.add_argument("--no-progress", action="store_true")
    x = sub.add_parser("export", help="write a network in another tool's format: NIR, or lava-dl netx (rate networks)")
    x.add_argument("source", type=Path, help="genome .json; for netx also a compiled rate artifact (.tdart)")
    x.add_argument("--format", choices=["nir", "netx"], required=True)
    x.add_argument("-o", "--output", type=Path, required=True)
    x.add_argument("--weights", type=Path, help="weights (default: the genome's `weights` entry)")
    x.add_argument("--calibration", type=Path, help="TTFS to NIR: data for the window lengths in the extension; "
                                                    "netx: data for the headroom check")
    x.add_argument("--dt", type=float, default=1.0,
                   help="NIR, rate genomes: seconds per time step in the neurons' time constants (default 1)")
    x.add_argument("--steps", type=int, help="netx from a genome: time steps T (default: the genome's)")
    x.add_argument("--artifact", type=Path, metavar="PATH",
                   help="netx from a genome: also write the compiled artifact the netx file encodes")
    x.add_argument("--analog-maxpool", choices=["refuse", "avgpool"], default="refuse",
                   help="netx from a genome: as for compile (a max-pool of analog values has no exact realisation)")

    m = sub.add_parser("import", help="turn a lava-dl netx file or a NIR graph into a rate genome plus weights")
    m.add_argument("source", type=Path, help="netx .net file or NIR graph (.nir)")
    m.add_argument("-o", "--output", type=Path, required=True,
                   help="genome .json to write; the weights go next to it as <name>.h5")
    m.add_argument("--format", choices=["netx", "nir"], help="default: recognised from the file's content")
    m.add_argument("--dt", type=float, help="NIR: seconds per time step to discretise continuous-time neurons "
                                            "(default: the graph's recorded dt)")
    m.add_argument("--steps", type=int, help="time steps T the input is presented (default: the file's record)")
    m.add_argument("--name", help="genome name (default: from the file)")

    b = sub.add_parser("bench", help="energy, latency and resources on hardware profiles; writes a report")
    b.add_argument("target", type=Path, help="compiled artifact, or a genome .json (compiled first)")
    b.add_argument("--input", type=Path, required=True, help=".npz samples to run (labels give accuracy, WAR, UAR)")
    b.add_argument("--event-window-us", type=float, help="event files: time window per sample in microseconds")
    b.add_argument("--profile", action="append", dest="profiles", metavar="P",
                   help="profile name or .toml path; repeat for several (default: every bundled profile)")
    b.add_argument("--backend", choices=["reference", "lava"], default="reference")
    b.add_argument("--calibration", type=Path, help="for a genome: calibration data (default: the input data)")
    b.add_argument("--compile-profile", default="loihi2", help="for a genome: the profile to compile for")
    b.add_argument("--samples", type=int, help="use only the first N samples")
    b.add_argument("-o", "--output", type=Path, help="report directory (default build/report-<name>)")
    b.add_argument("--json", action="store_true", help="print the whole report.json")
    b.add_argument("--no-progress", action="store_true")

    w = sub.add_parser("view", help="look at a genome or compiled artifact in netron (as an ONNX graph)")
    w.add_argument("source", type=Path, metavar="GENOME_OR_ARTIFACT", help="genome .json or compiled artifact (.tdart)")
    w.add_argument("--export", type=Path, metavar="PATH", help="only write the ONNX view to PATH and print its path")
    w.add_argument("--no-browser", action="store_true", help="serve without opening a browser")
    w.add_argument("--port", type=int, help="localhost port to serve on (default: a free one)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .lava_backend.runner import BackendError  # no Lava import: the runner imports Lava lazily
    commands = {"compile": _compile, "inspect": _inspect, "run": _run, "verify": _verify, "golden": _golden,
                "bench": _bench, "export": _export, "import": _import, "view": _view}
    try:
        return commands[args.command](args)
    except BackendError as exc:
        print(f"tnas-deploy: error: {exc}", file=sys.stderr)
        return EXIT_BACKEND
    except DeployError as exc:
        print(f"tnas-deploy: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tnas-deploy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:       # `tnas-deploy inspect a.tdart | head`: the reader left; not an error of ours
        sys.stdout = open(os.devnull, "w")   # noqa: SIM115 - keeps the interpreter's final flush quiet
        return 0


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    from .summary import format_table
    print(json.dumps(summary, indent=2, sort_keys=True) if as_json else format_table(summary))


def _compile(args: argparse.Namespace) -> int:
    from .artifact import save_artifact
    from .compiler import load_inputs, compile_network
    from .summary import summarize

    inputs = load_inputs(args.genome, args.weights, args.profile, args.calibration)
    net = compile_network(inputs, saturate=args.saturate, margin=args.margin, steps=args.steps,
                          progress=not args.json, analog_maxpool=args.analog_maxpool)
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


def _load_run_inputs(args: argparse.Namespace):
    from .artifact import load_artifact
    from .data import load_dataset
    net, _ = load_artifact(args.artifact)
    data = load_dataset(args.input, net.input_shape, len(net.classes),
                        window_us=getattr(args, "event_window_us", None),
                        rate_steps=net.steps if net.coding == "rate" else None,
                        rate_values=getattr(net.layers[0], "values", "intensity")).head(args.samples)
    return net, data


def _execute(net, x, backend: str, args: argparse.Namespace):
    """Run `x` on a backend with a progress bar; returns (result, seconds)."""
    from .runner import run_backend
    show = not getattr(args, "no_progress", False) and not getattr(args, "json", False)
    return run_backend(net, x, backend, progress=show, timeout=getattr(args, "timeout", None))


def _run(args: argparse.Namespace) -> int:
    from .runner import save_result

    net, data = _load_run_inputs(args)
    result, seconds = _execute(net, data.x, args.backend, args)
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


def _report_comparison(comparison, expected: str, got: str, as_json: bool, extra: dict[str, Any]) -> int:
    if as_json:
        print(json.dumps({**extra, **comparison.to_json()}, indent=2, sort_keys=True))
    else:
        print(comparison.summary_line())
        if comparison.first is not None:
            print(comparison.first.describe(expected, got))
    return 0 if comparison.bit_exact else EXIT_MISMATCH


def _verify(args: argparse.Namespace) -> int:
    from .artifact import load_artifact
    from .io_utils import sha256_file
    from .verify import compare, load_golden, result_dict

    if args.golden is not None:
        net, _ = load_artifact(args.artifact)
        golden = load_golden(args.golden)
        x = golden["x"][:args.samples] if args.samples else golden["x"]
        if args.samples is not None and args.samples < 1:
            raise DeployError(f"expected a positive number of samples, got {args.samples}", None, "--samples")
        binned = net.coding == "rate" and tuple(x.shape[1:]) == (net.steps, *net.input_shape)
        if tuple(x.shape[1:]) != tuple(net.input_shape) and not binned:
            raise DeployError(f"the golden file's inputs have shape {list(x.shape[1:])}, the artifact expects "
                              f"{list(net.input_shape)}", args.golden, "x")
        backend = args.backend or "reference"
        result, _ = _execute(net, x, backend, args)
        expected = {k: (v[:len(x)] if k != "spike_times" else {n: a[:len(x)] for n, a in v.items()})
                    for k, v in golden.items() if k in ("spike_times", "readout", "predictions")}
        same_artifact = golden["artifact_sha256"] == sha256_file(args.artifact)
        if not same_artifact and not args.json:
            print(f"note: the artifact differs from the one the golden file was recorded with "
                  f"(tool {golden['tool_version']}); comparing spike timing anyway")
        return _report_comparison(compare(expected, result_dict(result), [la.id for la in net.layers]),
                                  "golden", backend, args.json,
                                  {"backend": backend, "golden": str(args.golden), "same_artifact": same_artifact})
    if args.backend not in (None, "lava"):
        raise DeployError("without --golden, verify always compares the reference and lava backends", None, "--backend")
    net, data = _load_run_inputs(args)
    ref, _ = _execute(net, data.x, "reference", args)
    lava, _ = _execute(net, data.x, "lava", args)
    return _report_comparison(compare(result_dict(ref), result_dict(lava), [la.id for la in net.layers]),
                              "reference", "lava", args.json, {"artifact": str(args.artifact)})


def _spike_total(times: np.ndarray) -> int:
    """Spikes in a TTFS spike-time array (-1 = none) or a rate raster (boolean)."""
    return int(times.sum()) if times.dtype == bool else int((times >= 0).sum())


def _golden(args: argparse.Namespace) -> int:
    from .verify import save_golden

    net, data = _load_run_inputs(args)
    result, _ = _execute(net, data.x, args.backend, args)
    save_golden(args.output, args.artifact, data.x, result, args.backend, data.sha256)
    print(f"wrote {args.output}: {result.samples} samples, "
          f"{sum(_spike_total(t) for t in result.spike_times.values())} spikes, backend {args.backend}")
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.format == "netx":
        return _export_netx(args)
    from .data import load_dataset
    from .genome import load_genome
    from .interop.nir_export import export_nir, export_rate_nir
    from .lowering import lower
    from .ttfs import calibrate_windows
    from .weights import load_weights

    if args.source.suffix != ".json":
        raise DeployError("expected a genome .json: NIR carries float weights, which an artifact does not keep",
                          args.source)
    genome = load_genome(args.source)
    weights = load_weights(genome, args.weights)
    if genome.coding == "rate":
        export_rate_nir(genome, weights, args.output, dt=args.dt)
        print(f"wrote {args.output} (NIR graph of a rate network, dt = {args.dt:g} s per step; timing and readout in "
              "the 'tnas_deploy.rate' metadata, docs/interop.md)")
        return 0
    calib = None if args.calibration is None else load_dataset(
        args.calibration, genome.task.input_shape, len(genome.task.classes), "--calibration").x
    windows = calibrate_windows(lower(genome, weights), calib, genome.time.window_margin)
    export_nir(genome, weights, windows, args.output)
    print(f"wrote {args.output} (NIR graph; TTFS semantics in the 'tnas_deploy.ttfs' metadata, docs/interop.md)")
    return 0


def _export_netx(args: argparse.Namespace) -> int:
    from .interop.netx import NETX_CANNOT_TTFS, compile_for_netx, export_netx

    if args.source.suffix == ".json":
        from .artifact import save_artifact
        from .compiler import load_inputs
        from .genome import load_genome
        from .summary import summarize

        if load_genome(args.source).coding != "rate":
            raise DeployError(NETX_CANNOT_TTFS, args.source, "--format")
        net = compile_for_netx(load_inputs(args.source, args.weights, "loihi2", args.calibration), steps=args.steps,
                               analog_maxpool=args.analog_maxpool)
    else:
        from .artifact import load_artifact

        for flag, value in (("--weights", args.weights), ("--calibration", args.calibration),
                            ("--steps", args.steps), ("--artifact", args.artifact),
                            ("--analog-maxpool", None if args.analog_maxpool == "refuse" else args.analog_maxpool)):
            if value is not None:
                raise DeployError("applies when exporting a genome; an artifact is exported as compiled", None, flag)
        net, _ = load_artifact(args.source)
        if net.coding != "rate":
            raise DeployError(NETX_CANNOT_TTFS, args.source, "--format")
    try:
        plan = export_netx(net, args.output)
    except DeployError as exc:
        raise DeployError(exc.message, exc.file or args.source, exc.field) from None
    if args.source.suffix == ".json" and args.artifact is not None:
        save_artifact(net, args.artifact, summarize(net))
        print(f"wrote {args.artifact} (the compiled network the netx file encodes)")
    layers = sum(1 for b in plan.blocks if b.kind in ("dense", "conv"))
    print(f"wrote {args.output} (lava-dl netx, {layers} layers; load it with netx.hdf5.Network(path, "
          "input_message_bits=8): docs/interop.md)")
    for condition in plan.conditions:
        print(f"note: bit-exact in Lava as long as {condition}")
    return 0


def _import(args: argparse.Namespace) -> int:
    import h5py

    from .genome import genome_from_json
    from .interop.netx_import import import_netx
    from .interop.nir_import import import_nir
    from .io_utils import atomic_path
    from .weights import check_weights, save_weights

    source, out = args.source, args.output
    if not source.is_file():
        raise DeployError("file not found", source)
    if out.suffix != ".json":
        raise DeployError("expected a genome path ending in .json (the weights go next to it as .h5)", out, "-o")
    kind = args.format
    if kind is None:
        try:
            with h5py.File(source, "r") as f:
                kind = "netx" if "layer" in f else "nir" if "node" in f else None
        except OSError:
            kind = None
        if kind is None:
            raise DeployError("neither a lava-dl netx file (HDF5 with 'layer') nor a NIR graph (HDF5 with 'node')",
                              source)
    if args.steps is not None and not 1 <= args.steps <= 65536:
        raise DeployError(f"expected 1 to 65536 time steps, got {args.steps}", None, "--steps")
    if kind == "netx":
        if args.dt is not None:
            raise DeployError("applies to NIR graphs (netx neurons are already discrete)", None, "--dt")
        imported = import_netx(source, steps=args.steps, name=args.name)
    else:
        imported = import_nir(source, dt=args.dt, steps=args.steps, name=args.name)
    weights_path = out.with_suffix(".h5")
    obj = {**imported.genome, "weights": weights_path.name}
    try:
        genome = genome_from_json(obj, out)
    except DeployError as exc:   # the translation produced something the genome rules refuse
        raise DeployError(f"the imported network is not a valid genome: {exc.message} ({exc.field})", source) from None
    weights = check_weights(genome, imported.weights, source)
    with atomic_path(weights_path) as w_tmp, atomic_path(out) as g_tmp:
        save_weights(weights, w_tmp)
        g_tmp.write_text(genome.dumps(), encoding="utf-8")
    for note in imported.notes:
        print(f"note: {note}")
    print(f"wrote {out} and {weights_path} ({kind} import: {len(genome.nodes)} nodes, rate coding, "
          f"{genome.steps} steps)")
    return 0


def _fmt(value: float | None, unit: str, scale: float = 1.0) -> str:
    return "unknown" if value is None else f"{value / scale:.3g} {unit}"


def _fmt_energy(total: float | None, dynamic: float | None) -> str:
    """Energy per inference in uJ; with the static part unknown, the dynamic part as a lower bound."""
    if total is None and dynamic is not None:
        return f">= {dynamic / 1e6:.3g} uJ (dynamic)"
    return _fmt(total, "uJ", 1e6)


def _bench(args: argparse.Namespace) -> int:
    import time

    from .energy.bench import run_bench

    started = time.perf_counter()
    report, out_dir = run_bench(args.target, args.input, args.profiles, args.backend, args.calibration, args.output,
                                progress=not args.no_progress and not args.json, samples=args.samples,
                                compile_profile=args.compile_profile, window_us=args.event_window_us)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    print(f"{report['network']}: {report['data']['samples']} samples on the {report['backend']} backend; "
          f"{report['metrics']['spikes']:.0f} spikes and {report['metrics']['synaptic_events']:.0f} synaptic events "
          f"per sample")
    if "accuracy" in report:
        acc = report["accuracy"]
        uar = "n/a" if acc["uar"] is None else f"{acc['uar'] * 100:.2f} %"
        print(f"accuracy (WAR) {acc['war'] * 100:.2f} %, UAR {uar}")
    rows = [["profile", "kind", "fits", "cores", "energy/inference", "latency"]]
    for name, block in report["profiles"].items():
        if block["kind"] == "baseline":
            base = block["baseline"]
            rows.append([name, "ANN baseline", "-", "-", _fmt_energy(base["total_pj"], base["dynamic_pj"]),
                         _fmt(base["latency_ns"], "ms", 1e6)])
            continue
        placement = block["placement"]
        energy = block["energy"] or {}
        fits = "yes" if placement["fits"] else ("unknown" if (placement["problem"] or "").startswith("unknown")
                                                 else "NO")
        cores = "-" if placement["cores_used"] is None else (
            f"{placement['cores_used']}/{placement['cores_available'] or '?'}")
        rows.append([name, "neuromorphic", fits, cores, _fmt_energy(energy.get("total_pj"), energy.get("dynamic_pj")),
                     _fmt(energy.get("latency_ns"), "ms", 1e6)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for name, block in report["profiles"].items():
        if block.get("note"):
            print(f"{name}: {block['note']}")
    print(f"wrote {out_dir / 'report.json'}, {out_dir / 'report.md'} and {out_dir / 'report.html'} "
          f"in {time.perf_counter() - started:.2f} s")
    return 0


def _view(args: argparse.Namespace) -> int:
    import signal
    import tempfile
    import time

    from .interop.netron_view import serve, stop, write_view

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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
