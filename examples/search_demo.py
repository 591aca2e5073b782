"""A small evolutionary search over TTFS genomes on scikit-learn's digits, costed for two chips, on Ray.

    .venv/bin/python examples/search_demo.py                       # about a minute on 2 CPUs (40 candidates)
    .venv/bin/python examples/search_demo.py --population 16 --generations 8 --epochs 40 --workers 8

Each candidate is a network of the digits_ttfs family (`population.synthetic.conv_net_genome_json`: conv layers
with batch norm and 2x2 max-pools, dense layers, steps per window). A generation:

1. trains each new candidate's ReLU ANN counterpart briefly with torch (single-threaded, seeded: the same seed
   gives the same weights) on models/digits_calib.npz, one Ray task per candidate;
2. compiles it for Loihi 2 and measures accuracy (WAR, UAR) on models/digits_test.npz and energy and latency on
   loihi2 and speck with the fast cost path (`evaluate_population(..., fast=True)`: `fast_cost.estimate_cost`,
   as Ray tasks), appending to OUT/results.jsonl, so a stopped search resumes without evaluating again;
3. keeps the best `--population` candidates: Pareto ranks of (WAR, energy on loihi2, energy on speck), most
   accurate first within a rank; and breeds one mutant of each (a conv layer's channels, a conv or dense
   layer added or removed, dense units, or steps per window changed).

Everything follows from `--seed`: candidates, their training and the selection (ties are broken by name).
At the end every candidate is in OUT/candidates/ (genome + weights) and OUT/population.html holds the Pareto
fronts of accuracy against energy and latency on both chips (`tnas-deploy bench --population OUT/candidates`
gives the same report). The selection uses the test split: a real search keeps a split apart for the final
accuracy.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tnas_deploy.distributed.cluster import ray_cluster  # noqa: E402
from tnas_deploy.population import evaluate_population  # noqa: E402
from tnas_deploy.population.synthetic import conv_net_genome_json  # noqa: E402

TRAIN = ROOT / "models" / "digits_calib.npz"
TEST = ROOT / "models" / "digits_test.npz"
CHIPS = ("loihi2", "speck")
CLASSES = [str(i) for i in range(10)]
CHANNELS = (4, 8, 16, 32)
UNITS = (16, 32, 64)
STEPS = (8, 16, 32)


# -- the search space --------------------------------------------------------------------------------------

def architecture_name(arch: dict[str, Any]) -> str:
    """A candidate's name from its architecture: c16-32_d64_s32 (conv channels, dense units, steps)."""
    convs = "-".join(str(c) for c in arch["convs"]) or "none"
    dense = "-".join(str(u) for u in arch["dense"]) or "none"
    return f"c{convs}_d{dense}_s{arch['steps']}"


def random_architecture(rng: np.random.Generator) -> dict[str, Any]:
    return {"convs": [int(rng.choice(CHANNELS)) for _ in range(int(rng.integers(1, 3)))],
            "dense": [int(rng.choice(UNITS)) for _ in range(int(rng.integers(0, 2)))],
            "steps": int(rng.choice(STEPS))}


