"""Running a compiled network on data with a progress bar, and writing the result file."""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from . import __version__
from .compiled import CompiledNetwork
from .dataset import Dataset
from .errors import DeployError
from .io_utils import npz_image, write_bytes_atomic
from .progress import progress_bar
from .lava_runtime.session import LavaTiming
from .result import SimResult
from .schemes import scheme_for


def simulate(net: CompiledNetwork, x: np.ndarray, progress: Callable[[float], None] | None = None,
             track_peaks: bool = False) -> SimResult:
    """The integer reference simulator of the network's coding scheme (the bit-exact expectation)."""
    return scheme_for(net).simulate(net, x, progress=progress, track_peaks=track_peaks)


def run_lava(net: CompiledNetwork, x: np.ndarray, progress: Callable[[float], None] | None = None,
             timeout: float | None = None, hardware: bool = False) -> tuple[SimResult, LavaTiming]:
    """One guarded Lava run of the network's coding scheme; returns the result and where the time went."""
    return scheme_for(net).run_lava(net, x, progress=progress, timeout=timeout, hardware=hardware)


def run_backend(net: CompiledNetwork, x: np.ndarray, backend: str, progress: bool = True,
                timeout: float | None = None, workers: int | None = None,
                ray_address: str | None = None) -> tuple[SimResult, float]:
    """Run samples on `reference`, `lava` (CPU simulator) or `loihi2` (hardware), with a progress bar.

    `workers` > 1 or a `ray_address`: the Lava run is split into slices over Ray workers (`distributed`);
    otherwise it is one Lava run in this process, and Ray is not imported."""
    start = time.perf_counter()
    sharded = (workers is not None and workers != 1) or ray_address is not None
    if sharded:
        from .distributed.lava_shards import require_workers
        require_workers(workers, ray_address)
    if sharded and backend != "lava":
        raise DeployError(f"the {backend} backend runs in one process; --workers and --ray-address split "
                          f"--backend lava runs", None, "--workers")
    with progress_bar(len(x), f"{backend} {net.name}", progress) as bar:
        if backend == "reference":
            result = scheme_for(net).simulate(net, x, progress=bar.update)
        elif sharded:
            _require_lava(timeout)
            from .distributed.lava_shards import run_sharded
            result = run_sharded(net, x, workers, ray_address, progress=bar.update, timeout=timeout)
        elif backend in ("lava", "loihi2"):
            result = _run_on_lava(net, x, backend, bar.update, timeout)
        else:
            raise DeployError(f"unknown backend {backend!r}; expected reference, lava or loihi2", None, "--backend")
    return result, time.perf_counter() - start


def _require_lava(timeout: float | None) -> None:
    from .lava_runtime import lava_available
    if not lava_available():
        raise DeployError("the lava backend needs lava-nc (CPython 3.10): pip install lava-nc==0.10.0", None, "--backend")
    if timeout is not None and not timeout > 0:
        raise DeployError(f"expected a time-out in seconds > 0, got {timeout}", None, "--timeout")


def _run_on_lava(net: CompiledNetwork, x: np.ndarray, backend: str, progress, timeout: float | None) -> SimResult:
    from .lava_runtime import loihi2_available
    _require_lava(timeout)
    if backend == "loihi2" and not loihi2_available():
        raise DeployError("Loihi 2 hardware needs Intel's lava-loihi extension, which is not installed here; "
                          "use --backend lava for the bit-accurate CPU simulation (docs/loihi2.md)", None, "--backend")
    result, _ = scheme_for(net).run_lava(net, x, progress=progress, timeout=timeout, hardware=backend == "loihi2")
    return result


def save_result(path, net: CompiledNetwork, result: SimResult, data: Dataset) -> None:
    """Result .npz: spike_times/<layer> (global step, -1 = none), readout (int), logits, predictions, labels."""
    arrays = {f"spike_times/{k}": v for k, v in result.spike_times.items()}
    arrays.update(readout=result.readout, logits=result.logits, predictions=result.predictions,
                  tool_version=np.array(__version__), artifact_name=np.array(net.name),
                  input_sha256=np.array(data.sha256 or ""))
    for layer, counts in result.counts.items():
        for name, values in counts.items():
            arrays[f"counts/{layer}/{name}"] = values
    if data.y is not None:
        arrays["labels"] = data.y
    write_bytes_atomic(path, npz_image(arrays))
