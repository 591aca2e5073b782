"""The compile's headroom pass for rate networks: the peak of every state over the calibration data.

The same integers as stepping the whole network one time step at a time (`refsim.simulate_rate`, the definition;
tests/test_headroom_fast.py compares them), computed with far less work per step:

* time goes in chunks of steps and, within a chunk, population by population, so that each projection is one
  matrix product for the whole chunk: dense BLAS for small dense maps, a sparse product for sparse ones
  (pooling), on the projection's integer matrix (`Projection.matrix`), exact as in `refsim` (integer partial
  sums below 2**24 in float32, else float64); a backward edge of delay d limits chunks to d steps;
* a static image's input current is computed once per sample; a source that is silent over a chunk is skipped;
* a population whose input is constant over a chunk runs `fixed_point.cuba_constant_input` (a closed form for
  IF neurons with an instantaneous current), the others `fixed_point.cuba_run`;
* only peaks are kept: spikes only as far back as the longest delay, no rasters, counts or readout values.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...fixed_point import (INT, RATE_INPUT_LEVELS, CubaParams, accumulate_step, cuba_constant_input, cuba_run,
                            weight_to_state)
from ...layers import Layer
from .layers import CubaLayer, RateInputLayer, RateProjection, RateReadoutLayer, run_length
from .refsim import exact_dtype, input_payload

#: Samples stepped together (larger batches share the per-step overhead; memory is bounded by the chunks).
BATCH_SIZE = 512
#: Threads, each stepping its share of the samples.
WORKERS = min(2, os.cpu_count() or 1)
#: Input elements (samples x steps x neurons) of one population's chunk: bounds memory (8 bytes each).
CHUNK_ELEMENTS = 1 << 24
#: A projection's matrix is used dense (BLAS) up to this many entries if at least DENSE_SHARE are synapses;
#: otherwise, if no output has more than GATHER_WIDTH synapses, its inputs are gathered (pooling).
DENSE_MATRIX_ELEMENTS = 1 << 22
DENSE_SHARE = 1 / 16
GATHER_WIDTH = 16

Peaks = dict[str, dict[str, int]]


@dataclass
class _Synapses:
    """One projection, ready to be applied to a chunk of its source's emissions. Its integer matrix is held in
    one of three forms: dense (BLAS), padded rows of a few synapses each (pooling: gathered, integer sums) or
    scipy sparse."""

    source: str
    delay: int
    shift: int | np.ndarray                 # per output neuron with precision groups
    dtype: type
    from_input: bool
    dense: np.ndarray | None = None         # (inputs, outputs) in `dtype`
    rows_index: np.ndarray | None = None    # (synapses per output, outputs): the inputs of each output,
    rows_weight: np.ndarray | None = None   # and their mantissas (0 pads), integer
    sparse: Any = None                      # scipy CSR (outputs, inputs) in `dtype`

    def apply(self, block: np.ndarray) -> np.ndarray:
        """Synaptic input (steps, batch, outputs), int64, from emissions (steps, batch, *source shape)."""
        steps, batch = block.shape[:2]
        rows = block.reshape(steps * batch, -1)
        if self.dense is not None:
            value = np.rint(rows.astype(self.dtype) @ self.dense)
        elif self.rows_index is not None:
            value = np.zeros((rows.shape[0], self.rows_index.shape[1]), dtype=self.rows_weight.dtype)
            for index, weight in zip(self.rows_index, self.rows_weight):
                value += np.take(rows, index, axis=1) * weight
        else:
            value = np.rint(self.sparse @ np.ascontiguousarray(rows.T, dtype=self.dtype)).T
        return weight_to_state(value, self.shift).reshape(steps, batch, -1)


def _synapses(p: RateProjection, layer: CubaLayer | RateReadoutLayer, src: Layer) -> _Synapses:
    from_input = isinstance(src, RateInputLayer)
    payload = RATE_INPUT_LEVELS if from_input else 1
    dtype = exact_dtype(p, src.shape, layer.shape, payload)
    out = _Synapses(p.source, p.delay, p.neuron_shifts(p.state_shift(layer.shift), layer.shape, flat=True), dtype,
                    from_input)
    matrix = p.matrix(tuple(src.shape), tuple(layer.shape)).tocsr()
    size = matrix.shape[0] * matrix.shape[1]
    widths = np.diff(matrix.indptr)
    if size <= DENSE_MATRIX_ELEMENTS and matrix.nnz >= DENSE_SHARE * size:
        out.dense = np.ascontiguousarray(matrix.toarray().T, dtype=dtype)
    elif widths.max(initial=0) <= GATHER_WIDTH:
        # integer sums: int32 holds them when every |sum| stays below 2**31
        bound = float(np.max(np.asarray(abs(matrix).sum(axis=1)), initial=0.0)) * payload
        width = int(widths.max(initial=0))
        slot = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], widths)    # position within its row
        row = np.repeat(np.arange(matrix.shape[0]), widths)
        out.rows_index = np.zeros((width, matrix.shape[0]), dtype=np.intp)
        out.rows_weight = np.zeros((width, matrix.shape[0]), dtype=np.int32 if bound < 2 ** 31 else INT)
        out.rows_index[slot, row] = matrix.indices
        out.rows_weight[slot, row] = matrix.data
    else:
        out.sparse = matrix.astype(dtype)
    return out


def measure_peaks(layers: list[Layer], x: np.ndarray, steps: int, state_bits: int, batch_size: int = BATCH_SIZE,
                  progress: Callable[[float], None] | None = None) -> Peaks:
    """Peak |u| and |v| before saturation of every CUBA population and the readout over samples `x`: exactly
    `refsim.simulate_rate(...).peaks`. `progress(n)` receives samples done (fractions while a batch runs)."""
    by_id = {layer.id: layer for layer in layers}
    readout = layers[-1]
    assert isinstance(readout, RateReadoutLayer)
    order: list[CubaLayer | RateReadoutLayer] = [layer for layer in layers if isinstance(layer, CubaLayer)]
    if readout.mode == "membrane":
        order.append(readout)
    # one _Synapses per delay: a projection with per-neuron axonal delays is split into its parts of one delay each
    synapses = {layer.id: [_synapses(part, layer, by_id[p.source]) for p in layer.projections
                           for part in p.arrival_parts(by_id[p.source].shape, layer.shape)] for layer in order}
    position = {layer.id: i for i, layer in enumerate(order)}
    # a chunk may not read what a later population (or itself) emits within the same chunk
    chunk_cap = min([s.delay for layer in order for s in synapses[layer.id]
                     if not s.from_input and position[s.source] >= position[layer.id]], default=1 << 30)
    run = run_length(layers, steps)

    def measure(part: np.ndarray) -> Peaks:
        peaks: Peaks = {layer.id: {"u": 0, "v": 0} for layer in layers if isinstance(layer, CubaLayer)}
        peaks[readout.id] = {"u": 0, "v": 0}
        for start in range(0, len(part), batch_size):
            payload = input_payload(part[start:start + batch_size], layers[0], steps)
            _Batch(order, synapses, payload, steps, run, state_bits, chunk_cap).run(peaks, progress)
        return peaks

    # samples are independent: a share per core (numpy releases the GIL in its loops); the peaks are the maxima
    share = max(1, -(-len(x) // WORKERS))
    shares = [x[i:i + share] for i in range(0, len(x), share)] or [x]
    if len(shares) == 1:
        parts = [measure(shares[0])]
    else:
        with ThreadPoolExecutor(len(shares)) as pool:
            parts = list(pool.map(measure, shares))
    return {key: {var: max(p[key][var] for p in parts) for var in ("u", "v")} for key in parts[0]}


class _Batch:
    """One batch of samples through the whole run, chunk by chunk."""

    def __init__(self, order: list[CubaLayer | RateReadoutLayer], synapses: dict[str, list[_Synapses]],
                 payload: np.ndarray, steps: int, run: int, state_bits: int, chunk_cap: int):
        self.order, self.synapses, self.steps, self.run_steps, self.state_bits = order, synapses, steps, run, state_bits
        self.size = payload.shape[0]
        self.payload = payload.swapaxes(0, 1)                   # (steps, batch, *shape)
        # every step sends the same image (a broadcast view): its input current is the same at every step
        self.static = payload.shape[1] > 0 and payload.strides[1] == 0
        self.constant: dict[tuple[str, int], np.ndarray] = {}
        widest = max(layer.size for layer in order)
        self.chunk = max(1, min(chunk_cap, CHUNK_ELEMENTS // max(1, self.size * widest)))
        self.longest = max([s.delay for syn in synapses.values() for s in syn if not s.from_input], default=1)
        self.history: dict[str, tuple[int, np.ndarray]] = {}     # population -> (first step held, spikes)
        self.state = {layer.id: (np.zeros((self.size, layer.size), INT), np.zeros((self.size, layer.size), INT))
                      for layer in order if isinstance(layer, CubaLayer)}
        self.acc = np.zeros((self.size, order[-1].size), INT)          # the membrane readout's, if any

    def run(self, peaks: Peaks, progress: Callable[[float], None] | None) -> None:
        # chunks also break where the input starts or stops reaching a population, so its input is uniform
        bounds = set(range(0, self.run_steps, self.chunk))
        for layer in self.order:
            for s in self.synapses[layer.id]:
                if s.from_input:
                    bounds.update(t for t in (s.delay, self.steps + s.delay) if 0 < t < self.run_steps)
        edges = sorted(bounds) + [self.run_steps]
        for t0, t1 in zip(edges[:-1], edges[1:]):
            for layer in self.order:
                self._advance(layer, t0, t1, peaks[layer.id])
            for key, (first, spikes) in self.history.items():        # keep what the longest delay reads
                keep = min(len(spikes), self.longest)
                self.history[key] = (first + len(spikes) - keep, spikes[len(spikes) - keep:])
            if progress is not None:
                progress(self.size * (t1 - t0) / self.run_steps)

    def _advance(self, layer: CubaLayer | RateReadoutLayer, t0: int, t1: int, peak: dict[str, int]) -> None:
        constant, per_step = self._input(layer, t0, t1)
        if isinstance(layer, RateReadoutLayer):
            bias = np.asarray(layer.bias, dtype=INT)
            for k in range(t1 - t0):
                a_in = constant if per_step is None else per_step[k] + constant   # (small: the readout)
                self.acc, raw = accumulate_step(self.acc, a_in, bias, self.state_bits, layer.dv)
                peak["v"] = max(peak["v"], raw)
            return
        params = CubaParams(layer.du, layer.dv, layer.threshold, layer.reset == "subtract", self.state_bits)
        u, v = self.state[layer.id]
        bias = layer.bias_q.reshape(-1)
        if per_step is None:
            u, v, spikes, peak_u, peak_v = cuba_constant_input(u, v, constant, bias, params, t1 - t0)
        else:
            if constant.any():
                per_step += constant
            u, v, spikes, peak_u, peak_v = cuba_run(u, v, per_step, bias, params)
        self.state[layer.id] = (u, v)
        peak["u"], peak["v"] = max(peak["u"], peak_u), max(peak["v"], peak_v)
        first, held = self.history.get(layer.id, (t0, spikes[:0]))
        self.history[layer.id] = (first, np.concatenate([held, spikes]))

    def _input(self, layer: CubaLayer | RateReadoutLayer, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The layer's synaptic input over steps [t0, t1): a part constant in time (batch, neurons) and, unless
        every source is uniform over the chunk, a part per step (steps, batch, neurons)."""
        constant = np.zeros((self.size, layer.size), INT)
        per_step: np.ndarray | None = None
        for i, s in enumerate(self.synapses[layer.id]):
            lo, hi = t0 - s.delay, t1 - s.delay         # the source's emission steps read in this chunk
            if s.from_input:
                if hi <= 0 or lo >= self.steps:          # the input is silent then
                    continue
                if self.static:
                    key = (layer.id, i)
                    if key not in self.constant:
                        self.constant[key] = s.apply(self.payload[:1])[0]
                    constant += self.constant[key]
                    continue
                value = s.apply(self.payload[lo:hi])
            else:
                block = self._emitted(s.source, lo, hi)
                if block is None:
                    continue
                value = s.apply(block)
            per_step = value if per_step is None else per_step + value
        return constant, per_step

    def _emitted(self, source: str, lo: int, hi: int) -> np.ndarray | None:
        """A population's spikes at steps [lo, hi) (none before step 0), or None if it was silent."""
        if hi <= 0 or source not in self.history:
            return None
        first, spikes = self.history[source]
        block = spikes[max(lo, 0) - first:hi - first]
        if not block.any():
            return None
        if lo < 0:
            block = np.concatenate([np.zeros((-lo,) + block.shape[1:], dtype=bool), block])
        return block
