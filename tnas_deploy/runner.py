"""Running a compiled network on data with a progress bar, and writing the result file."""
from __future__ import annotations

import sys
import time

import numpy as np
from tqdm import tqdm

from . import __version__
from .compiled import CompiledNetwork
from .data import Dataset
from .io_utils import atomic_path
from .refsim import SimResult, simulate


def run_reference(net: CompiledNetwork, x: np.ndarray, progress: bool = True, batch_size: int = 256
                  ) -> tuple[SimResult, float]:
    start = time.perf_counter()
    with tqdm(total=len(x), unit="sample", desc=f"reference {net.name}", disable=not progress,
              file=sys.stderr, leave=False) as bar:
        result = simulate(net, x, batch_size=batch_size, progress=bar.update)
    return result, time.perf_counter() - start


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
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
