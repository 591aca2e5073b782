"""Time per candidate genome: `estimate_cost` (fast path) against compile + reference simulator + energy model.

    .venv/bin/python benchmarks/fast_cost.py [--genomes 8] [--samples 360] [--repeats 3]   # prints one JSON object

The candidates are digits-size TTFS genomes: models/digits_ttfs.json with its trained weights, then the same
genome with Kaiming-scaled random weights (seeds 1..N-1), as an untrained search population would be. Each is
calibrated on models/digits_calib.npz (512 samples) and run on the first `samples` of models/digits_test.npz,
with the loihi2 profile. One warm-up call of each path runs first (imports, torch start-up, the parsed profile
and calibration tables); each time is the best of `repeats`, every one with the remembered placements dropped
(`energy.mapping.forget_placements`): a search's candidates are new networks, so each is placed once. torch
and numpy's BLAS run on one thread (as in a Ray worker, which sets OMP_NUM_THREADS=1; the script sets it unless
the environment does): the batches are small and a search evaluates candidates in parallel processes. Times
are process CPU seconds (`cpu_`), which a busy machine disturbs less than wall-clock seconds (`wall_`, also
printed).

cpu_fast_s_per_genome        estimate_cost, mean over the genomes
cpu_reference_s_per_genome   compile_network + simulate + measure_activity + profile_block, mean over the genomes
speed_ratio                  reference / fast, CPU time                                 (target >= 20)
wall_speed_ratio             the same in wall-clock time
equal                    whether every genome's per-layer spikes, synaptic events and energy were equal
methods                  the fast path's `method` per genome
device                   where the fast path's forward pass ran
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

# numpy's BLAS on one thread too (set before numpy loads): otherwise its idle threads spin and add CPU time
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genomes", type=int, default=8)
    parser.add_argument("--samples", type=int, default=360)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from tnas_deploy.compilation import CompileInputs
    from tnas_deploy.compiler import compile_network
    from tnas_deploy.data import load_dataset
    from tnas_deploy.energy.bench import profile_block
    from tnas_deploy.energy.mapping import forget_placements
    from tnas_deploy.fast_cost import estimate_cost
    from tnas_deploy.genome import load_genome
    from tnas_deploy.profiles import load_profile
    from tnas_deploy.random_genome import random_weights
    from tnas_deploy.schemes import scheme_for
    from tnas_deploy.schemes.ttfs.fast import device
    from tnas_deploy.weights import load_weights

    genome = load_genome(MODELS / "digits_ttfs.json")
    calib = load_dataset(MODELS / "digits_calib.npz", genome.task.input_shape, len(genome.task.names), "--calibration")
    data = load_dataset(MODELS / "digits_test.npz", genome.task.input_shape, len(genome.task.names)).head(args.samples)
    profile = load_profile("loihi2")
    candidates = [load_weights(genome)] + [random_weights(genome, seed) for seed in range(1, args.genomes)]

    def reference(weights):
        net = compile_network(CompileInputs(genome, weights, None, profile, calib))
        scheme = scheme_for(net)
        activity = scheme.measure_activity(net, scheme.simulate(net, data.x))
        return activity, profile_block(net, activity, "loihi2")

    def fast(weights):
        return estimate_cost(genome, weights, data=data, profiles=["loihi2"], calibration=calib,
                             compile_profile=profile)

    def best(fn, weights):
        cpu, wall, out = [], [], None
        for _ in range(args.repeats):
            forget_placements()      # each candidate of a search is a new network: its placement is computed
            start, start_cpu = time.perf_counter(), time.process_time()
            out = fn(weights)
            cpu.append(time.process_time() - start_cpu)
            wall.append(time.perf_counter() - start)
        return (min(cpu), min(wall)), out

    torch.set_num_threads(1)
    reference(candidates[0])
    fast(candidates[0])
    fast_times, ref_times, methods, equal = [], [], [], True
    for weights in candidates:
        t_ref, (activity, block) = best(reference, weights)
        t_fast, est = best(fast, weights)
        ref_times.append(t_ref)
        fast_times.append(t_fast)
        methods.append(est.method)
        equal &= all((est.layers[k].spikes, est.layers[k].synaptic_events) == (a.spikes, a.synaptic_events)
                     for k, a in activity.items())
        equal &= est.profiles["loihi2"].energy_uj == block["energy"]["total_pj"] * 1e-6
    fast_cpu, fast_wall = (sum(t[i] for t in fast_times) / len(fast_times) for i in (0, 1))
    ref_cpu, ref_wall = (sum(t[i] for t in ref_times) / len(ref_times) for i in (0, 1))
    print(json.dumps({"genomes": len(candidates), "samples": len(data), "calibration_samples": len(calib),
                      "cpu_fast_s_per_genome": round(fast_cpu, 4), "cpu_reference_s_per_genome": round(ref_cpu, 4),
                      "speed_ratio": round(ref_cpu / fast_cpu, 1), "wall_fast_s_per_genome": round(fast_wall, 4),
                      "wall_reference_s_per_genome": round(ref_wall, 4), "wall_speed_ratio": round(ref_wall / fast_wall, 1),
                      "equal": bool(equal), "methods": methods, "device": str(device())}, indent=2))


if __name__ == "__main__":
    main()
