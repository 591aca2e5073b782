"""The ReLU ANN counterpart on a conventional processor (a `kind = "baseline"` profile), for comparison.

Operations per inference from the genome: conv2d O*H'*W'*C*kh*kw MACs, dense O*I MACs, average pooling
C*H'*W'*kh*kw additions and max-pooling as many comparisons (both counted as MAC-equivalents, an upper
bound), residual adds C*H*W; batch norm is folded into the weights. Memory traffic at 8-bit precision:
every weight read once, every activation written once and read once.

    energy (on-chip) = MACs x mac_pj + (weight bytes + 2 x activation bytes) x sram_access_pj_per_byte
    energy (weights from DRAM) = the same + weight bytes x dram_access_pj_per_byte
    latency = MACs / macs_per_ns; static = static_power_mw x latency
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..genome import Genome, genome_from_json
from ..genome import nodes as N
from ..profiles import HardwareProfile


def ann_operations(genome: Genome) -> dict[str, Any]:
    shapes = genome.shapes
    per_node: dict[str, int] = {}
    weight_count = 0
    activation_bytes = 0
    for node in genome.nodes:
        out = shapes[node.id]
        size = int(np.prod(out))
        src = shapes[node.forward_inputs[0]] if node.forward_inputs else None
        ops = 0
        if isinstance(node, N.Conv2d):
            ops = size * src[0] * node.kernel[0] * node.kernel[1]
        elif isinstance(node, N.Dense):
            ops = size * src[0]
        elif isinstance(node, (N.AvgPool2d, N.MaxPool2d)):
            ops = size * node.kernel[0] * node.kernel[1]
        elif isinstance(node, N.Add):
            ops = size * (len(node.forward_inputs) - 1)
        if node.has_weights and not isinstance(node, N.BatchNorm):
            weight_count += sum(int(np.prod(s)) for s in node.weight_shapes(src).values())
        if ops:
            per_node[node.id] = int(ops)
        if not isinstance(node, (N.Flatten, N.Readout, N.BatchNorm)):
            activation_bytes += size          # 8-bit activations
    return {"macs": int(sum(per_node.values())), "macs_per_node": per_node, "weight_bytes": weight_count,
            "activation_bytes": activation_bytes}


def estimate_baseline(genome_json: dict[str, Any], profile: HardwareProfile) -> dict[str, Any]:
    ops = ann_operations(genome_from_json(genome_json))
    missing = []

    def need(key: str) -> float | None:
        value = profile.get(key)
        if value is None:
            missing.append(key)
        return value

    mac, sram, dram = need("baseline.mac_pj"), need("baseline.sram_access_pj_per_byte"), profile.get(
        "baseline.dram_access_pj_per_byte")
    rate, power = need("baseline.macs_per_ns"), need("baseline.static_power_mw")
    traffic = ops["weight_bytes"] + 2 * ops["activation_bytes"]
    dynamic = None if mac is None or sram is None else ops["macs"] * mac + traffic * sram
    latency = None if rate is None else ops["macs"] / rate
    static = None if latency is None or power is None else power * 1e-3 * latency * 1e-9 * 1e12
    total = None if dynamic is None or static is None else dynamic + static
    with_dram = None if total is None or dram is None else total + ops["weight_bytes"] * dram
    return {**ops, "dynamic_pj": dynamic, "static_pj": static, "total_pj": total,
            "total_uj": None if total is None else total / 1e6,
            "total_with_dram_weights_pj": with_dram, "latency_ns": latency,
            "latency_ms": None if latency is None else latency / 1e6, "unknown_profile_numbers": missing}
