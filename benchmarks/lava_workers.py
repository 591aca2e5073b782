"""Lava wall time on 1 worker against N Ray workers, on the same digits test samples, as a user runs it.

    .venv/bin/python benchmarks/lava_workers.py [--samples 40] [--workers 2] [--repeat 1] [--breakdown]
                                                                               # prints one JSON object

The digits TTFS model is compiled from models/digits_ttfs.json + .h5 with calibration models/digits_calib.npz;
then `tnas-deploy run ARTIFACT --input models/digits_test.npz --samples S --backend lava -o result.npz` runs as a
command, once with the default single worker (one Lava run in the process, no Ray) and once with `--workers N`
(a local Ray cluster of N CPUs, one Lava run per slice). Each time is the command's wall time, start-up included
(imports, Ray's start and shut-down): what a user waits for.

samples              samples run (the first S of models/digits_test.npz)
workers              N
one_worker_s         wall time of the single-worker command (best of --repeat)
n_workers_s          wall time of the --workers N command (best of --repeat)
ratio                one_worker_s / n_workers_s                         (issue 15 asks >= 1.6 for N = 2 on 2 cores)
ray_start_stop_s     starting and shutting down a local Ray cluster of N CPUs alone (part of n_workers_s)
bit_identical        whether both commands wrote byte-identical result files (spike times, readout, predictions)
cpus                 os.cpu_count()
load_before, load_after   the 1-minute load average before and after (the machine may be shared)

With --breakdown, also timed in this process with a local cluster already up (no start-up in these figures):
in_process_s         one Lava run of the samples in this process (after a warm-up run of 2 samples)
one_slice_on_ray_s   the same samples as one slice on a Ray worker
n_slices_on_ray_s    the same samples as N slices on N Ray workers at once
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tnas_deploy.distributed.cluster import ray_cluster  # noqa: E402
from tnas_deploy.distributed.lava_shards import run_sharded  # noqa: E402

MODELS = ROOT / "models"


def command_s(args: list[str]) -> float:
    """Wall time of one tnas-deploy command (which must succeed)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tnas_deploy.cli", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"tnas-deploy {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return seconds


def ray_start_stop_s(workers: int) -> float:
    start = time.perf_counter()
    with ray_cluster(workers):
        pass
    return time.perf_counter() - start


def breakdown(artifact: Path, samples: int, workers: int) -> dict[str, float]:
    """Where the time goes once Ray is up (see the module doc)."""
    from tnas_deploy.artifact import load_artifact
    from tnas_deploy.schemes import scheme_for

    net, _ = load_artifact(artifact)
    scheme = scheme_for(net)
    x = scheme.load_data(MODELS / "digits_test.npz", net).head(samples).x
    scheme.run_lava(net, x[:2])
    start = time.perf_counter()
    scheme.run_lava(net, x)
    figures = {"in_process_s": time.perf_counter() - start}
    with ray_cluster(workers):
        run_sharded(net, x[:2 * workers], workers)        # the workers import tnas-deploy and Lava once
        for name, slices in (("one_slice_on_ray_s", 1), ("n_slices_on_ray_s", workers)):
            start = time.perf_counter()
            run_sharded(net, x, slices)
            figures[name] = time.perf_counter() - start
    return {name: round(value, 2) for name, value in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="run each command this many times; the best counts")
    parser.add_argument("--breakdown", action="store_true", help="also time the runs in this process, Ray up")
    options = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tnas-bench-workers-") as folder:
        work = Path(folder)
        artifact = work / "digits_ttfs.tdart"
        command_s(["compile", str(MODELS / "digits_ttfs.json"), "--calibration", str(MODELS / "digits_calib.npz"),
                   "-o", str(artifact), "--json"])
        run = ["run", str(artifact), "--input", str(MODELS / "digits_test.npz"), "--samples", str(options.samples),
               "--backend", "lava", "--no-progress"]
        one, many = [], []
        for _ in range(options.repeat):
            one.append(command_s(run + ["-o", str(work / "one.npz")]))
            many.append(command_s(run + ["-o", str(work / "many.npz"), "--workers", str(options.workers)]))
        identical = (work / "one.npz").read_bytes() == (work / "many.npz").read_bytes()
        extra = breakdown(artifact, options.samples, options.workers) if options.breakdown else {}
    print(json.dumps({
        "samples": options.samples, "workers": options.workers,
        "one_worker_s": round(min(one), 2), "n_workers_s": round(min(many), 2),
        "ratio": round(min(one) / min(many), 3), "ray_start_stop_s": round(ray_start_stop_s(options.workers), 2),
        "bit_identical": identical, "cpus": os.cpu_count(),
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2), **extra,
    }, indent=2))


if __name__ == "__main__":
    main()
