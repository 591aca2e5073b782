"""`compile`: genome + weights (+ calibration data) + hardware profile -> compiled network and summary.

Loads and validates every input, then hands them to the genome's coding scheme (`schemes/<name>/compile.py`:
lowering, quantization, headroom on the calibration data).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .compilation import CompileInputs
from .compiled import CompiledNetwork
from .genome import load_genome
from .profiles import load_profile
from .schemes import CompileOptions, scheme_for, scheme_to_compile
from .summary import summarize
from .weights import load_weights


def load_inputs(genome_path: str | Path, weights_path: str | Path | None, profile: str,
                calibration_path: str | Path | None) -> CompileInputs:
    genome = load_genome(genome_path)
    path = Path(weights_path) if weights_path is not None else genome.weights_path()
    weights = load_weights(genome, path)
    prof = load_profile(profile)
    calib = None
    if calibration_path is not None:
        calib = scheme_for(genome).load_data(calibration_path, genome, "--calibration")
    return CompileInputs(genome, weights, path, prof, calib)  # type: ignore[arg-type]


def compile_network(inputs: CompileInputs, options: CompileOptions = CompileOptions()) -> CompiledNetwork:
    """Compile loaded inputs with the genome's coding scheme, or `options.coding`'s (options it does not take are
    refused)."""
    scheme = scheme_to_compile(inputs.genome, options.coding)
    scheme.check_options(options, inputs.genome.source)
    return scheme.compile(inputs, options)


def compile_files(genome_path: str | Path, weights_path: str | Path | None = None, profile: str = "loihi2",
                  calibration_path: str | Path | None = None, options: CompileOptions = CompileOptions()
                  ) -> tuple[CompiledNetwork, dict[str, Any]]:
    inputs = load_inputs(genome_path, weights_path, profile, calibration_path)
    net = compile_network(inputs, options)
    return net, summarize(net)
