"""Exact neuron splitting, the way chip toolchains make a network fit per-neuron limits (docs/energy_mapping.md).

- Fan-out: a neuron with more targets than `max_fan_out` L is replicated into ceil(F / L) copies that receive the
  same inputs and each drive a share of the targets. Copies compute the same thing, so this is exact. A copy is
  one more target for every source of the neuron, so copies are settled from the last layer back to the first
  (a fixed point, which also covers recurrent connections).
- Fan-in: a neuron with more inputs than `max_fan_in` L gets ceil(F / L) input compartments whose currents a
  dendritic join sums (joins of at most L inputs each, level by level up to one root). Exact only on chips with
  such a join (Loihi's multi-compartment neurons); elsewhere no exact split exists.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .connectivity import Link, weighted_out_degree

#: A fan-out fixed point that has not settled after this many rounds, or that asks for more copies of one neuron
#: than this, keeps growing (a recurrent loop where every copy adds fan-out): splitting cannot make it fit.
MAX_ROUNDS = 100
MAX_COPIES = 1 << 20


def ceil_div(a: np.ndarray, b: int) -> np.ndarray:
    return -(-np.asarray(a, dtype=np.int64) // int(b))


def input_compartments(fan_in: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Per neuron: the input compartments (parts) and all compartments (parts plus the join tree); 1 and 1 for a
    neuron within the limit. `limit` must be at least 2 (a join of one input joins nothing)."""
    parts = np.maximum(1, ceil_div(fan_in, limit))
    total, level = parts.copy(), parts.copy()
    while (level > 1).any():
        upper = np.where(level > 1, ceil_div(level, limit), 1)
        total += np.where(level > 1, upper, 0)
        level = upper
    return parts, total


@dataclass
class FanOut:
    """The outcome of fan-out splitting: per population, copies and fan-out per neuron (targets' copies counted)."""

    copies: dict[str, np.ndarray]
    fan_out: dict[str, np.ndarray]
    unsettled: list[str]             # populations whose copies kept growing (then no copies are made at all)
    plain_fan_out: dict[str, np.ndarray]   # before any copies


def fan_out_copies(sizes: dict[str, int], links: list[Link], limit: int | None) -> FanOut:
    """Copies per neuron for every population in `sizes`, over the synapses of `links` (the ones that count
    against `max_fan_out`); no copies when `limit` is None."""
    ones = {p: np.ones(n, dtype=np.int64) for p, n in sizes.items()}
    plain = _fan_out(sizes, links, ones)
    if limit is None:
        return FanOut(ones, plain, [], plain)
    copies, fan_out = ones, plain
    for _ in range(MAX_ROUNDS):
        settled = {p: np.maximum(1, ceil_div(fan_out[p], max(1, limit))) for p in sizes}
        changed = [p for p in sizes if not np.array_equal(settled[p], copies[p])]
        if not changed:
            return FanOut(copies, fan_out, [], plain)
        if any(int(settled[p].max()) > MAX_COPIES for p in changed):
            break
        copies = settled
        fan_out = _fan_out(sizes, links, copies)
    return FanOut(ones, plain, changed, plain)


def _fan_out(sizes: dict[str, int], links: list[Link], copies: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    fan_out = {p: np.zeros(n, dtype=np.int64) for p, n in sizes.items()}
    for link in links:
        per_source = weighted_out_degree(link, copies[link.dest])
        for seg in link.segments:
            if seg.population in fan_out:
                fan_out[seg.population] += per_source[seg.offset:seg.offset + seg.size]
    return fan_out
