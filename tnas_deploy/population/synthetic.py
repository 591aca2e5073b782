"""Populations of random valid TTFS genomes with random weights on disk, all for one task (input shape and
classes): for tests, benchmarks (benchmarks/population.py) and trying `bench --population` without a search.

Each genome is a `random_genome` draw whose input has the task's channels, resized to the task's input and
classes; a draw that does not fit the task (pooled below one pixel) is skipped for the next, so everything
follows from the seed.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DeployError
from ..genome import genome_from_json
from ..io_utils import write_text_atomic
from ..random_genome import random_genome_json, random_weights
from ..weights import save_weights

#: Draws tried for one genome before giving up (a task no draw fits, e.g. a 1x1 image with pooling).
MAX_DRAWS = 1000


def task_genome_json(seed: int, input_shape: Sequence[int], classes: Sequence[str], max_blocks: int = 2
                     ) -> dict[str, Any]:
    """A random genome (JSON) for images of `input_shape` (C, H, W) and `classes`, drawn from `seed`."""
    for draw in range(MAX_DRAWS):
        doc = random_genome_json(seed * MAX_DRAWS + draw, max_blocks)
        drawn = doc["task"]["input_shape"]
        if len(drawn) != len(input_shape) or (len(drawn) == 3 and drawn[0] != input_shape[0]):
            continue
        doc["task"]["input_shape"] = list(input_shape)
        doc["task"]["classes"] = list(classes)
        doc["nodes"][-2]["units"] = len(classes)         # the output dense layer, before the readout
        doc["name"] = f"random_{seed}"
        try:
            genome_from_json(doc)
        except DeployError:
            continue
        return doc
    raise DeployError(f"no random genome of {MAX_DRAWS} draws fits input shape {list(input_shape)}", None,
                      "input_shape")


def write_random_population(folder: str | Path, count: int, input_shape: Sequence[int], classes: Sequence[str],
                            first_seed: int = 0, max_blocks: int = 2) -> list[Path]:
    """Write `count` random genomes (random_<seed>.json) with their weights (random_<seed>.h5) into `folder`;
    returns the genome paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(first_seed, first_seed + count):
        doc = task_genome_json(seed, input_shape, classes, max_blocks)
        doc["weights"] = f"random_{seed}.h5"
        save_weights(random_weights(genome_from_json(doc), seed), folder / doc["weights"])
        path = folder / f"random_{seed}.json"
        write_text_atomic(path, json.dumps(doc, indent=1) + "\n")
        paths.append(path)
    return paths


def conv_net_genome_json(name: str, input_shape: Sequence[int], classes: Sequence[str], convs: Sequence[int],
                         dense: Sequence[int], steps: int = 32, kernel: int = 3) -> dict[str, Any]:
    """A genome of the family of models/digits_ttfs: per entry of `convs`, a conv (that many channels) with
    folded batch norm and TTFS neurons, then a 2x2 max-pool while the map is at least 2 pixels wide; flatten;
    a TTFS dense layer per entry of `dense`; the output layer and readout. digits_ttfs is
    convs (16, 32), dense (64), 32 steps."""
    nodes: list[dict[str, Any]] = [{"id": "x", "type": "input"}]
    last, side = "x", int(input_shape[-1])
    for i, channels in enumerate(convs, 1):
        nodes += [{"id": f"conv{i}", "type": "conv2d", "inputs": [last], "out_channels": int(channels),
                   "kernel": kernel, "padding": kernel // 2, "neuron": None},
                  {"id": f"bn{i}", "type": "batchnorm", "inputs": [f"conv{i}"], "neuron": {"model": "ttfs"}}]
        last = f"bn{i}"
        if side >= 2:
            nodes.append({"id": f"pool{i}", "type": "maxpool2d", "inputs": [last], "kernel": 2})
            last, side = f"pool{i}", side // 2
    if convs:
        nodes.append({"id": "flat", "type": "flatten", "inputs": [last]})
        last = "flat"
    for i, units in enumerate(dense, 1):
        nodes.append({"id": f"fc{i}", "type": "dense", "inputs": [last], "units": int(units),
                      "neuron": {"model": "ttfs"}})
        last = f"fc{i}"
    output = f"fc{len(dense) + 1}"
    nodes += [{"id": output, "type": "dense", "inputs": [last], "units": len(classes), "neuron": None},
              {"id": "out", "type": "readout", "inputs": [output]}]
    return {"format": "tnas-genome", "version": 1, "name": name,
            "task": {"input_shape": list(input_shape), "classes": list(classes)}, "coding": {"scheme": "ttfs"},
            "time": {"steps_per_window": int(steps), "window_margin": 1.5}, "nodes": nodes}
