"""The rate coding scheme: IF/LIF populations over T + D steps, values coded by spike counts (docs/rate.md)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...compilation import CompileInputs
from ...compiled import CompiledNetwork
from ...data import load_dataset
from ...dataset import Dataset
from ...genome import Genome
from ...regression import regression_outputs
from ...result import SimResult
from ..base import CompileOptions, ExportRequest, Progress, Scheme
from . import activity, compile, refsim


class RateScheme(Scheme):
    name = "rate"
    refused_options = {"--margin": "window margins apply to TTFS genomes only; this genome is rate-coded",
                       "--delta-threshold": "applies to sigma-delta coding only (--coding sdnn)"}
    exports = frozenset({"nir", "netx"})

    def compile(self, inputs: CompileInputs, options: CompileOptions) -> CompiledNetwork:
        return compile.compile_rate(inputs, options)

    def load_data(self, path: str | Path, target: Genome | CompiledNetwork, role: str = "--input",
                  window_us: float | None = None) -> Dataset:
        if isinstance(target, Genome):
            shape, classes, steps, values = target.task.input_shape, target.task.names, target.steps, \
                target.rate_input or "intensity"
        else:
            shape, classes, steps, values = target.input_shape, target.classes, target.steps, target.layers[0].values
        outputs = regression_outputs(target)
        return load_dataset(path, tuple(shape), None if outputs else len(classes), role, window_us=window_us,
                            rate_steps=steps, rate_values=values, real_outputs=len(outputs) if outputs else None)

    def sample_shapes(self, net: CompiledNetwork) -> list[tuple[int, ...]]:
        return [tuple(net.input_shape), (net.steps, *net.input_shape)]

    def simulate(self, net: CompiledNetwork, x: np.ndarray, progress: Progress | None = None,
                 track_peaks: bool = False) -> SimResult:
        return refsim.simulate_rate(net.layers, x, net.steps, net.input_shape, net.fmt.state_bits, integer=True,
                                    batch_size=64, progress=progress, track_peaks=track_peaks,
                                    readout_scale=net.readout.scale)

    def run_lava(self, net: CompiledNetwork, x: np.ndarray, progress: Progress | None = None,
                 timeout: float | None = None, hardware: bool = False):
        from .lava.runner import run_lava_rate   # imports Lava
        return run_lava_rate(net, x, progress=progress, timeout=timeout, hardware=hardware)

    def total_steps(self, net: CompiledNetwork) -> int:
        return net.run_steps

    def measure_activity(self, net: CompiledNetwork, result: SimResult) -> dict:
        return activity.measure_activity(net, result)

    def table_columns(self, row: dict[str, Any] | None) -> list[str]:
        if row is None:
            return ["delays"]
        return [",".join(map(str, row.get("delays", [])))]

    def total_line(self, summary: dict[str, Any]) -> str:
        return (f"total: {summary['neurons']} neurons, {summary['synapses']} synapses, rate coding: "
                f"{summary['steps_per_window']} input steps + {summary['total_steps'] - summary['steps_per_window']} "
                f"steps of depth = {summary['total_steps']} time steps per inference")

    def calibrated(self, summary: dict[str, Any]) -> bool:
        return summary["window_method"].startswith("calibration") or bool(summary["inputs"].get("calibration"))

    def card_structure(self, net: CompiledNetwork) -> dict[str, int]:
        return {"populations": sum(1 for layer in net.layers if layer.kind == "cuba")}

    def card_shape(self, structure: dict[str, Any]) -> str:
        return f"{structure['populations']} rate populations, {structure['steps_per_window']} input steps"

    def card_accuracy(self, inputs: CompileInputs, net: CompiledNetwork, data: Dataset, ref: SimResult
                      ) -> dict[str, Any]:
        from .card import card_accuracy   # imports torch
        return card_accuracy(inputs, net, data, ref)

    def card_accuracy_rows(self, structure: dict[str, Any], accuracy: dict[str, Any]) -> list[str]:
        exact = "bit-exact with the reference" if accuracy["lava_bit_exact"] else "NOT bit-exact"
        return [f"| float SNN (the trained torch model, {structure['steps_per_window']} steps) | "
                f"{accuracy['float_snn'] * 100:.2f} % |",
                f"| quantized, reference simulator ({structure['profile']}, 8-bit weights) | "
                f"{accuracy['quantized_reference'] * 100:.2f} % |",
                f"| Lava CPU simulator (fixed_pt) | {accuracy['lava'] * 100:.2f} % ({exact}) |"]

    def view_time(self, genome: Genome) -> tuple[str, int]:
        return "steps", genome.steps

    def view_duration(self, net: CompiledNetwork) -> str:
        return f"rate coding, {net.steps} input steps, {net.run_steps} steps per inference"

    def view_layer(self, builder: Any, net: CompiledNetwork, layer: Any, row: dict[str, Any],
                   meta: dict[str, Any], common: dict[str, Any]) -> None:
        from .view import layer_node   # imports onnx
        layer_node(builder, net, layer, row, meta, common)

    def write_export(self, fmt: str, request: ExportRequest) -> str:
        """NIR from the genome; netx is written from a compiled network (`netx.export_netx`)."""
        from .nir import export_rate_nir

        if fmt != "nir":
            raise NotImplementedError(f"{fmt} is exported from a compiled network")

        export_rate_nir(request.genome, request.weights, request.output, dt=request.dt)
        return (f"wrote {request.output} (NIR graph of a rate network, dt = {request.dt:g} s per step; timing and "
                "readout in the 'tnas_deploy.rate' metadata, docs/interop.md)")

    def compile_for_netx(self, inputs: CompileInputs, steps: int | None, analog_maxpool: str) -> CompiledNetwork:
        from .netx import compile_for_netx
        return compile_for_netx(inputs, steps=steps, analog_maxpool=analog_maxpool)

    def export_netx(self, net: CompiledNetwork, output: Path) -> list[str]:
        from .netx import export_netx
        plan = export_netx(net, output)
        layers = sum(1 for b in plan.blocks if b.kind in ("dense", "conv"))
        return [f"wrote {output} (lava-dl netx, {layers} layers; load it with netx.hdf5.Network(path, "
                "input_message_bits=8): docs/interop.md)"] + \
            [f"note: bit-exact in Lava as long as {condition}" for condition in plan.conditions]

    def netx_file(self, net: CompiledNetwork, artifact: Path, given: Path | None):
        from .netx_verify import netx_file
        return netx_file(net, artifact, given)

    def run_netx(self, net: CompiledNetwork, x: np.ndarray, path: Path, progress: Progress | None = None,
                 timeout: float | None = None) -> SimResult:
        from .netx_verify import run_netx_result
        return run_netx_result(net, x, path, progress=progress, timeout=timeout)
