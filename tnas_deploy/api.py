"""The Python API: compile, run, verify, bench and evaluate from a script or a search loop (docs/api.md).

Every function takes paths or loaded objects (`api_inputs`), returns typed results and prints nothing (progress
only through an optional callback). Bad input raises the CLI's `DeployError` (same message, file and field),
a failing backend `BackendError`. Results are frozen dataclasses with `.to_dict()`; `evaluate` and
`estimate_cost` return `Evaluation`s of plain types (picklable, for workers such as Ray's).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .api_inputs import (
    RANDOM_WEIGHTS,
    DataArg,
    GenomeArg,
    PathLike,
    ProfileArg,
    WeightsArg,
    compile_inputs,
    data_of,
    genome_of,
    network_of,
    profile_ref,
)
from .compiled import CompiledNetwork
from .compiler import compile_network
from .errors import BackendError, DeployError
from .evaluation import (
    CostEstimate,
    Evaluation,
    LayerCost,
    ProfileCost,
    build_evaluation,
)
from .fast_cost import compile_options, estimate_cost
from .result import SimResult
from .schemes import scheme_for

Progress = Callable[[float], None]

__all__ = ["RANDOM_WEIGHTS", "BackendError", "BenchReport", "CostEstimate", "DeployError", "Evaluation", "LayerCost",
           "ProfileCost", "RunResult", "Verification", "bench", "compile", "estimate_cost", "evaluate",
           "run", "verify"]


@dataclass(frozen=True)
class RunResult:
    """A run's summary as `tnas-deploy run --json` prints it (`to_dict`), and the full result (`result`: spike
    times, readout, predictions, counts) for saving or further analysis."""

    network: str
    backend: str
    samples: int
    seconds: float
    accuracy: float | None
    regression: dict[str, Any] | None
    spikes_per_sample: dict[str, float]
    saturated_layers: list[str]
    result: SimResult = field(repr=False, compare=False)
    labels: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backend": self.backend, "samples": self.samples, "seconds": round(self.seconds, 3)}
        if self.regression is not None:
            out["regression"] = self.regression
        elif self.accuracy is not None:
            out["accuracy"] = self.accuracy
        out["spikes_per_sample"] = dict(self.spikes_per_sample)
        out["saturated_layers"] = list(self.saturated_layers)
        return out


@dataclass(frozen=True)
class Verification:
    """Two runs compared spike by spike (`verify.compare`): `bit_exact`, and the first mismatch if any."""

    expected: str
    got: str
    bit_exact: bool
    samples: int
    identical_samples: int
    spikes_compared: int
    first_mismatch: dict[str, Any] | None
    summary: str

    def to_dict(self) -> dict[str, Any]:
        out = {"bit_exact": self.bit_exact, "samples": self.samples, "identical_samples": self.identical_samples,
               "spikes_compared": self.spikes_compared}
        if self.first_mismatch is not None:
            out["first_mismatch"] = dict(self.first_mismatch)
        return out


@dataclass(frozen=True)
class BenchReport:
    """`tnas-deploy bench`'s report (`report`, as report.json holds it) and the directory it was written to."""

    report: dict[str, Any] = field(repr=False)
    output: str

    def to_dict(self) -> dict[str, Any]:
        return self.report


def compile(genome: GenomeArg, weights: WeightsArg = None, profile: ProfileArg = "loihi2",
            calibration: DataArg | None = None, **options: Any) -> CompiledNetwork:
    """Compile a genome for a hardware profile. `options`: the fields of `CompileOptions` (`saturate`, `margin`,
    `steps`, `analog_maxpool`, `coding`, ...), as `tnas-deploy compile` takes them; `progress=True` shows the
    command line's progress bar on stderr (default off); `seed` with `weights=RANDOM_WEIGHTS`."""
    seed = int(options.pop("seed", 0))
    inputs, _ = compile_inputs(genome, weights, profile, calibration, seed)
    return compile_network(inputs, compile_options(options))


def run(artifact_or_net: PathLike | CompiledNetwork, data: DataArg, backend: str = "reference",
        samples: int | None = None, timeout: float | None = None, window_us: float | None = None,
        progress: Progress | bool | None = None, workers: int | None = None, ray_address: str | None = None
        ) -> RunResult:
    """Run a compiled network (or an artifact file) on data with the `reference`, `lava` or `loihi2` backend.
    `workers` > 1 or `ray_address` splits a `lava` run into slices over Ray workers (bit-identical results);
    `progress=True` shows the command line's progress bar on stderr."""
    from .regression import regression_block, regression_outputs

    net = network_of(artifact_or_net)
    dataset = data_of(data, net, "--input", window_us).head(samples)
    start = time.perf_counter()
    result = execute_backend(net, dataset.x, backend, progress, timeout, workers, ray_address)
    seconds = time.perf_counter() - start
    outputs = regression_outputs(net)
    regression = regression_block(result.logits, dataset.y, outputs) if outputs else None
    accuracy = float((result.predictions == dataset.y).mean()) if dataset.y is not None and not outputs else None
    spikes = {k: float(v["spikes"].mean()) for k, v in result.counts.items() if k in result.spike_times}
    return RunResult(net.name, backend, result.samples, seconds, accuracy, regression, spikes,
                     [k for k, v in result.saturated.items() if v], result, dataset.y)


