"""`estimate_cost`: a candidate's accuracy, activity, energy and latency per profile, fast enough for an
architecture search, with the same numbers as compile + reference simulator + bench.

The coding scheme decides how (`Scheme.fast_compile_and_run`): TTFS networks skip the stepwise headroom pass
where it cannot change the network and run the quantized integer network in one batched forward pass (torch,
on the GPU when there is one; `schemes/ttfs/fast.py`), which gives the reference simulator's spike steps and
readout exactly. Codings without a fast path (rate, sigma-delta) compile and run the reference simulator.
`Evaluation.method` says which path ran: "closed-form", or "reference-simulator".

An untrained candidate (`weights=RANDOM_WEIGHTS`) gets Kaiming-scaled random weights drawn from `seed`
(`random_genome.random_weights`): its activity is that of a randomly initialised network of the genome's
shapes, not of the trained one (docs/api.md says what that means for the estimates).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .api_inputs import (
    DataArg,
    GenomeArg,
    ProfileArg,
    WeightsArg,
    compile_inputs,
    data_of,
    genome_of,
    profile_ref,
)
from .compiler import compile_network
from .errors import DeployError
from .evaluation import Evaluation, build_evaluation
from .profiles import available_profiles
from .schemes import CompileOptions, scheme_for, scheme_to_compile

METHOD_REFERENCE = "reference-simulator"


def compile_options(options: dict[str, Any]) -> CompileOptions:
    """`CompileOptions` from keyword arguments by their field names; an unknown name is a `DeployError`."""
    fields = sorted(CompileOptions.__dataclass_fields__)
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise DeployError(f"unknown compile option(s) {unknown}; expected any of {fields}", None, unknown[0])
    return CompileOptions(**options)


def estimate_cost(genome: GenomeArg, weights: WeightsArg = None, data: DataArg | None = None,
                  profiles: Sequence[ProfileArg] | None = None, calibration: DataArg | None = None, *,
                  compile_profile: ProfileArg = "loihi2", samples: int | None = None, seed: int = 0,
                  static_mode: str = "whole-chip", window_us: float | None = None,
                  progress: Callable[[str], None] | None = None, **options) -> Evaluation:
    """Accuracy, per-layer activity and energy/latency/fit on `profiles` (default: every bundled profile) of the
    genome compiled for `compile_profile`, on `data` (the first `samples`), calibrated on `calibration` (default:
    the data, as `bench` does). `options` are compile options (`saturate`, `margin`, `steps`, `analog_maxpool`).
    `progress(stage)` is called before each stage. Errors are the CLI's (`DeployError`)."""
    if data is None:
        raise DeployError("expected data to run the candidate on", None, "data")
    report = progress or (lambda stage: None)
    g = genome_of(genome)
    full = data_of(data, g, "--input", window_us)
    dataset = full.head(samples)
    report("compile")
    inputs, origin = compile_inputs(g, weights, compile_profile, calibration if calibration is not None else full,
                                    seed)
    opts = compile_options(options)
    scheme = scheme_to_compile(g, opts.coding)
    scheme.check_options(opts, g.source)
    fast = scheme.fast_compile_and_run(inputs, opts, dataset.x)
    if fast is None:
        net = compile_network(inputs, opts)
        report("simulate")
        result, method = scheme_for(net).simulate(net, dataset.x), METHOD_REFERENCE
    else:
        net, result, method = fast
    report("energy")
    activity = scheme_for(net).measure_activity(net, result)
    names = [profile_ref(p) for p in profiles] if profiles else available_profiles()
    return build_evaluation(net, result, activity, dataset, names, method, origin, static_mode)
