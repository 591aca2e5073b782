"""A loaded data set: samples, optional labels, and where they came from (every reader returns one)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DeployError


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray               # (N, *input_shape) float64 in [0, 1]
    y: np.ndarray | None        # (N,) int64 class indices, or None
    path: Path | None
    sha256: str | None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def head(self, n: int | None) -> "Dataset":
        if n is None:
            return self
        if n < 1:   # x[:0] is empty and x[:-5] silently drops the last samples
            raise DeployError(f"expected a number of samples >= 1, got {n}", None, "--samples")
        return Dataset(self.x[:n], None if self.y is None else self.y[:n], self.path, self.sha256)
