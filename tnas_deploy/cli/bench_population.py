"""`tnas-deploy bench --population DIR_OR_LIST`: evaluate many genomes (as Ray tasks), writing the resumable
OUT/results.jsonl, OUT/population.md and OUT/population.html with the Pareto fronts, and print the table.

Exits 0 when the batch completed, even when some genomes failed (the closing line says how many, each failed
row names its error); 2 for bad arguments (options of a single-network bench, a missing -o)."""
from __future__ import annotations

import argparse
import json

from ..errors import DeployError

#: Options of a single-network bench that a population bench does not take: (attribute, flag, its default).
_SINGLE_ONLY = (("backend", "--backend", "reference"), ("event_window_us", "--event-window-us", None),
                ("coding", "--coding", None))
#: Options that only a population bench takes: (attribute, flag, its default).
_POPULATION_ONLY = (("workers", "--workers", None), ("ray_address", "--ray-address", None), ("fast", "--fast", False))


def check_population_options(args: argparse.Namespace) -> None:
    """Refuse a population option without --population (exit 2)."""
    for attribute, flag, default in _POPULATION_ONLY:
        if getattr(args, attribute, default) != default:
            raise DeployError("applies only to a population bench: add --population DIR_OR_LIST", None, flag)


def command(args: argparse.Namespace) -> int:
    """Evaluate a population of genomes and write its results and report."""
    import time

    from ..population import RESULTS_FILE, evaluate_population
    from ..profiles import available_profiles

    if args.target is not None:
        raise DeployError("give either a network to bench or --population, not both", args.target, "--population")
    if args.population is None:
        raise DeployError("expected a compiled artifact or genome .json to bench, or --population DIR_OR_LIST",
                          None, "target")
    for attribute, flag, default in _SINGLE_ONLY:
        if getattr(args, attribute, default) != default:
            raise DeployError(f"{flag} is not available with --population (each genome runs in its own coding on "
                              "the reference simulator or the fast cost path)", None, flag)
    if args.output is None:
        raise DeployError("expected an output folder for the results and report (-o OUT)", None, "--output")
    started = time.perf_counter()
    result = evaluate_population(args.population, data=args.input, calibration=args.calibration,
                                 profiles=args.profiles or available_profiles(), workers=args.workers,
                                 ray_address=args.ray_address, fast=args.fast, out_dir=args.output,
                                 samples=args.samples, compile_profile=args.compile_profile,
                                 static_mode=args.static, progress=not args.no_progress and not args.json)
    if args.json:
        print(json.dumps(result.rows, indent=2, sort_keys=True))
        return 0
    for line in result.table():
        print(line)
    failed = len(result.failed)
    earlier = f", {result.reused} taken from the earlier results" if result.reused else ""
    print(f"{len(result.rows)} genomes: {result.evaluated} evaluated now{earlier}; "
          f"{'none' if not failed else failed} failed")
    files = [args.output / RESULTS_FILE] + result.files
    print(f"wrote {', '.join(str(f) for f in files[:-1])} and {files[-1]} in {time.perf_counter() - started:.2f} s")
    return 0
