"""Turning what a caller of the Python API passes (paths or loaded objects) into loaded inputs.

Every argument of `tnas_deploy.api` may be a path or the loaded thing: a genome path or `Genome`; a weights path,
a `Weights` dict, None (the genome's own `weights` entry) or `RANDOM_WEIGHTS`; a profile name, `.toml` path or
`HardwareProfile`; data as a path, a `Dataset`, an array of samples or an `(x, y)` pair. Paths are read by the
same functions as the command line, so a bad file gives the CLI's message (`DeployError`, naming file and field).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .compilation import CompileInputs
from .compiled import CompiledNetwork
from .dataset import Dataset
from .errors import DeployError
from .genome import Genome, load_genome
from .profiles import HardwareProfile, load_profile
from .schemes import scheme_for
from .weights import Weights, check_weights, load_weights

#: `weights=RANDOM_WEIGHTS`: an untrained candidate, with Kaiming-scaled random weights (`random_genome.random_weights`).
RANDOM_WEIGHTS = "random"

PathLike = str | Path
GenomeArg = PathLike | Genome
WeightsArg = PathLike | Weights | None
ProfileArg = str | Path | HardwareProfile
DataArg = PathLike | Dataset | np.ndarray | tuple


def genome_of(genome: GenomeArg) -> Genome:
    return genome if isinstance(genome, Genome) else load_genome(genome)


def weights_of(genome: Genome, weights: WeightsArg, seed: int = 0) -> tuple[Weights, Path | None, str]:
    """Loaded, checked weights, the file they came from, and how they were obtained (for results)."""
    if isinstance(weights, str) and weights == RANDOM_WEIGHTS:
        from .random_genome import random_weights
        return random_weights(genome, seed), None, f"random (Kaiming-scaled normal, seed {seed})"
    if isinstance(weights, dict):
        return check_weights(genome, weights, "<weights>"), None, "given"
    path = Path(weights) if weights is not None else genome.weights_path()
    return load_weights(genome, path), path, str(path)


def profile_of(profile: ProfileArg) -> HardwareProfile:
    return profile if isinstance(profile, HardwareProfile) else load_profile(str(profile))


def profile_ref(profile: ProfileArg) -> str:
    """What the energy pipeline loads a profile by: its name, or the path of a loaded one."""
    return str(profile.path) if isinstance(profile, HardwareProfile) else str(profile)


def data_of(data: DataArg, target: Genome | CompiledNetwork, role: str = "--input",
            window_us: float | None = None) -> Dataset:
    """Samples for `target`: read from a file as the CLI reads it, or taken from arrays (checked like a file's)."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, Path)):
        return scheme_for(target).load_data(data, target, role, window_us=window_us)
    x, y = (data if isinstance(data, tuple) else (data, None))
    if isinstance(data, tuple) and len(data) != 2:
        raise DeployError(f"expected data as (x, y), got a tuple of {len(data)}", None, role)
    x = np.asarray(x)
    if x.dtype.kind not in "fiub" or x.ndim < 1 or x.shape[0] == 0:
        raise DeployError(f"expected a non-empty numeric array of samples, got {x.dtype} {list(x.shape)}", None,
                          f"{role} x")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
            raise DeployError(f"expected integer labels of shape [{x.shape[0]}], got {y.dtype} {list(y.shape)}",
                              None, f"{role} y")
        y = y.astype(np.int64)
    if not np.all(np.isfinite(x)) or (x.size and (x.min() < 0 or x.max() > 1 and x.dtype.kind == "f")):
        raise DeployError("expected finite values in [0, 1] (intensities) or event counts", None, f"{role} x")
    return Dataset(x.astype(np.float64) if x.dtype.kind == "f" else x, y, None, None)


def compile_inputs(genome: GenomeArg, weights: WeightsArg, profile: ProfileArg, calibration: DataArg | None,
                   seed: int = 0) -> tuple[CompileInputs, str]:
    """What compile needs, loaded, and how the weights were obtained."""
    g = genome_of(genome)
    w, path, origin = weights_of(g, weights, seed)
    prof = profile_of(profile)
    calib = data_of(calibration, g, "--calibration") if calibration is not None else None
    return CompileInputs(g, w, path, prof, calib), origin  # type: ignore[arg-type]


def network_of(target: PathLike | CompiledNetwork) -> CompiledNetwork:
    if isinstance(target, CompiledNetwork):
        return target
    from .artifact import load_artifact
    return load_artifact(target)[0]


def described(value: Any) -> str | None:
    """A path as text for results (None for objects given in memory)."""
    return str(value) if isinstance(value, (str, Path)) else None
