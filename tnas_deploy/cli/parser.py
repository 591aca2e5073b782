"""The `tnas-deploy` argument parser: `build_parser()` and a parser class whose errors exit with 2 and carry
the `tnas-deploy: error:` prefix."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import __version__
from .common import EXIT_USAGE

BACKENDS = ["reference", "lava", "loihi2"]
#: `bench --static`: the modes of `energy.model.STATIC_MODES` (not imported: parsing needs no numpy)
STATIC_MODES = ["whole-chip", "per-core"]


class CliParser(argparse.ArgumentParser):
    """An argument parser whose own errors also exit with 2, with the `tnas-deploy: error:` prefix."""

    def error(self, message: str) -> None:  # argparse's own errors also exit with 2, with our prefix
        self.print_usage(sys.stderr)
        print(f"tnas-deploy: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The parser of `tnas-deploy` and its subcommands."""
    p = CliParser(prog="tnas-deploy", description="Deploy searched TTFS spiking networks to neuromorphic chips.",
                  epilog="exit codes: 0 success; 1 verify found a difference; 2 bad input; 3 the backend failed "
                         "(time-out, failed or killed Lava worker); 130, 143, 129 stopped by SIGINT (Ctrl-C), "
                         "SIGTERM, SIGHUP, after stopping and cleaning up a Lava run (docs/lava.md)")
    p.add_argument("--version", action="version", version=f"tnas-deploy {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=CliParser)

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
    c.add_argument("--steps", type=int, help="override the genome's steps per window (TTFS), time steps T (rate) or "
                                             "steps per inference (sigma-delta; default: until the readout settles)")
    c.add_argument("--coding", help="compile with this coding: the genome's own, or 'sdnn' (sigma-delta, Loihi 2's "
                                    "graded spikes) from a TTFS genome's ReLU ANN (docs/sdnn.md)")
    c.add_argument("--delta-threshold", type=float,
                   help="sigma-delta: each layer's delta threshold as a fraction of its calibration peak "
                        "(default 1/64)")
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
    add_worker_options(r)
    r.add_argument("--json", action="store_true", help="print the result summary as JSON")
    r.add_argument("--no-progress", action="store_true")

    v = sub.add_parser("verify", help="check that two backends (or a golden file) agree bit for bit")
    v.add_argument("artifact", type=Path)
    src = v.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, help="run reference and Lava on these samples and compare")
    v.add_argument("--event-window-us", type=float, help="event files: time window per sample in microseconds")
    src.add_argument("--golden", type=Path, help="re-run the golden file's samples and compare with it")
    v.add_argument("--backend", choices=["reference", "lava", "netx"], default=None,
                   help="with --golden: the backend to re-run (default reference); with --input: what the reference "
                        "is compared with (default lava); netx (rate networks): lava-dl's netx.hdf5.Network running "
                        "the netx file the genome was imported from, or the artifact's own netx export")
    v.add_argument("--netx", type=Path, metavar="FILE",
                   help="with --backend netx: the netx file to run (default: the one the artifact's genome was "
                        "imported from, recorded in its provenance)")
    v.add_argument("--samples", type=int, help="use only the first N samples")
    v.add_argument("--timeout", type=float, help="stop the Lava run after this many seconds (exit 3)")
    add_worker_options(v)
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
    add_worker_options(g)
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
    b.add_argument("target", type=Path, nargs="?",
                   help="compiled artifact, or a genome .json (compiled first); not with --population")
    b.add_argument("--input", type=Path, required=True, help=".npz samples to run (labels give accuracy, WAR, UAR)")
    b.add_argument("--event-window-us", type=float, help="event files: time window per sample in microseconds")
    b.add_argument("--profile", action="append", dest="profiles", metavar="P",
                   help="profile name or .toml path; repeat for several (default: every bundled profile)")
    b.add_argument("--backend", choices=["reference", "lava"], default="reference")
    b.add_argument("--calibration", type=Path, help="for a genome: calibration data (default: the input data)")
    b.add_argument("--compile-profile", default="loihi2", help="for a genome: the profile to compile for")
    b.add_argument("--coding", help="for a genome: compile it in these codings (comma-separated, e.g. ttfs,sdnn) and "
                                    "put them side by side in OUT/codings.md (docs/sdnn.md)")
    b.add_argument("--samples", type=int, help="use only the first N samples")
    b.add_argument("--static", choices=STATIC_MODES, default="whole-chip",
                   help="how a chip's static power is charged: whole-chip (default, as measured) charges the "
                        "whole chip's measured static power; per-core charges static power x cores used / cores "
                        "on chip (a power-gated or shared chip)")
    b.add_argument("-o", "--output", type=Path, help="report directory (default build/report-<name>; with "
                                                     "--population, required)")
    b.add_argument("--population", type=Path, metavar="DIR_OR_LIST",
                   help="evaluate many genomes: a folder of genome .json files or a text file of genome paths; "
                        "writes OUT/results.jsonl (resumable), OUT/population.md and OUT/population.html with the "
                        "Pareto fronts (docs/scaling.md)")
    b.add_argument("--workers", type=int, metavar="N",
                   help="with --population: evaluate N genomes at a time as Ray tasks (default: every CPU)")
    b.add_argument("--ray-address", metavar="ADDR",
                   help="with --population: use the running Ray cluster at ADDR (host:port, or 'auto')")
    b.add_argument("--fast", action="store_true",
                   help="with --population: costs from the fast cost path (one batched forward pass) instead of "
                        "the reference simulator, for the codings that have one")
    b.add_argument("--json", action="store_true", help="print the whole report.json")
    b.add_argument("--no-progress", action="store_true")

    w = sub.add_parser("view", help="look at a genome or compiled artifact in netron (as an ONNX graph)")
    w.add_argument("source", type=Path, metavar="GENOME_OR_ARTIFACT", help="genome .json or compiled artifact (.tdart)")
    w.add_argument("--export", type=Path, metavar="PATH", help="only write the ONNX view to PATH and print its path")
    w.add_argument("--no-browser", action="store_true", help="serve without opening a browser")
    w.add_argument("--port", type=int, help="localhost port to serve on (default: a free one)")
    return p


def add_worker_options(command: argparse.ArgumentParser) -> None:
    """`--workers` and `--ray-address`: a Lava run split into slices of samples over Ray workers (docs/scaling.md)."""
    command.add_argument("--workers", type=int, metavar="N",
                         help="lava and netx backends: split the samples into N slices, each one Lava run on a Ray "
                              "worker (a local Ray cluster of N CPUs, or the one of --ray-address); results are "
                              "bit-identical to one worker; default 1: one Lava run in this process, without Ray")
    command.add_argument("--ray-address", metavar="ADDR",
                         help="run the slices on the existing Ray cluster at ADDR (host:port, or 'auto'); "
                              "without --workers, one slice per CPU of the cluster")
