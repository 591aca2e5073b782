"""Regression readouts (genome version 3, `task.outputs`): which networks have one, and the error metrics `run`
and `bench` report for them instead of accuracy.

A regression readout gives one real value per output (its logits: the readout's integer value times its scale),
not class scores: there is no argmax and no accuracy. With real-valued targets `y` in the data, the error is
reported per output as the mean absolute error and the root mean square error; without, the outputs' mean and
range.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .compiled import CompiledNetwork
from .genome import Genome


def regression_outputs(target: Genome | CompiledNetwork) -> tuple[str, ...]:
    """The names of a regression readout's outputs; empty for a classifier."""
    if isinstance(target, Genome):
        return target.task.outputs
    task = target.genome.get("task") if isinstance(target.genome, dict) else None
    return tuple(task.get("outputs", ())) if isinstance(task, dict) else ()


def regression_block(values: np.ndarray, targets: np.ndarray | None, names: tuple[str, ...]) -> dict[str, Any]:
    """Per output: mean, min and max of the values (N, k) and, with targets (N, k), the mean absolute error and
    the root mean square error; `mae` and `rmse` over all outputs together."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), len(names))
    per: dict[str, dict[str, float]] = {}
    for k, name in enumerate(names):
        column = values[:, k]
        entry = {"mean": float(column.mean()), "min": float(column.min()), "max": float(column.max())}
        if targets is not None:
            error = column - targets[:, k]
            entry.update(mae=float(np.abs(error).mean()), rmse=float(np.sqrt(np.mean(error ** 2))))
        per[name] = entry
    block: dict[str, Any] = {"outputs": list(names), "per_output": per, "samples": int(len(values))}
    if targets is not None:
        error = values - targets
        block.update(mae=float(np.abs(error).mean()), rmse=float(np.sqrt(np.mean(error ** 2))))
    return block


def regression_lines(block: dict[str, Any]) -> list[str]:
    """What `run` and `bench` print for a regression readout."""
    lines = []
    if "mae" in block:
        lines.append(f"regression error: mean absolute error {block['mae']:.6g}, RMSE {block['rmse']:.6g} "
                     f"({len(block['outputs'])} output(s), {block['samples']} samples)")
    for name, entry in block["per_output"].items():
        error = f"; MAE {entry['mae']:.6g}, RMSE {entry['rmse']:.6g}" if "mae" in entry else ""
        lines.append(f"regression output {name!r}: mean {entry['mean']:.6g} (min {entry['min']:.6g}, max "
                     f"{entry['max']:.6g}){error}")
    return lines


__all__ = ["regression_block", "regression_lines", "regression_outputs"]
