"""The TTFS coding scheme: every neuron spikes at most once; its spike time within its layer's window codes
its ReLU activation (earlier = larger). Mapping in docs/ttfs.md, fixed point in docs/fixed_point.md."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...compilation import CompileInputs
from ...compiled import CompiledNetwork
from ...data import load_dataset
from ...dataset import Dataset
from ...genome import Genome
from ...result import SimResult
from ..base import CompileOptions, ExportRequest, Progress, Scheme
from . import activity, bounds, compile, refsim

NETX_CANNOT_TTFS = (
    "netx cannot express a TTFS network: its neurons (CUBA, LIF, sigma-delta, resonate-and-fire) have "
    "no fire-once behaviour (netx ignores refDelay), no per-layer window in which the ramp is switched on, "
    "and no max-pooling of first spikes; every netx neuron fires again after its reset. Export to NIR, "
    "or see docs/interop.md")


class TtfsScheme(Scheme):
    name = "ttfs"
    refused_options = {"--analog-maxpool": "applies to rate-coded genomes only (TTFS max-pooling is exact: the "
                                           "earliest spike)",
                       "--delta-threshold": "applies to sigma-delta coding only (--coding sdnn)"}
    exports = frozenset({"nir"})
    export_refusals = {"netx": NETX_CANNOT_TTFS}

    def compile(self, inputs: CompileInputs, options: CompileOptions) -> CompiledNetwork:
        return compile.compile_ttfs(inputs, options)

    def load_data(self, path: str | Path, target: Genome | CompiledNetwork, role: str = "--input",
                  window_us: float | None = None) -> Dataset:
        shape, classes = _task(target)
        return load_dataset(path, shape, len(classes), role, window_us=window_us)

    def sample_shapes(self, net: CompiledNetwork) -> list[tuple[int, ...]]:
        return [tuple(net.input_shape)]

    def simulate(self, net: CompiledNetwork, x: np.ndarray, progress: Progress | None = None,
                 track_peaks: bool = False) -> SimResult:
        return refsim.simulate(net, x, progress=progress, track_peaks=track_peaks)

    def run_lava(self, net: CompiledNetwork, x: np.ndarray, progress: Progress | None = None,
                 timeout: float | None = None, hardware: bool = False):
        from .lava.runner import run_lava   # imports Lava
        return run_lava(net, x, progress=progress, timeout=timeout, hardware=hardware)

    def fast_compile_and_run(self, inputs: CompileInputs, options: CompileOptions, x: np.ndarray
                             ) -> tuple[CompiledNetwork, SimResult, str]:
        from .fast import compile_and_run   # imports torch
        return compile_and_run(inputs, options, x, counts=False)

    def total_steps(self, net: CompiledNetwork) -> int:
        return bounds.total_steps(net)

    def measure_activity(self, net: CompiledNetwork, result: SimResult) -> dict:
        return activity.measure_activity(net, result)

    def table_columns(self, row: dict[str, Any] | None) -> list[str]:
        if row is None:
            return ["window", "steps"]
        return [str(row["window"]), str(row.get("window_steps", ""))]

    def total_line(self, summary: dict[str, Any]) -> str:
        return (f"total: {summary['neurons']} neurons, {summary['synapses']} synapses, {summary['windows']} windows "
                f"x {summary['steps_per_window']} steps = {summary['total_steps']} time steps per inference "
                f"(windows from {summary['window_method']})")

    def calibrated(self, summary: dict[str, Any]) -> bool:
        return summary["window_method"].startswith("calibration")

    def card_structure(self, net: CompiledNetwork) -> dict[str, int]:
        return {"ttfs_layers": sum(1 for layer in net.layers if layer.kind == "ttfs")}

    def card_shape(self, structure: dict[str, Any]) -> str:
        return f"{structure['ttfs_layers']} TTFS layers, {structure['steps_per_window']} steps per window"

    def card_accuracy(self, inputs: CompileInputs, net: CompiledNetwork, data: Dataset, ref: SimResult
                      ) -> dict[str, Any]:
        from .card import card_accuracy   # imports torch
        return card_accuracy(inputs, net, data, ref)

    def card_accuracy_rows(self, structure: dict[str, Any], accuracy: dict[str, Any]) -> list[str]:
        return [f"| float ANN (ReLU counterpart) | {accuracy['float_ann'] * 100:.2f} % |",
                f"| float TTFS ({structure['steps_per_window']} steps per window) | "
                f"{accuracy['float_ttfs'] * 100:.2f} % |",
                f"| quantized, reference simulator ({structure['profile']}, 8-bit weights) | "
                f"{accuracy['quantized_reference'] * 100:.2f} % |"]

    def view_time(self, genome: Genome) -> tuple[str, int]:
        return "steps_per_window", genome.time.steps_per_window

    def view_duration(self, net: CompiledNetwork) -> str:
        return f"{bounds.windows_used(net)} windows x {net.steps} steps"

    def view_layer(self, builder: Any, net: CompiledNetwork, layer: Any, row: dict[str, Any],
                   meta: dict[str, Any], common: dict[str, Any]) -> None:
        from .view import layer_node   # imports onnx
        layer_node(builder, net, layer, row, meta, common)

    def write_export(self, fmt: str, request: ExportRequest) -> str:
        from .lowering import lower
        from .mapping import calibrate_windows
        from .nir import export_nir

        genome = request.genome
        calib = None if request.calibration is None else self.load_data(request.calibration, genome,
                                                                         "--calibration").x
        windows = calibrate_windows(lower(genome, request.weights), calib, genome.time.window_margin)
        export_nir(genome, request.weights, windows, request.output)
        return f"wrote {request.output} (NIR graph; TTFS semantics in the 'tnas_deploy.ttfs' metadata, docs/interop.md)"


def _task(target: Genome | CompiledNetwork) -> tuple[tuple[int, ...], tuple[str, ...]]:
    if isinstance(target, Genome):
        return target.task.input_shape, target.task.classes
    return tuple(target.input_shape), tuple(target.classes)
