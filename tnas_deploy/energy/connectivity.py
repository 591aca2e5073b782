"""Who connects to whom, neuron by neuron, for placement: in-degrees, out-degrees weighted by the copies of the
targets, and the destination cores a spike reaches. Everything is computed from a projection's geometry (dense,
conv2d, avgpool2d, identity) or its sparse structure, never by building the synapse matrix of a convolution.

A synapse exists where the projection connects two neurons, whatever its weight (zero weights included, as in
`Projection.fan_in` / `fan_out`). Indices are flat (C, H, W) indices of each layer. A projection whose source is
a view (flatten, concat) is split into `Segment`s, one per population behind the view, in the view's flat order.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..layers import Layer, populations_behind
from ..projection import Projection, Shape

#: Largest number of (source pixel, target) entries materialised at once when counting a convolution's cores.
CHUNK_ENTRIES = 1 << 22
#: Largest (sources x cores) bitmap used to find distinct pairs without sorting.
DENSE_MARKS = 1 << 25


@dataclass(frozen=True)
class Segment:
    """The part of a projection's source (flat indices offset .. offset + size) that one population sends."""

    population: str
    offset: int
    size: int


@dataclass(frozen=True)
class Link:
    """One projection into a population, with the populations that really send its spikes."""

    proj: Projection
    dest: str
    src_shape: Shape
    dst_shape: Shape
    segments: tuple[Segment, ...]


def links_into(by_id: dict[str, Layer], layer: Layer) -> list[Link]:
    """The projections into `layer`, their sources resolved through views to the populations behind them."""
    out = []
    for proj in layer.incoming():
        segments, offset = [], 0
        for population in populations_behind(by_id, proj.source):
            size = by_id[population].size
            segments.append(Segment(population, offset, size))
            offset += size
        out.append(Link(proj, layer.id, tuple(by_id[proj.source].shape), tuple(layer.shape), tuple(segments)))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Window geometry (conv2d and avgpool2d)
# ---------------------------------------------------------------------------------------------------------------

def _kernel(proj: Projection) -> tuple[int, int]:
    return (int(proj.weight.shape[2]), int(proj.weight.shape[3])) if proj.kind == "conv2d" else proj.kernel


def window_targets(proj: Projection, src_hw: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """For each source pixel (flat y * W + x), the output positions (flat oy * OW + ox) whose window reads it,
    one column per kernel offset; -1 where the offset reads no output (border, stride). Read-only: remembered
    by geometry, which many candidates of a search share."""
    return _window_targets(tuple(int(k) for k in _kernel(proj)), tuple(int(s) for s in proj.stride),
                           tuple(int(p) for p in proj.padding), tuple(int(n) for n in src_hw),
                           tuple(int(n) for n in out_hw))


@lru_cache(maxsize=256)
def _window_targets(kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...],
                    src_hw: tuple[int, ...], out_hw: tuple[int, ...]) -> np.ndarray:
    (h, w), (oh, ow) = src_hw, out_hw
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    columns = []
    for i in range(kh):
        ny = np.arange(h) + ph - i                 # = oy * sh for the output row that reads this input row
        oy, ok_y = ny // sh, (ny % sh == 0) & (ny >= 0) & (ny // sh < oh)
        for j in range(kw):
            nx = np.arange(w) + pw - j
            ox, ok_x = nx // sw, (nx % sw == 0) & (nx >= 0) & (nx // sw < ow)
            pos = np.where(ok_y[:, None] & ok_x[None, :], oy[:, None] * ow + ox[None, :], -1)
            columns.append(pos.reshape(-1))
    targets = np.stack(columns, axis=1)
    targets.setflags(write=False)
    return targets


def _window_counts(n_out: int, n_in: int, kernel: int, stride: int, pad: int) -> np.ndarray:
    """Per output row (or column), how many kernel offsets land inside the input."""
    first = np.arange(n_out) * stride - pad
    return np.clip(np.minimum(first + kernel, n_in) - np.maximum(first, 0), 0, None)


# ---------------------------------------------------------------------------------------------------------------
# Degrees
# ---------------------------------------------------------------------------------------------------------------

def in_degree(link: Link) -> np.ndarray:
    """Synapses of the projection into each destination neuron (flat, int64)."""
    proj, src, dst = link.proj, link.src_shape, link.dst_shape
    n_out, n_in = int(np.prod(dst)), int(np.prod(src))
    if proj.kind == "dense":
        return np.full(n_out, n_in, dtype=np.int64)
    if proj.kind == "identity":
        return np.ones(n_out, dtype=np.int64)
    if proj.kind == "sparse":
        return np.diff(proj.weight.tocsr().indptr).astype(np.int64)
    (kh, kw), (sh, sw), (ph, pw) = _kernel(proj), proj.stride, proj.padding
    per_position = np.outer(_window_counts(dst[1], src[1], kh, sh, ph), _window_counts(dst[2], src[2], kw, sw, pw))
    per_position = per_position * (src[0] if proj.kind == "conv2d" else 1)
    return np.broadcast_to(per_position.reshape(1, -1), (dst[0], dst[1] * dst[2])).reshape(-1).astype(np.int64)


