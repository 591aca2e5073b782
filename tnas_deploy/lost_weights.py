"""Weights that vanish in quantization: the rule that refuses a projection whose weights (nearly) all round to 0.

Every quantizer scales a projection's weights so that the largest one (or, for a rate population, the
threshold in its register) uses the mantissa's range; weights below half a mantissa step round to 0. In a
trained network that costs a few small weights (at most 11 % of a projection's non-zero weights in the
bundled models). When one weight dwarfs all others (a corrupted or diverged value such as 3e38 among weights
near 0.1), or a threshold dwarfs every weight (a threshold of 1e300, or a LIF neuron's input gain 1/tau with
tau = 1e300), the other weights round to 0: the artifact would compute something else than the genome, at
chance accuracy, without a word.

The rule: a projection that loses at least one weight to rounding and keeps at most KEPT_SHARE_MIN (1 %) of its
non-zero weights, or at most one of them, is refused, naming the layer, the variable and what is
representable; `--saturate` compiles it anyway and records a note in the artifact. ("At most one": in a
small layer, one dominating weight leaves 1 of 32, which is 3 %.)

`weight_loss` counts; the quantizers word the message, since only they know what set the scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

#: A projection must keep more than this share of its non-zero weights (and more than one) after rounding.
KEPT_SHARE_MIN = 0.01


@dataclass(frozen=True)
class WeightLoss:
    """How many of a projection's non-zero weights round to 0, and the weight that set the scale."""

    nonzero: int
    lost: int
    largest: float                   # |weight| of the largest weight, in the units of the array given
    largest_index: tuple[int, ...]   # its index in the projection's weight layout
    largest_kept: bool               # whether the largest weight itself keeps a non-zero mantissa
    next_largest: float              # the second largest |weight| (0 for a single weight)

    @property
    def share(self) -> float:
        return self.lost / self.nonzero if self.nonzero else 0.0

    def counted(self) -> str:
        """`4095 of 4096 non-zero weights (99.98 %) round to 0`."""
        return f"{self.lost} of {self.nonzero} non-zero weights ({100 * self.share:.4g} %) round to 0"

    def outlier(self, value: float | None = None, folded: str = "") -> str:
        """Why: `the weight at index [3, 7] (3e+38) is 2.4e+38 times the next largest |weight| (1.23)`.
        `value`: the weight to show, when the array given was scaled; `folded`: what is folded into it."""
        shown = self.largest if value is None else value
        return (f"the weight at index {list(self.largest_index)} ({shown:.4g}{folded}) is "
                f"{times(self.largest, self.next_largest)} times the next largest |weight|")


def times(a: float, b: float) -> str:
    """a / b for a message: `1.69e+300`, or `more than 1e+308` when the quotient leaves the float range."""
    ratio = a / b if b else math.inf
    return f"{ratio:.3g}" if math.isfinite(ratio) else "more than 1e+308"


def weight_loss(real: Any, mantissas: Any) -> WeightLoss | None:
    """The loss of one projection, `real` weights (dense array or scipy sparse matrix) against their integer
    `mantissas` (same layout; a sparse one may have dropped its zeros), when the rule refuses it; None
    otherwise (the usual case, decided by counting alone)."""
    values, index_of = _entries(real)
    nonzero = int(values.size)
    if hasattr(mantissas, "tocsr"):   # rounding only removes entries of a sparse map: a difference of counts
        lost = nonzero - int(mantissas.count_nonzero())
    else:
        lost = int(np.count_nonzero(np.asarray(mantissas).reshape(-1)[np.flatnonzero(np.asarray(real))] == 0))
    if lost == 0 or nonzero - lost > max(1.0, KEPT_SHARE_MIN * nonzero):
        return None
    top = int(np.argmax(values))
    index = index_of(top)
    kept = (mantissas.tocsr()[index] if hasattr(mantissas, "tocsr") else np.asarray(mantissas)[index]) != 0
    return WeightLoss(nonzero, lost, float(values[top]), index, bool(kept), _next_largest(values, top))


def dominant_weight(real: Any, mantissa_bits: int) -> WeightLoss | None:
    """The largest weight of `real` when it is more than 2**mantissa_bits times the next largest (a mantissa
    scaled to it leaves every other weight 0), else None."""
    values, index_of = _entries(real)
    if values.size < 2:
        return None
    top = int(np.argmax(values))
    runner_up = _next_largest(values, top)
    if values[top] <= 2.0 ** mantissa_bits * runner_up:
        return None
    return WeightLoss(int(values.size), 0, float(values[top]), index_of(top), True, runner_up)


def _next_largest(values: np.ndarray, top: int) -> float:
    return float(np.max(np.delete(values, top), initial=0.0))


def _entries(real: Any) -> tuple[np.ndarray, Callable[[int], tuple[int, ...]]]:
    """|value| of every non-zero weight, and the index (in the weight's layout) of the k-th of them."""
    if hasattr(real, "tocoo"):
        coo = real.tocoo()
        keep = coo.data != 0
        rows, cols = coo.row[keep], coo.col[keep]
        return np.abs(coo.data[keep]).astype(np.float64), lambda k: (int(rows[k]), int(cols[k]))
    array = np.asarray(real, dtype=np.float64)
    positions = np.flatnonzero(array)
    return (np.abs(array.reshape(-1)[positions]),
            lambda k: tuple(int(i) for i in np.unravel_index(positions[k], array.shape)))


__all__ = ["KEPT_SHARE_MIN", "WeightLoss", "dominant_weight", "times", "weight_loss"]
