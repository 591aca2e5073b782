"""Population evaluation speed (issue 15): genomes per second on 1 and 2 Ray workers, and the fast cost path
against the reference simulator per genome.

    .venv/bin/python benchmarks/population.py                 # prints one JSON object
    .venv/bin/python benchmarks/population.py --genomes 24 --samples 360

The population: `--genomes` networks of the digits_ttfs family (`population.synthetic.conv_net_genome_json`:
conv channels, dense units and steps varied around digits_ttfs's 16, 32, 64 and 32; Kaiming-scaled random
weights), on the first `--samples` of models/digits_test.npz, costed on loihi2 and speck, compiled with
models/digits_calib.npz. The same population runs with `workers=1` and `workers=2` (reference simulator, the
default of `bench --population`): once as the command runs it (`cold_wall_s_*`: a local Ray cluster started
and stopped by the call), then on one running 2-CPU cluster whose workers have imported tnas-deploy already
(`genomes_per_s_*`, best of `--repeats`: the rate a long batch settles at, without the start-up).

Fast against reference: each genome evaluated in this process (no Ray) with `fast=True` (`fast_cost`) and
`fast=False` (compile + reference simulator), best of `--repeats`; medians over the genomes, and digits_ttfs
itself with its trained weights on all 360 test samples. How a genome's time grows with the samples: the
median of three members at 50 and at 360 samples (`*_s_per_genome_by_samples`).

The machine's load average (`os.getloadavg`, as `uptime` prints it) before and after is reported: on a shared
machine the 2-worker speed-up is bounded by the CPUs the others leave free. `cores_busy_*` (CPU seconds of this
process and the Ray cluster's processes over the batch's wall time) tells the two apart: 2 workers that keep
twice the cores of 1 busy scale; a speed-up below that is CPU time the machine did not give.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tnas_deploy.distributed.cluster import descendants, ray_cluster  # noqa: E402  (imports are not timed)
from tnas_deploy.genome import genome_from_json  # noqa: E402
from tnas_deploy.io_utils import write_text_atomic  # noqa: E402
from tnas_deploy.population import evaluate_population, list_population, run_serial  # noqa: E402
from tnas_deploy.population.evaluate import EvalSettings, measure  # noqa: E402
from tnas_deploy.population.synthetic import conv_net_genome_json  # noqa: E402
from tnas_deploy.random_genome import random_weights  # noqa: E402
from tnas_deploy.weights import save_weights  # noqa: E402

DATA = ROOT / "models" / "digits_test.npz"
CALIBRATION = ROOT / "models" / "digits_calib.npz"
PROFILES = ("loihi2", "speck")
CLASSES = [str(i) for i in range(10)]
#: (conv channels, dense units, steps) cycled through to make the population
FAMILY = [((16, 32), (64,), 32), ((8, 16), (32,), 16), ((16, 32), (), 32), ((8,), (64,), 16),
          ((24, 32), (64,), 32), ((16,), (32, 16), 32), ((8, 8), (16,), 8), ((32, 32), (64,), 32)]


def write_population(folder: Path, count: int) -> None:
    for i in range(count):
        convs, dense, steps = FAMILY[i % len(FAMILY)]
        doc = conv_net_genome_json(f"member_{i:03d}", [1, 8, 8], CLASSES, convs, dense, steps)
        doc["weights"] = f"member_{i:03d}.h5"
        save_weights(random_weights(genome_from_json(doc), i), folder / doc["weights"])
        write_text_atomic(folder / f"member_{i:03d}.json", json.dumps(doc, indent=1) + "\n")


def cpu_seconds() -> float:
    """CPU time (user + system) used so far by this process and every live process below it (the Ray
    cluster's): divided by the wall time of a batch, how many cores it kept busy."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in descendants(os.getpid()) | {os.getpid()}:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick      # utime, stime
    return total


def wall(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best(fn, repeats: int) -> float:  # noqa: ANN001
    return min(wall(fn) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--genomes", type=int, default=16)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    out: dict[str, object] = {"genomes": args.genomes, "samples": args.samples, "profiles": list(PROFILES),
                              "cpus": os.cpu_count(), "load_average_before": [round(v, 2) for v in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "population"
        folder.mkdir()
        write_population(folder, args.genomes)
        common = dict(data=DATA, calibration=CALIBRATION, profiles=PROFILES, samples=args.samples)
        for workers in (1, 2):      # as `bench --population --workers N` runs: Ray's start and stop included
            seconds = wall(lambda w=workers: evaluate_population(folder, workers=w, **common))
            out[f"cold_wall_s_{workers}_workers"] = round(seconds, 2)
        with ray_cluster(2):        # a running cluster (as with --ray-address), its workers warmed up first
            evaluate_population(folder, workers=2, **common)
            for workers in (1, 2):
                runs = []
                for _ in range(args.repeats):
                    cpu = cpu_seconds()
                    seconds = wall(lambda w=workers: evaluate_population(folder, workers=w, **common))
                    runs.append((seconds, cpu_seconds() - cpu))
                seconds, cpu = min(runs)
                out[f"genomes_per_s_{workers}_workers"] = round(args.genomes / seconds, 3)
                out[f"cores_busy_{workers}_workers"] = round(cpu / seconds, 2)
        out["speedup_2_over_1"] = round(float(out["genomes_per_s_2_workers"])            # type: ignore[arg-type]
                                        / float(out["genomes_per_s_1_workers"]), 2)       # type: ignore[arg-type]
        reference, fast = [], []
        for entry in list_population(folder):
            for is_fast, times in ((False, reference), (True, fast)):
                settings = EvalSettings(str(DATA), str(CALIBRATION), PROFILES, samples=args.samples, fast=is_fast)
                times.append(best(lambda s=settings, p=entry.path: measure(p, s), args.repeats))
        out["reference_s_per_genome_median"] = round(statistics.median(reference), 4)
        out["fast_s_per_genome_median"] = round(statistics.median(fast), 4)
        out["fast_speedup_median"] = round(statistics.median(r / f for r, f in zip(reference, fast)), 1)
        members = list_population(folder)[:3]     # how a genome's time grows with the samples: t = a + b x samples
        for is_fast, path in ((False, "reference"), (True, "fast")):
            by_samples = {}
            for samples in (50, 360):
                settings = EvalSettings(str(DATA), str(CALIBRATION), PROFILES, samples=samples, fast=is_fast)
                by_samples[str(samples)] = round(statistics.median(
                    best(lambda s=settings, p=e.path: measure(p, s), args.repeats) for e in members), 4)
            out[f"{path}_s_per_genome_by_samples"] = by_samples
        digits = ROOT / "models" / "digits_ttfs.json"
        for is_fast, key in ((False, "digits_ttfs_reference_s"), (True, "digits_ttfs_fast_s")):
            settings = EvalSettings(str(DATA), str(CALIBRATION), PROFILES, fast=is_fast)
            out[key] = round(best(lambda s=settings: measure(digits, s), args.repeats), 4)
        out["digits_ttfs_fast_speedup"] = round(float(out["digits_ttfs_reference_s"])    # type: ignore[arg-type]
                                                / float(out["digits_ttfs_fast_s"]), 1)  # type: ignore[arg-type]
        serial = wall(lambda: evaluate_population(folder, executor=run_serial, **common))
        out["genomes_per_s_in_process_no_ray"] = round(args.genomes / serial, 3)
    out["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
