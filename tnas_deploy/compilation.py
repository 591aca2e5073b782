"""What every coding scheme's compile shares: the loaded inputs, the compile options, where a compiled network
came from (`network_identity`) and the headroom bookkeeping after calibration (`record_headroom`).

The schemes' compiles (`schemes/<name>/compile.py`) build on these; the pipeline (`compiler.py`) loads the
inputs and hands them to the genome's scheme.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any

from . import __version__
from .compiled import CompiledNetwork
from .dataset import Dataset
from .errors import OverflowReport
from .fixed_point import NumericFormat
from .genome import Genome
from .io_utils import sha256_file
from .profiles import HardwareProfile
from .weights import Weights

#: Rounds of lowering overflowing layers' state scales before giving up.
MAX_HEADROOM_ROUNDS = 6


@dataclass
class CompileInputs:
    genome: Genome
    weights: Weights
    weights_path: Path
    profile: HardwareProfile
    calibration: Dataset | None


def fit_state_scales(build: Callable[[dict[str, int]], CompiledNetwork],
                     measure: Callable[[CompiledNetwork], tuple[dict[str, dict[str, Any]], dict[str, tuple[str, int]]]],
                     fmt: NumericFormat
                     ) -> tuple[CompiledNetwork, dict[str, dict[str, Any]], dict[str, int], dict[str, tuple[str, int]]]:
    """Use the calibration data to choose state scales: quantize (`build(drops)`), measure the headroom, lower
    each overflowing layer's state scale by the bits it lacks and retry, at most MAX_HEADROOM_ROUNDS times.

    Returns the last network, its headroom, the scale drops per layer and what still overflows.
    """
    drops: dict[str, int] = {}
    for _ in range(MAX_HEADROOM_ROUNDS):
        net = build(drops)
        headroom, overflows = measure(net)
        if not overflows:
            break
        for layer_id, (_, peak) in overflows.items():
            drops[layer_id] = drops.get(layer_id, 0) + max(1, math.ceil(math.log2(peak / fmt.state_max)))
    return net, headroom, drops, overflows


def record_headroom(net: CompiledNetwork, headroom: dict[str, dict[str, Any]], drops: dict[str, int],
                    overflows: dict[str, tuple[str, int]], saturate: bool, source: Path | None) -> None:
    """After the headroom rounds: note every lowered scale; fail on what still overflows (or note the clipping)."""
    fmt = net.fmt
    for layer_id, bits in drops.items():
        net.notes.append({"layer": layer_id, "variable": "scale", "message":
                          f"state scale lowered by {bits} bit(s) so the calibration data fits {fmt.state_bits} bits"})
    for layer_id, (var, peak) in overflows.items():
        msg = (f"calibration data drives |{var}| to {peak}, beyond the {fmt.state_bits}-bit state limit "
               f"{fmt.state_max} (by {peak / fmt.state_max:.2f}x)")
        if not saturate:
            raise OverflowReport(msg + "; pass --saturate to clip it (the simulators saturate, never wrap)",
                                 source, f"layer {layer_id}: {var}")
        net.notes.append({"layer": layer_id, "variable": var, "message": "saturated: " + msg})
    net.headroom = headroom


def network_identity(inputs: CompileInputs) -> dict[str, Any]:
    """What a compiled network records about where it came from: names, task, genome, profile, input hashes."""
    genome = inputs.genome
    return dict(
        name=genome.name, input_shape=genome.task.input_shape, classes=genome.task.classes,
        genome=genome.to_json(), provenance=genome.provenance, tool_version=__version__,
        profile={"name": inputs.profile.name, "chip": inputs.profile.chip, "sha256": inputs.profile.sha256,
                 "contents": inputs.profile.raw},
        inputs={"genome": sha256_file(genome.source) if genome.source else None,
                "weights": sha256_file(inputs.weights_path) if inputs.weights_path else None,
                "calibration": inputs.calibration.sha256 if inputs.calibration is not None else None,
                "profile": inputs.profile.sha256})


def headroom_bits(limit: int, peak: int | None) -> float | None:
    if peak is None:
        return None
    if peak <= 0:
        return float(math.log2(limit))
    return round(math.log2(limit / peak), 2)