def mutate(arch: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """One change: a conv's channels, a conv or dense layer added or removed, a dense layer's units, the steps."""
    child = {"convs": list(arch["convs"]), "dense": list(arch["dense"]), "steps": arch["steps"]}
    moves = ["channels", "steps", "units" if child["dense"] else "add_dense"]
    moves += ["add_conv"] if len(child["convs"]) < 3 else []
    moves += ["drop_conv"] if len(child["convs"]) > 1 else []
    moves += ["drop_dense"] if child["dense"] else []
    move = str(rng.choice(sorted(moves)))
    if move == "channels":
        child["convs"][int(rng.integers(len(child["convs"])))] = int(rng.choice(CHANNELS))
    elif move == "steps":
        child["steps"] = int(rng.choice([s for s in STEPS if s != child["steps"]]))
    elif move == "units":
        child["dense"][int(rng.integers(len(child["dense"])))] = int(rng.choice(UNITS))
    elif move == "add_dense":
        child["dense"].append(int(rng.choice(UNITS)))
    elif move == "add_conv":
        child["convs"].append(int(rng.choice(CHANNELS)))
    elif move == "drop_conv":
        child["convs"].pop(int(rng.integers(len(child["convs"]))))
    else:
        child["dense"].pop()
    return child


# -- training (a Ray task) ---------------------------------------------------------------------------------

def candidate_seed(seed: int, name: str) -> int:
    """The training seed of a candidate: from the search's seed and the candidate's name only."""
    return (seed * 1_000_003 + zlib.crc32(name.encode("utf-8"))) % 2**31


def train_candidate(genome_doc: dict[str, Any], folder: str, seed: int, epochs: int) -> str:
    """Train the genome's ReLU ANN counterpart on the training split and write genome + weights into `folder`;
    returns the genome's path. Seeded and single-threaded: the same inputs give the same bytes."""
    import torch

    from tnas_deploy.ann import build_ann
    from tnas_deploy.data import load_dataset
    from tnas_deploy.genome import genome_from_json
    from tnas_deploy.io_utils import write_text_atomic
    from tnas_deploy.weights import save_weights

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    genome = genome_from_json(genome_doc)
    train = load_dataset(TRAIN, genome.task.input_shape)
    x = torch.as_tensor(np.asarray(train.x, dtype=np.float32))
    y = torch.as_tensor(np.asarray(train.y, dtype=np.int64))
    model = build_ann(genome).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    name = genome_doc["name"]
    save_weights(model.export_weights(), Path(folder) / f"{name}.h5")
    path = Path(folder) / f"{name}.json"
    write_text_atomic(path, json.dumps({**genome_doc, "weights": f"{name}.h5"}, indent=1) + "\n")
    return str(path)


# -- selection ---------------------------------------------------------------------------------------------

def objectives(row: dict[str, Any]) -> tuple[float, ...] | None:
    """(WAR, energy on each chip in uJ) of an evaluated row; None when one is unknown (failed, does not fit)."""
    if row.get("status") != "ok" or row.get("war") is None:
        return None
    costs = [(row["profiles"].get(chip) or {}).get("energy_uj") for chip in CHIPS]
    return None if None in costs else (row["war"], *costs)


def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Accuracy (first) higher is better, costs lower."""
    no_worse = a[0] >= b[0] and all(x <= y for x, y in zip(a[1:], b[1:]))
    return no_worse and a != b


def select(rows: list[dict[str, Any]], keep: int) -> list[dict[str, Any]]:
    """The `keep` best rows: by Pareto rank of (WAR, energies), then WAR, then name (deterministic)."""
    scored = [(row, obj) for row in rows if (obj := objectives(row)) is not None]
    rank: dict[str, int] = {}
    left, level = scored, 0
    while left:
        front = [(r, o) for r, o in left if not any(dominates(p, o) for _, p in left)]
        for row, _ in front:
            rank[row["genome"]] = level
        left = [(r, o) for r, o in left if r["genome"] not in rank]
        level += 1
    ordered = sorted(scored, key=lambda ro: (rank[ro[0]["genome"]], -ro[1][0], ro[0]["genome"]))
    return [row for row, _ in ordered[:keep]]


# -- the search --------------------------------------------------------------------------------------------

def search(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    out = args.output
    folder = out / "candidates"
    folder.mkdir(parents=True, exist_ok=True)
    archs: dict[str, dict[str, Any]] = {}
    while len(archs) < args.population:
        arch = random_architecture(rng)
        archs.setdefault(architecture_name(arch), arch)
    parents: list[dict[str, Any]] = []
    started = time.perf_counter()
    with ray_cluster(args.workers, args.ray_address) as cluster:
        train = cluster.ray.remote(num_cpus=1)(train_candidate)
        for generation in range(args.generations):
            new = {name: arch for name, arch in sorted(archs.items()) if not (folder / f"{name}.json").is_file()}
            docs = {name: conv_net_genome_json(name, [1, 8, 8], CLASSES, a["convs"], a["dense"], a["steps"])
                    for name, a in new.items()}
            cluster.ray.get([train.remote(docs[n], str(folder), candidate_seed(args.seed, n), args.epochs) for n in sorted(new)])
            paths = [folder / f"{name}.json" for name in sorted(archs)]
            result = evaluate_population(paths, data=TEST, calibration=TRAIN, profiles=CHIPS, fast=True,
                                         workers=args.workers, out_dir=out, samples=args.samples)
            parents = select(result.rows, args.population)
            best = parents[0] if parents else None
            print(f"generation {generation + 1}: {len(new)} new candidates trained and evaluated, "
                  f"{len(result.rows)} in the pool; best WAR "
                  + (f"{best['war'] * 100:.1f} % ({Path(best['genome']).stem}, "
                     f"{best['profiles']['loihi2']['energy_uj']:.3g} uJ on loihi2)" if best else "none")
                  + f"; {time.perf_counter() - started:.0f} s", flush=True)
            if generation == args.generations - 1:
                break
            archs = {Path(row["genome"]).stem: _arch_of(row) for row in parents}
            for row in parents:
                for _ in range(10):        # a mutant not seen yet (10 tries)
                    child = mutate(_arch_of(row), rng)
                    name = architecture_name(child)
                    if name not in archs and not (folder / f"{name}.json").is_file():
                        archs[name] = child
                        break
        final = evaluate_population(folder, data=TEST, calibration=TRAIN, profiles=CHIPS, fast=True,
                                    workers=args.workers, out_dir=out, samples=args.samples)
    print("\n".join(final.table()))
    for chip in CHIPS:
        print(f"Pareto front of WAR against energy on {chip}: "
              + ", ".join(Path(g).stem for g in final.front(chip, "war", "energy_uj")))
    print(f"wrote {out / 'population.html'}, {out / 'population.md'} and {out / 'results.jsonl'} "
          f"in {time.perf_counter() - started:.0f} s")


def _arch_of(row: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(Path(row["genome"]).read_text(encoding="utf-8"))
    convs = [n["out_channels"] for n in doc["nodes"] if n["type"] == "conv2d"]
    dense = [n["units"] for n in doc["nodes"] if n["type"] == "dense"][:-1]      # the last one is the output
    return {"convs": convs, "dense": dense, "steps": doc["time"]["steps_per_window"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--population", type=int, default=8, help="candidates kept each generation (default 8)")
    ap.add_argument("--generations", type=int, default=5, help="default 5")
    ap.add_argument("--epochs", type=int, default=15, help="training epochs of each candidate (default 15)")
    ap.add_argument("--samples", type=int, help="test samples each candidate is evaluated on (default all 360)")
    ap.add_argument("--workers", type=int, default=2, help="Ray workers (default 2)")
    ap.add_argument("--ray-address", help="run on the Ray cluster at this address instead of a local one")
    ap.add_argument("-o", "--output", type=Path, default=ROOT / "build" / "search_demo")
    search(ap.parse_args())


if __name__ == "__main__":
    main()