def weighted_out_degree(link: Link, target_weight: np.ndarray) -> np.ndarray:
    """Per source neuron of the projection (flat, over the view if the source is one), the sum of
    `target_weight` over its targets: its fan-out when the weights are 1, its synapses when they are the targets'
    copies."""
    proj, src, dst = link.proj, link.src_shape, link.dst_shape
    n_in = int(np.prod(src))
    target_weight = np.asarray(target_weight, dtype=np.int64)
    if proj.kind == "dense":
        return np.full(n_in, int(target_weight.sum()), dtype=np.int64)
    if proj.kind == "identity":
        return target_weight.copy()
    if proj.kind == "sparse":
        m = proj.weight.tocsr()
        rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        return np.bincount(m.indices, weights=target_weight[rows], minlength=n_in).astype(np.int64)
    pos = window_targets(proj, (src[1], src[2]), (dst[1], dst[2]))           # (H*W, k)
    per_channel = target_weight.reshape(dst[0], -1)
    if proj.kind == "conv2d":                     # every output channel reads every input channel
        padded = np.append(per_channel.sum(axis=0), 0)                     # index -1 reads the 0
        return np.tile(padded[pos].sum(axis=1), src[0])
    padded = np.concatenate([per_channel, np.zeros((dst[0], 1), dtype=np.int64)], axis=1)   # avgpool2d: depthwise
    return padded[:, pos].sum(axis=2).reshape(-1)


# ---------------------------------------------------------------------------------------------------------------
# Destination cores reached
# ---------------------------------------------------------------------------------------------------------------

def core_pairs(link: Link, dest_core: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (source neuron, destination core) pair the projection connects, each pair once; `dest_core` gives
    the core of each destination neuron. Source indices are flat over the projection's source (the view)."""
    proj, src, dst = link.proj, link.src_shape, link.dst_shape
    n_in = int(np.prod(src))
    if proj.kind == "dense":
        cores = np.unique(dest_core)
        return np.repeat(np.arange(n_in), len(cores)), np.tile(cores, n_in)
    if proj.kind == "identity":
        return np.arange(n_in), dest_core.copy()
    if proj.kind == "sparse":
        m = proj.weight.tocsr()
        rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        return _unique_pairs(m.indices.astype(np.int64), dest_core[rows])
    pos = window_targets(proj, (src[1], src[2]), (dst[1], dst[2]))           # (H*W, k)
    plane = dst[1] * dst[2]
    if proj.kind == "conv2d":                     # a pixel reaches the same cores from every input channel
        offsets = np.arange(dst[0]) * plane

        def conv_rows(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
            block = pos[lo:hi]
            targets = block[:, :, None] + offsets[None, None, :]
            valid = np.broadcast_to(block[:, :, None] >= 0, targets.shape)
            return targets.reshape(hi - lo, -1), valid.reshape(hi - lo, -1)

        pixel, core = _distinct_per_row(conv_rows, len(pos), pos.shape[1] * dst[0], dest_core)
        channels = np.arange(src[0]) * len(pos)
        return (channels[:, None] + pixel[None, :]).reshape(-1), np.tile(core, src[0])

    def pool_rows(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:       # avgpool2d: channel c to channel c
        channel, pixel = np.divmod(np.arange(lo, hi), len(pos))
        block = pos[pixel]
        return block + (channel * plane)[:, None], block >= 0

    return _distinct_per_row(pool_rows, n_in, pos.shape[1], dest_core)


def _distinct_per_row(rows: Callable[[int, int], tuple[np.ndarray, np.ndarray]], n_rows: int, width: int,
                      dest_core: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, core) for each distinct core among a row's valid targets; `rows(lo, hi)` gives the targets and their
    validity for rows lo..hi - 1, asked for in chunks so that memory stays bounded."""
    rows_out, cores_out = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    step = max(1, CHUNK_ENTRIES // max(1, width))
    for lo in range(0, n_rows, step):
        hi = min(n_rows, lo + step)
        targets, valid = rows(lo, hi)
        cores = np.sort(np.where(valid, dest_core[np.where(valid, targets, 0)], -1), axis=1)
        first = np.ones_like(cores, dtype=bool)
        first[:, 1:] = cores[:, 1:] != cores[:, :-1]
        row, col = np.nonzero(first & (cores >= 0))
        rows_out.append(row + lo)
        cores_out.append(cores[row, col])
    return np.concatenate(rows_out).astype(np.int64), np.concatenate(cores_out).astype(np.int64)


def _unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (a, b) pairs, sorted by a then b (a bitmap when it is small, else a sort)."""
    if a.size == 0:
        return a, b
    low = int(b.min())
    span = int(b.max()) - low + 1
    if (int(a.max()) + 1) * span <= DENSE_MARKS:
        mark = np.zeros((int(a.max()) + 1, span), dtype=bool)
        mark[a, b - low] = True
        rows, cols = np.nonzero(mark)
        return rows.astype(np.int64), cols.astype(np.int64) + low
    keys = np.unique(a * span + (b - low))
    return keys // span, keys % span + low


def mean_distinct_cores(pairs: list[tuple[np.ndarray, np.ndarray]], sources: int) -> float | None:
    """Mean, over the source neurons with at least one pair, of the distinct cores they reach (None if none)."""
    src = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, dtype=np.int64)
    core = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, dtype=np.int64)
    src, core = _unique_pairs(src, core)
    counts = np.bincount(src, minlength=sources)
    reached = counts[counts > 0]
    return float(reached.mean()) if reached.size else None
