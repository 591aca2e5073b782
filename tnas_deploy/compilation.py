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
MAX_HEADROOM_ROUNDS = 10


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
    """Use the calibration data to choose state scales: quantize (`build(drops)`), measure the headroom, and lower
    each overflowing layer's state scale (`drops`, in bits) until the calibration data fits, in at most
    MAX_HEADROOM_ROUNDS measurements.

    An overflow lowers the scale by the bits the measured peak lacks (a lower bound: a state clips at its limit, so
    a saturated state's measured peak understates what it needs). A layer that overflows again gets 1, 2, 4, ...
    bits more than that, and once a drop is known to fit, the smallest fitting drop is searched between the
    largest failing and the smallest fitting one (the finest scale that fits). Returns the last network, its headroom, the
    drops per layer and what still overflows (empty when everything fits).
    """
    drops: dict[str, int] = {}
    failing: dict[str, int] = {}       # per layer: the largest drop known to overflow
    fitting: dict[str, int] = {}       # per layer: the smallest drop known to fit
    step: dict[str, int] = {}
    best: tuple | None = None          # the last measurement in which nothing overflowed
    last: tuple | None = None          # the last measurement
    for _ in range(MAX_HEADROOM_ROUNDS):
        try:
            net = build(drops)
        except OverflowReport:
            if last is None:
                raise
            # the quantizer cannot represent a scale that low: keep the last one it could (what still overflows
            # then fails the compile, or is clipped with --saturate)
            net, headroom, overflows, drops = last
            break
        headroom, overflows = measure(net)
        last = (net, headroom, overflows, dict(drops))
        if not overflows:
            best = (net, headroom, dict(drops))
            for layer_id, drop in drops.items():
                fitting[layer_id] = min(fitting.get(layer_id, drop), drop)
        for layer_id, (_, peak) in overflows.items():
            # the measured peak is a lower bound of the true one, so every drop short of the bits it lacks fails too
            lacking = max(1, math.ceil(math.log2(peak / fmt.state_max)))
            failing[layer_id] = drops.get(layer_id, 0) + lacking - 1
            step[layer_id] = 1 if layer_id not in step else 2 * step[layer_id]
        nxt = dict(drops)
        for layer_id in set(failing) | set(fitting):
            low = failing.get(layer_id, -1)
            high = fitting.get(layer_id)
            if high is None:
                nxt[layer_id] = low + step[layer_id]
            elif high - low > 1:
                nxt[layer_id] = (low + high) // 2
            else:
                nxt[layer_id] = high
        if not overflows and nxt == drops:
            break
        drops = nxt
    if best is not None and overflows:           # the search ended on a failing probe: keep the last fitting one
        net, headroom, drops = best
        overflows = {}
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
        name=genome.name, input_shape=genome.task.input_shape, classes=genome.task.names,
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
