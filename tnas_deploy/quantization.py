"""What every scheme's quantization shares: notes about a layer's variable, the quantized layers, the rule that
splits a projection's output channels into precision groups with their own weight exponents, and the check that a
genome's chip integers (`chip_integers`) are integers."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import OverflowReport
from .fixed_point import INT
from .layers import Layer

#: How far a product of float genome numbers may lie from the integer it stands for (float rounding only).
INTEGER_TOLERANCE = 1e-6
#: The note every compile from a genome's chip integers carries.
EXACT_NOTE = "compiled from the chip integers the genome records (chip_integers), not quantized again"


def exact_integers(values: np.ndarray, what: str, layer: str, field: str) -> np.ndarray:
    """`values` as int64 when each lies within INTEGER_TOLERANCE of an integer; else refuse naming the first."""
    values = np.asarray(values, dtype=np.float64)
    rounded = np.rint(values)
    off = np.abs(values - rounded) > INTEGER_TOLERANCE * np.maximum(1.0, np.abs(values))
    if np.any(off):
        index = tuple(int(i) for i in np.argwhere(off)[0])
        raise OverflowReport(f"{what} {values[index]:.9g} at index {list(index)} is not an integer number of state "
                             "units at the genome's state scale (chip_integers): the chip cannot hold it exactly",
                             None, f"layer {layer}: {field}")
    return rounded.astype(INT)


@dataclass
class QuantNote:
    """A compile-time finding about one layer's variable (kept in the artifact and the summary)."""

    layer: str
    variable: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"layer": self.layer, "variable": self.variable, "message": self.message}


@dataclass
class QuantResult:
    layers: list[Layer]
    notes: list[QuantNote] = field(default_factory=list)
    weight_error: dict[str, float] = field(default_factory=dict)  # max |quantized - float| / max|float| per layer


# -- precision groups (docs/fixed_point.md section 11) ---------------------------------------------------------

#: The most weight-exponent groups one projection is split into: each group is its own synapse block on the chip
#: (its own synapse process on Lava, one more packet per spike and core it reaches).
MAX_CHANNEL_GROUPS = 4
#: A channel gets an exponent of its own only when that gains it at least this many bits of precision (a 4x finer
#: rounding step): a group costs a synapse block, so one bit on a few channels is not worth the packets.
MIN_GROUP_GAIN_BITS = 2


def channel_groups(best: np.ndarray, has_weights: np.ndarray, shift: int, cap: int = MAX_CHANNEL_GROUPS,
                   min_gain: int = MIN_GROUP_GAIN_BITS) -> np.ndarray:
    """The shift of each output channel of a projection whose channels would all take `shift`, from `best`, the
    smallest shift that keeps each channel's largest mantissa in range (its full precision).

    A channel keeps `shift` unless its best is at least `min_gain` smaller; channels without weights
    (`has_weights` False) keep it too. Channels with the same shift form a group. A channel can only move to a
    coarser (larger) shift, never a finer one (its largest weight would not fit), so while there are more than
    `cap` groups the cheapest merge is made: a group moves up into the next coarser one, at a cost of (its
    channels) x (bits they lose); on a tie the finest pair first. Deterministic: the same shifts in, the same
    groups out. All channels at `shift`: the projection has no groups."""
    best = np.asarray(best, dtype=np.int64)
    wanted = np.where(np.asarray(has_weights, dtype=bool) & (best <= shift - min_gain), best, shift)
    kept = sorted(set(wanted.tolist()) | {shift})
    sizes = {s: int(np.sum(wanted == s)) for s in kept}
    while len(kept) > max(1, cap):
        costs = [sizes[kept[i]] * (kept[i + 1] - kept[i]) for i in range(len(kept) - 1)]
        i = costs.index(min(costs))
        sizes[kept[i + 1]] += sizes.pop(kept[i])
        del kept[i]
    shifts = np.array(kept, dtype=np.int64)
    return shifts[np.searchsorted(shifts, wanted)]           # the smallest kept shift >= the wanted one


def group_note(layer: str, grouped: list[tuple[str, np.ndarray]], input_shift: int) -> QuantNote:
    """The one compile note (kept in the artifact) saying which synapses of a layer have precision groups: a finding
    about its `weight_exponent`, not a warning. `grouped` holds, per projection with groups, the name of its
    synapses ("'x'", "'h' (delay 2)") and its shift per output channel."""
    if len(grouped) == 1:
        name, shifts = grouped[0]
        values, counts = np.unique(shifts, return_counts=True)
        parts = ", ".join(f"{int(n)} with exponent {int(v) - input_shift}" for v, n in zip(values, counts))
        return QuantNote(layer, "weight_exponent",
                         f"the synapses from {name} are {len(values)} precision groups of output channels with their "
                         f"own weight exponents ({parts}): {len(values)} synapse blocks")
    names = ", ".join(name for name, _ in grouped[:-1]) + " and " + grouped[-1][0]
    blocks = sum(len(np.unique(shifts)) for _, shifts in grouped)
    low = min(int(shifts.min()) for _, shifts in grouped) - input_shift
    high = max(int(shifts.max()) for _, shifts in grouped) - input_shift
    return QuantNote(layer, "weight_exponent",
                     f"the synapses from {names} are each split into precision groups of output channels with their "
                     f"own weight exponents ({low} to {high}): {blocks} synapse blocks for these {len(grouped)} "
                     "projections")
