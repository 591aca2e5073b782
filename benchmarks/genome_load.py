"""Time to load chain genomes of 1,000, 10,000 and 100,000 nodes: loading must grow linearly with size.

    .venv/bin/python benchmarks/genome_load.py          # prints one JSON object (about a minute)

Three valid, schema-checked chains, built in memory:

* `dense_ttfs`: version 1, input [4] -> N dense layers with TTFS neurons -> dense -> readout;
* `conv_rate`: version 2 rate coding, input [1, 8, 8] -> N 3x3 convolutions with LIF neurons -> flatten ->
  dense -> readout;
* `snas_cells`: version 2, input [2, 4, 4] -> N/3 snas_cells of one LIF-conv1x1-BN edge each (3 nodes once
  expanded, so about N nodes) -> flatten -> dense -> readout: the cell expansion along a long chain.

For each: `genome_from_json` on the parsed object and `load_genome` on a temporary file (read, parse,
validate), best of REPEATS for the smaller sizes and one run for the largest. Times are CPU seconds of this
process (`time.process_time`: on a shared machine the wall time mostly measures the neighbours); the wall
time of `load_genome` is printed too. `growth_per_10x` is the ratio of the `load_genome` CPU times of
consecutive sizes: about 10 when loading is linear (before, each doubling cost 4 to 5 times more, worse than
quadratic). Target: a 100,000-node chain loads in under 10 s.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tnas_deploy.genome import genome_from_json, load_genome  # noqa: E402  (imports are not part of the timing)

SIZES = (1_000, 10_000, 100_000)
REPEATS = 3
TARGET_S = 10.0


def _genome(version: int, input_shape: list[int], coding: dict[str, Any], nodes: list[dict[str, Any]]
            ) -> dict[str, Any]:
    out: dict[str, Any] = {"format": "tnas-genome", "version": version, "name": "chain",
                           "task": {"input_shape": input_shape, "classes": ["a", "b"]}, "coding": coding}
    if coding["scheme"] == "ttfs":
        out["time"] = {"steps_per_window": 8}
    out["nodes"] = nodes
    return out


def dense_ttfs(n: int) -> dict[str, Any]:
    nodes = [{"id": "x", "type": "input"}]
    for i in range(n):
        nodes.append({"id": f"d{i}", "type": "dense", "inputs": [nodes[-1]["id"]], "units": 4,
                      "neuron": {"model": "ttfs"}})
    nodes += [{"id": "fc", "type": "dense", "inputs": [nodes[-1]["id"]], "units": 2},
              {"id": "out", "type": "readout", "inputs": ["fc"]}]
    return _genome(1, [4], {"scheme": "ttfs"}, nodes)


def conv_rate(n: int) -> dict[str, Any]:
    lif = {"model": "lif", "tau": 2.0, "threshold": 1.0}
    nodes = [{"id": "x", "type": "input"}]
    for i in range(n):
        nodes.append({"id": f"c{i}", "type": "conv2d", "inputs": [nodes[-1]["id"]], "out_channels": 2, "kernel": 3,
                      "padding": 1, "neuron": lif})
    nodes += [{"id": "f", "type": "flatten", "inputs": [nodes[-1]["id"]]},
              {"id": "fc", "type": "dense", "inputs": ["f"], "units": 2},
              {"id": "out", "type": "readout", "inputs": ["fc"]}]
    return _genome(2, [1, 8, 8], {"scheme": "rate", "steps": 4}, nodes)


def snas_cells(n: int) -> dict[str, Any]:
    lif = {"model": "lif", "tau": 2.0, "threshold": 1.0}
    nodes = [{"id": "x", "type": "input"}]
    for i in range(max(1, n // 3)):
        nodes.append({"id": f"cell{i}", "type": "snas_cell", "inputs": [nodes[-1]["id"]],
                      "matrix": [[0, 2], [0, 0]], "neuron": lif})
    nodes += [{"id": "f", "type": "flatten", "inputs": [nodes[-1]["id"]]},
              {"id": "fc", "type": "dense", "inputs": ["f"], "units": 2},
              {"id": "out", "type": "readout", "inputs": ["fc"]}]
    return _genome(2, [2, 4, 4], {"scheme": "rate", "steps": 4}, nodes)


FAMILIES: dict[str, Callable[[int], dict[str, Any]]] = {"dense_ttfs": dense_ttfs, "conv_rate": conv_rate,
                                                         "snas_cells": snas_cells}


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """The shortest CPU and wall times of `repeats` calls, and what the last call returned."""
    cpu, wall = [], []
    for _ in range(repeats):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        value = fn()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return min(cpu), min(wall), value


def main() -> None:
    out: dict[str, Any] = {"sizes": list(SIZES), "statistic": f"best of {REPEATS} runs (1 run for the largest size), "
                                                              "CPU seconds (and wall seconds)", "families": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for family, build in FAMILIES.items():
            row: dict[str, Any] = {"nodes_loaded": {}, "genome_from_json_cpu_s": {}, "load_genome_cpu_s": {},
                                   "load_genome_wall_s": {}, "file_mb": {}}
            for size in SIZES:
                obj = build(size)
                path = Path(tmp) / f"{family}_{size}.json"
                path.write_text(json.dumps(obj), encoding="utf-8")
                repeats = 1 if size == SIZES[-1] else REPEATS
                cpu, _, _ = best_of(lambda: genome_from_json(obj), repeats)
                row["genome_from_json_cpu_s"][size] = round(cpu, 3)
                cpu, wall, genome = best_of(lambda: load_genome(path), repeats)
                row["load_genome_cpu_s"][size] = round(cpu, 3)
                row["load_genome_wall_s"][size] = round(wall, 3)
                row["nodes_loaded"][size] = len(genome.nodes)
                row["file_mb"][size] = round(path.stat().st_size / 1e6, 2)
            times = [row["load_genome_cpu_s"][s] for s in SIZES]
            row["growth_per_10x"] = [round(b / a, 1) for a, b in zip(times, times[1:])]
            out["families"][family] = row
    largest = max(row["load_genome_cpu_s"][SIZES[-1]] for row in out["families"].values())
    out["target"] = f"every {SIZES[-1]}-node chain loads in under {TARGET_S} CPU seconds"
    out["slowest_largest_cpu_s"] = largest
    out["meets_target"] = largest < TARGET_S
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
