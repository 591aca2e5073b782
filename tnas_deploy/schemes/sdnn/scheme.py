"""The sigma-delta coding scheme (SDNN): Loihi 2's graded-spike neurons send the changes of their ReLU activation;
a static input settles to the ANN's output after one step per layer. Lowered from the ReLU ANN of a TTFS (ANN-style)
genome or a genome declaring `coding: {"scheme": "sdnn"}` (version 4). Semantics in docs/sdnn.md."""
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
from ..base import CompileOptions, Progress, Scheme
from . import activity, compile, refsim
from .quantize import PAYLOAD_BITS
from .netx_scheme import SdnnNetxMixin


class SdnnScheme(SdnnNetxMixin, Scheme):
    name = "sdnn"
    lowers_codings = frozenset({"ttfs"})
    refused_options = {
        "--margin": "window margins apply to TTFS coding; sigma-delta scales come from the calibration peaks",
        "--analog-maxpool": "applies to rate coding only (a sigma-delta max-pool is exact: the max of the "
                            "reconstructed activations)"}
    spike_payload_bits = PAYLOAD_BITS          # graded spikes: Loihi 2 only among the bundled chips
    exports = frozenset({"netx"})          # lava-dl netx files (netx_scheme.py)
    export_refusals = {"nir": "NIR has no sigma-delta neuron; export the TTFS genome, or see docs/sdnn.md"}

    def compile(self, inputs: CompileInputs, options: CompileOptions) -> CompiledNetwork:
        return compile.compile_sdnn(inputs, options)

    def load_data(self, path: str | Path, target: Genome | CompiledNetwork, role: str = "--input",
                  window_us: float | None = None) -> Dataset:
        if isinstance(target, Genome):
            shape, classes = target.task.input_shape, target.task.classes
        else:
            shape, classes = tuple(target.input_shape), tuple(target.classes)
        return load_dataset(path, tuple(shape), len(classes), role, window_us=window_us)

    def sample_shapes(self, net: CompiledNetwork) -> list[tuple[int, ...]]:
        return [tuple(net.input_shape)]

    def simulate(self, net: CompiledNetwork, x: np.ndarray, progress: Progress | None = None,
                 track_peaks: bool = False) -> SimResult:
        return refsim.simulate(net, x, progress=progress, track_peaks=track_peaks)

    def run_lava(self, net: CompiledNetwork, x: np.ndarray, progress: Progress | None = None,
                 timeout: float | None = None, hardware: bool = False):
        from .lava.runner import run_lava_sdnn   # imports Lava
        return run_lava_sdnn(net, x, progress=progress, timeout=timeout, hardware=hardware)

    def total_steps(self, net: CompiledNetwork) -> int:
        return net.run_steps

    def measure_activity(self, net: CompiledNetwork, result: SimResult) -> dict:
        return activity.measure_activity(net, result)

    def table_columns(self, row: dict[str, Any] | None) -> list[str]:
        if row is None:
            return ["hop", "vth", "headroom state/payload/sum (bits)"]
        head = row.get("sdnn_headroom_bits") or {}
        bits = "/".join("-" if head.get(v) is None else f"{head[v]:.1f}" for v in refsim.PEAK_VARIABLES) if head else ""
        return [str(row["window"]), str(row.get("vth", "")), bits]

    def total_line(self, summary: dict[str, Any]) -> str:
        return (f"total: {summary['neurons']} neurons, {summary['synapses']} synapses, sigma-delta coding: "
                f"{summary['total_steps']} time steps per inference (a static input reaches the readout at step "
                f"{summary['windows'] - 1})")

    def calibrated(self, summary: dict[str, Any]) -> bool:
        return True     # a sigma-delta compile needs calibration data

    def card_structure(self, net: CompiledNetwork) -> dict[str, int]:
        return {"sigma_delta_layers": sum(1 for layer in net.layers if layer.kind == "sigma_delta")}

    def card_shape(self, structure: dict[str, Any]) -> str:
        return f"{structure['sigma_delta_layers']} sigma-delta layers, {structure['steps_per_window']} steps"

    def card_accuracy(self, inputs: CompileInputs, net: CompiledNetwork, data: Dataset, ref: SimResult
                      ) -> dict[str, Any]:
        from .card import card_accuracy   # imports torch and Lava
        return card_accuracy(inputs, net, data, ref)

    def card_accuracy_rows(self, structure: dict[str, Any], accuracy: dict[str, Any]) -> list[str]:
        exact = "bit-exact with the reference" if accuracy["lava_bit_exact"] else "NOT bit-exact"
        return [f"| float ANN (ReLU counterpart) | {accuracy['float_ann'] * 100:.2f} % |",
                f"| float sigma-delta ({structure['steps_per_window']} steps, compiled thresholds) | "
                f"{accuracy['float_sdnn'] * 100:.2f} % |",
                f"| quantized, reference simulator ({structure['profile']}, 8-bit weights) | "
                f"{accuracy['quantized_reference'] * 100:.2f} % |",
                f"| Lava CPU simulator (fixed_pt), first {accuracy['lava_samples']} samples | "
                f"{accuracy['lava'] * 100:.2f} % ({exact}) |"]

    def view_time(self, genome: Genome) -> tuple[str, int]:
        return "steps", genome.steps or 0

    def view_duration(self, net: CompiledNetwork) -> str:
        return f"sigma-delta coding, {net.run_steps} steps per inference"

    def view_layer(self, builder: Any, net: CompiledNetwork, layer: Any, row: dict[str, Any],
                   meta: dict[str, Any], common: dict[str, Any]) -> None:
        from .view import layer_node   # imports onnx
        layer_node(builder, net, layer, row, meta, common)
