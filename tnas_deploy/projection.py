"""Projection maths shared by every coding scheme: synapses from one source layer, applied to a batch
(dense, conv2d, average pool, identity, sparse composed maps), with fan-in, fan-out, sparse matrices and row
sums, plus the array helpers built on them (im2col convolution, min-pooling, per-channel broadcast).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Shape = tuple[int, ...]


@dataclass
class Projection:
    """Synapses from one source layer into a TTFS layer or the readout."""

    source: str
    kind: str                       # "dense" | "conv2d" | "avgpool2d" | "identity" | "sparse"
    weight: np.ndarray              # dense (O, I); conv2d (O, C, kh, kw); avgpool2d/identity: per channel (C,);
                                    # sparse: a scipy CSR matrix (out x in) over flat indices (composed maps)
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    delay_windows: int = 0
    #: Precision groups (docs/fixed_point.md section 11): per output channel, the total shift of its mantissas into
    #: the state, when the channels do not all share the one shift of the layer (or, in rate coding, of the
    #: projection); None when they do. Channels with the same shift form a group: one synapse block on the chip.
    channel_shift: np.ndarray | None = None

    KINDS = ("dense", "conv2d", "avgpool2d", "identity", "sparse")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown projection kind {self.kind!r}")

    def apply(self, x: np.ndarray, dtype: type = np.float64) -> np.ndarray:
        """Linear map of a batch (B, *source_shape); exact for integer data whose partial sums stay below
        2**53 (float64) or 2**24 (float32). Dense and sparse maps return (B, outputs)."""
        x = np.asarray(x, dtype=dtype)
        if self.kind == "sparse":
            return np.asarray((self.weight.astype(dtype) @ x.reshape(x.shape[0], -1).T).T)
        w = np.asarray(self.weight, dtype=dtype)
        if self.kind == "dense":
            return x.reshape(x.shape[0], -1) @ w.T
        if self.kind == "identity":
            return x * w.reshape((-1,) + (1,) * (x.ndim - 2))
        if self.kind == "conv2d":
            return conv2d(x, w, self.stride, self.padding)
        # avgpool2d: a depthwise sum over the window with one weight per channel (zero padding counts)
        win = _windows(x, self.kernel, self.stride, self.padding)  # (B, C, H', W', kh, kw)
        return win.sum(axis=(-1, -2)) * w.reshape(1, -1, 1, 1)

    def apply_per_code(self, codes: np.ndarray, values: Iterable[int], dtype: type = np.float64
                       ) -> Iterator[np.ndarray]:
        """`apply((codes == value).astype(dtype), dtype)` for each of `values`, in order: the synaptic input of the
        sources whose code is that value (say, those that spike at one time step). `codes` (B, *source_shape) are
        integers, 0 for a source that is never meant (zero padding reads as 0); the values are not 0. A
        convolution lays out its input windows (im2col) once for all values, in the codes' small dtype, instead
        of once per value: the same integer sums."""
        codes = np.asarray(codes)
        if self.kind != "conv2d":
            for value in values:
                yield self.apply((codes == value).astype(dtype), dtype)
            return
        w = np.asarray(self.weight, dtype=dtype)
        win = _windows(codes, (w.shape[2], w.shape[3]), self.stride, self.padding)   # (B, C, H', W', kh, kw)
        b, c, h, wd, kh, kw = win.shape
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(b * h * wd, c * kh * kw)
        matrix = w.reshape(w.shape[0], -1).T
        for value in values:
            out = (cols == value).astype(dtype) @ matrix               # (B*H'*W', O)
            yield out.reshape(b, h, wd, -1).transpose(0, 3, 1, 2)

    def to_json(self) -> dict[str, Any]:
        """The projection's geometry as the artifact stores it (weights go to arrays, `weight_arrays`)."""
        out: dict[str, Any] = {"source": self.source, "kind": self.kind, "kernel": list(self.kernel),
                               "stride": list(self.stride), "padding": list(self.padding),
                               "delay_windows": self.delay_windows}
        if self.kind == "sparse":
            out["matrix_shape"] = list(self.weight.shape)
        if self.channel_shift is not None:
            out["channel_shift"] = [int(v) for v in self.channel_shift]
        return out

    @classmethod
    def from_json(cls, spec: dict[str, Any], weight: Any) -> "Projection":
        return cls(spec["source"], spec["kind"], weight, tuple(spec["kernel"]), tuple(spec["stride"]),
                   tuple(spec["padding"]), spec["delay_windows"])

    # -- precision groups: output channels whose mantissas have their own shift (`channel_shift`) -------------
    def neuron_shifts(self, shift: int, out_shape: Shape, flat: bool = False) -> int | np.ndarray:
        """The shift into the state of the synapses into each output neuron: `shift` (the one shift) without
        channel groups, else each channel's own, as an int64 array of `out_shape` (or flat with `flat`)."""
        if self.channel_shift is None:
            return shift
        shifts = expand_per_channel(np.asarray(self.channel_shift, dtype=np.int64), out_shape)
        return shifts.reshape(-1) if flat else shifts

    def mantissas_at(self, base: int, out_shape: Shape, shift: int | None = None) -> Any:
        """The weight mantissas as they add up at shift `base` (at most any of theirs): mantissas << (their shift -
        base), their shift being `shift` (the one shift; default `base`) without channel groups and each channel's
        with them. Exact integers in the projection's own layout; the weights themselves when already at `base`."""
        if self.channel_shift is None:
            return self.weight if shift is None or shift == base else self.weight * (1 << (shift - base))
        factor = np.left_shift(np.int64(1), np.asarray(self.channel_shift, dtype=np.int64) - base)
        if self.kind == "sparse":
            from scipy import sparse  # deferred: only composed maps are sparse

            rows = expand_per_channel(factor, out_shape).reshape(-1)
            return (sparse.diags(rows, dtype=np.int64) @ self.weight.astype(np.int64)).tocsr()
        w = np.asarray(self.weight, dtype=np.int64)
        return w * factor.reshape((-1,) + (1,) * (w.ndim - 1))

    def channel_abs_max(self, out_shape: Shape) -> np.ndarray:
        """max |weight| of each output channel (out_shape[0] of them; 0 for a channel without synapses)."""
        if self.kind == "sparse":
            rows = np.asarray(abs(self.weight).max(axis=1).toarray(), dtype=np.float64).reshape(-1)
            return rows.reshape(out_shape[0], -1).max(axis=1)
        w = np.abs(np.asarray(self.weight, dtype=np.float64))
        return w.reshape(w.shape[0], -1).max(axis=1, initial=0.0)

    def fan_in(self, source_shape: Shape) -> int:
        if self.kind == "sparse":
            return int(np.diff(self.weight.indptr).max(initial=0))
        if self.kind == "dense":
            return int(self.weight.shape[1])
        if self.kind == "conv2d":
            return int(np.prod(self.weight.shape[1:]))
        if self.kind == "avgpool2d":
            return self.kernel[0] * self.kernel[1]
        return 1

    def fan_out(self, source_shape: Shape, out_shape: Shape) -> np.ndarray:
        """Synapses leaving each source neuron (shape = source_shape), counting padding and strides."""
        if self.kind == "sparse":
            return np.diff(self.weight.tocsc().indptr).reshape(source_shape).astype(np.int64)
        if self.kind == "dense":
            return np.full(source_shape, out_shape[0], dtype=np.int64)
        if self.kind == "identity":
            return np.ones(source_shape, dtype=np.int64)
        ones = np.ones((1, *source_shape[-2:]))[:, None]          # (1, 1, H, W)
        counts = conv_transpose_count(ones, self.kernel, self.stride, self.padding, out_shape[-2:])
        per_channel = out_shape[0] if self.kind == "conv2d" else 1
        return np.broadcast_to(counts[0, 0] * per_channel, source_shape).astype(np.int64)

    def nonzero_fan_out(self, source_shape: Shape, out_shape: Shape) -> np.ndarray:
        """Synapses with a non-zero weight leaving each source neuron (without building the matrix)."""
        if self.kind == "sparse":
            m = self.weight.tocsc()
            per = np.add.reduceat(m.data != 0, m.indptr[:-1]) if m.nnz else np.zeros(m.shape[1])
            per = np.where(np.diff(m.indptr) > 0, per, 0)
            return per.reshape(source_shape).astype(np.int64)
        w = np.asarray(self.weight)
        if self.kind == "dense":
            return (w != 0).sum(axis=0).reshape(source_shape).astype(np.int64)
        if self.kind in ("identity", "avgpool2d"):
            per_channel = (w != 0).astype(np.int64)
            return self.fan_out(source_shape, out_shape) * per_channel.reshape((-1,) + (1,) * (len(source_shape) - 1))
        # conv2d: sum over kernel offsets of (outputs using the offset) x (valid input positions for it)
        c_in, h, wd = source_shape
        nz = (w != 0).sum(axis=0)                                   # (C, kh, kw): output channels per offset
        out = np.zeros(source_shape, dtype=np.int64)
        oh, ow = out_shape[1], out_shape[2]
        for i in range(self.kernel[0]):
            rows = np.arange(oh) * self.stride[0] - self.padding[0] + i
            rows = rows[(rows >= 0) & (rows < h)]
            for j in range(self.kernel[1]):
                cols = np.arange(ow) * self.stride[1] - self.padding[1] + j
                cols = cols[(cols >= 0) & (cols < wd)]
                hit = np.zeros((h, wd), dtype=np.int64)
                hit[np.ix_(rows, cols)] = 1
                out += nz[:, i, j][:, None, None] * hit[None]
        return out

    def matrix(self, source_shape: Shape, out_shape: Shape) -> "scipy.sparse.csr_matrix":  # noqa: F821
        """The projection as a sparse (out x in) matrix over flat (C, H, W) indices; integer weights stay exact."""
        from scipy import sparse  # deferred: only backends that need explicit synapses use it

        n_out, n_in = int(np.prod(out_shape)), int(np.prod(source_shape))
        if self.kind == "sparse":
            return self.weight.tocsr()
        w = np.asarray(self.weight)
        if self.kind == "dense":
            return sparse.csr_matrix(w)
        if self.kind == "identity":
            per = n_in // w.shape[0]
            return sparse.diags(np.repeat(w, per)).tocsr()
        c_in, h, wd = source_shape
        c_out, oh, ow = out_shape
        kh, kw = self.kernel
        sh, sw = self.stride
        ph, pw = self.padding
        rows, cols, vals = [], [], []
        o_idx, y_idx, x_idx = np.meshgrid(np.arange(c_out), np.arange(oh), np.arange(ow), indexing="ij")
        for i in range(kh):
            for j in range(kw):
                iy, ix = y_idx * sh - ph + i, x_idx * sw - pw + j
                valid = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < wd)
                o, yy, xx = o_idx[valid], iy[valid], ix[valid]
                out_flat = (o * oh + y_idx[valid]) * ow + x_idx[valid]
                if self.kind == "conv2d":
                    for c in range(c_in):
                        rows.append(out_flat)
                        cols.append((c * h + yy) * wd + xx)
                        vals.append(w[o, c, i, j])
                else:  # avgpool2d: depthwise, one weight per channel
                    rows.append(out_flat)
                    cols.append((o * h + yy) * wd + xx)
                    vals.append(w[o])
        m = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_out, n_in))
        m.sum_duplicates()
        return m

    def abs_row_sum(self, source_shape: Shape, out_shape: Shape) -> np.ndarray:
        """Per output neuron, the sum of |weight| over its synapses (upper bound ignoring padding)."""
        if self.kind == "sparse":
            return np.asarray(abs(self.weight).sum(axis=1), dtype=np.float64).reshape(-1)
        w = np.abs(np.asarray(self.weight, dtype=np.float64))
        if self.kind == "dense":
            return w.sum(axis=1)
        if self.kind == "conv2d":
            per_channel = w.reshape(w.shape[0], -1).sum(axis=1)
            return np.repeat(per_channel, int(np.prod(out_shape[1:])))
        if self.kind == "avgpool2d":
            per_channel = w * self.kernel[0] * self.kernel[1]
            return np.repeat(per_channel, int(np.prod(out_shape[1:])))
        return np.repeat(w, int(np.prod(out_shape[1:])) if len(out_shape) > 1 else 1)


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
             padding: tuple[int, int]) -> np.ndarray:
    if padding != (0, 0):
        x = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    win = sliding_window_view(x, kernel, axis=(2, 3))            # (B, C, H-kh+1, W-kw+1, kh, kw)
    return win[:, :, ::stride[0], ::stride[1]]