def verify(artifact_or_net: PathLike | CompiledNetwork, data: DataArg, backend: str = "lava",
           samples: int | None = None, timeout: float | None = None, window_us: float | None = None,
           progress: Progress | None = None, workers: int | None = None, ray_address: str | None = None
           ) -> Verification:
    """Run the reference simulator and `backend` (`lava`, or `reference` against itself) on the same samples and
    compare every spike time, readout value and prediction; `workers`/`ray_address` as in `run`. (Golden files
    and netx: `tnas-deploy verify`.)"""
    from .verify import compare, result_dict

    net = network_of(artifact_or_net)
    dataset = data_of(data, net, "--input", window_us).head(samples)
    ref = execute_backend(net, dataset.x, "reference", progress, timeout)
    other = execute_backend(net, dataset.x, backend, progress, timeout, workers, ray_address)
    c = compare(result_dict(ref), result_dict(other), [layer.id for layer in net.layers])
    first = c.to_json().get("first_mismatch")
    return Verification("reference", backend, c.bit_exact, c.samples, c.identical_samples, c.spikes_compared, first,
                        c.summary_line())


def bench(target: PathLike, data: PathLike, profiles: Sequence[ProfileArg] | None = None, backend: str = "reference",
          calibration: PathLike | None = None, output: PathLike | None = None, samples: int | None = None,
          compile_profile: str = "loihi2", window_us: float | None = None, static_mode: str = "whole-chip",
          progress: bool = False) -> BenchReport:
    """`tnas-deploy bench`: run, map and estimate on every profile, and write report.json/.md/.html to `output`
    (`progress=True`: the command line's progress bar on stderr)."""
    from .energy.bench import run_bench

    report, out_dir = run_bench(Path(target), Path(data), [profile_ref(p) for p in profiles] if profiles else None,
                                backend, Path(calibration) if calibration is not None else None,
                                Path(output) if output is not None else None, progress=progress, samples=samples,
                                compile_profile=compile_profile, window_us=window_us, static_mode=static_mode)
    return BenchReport(report, str(out_dir))


def evaluate(genome: GenomeArg, weights: WeightsArg = None, data: DataArg | None = None,
             profiles: Sequence[ProfileArg] | None = None, calibration: DataArg | None = None, *,
             compile_profile: ProfileArg = "loihi2", samples: int | None = None, backend: str = "reference",
             seed: int = 0, static_mode: str = "whole-chip", window_us: float | None = None,
             progress: Progress | None = None, **options: Any) -> Evaluation:
    """Compile a candidate (calibrated on `calibration`, default: all of `data`, as bench does), run it on `data`
    with `backend`, and estimate energy, latency and fit on `profiles` (default: every bundled profile): WAR, UAR,
    per-layer spikes and synaptic events. `estimate_cost` gives the same numbers faster for TTFS networks."""
    from .profiles import available_profiles

    if data is None:
        raise DeployError("expected data to run the candidate on", None, "data")
    g = genome_of(genome)
    full = data_of(data, g, "--input", window_us)
    dataset = full.head(samples)
    inputs, origin = compile_inputs(g, weights, compile_profile, calibration if calibration is not None else full,
                                    seed)
    net = compile_network(inputs, compile_options(options))
    result = execute_backend(net, dataset.x, backend, progress, None)
    activity = scheme_for(net).measure_activity(net, result)
    names = [profile_ref(p) for p in profiles] if profiles else available_profiles()
    return build_evaluation(net, result, activity, dataset, names, backend, origin, static_mode)


def execute_backend(net: CompiledNetwork, x: Any, backend: str, progress: Progress | bool | None = None,
                    timeout: float | None = None, workers: int | None = None,
                    ray_address: str | None = None) -> SimResult:
    """A backend's result on `x`: the reference simulator reports progress to `progress(samples done)`; Lava runs
    go through `runner.run_backend` (its checks and messages) without a progress bar."""
    bar = progress is True           # the command line's progress bar on stderr
    if backend == "reference" and workers in (None, 1) and ray_address is None and not bar:
        return scheme_for(net).simulate(net, x, progress=progress if callable(progress) else None)
    from .runner import run_backend
    return run_backend(net, x, backend, progress=bar, timeout=timeout, workers=workers,
                       ray_address=ray_address)[0]

