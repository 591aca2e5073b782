"""Pareto fronts of accuracy (higher is better) against a cost (lower is better: energy, latency).

A point is on the front when no other point is at least as accurate and at most as costly, and strictly
better in one of the two. Equal points are all on the front (none dominates the other). Points whose
accuracy or cost is unknown (None, not finite) are on no front: they cannot be compared.
"""
from __future__ import annotations

import math
from collections.abc import Sequence


def pareto_front(points: Sequence[tuple[float | None, float | None]]) -> list[int]:
    """Indices (ascending) of the points (accuracy, cost) on the Pareto front; O(n log n)."""
    known = [(i, float(a), float(c)) for i, (a, c) in enumerate(points)
             if a is not None and c is not None and math.isfinite(a) and math.isfinite(c)]
    known.sort(key=lambda p: (p[2], -p[1]))      # cheapest first; among equal costs, most accurate first
    front: list[int] = []
    best: tuple[float, float] | None = None      # (accuracy, cost) of the last point put on the front
    for index, accuracy, cost in known:
        if best is None or accuracy > best[0] or (accuracy, cost) == best:
            front.append(index)
            best = (accuracy, cost)
    return sorted(front)


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether (accuracy, cost) `a` dominates `b`."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])