def conv2d(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], padding: tuple[int, int]) -> np.ndarray:
    """Cross-correlation as in PyTorch: x (B, C, H, W), w (O, C, kh, kw) -> (B, O, H', W') (im2col + BLAS)."""
    win = _windows(x, (w.shape[2], w.shape[3]), stride, padding)  # (B, C, H', W', kh, kw), a view
    b, c, h, wd, kh, kw = win.shape
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(b * h * wd, c * kh * kw)
    out = cols @ w.reshape(w.shape[0], -1).T                       # (B*H'*W', O)
    return out.reshape(b, h, wd, -1).transpose(0, 3, 1, 2)


def conv_transpose_count(ones: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
                         padding: tuple[int, int], out_hw: tuple[int, ...]) -> np.ndarray:
    """How many output positions read each input position (1, 1, H, W)."""
    h, w = ones.shape[-2:]
    count = np.zeros((h + 2 * padding[0], w + 2 * padding[1]))
    for oh in range(out_hw[0]):
        for ow in range(out_hw[1]):
            r, c = oh * stride[0], ow * stride[1]
            count[r:r + kernel[0], c:c + kernel[1]] += 1
    return count[padding[0]:padding[0] + h, padding[1]:padding[1] + w][None, None]


def max_pool_min(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """Minimum over pooling windows (max-pooling of values is min-pooling of spike steps), as the elementwise
    minimum of the kh x kw strided views: the same values as reducing each window, several times faster."""
    h, w = x.shape[-2:]
    oh, ow = (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1
    out = None
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            view = x[..., i:i + stride[0] * (oh - 1) + 1:stride[0], j:j + stride[1] * (ow - 1) + 1:stride[1]]
            out = view.copy() if out is None else np.minimum(out, view, out=out)
    return out


def expand_per_channel(values: np.ndarray, shape: Shape) -> np.ndarray:
    """A per-channel vector broadcast to a layer's full shape (C, H, W) or (N,)."""
    values = np.asarray(values)
    return values.reshape((-1,) + (1,) * (len(shape) - 1)) * np.ones(shape, dtype=values.dtype)



def exponent_blocks(matrix: Any, row_shifts: np.ndarray, base: int) -> list[tuple[Any, int]]:
    """A synapse matrix (out x in, a numpy integer array or scipy CSR) of mantissas at shift `base`, as one block
    per distinct shift of its rows (precision groups): (the block, its shift), the block holding the rows of that
    shift brought back to it (exact: every synapse of a row has at least the row's shift) and 0 elsewhere. The
    matrix itself, at `base`, when every row has shift `base`."""
    shifts = np.unique(row_shifts)
    if len(shifts) == 1 and shifts[0] == base:
        return [(matrix, base)]
    matrix = matrix.astype(np.int64)      # integers (a scipy map may hold them as floats): exact, and shiftable
    blocks = []
    for shift in shifts.tolist():
        keep = np.asarray(row_shifts) == shift
        if isinstance(matrix, np.ndarray):
            block = np.where(keep[:, None], matrix >> (shift - base), 0)
        else:
            from scipy import sparse  # deferred: only backends that need explicit synapses use it

            block = (sparse.diags(keep.astype(np.int64), dtype=np.int64) @ matrix).tocsr()
            block.data >>= shift - base
            block.eliminate_zeros()
        blocks.append((block, int(shift)))
    return blocks


def int_array(values: np.ndarray) -> np.ndarray:
    """Integer mantissas in the narrowest of int16 and int32 that holds them (how artifacts store weights)."""
    w = np.asarray(values, dtype=np.int64)
    return w.astype(np.int16 if np.abs(w).max(initial=0) < 2 ** 15 else np.int32)


def weight_arrays(projections: list[Projection]) -> dict[str, np.ndarray]:
    """The integer weights of a layer's projections as artifact arrays: `w<i>`, or for a sparse map its CSR parts
    `w<i>_data`, `w<i>_indices`, `w<i>_indptr`."""
    arrays: dict[str, np.ndarray] = {}
    for i, p in enumerate(projections):
        if p.kind == "sparse":
            m = p.weight.tocsr()
            arrays[f"w{i}_data"] = int_array(m.data)
            arrays[f"w{i}_indices"] = m.indices.astype(np.int64)
            arrays[f"w{i}_indptr"] = m.indptr.astype(np.int64)
        else:
            arrays[f"w{i}"] = int_array(p.weight)
    return arrays


def projections_from_json(cls: type[Projection], specs: list[dict[str, Any]], arrays: dict[str, np.ndarray]
                          ) -> list[Any]:
    """The projections of a stored layer (`cls.from_json` of each spec with its weights from `arrays`)."""
    out = []
    for i, spec in enumerate(specs):
        if spec["kind"] == "sparse":
            from scipy import sparse  # deferred: only composed maps are sparse
            weight = sparse.csr_matrix((arrays[f"w{i}_data"].astype(np.int64), arrays[f"w{i}_indices"],
                                        arrays[f"w{i}_indptr"]), shape=tuple(spec["matrix_shape"]))
        else:
            weight = arrays[f"w{i}"].astype(np.int64)
        proj = cls.from_json(spec, weight)
        if spec.get("channel_shift") is not None:
            proj.channel_shift = np.asarray(spec["channel_shift"], dtype=np.int64)
        out.append(proj)
    return out
