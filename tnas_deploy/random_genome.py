"""Random valid TTFS genomes with random weights, for property-based tests (here and in users' CI).

`random_genome(seed)` draws a small network from the same space the TTFS compiler accepts: conv
blocks (with or without folded batch norm), max- and average-pooling, residual adds and channel
concatenations of equal-sized maps, flatten, dense layers and the readout. Everything follows from
the seed, so a failing case is reproduced by its seed alone.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .genome import Genome, genome_from_json
from .weights import Weights, expected_shapes

TTFS = {"model": "ttfs"}   # copied into each node (dict(TTFS)): callers may edit what they get


def random_genome_json(seed: int, max_blocks: int = 3) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    nodes: list[dict[str, Any]] = [{"id": "x", "type": "input"}]
    flat_input = rng.random() < 0.2
    if flat_input:
        shape: list[int] = [int(rng.integers(3, 24))]
    else:
        side = int(rng.integers(4, 11))
        shape = [int(rng.integers(1, 4)), side, side]
    input_shape = list(shape)
    last, counter = "x", 0

    def new_id(prefix: str) -> str:
        nonlocal counter
        counter += 1
        return f"{prefix}{counter}"

    def conv_block(src: str, channels: int, with_bn: bool, stride: int = 1) -> str:
        cid = new_id("conv")
        kernel = int(rng.choice([1, 3]))
        nodes.append({"id": cid, "type": "conv2d", "inputs": [src], "out_channels": channels, "kernel": kernel,
                      "stride": stride, "padding": kernel // 2, "bias": bool(rng.random() < 0.8),
                      "neuron": None if with_bn else dict(TTFS)})
        if not with_bn:
            return cid
        bid = new_id("bn")
        nodes.append({"id": bid, "type": "batchnorm", "inputs": [cid], "neuron": dict(TTFS)})
        return bid

    if not flat_input:
        for _ in range(int(rng.integers(1, max_blocks + 1))):
            choice = rng.random()
            channels = int(rng.integers(2, 7))
            if choice < 0.45 or shape[1] < 2:
                last = conv_block(last, channels, bool(rng.random() < 0.5))
                shape = [channels, shape[1], shape[2]]
            elif choice < 0.65:
                pid = new_id("maxpool" if rng.random() < 0.6 else "avgpool")
                kind = "maxpool2d" if pid.startswith("max") else "avgpool2d"
                node = {"id": pid, "type": kind, "inputs": [last], "kernel": 2}
                if kind == "avgpool2d":
                    node["neuron"] = dict(TTFS)
                nodes.append(node)
                last, shape = pid, [shape[0], shape[1] // 2, shape[2] // 2]
            elif choice < 0.85:
                branch = conv_block(last, shape[0], bool(rng.random() < 0.5))
                aid = new_id("add")
                nodes.append({"id": aid, "type": "add", "inputs": [last, branch], "neuron": dict(TTFS)})
                last = aid
            else:
                branch = conv_block(last, channels, bool(rng.random() < 0.5))
                cid = new_id("cat")
                nodes.append({"id": cid, "type": "concat", "inputs": [last, branch]})
                last, shape = cid, [shape[0] + channels, shape[1], shape[2]]
        fid = new_id("flat")
        nodes.append({"id": fid, "type": "flatten", "inputs": [last]})
        last = fid
    for _ in range(int(rng.integers(0, 3))):
        did = new_id("fc")
        nodes.append({"id": did, "type": "dense", "inputs": [last], "units": int(rng.integers(3, 17)), "neuron": dict(TTFS)})
        last = did
    n_classes = int(rng.integers(2, 6))
    out_linear = new_id("fc")
    nodes.append({"id": out_linear, "type": "dense", "inputs": [last], "units": n_classes, "neuron": None})
    nodes.append({"id": "out", "type": "readout", "inputs": [out_linear]})
    return {
        "format": "tnas-genome", "version": 1, "name": f"random_{seed}",
        "task": {"input_shape": input_shape, "classes": [f"c{i}" for i in range(n_classes)]},
        "coding": {"scheme": "ttfs"},
        "time": {"steps_per_window": int(rng.choice([4, 8, 16, 32])), "window_margin": 1.5},
        "provenance": {"generator": "tnas_deploy.random_genome", "seed": seed},
        "nodes": nodes,
    }


def random_weights(genome: Genome, seed: int) -> Weights:
    """Kaiming-scaled normal weights, small biases, batch-norm statistics away from identity."""
    rng = np.random.default_rng(seed + 1_000_003)
    out: Weights = {}
    for node_id, shapes in expected_shapes(genome).items():
        tensors = {}
        for name, shape in shapes.items():
            if name == "weight" and len(shape) >= 2:
                fan_in = int(np.prod(shape[1:]))
                tensors[name] = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
            elif name == "running_var":
                tensors[name] = rng.uniform(0.5, 2.0, shape)
            elif name == "weight":      # batch-norm gamma
                tensors[name] = rng.uniform(0.5, 1.5, shape)
            else:                       # biases, beta, running mean
                tensors[name] = rng.normal(0.0, 0.1, shape)
        out[node_id] = tensors
    return out


def random_genome(seed: int, max_blocks: int = 3) -> tuple[Genome, Weights]:
    genome = genome_from_json(random_genome_json(seed, max_blocks))
    return genome, random_weights(genome, seed)


def random_inputs(genome: Genome, n: int, seed: int) -> np.ndarray:
    """Inputs in [0, 1] with some exact zeros (no spike) and ones (first step), like real data."""
    rng = np.random.default_rng(seed + 2_000_003)
    x = rng.random((n, *genome.task.input_shape))
    x[x < 0.2] = 0.0
    x[x > 0.95] = 1.0
    return x
