"""Build the Lava network of a compiled rate artifact, stream samples through it in one run, collect results.

Each population of the lowered network (docs/rate.md) becomes one process: the input a `RateInput`, every
CUBA population (IF, LIF, OR max-pool) a `CubaNeuron`, a membrane readout a `RateReadout`; a spike_count
readout is counted from its source population's recorded raster. Synapses are Lava's own Dense (dense
projections) and Sparse (everything else, from `Projection.matrix()`), one per (source, delay) and weight
exponent (precision groups, docs/fixed_point.md section 11); a delay d > 1 puts a `SpikeDelay` of d - 1 steps
(flushed at each period) before the synapse, which adds the last step. Projections with per-neuron axonal delays
(genome version 3) use Lava's `DelayDense`, the synapse lava-dl netx builds for a layer's `delay`, with a model
that also empties its delay buffer at each period (`lava_runtime.models.PyPeriodicDelayDenseModel`). Running,
stopping and time-outs are those of every scheme (`lava_runtime.session.run_guarded`).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ....compiled import CompiledNetwork
from ....errors import DeployError
from ....fixed_point import INT, RATE_INPUT_LEVELS
from ....projection import exponent_blocks
from ..layers import CubaLayer, RateInputLayer, RateReadoutLayer
from ..refsim import input_payload, rate_result
from ....result import SimResult

#: Lava's bit-accurate Dense/Sparse accumulate in int32; every partial sum must stay below this.
INT32_LIMIT = 2 ** 31 - 1
#: The longest delay Lava's bit-accurate DelayDense takes: 6 bits ("Loihi 2 has a maximum of 6 bits for delays",
#: lava-nc 0.10.0 lava/proc/dense/models.py, PyDelayDenseModelBitAcc, which refuses anything above 63).
DELAY_DENSE_MAX = 63


def _synapse_key(proj) -> tuple:
    """Projections with equal keys share one Lava synapse: (source, steps to arrival) without per-neuron delays
    (a single-number axonal delay just lengthens the hop), else also which end the delays are at, and them."""
    if proj.neuron_delays is None:
        return (proj.source, int(proj.delay + proj.extra_delay))
    return (proj.source, int(proj.delay + proj.extra_delay), proj.neuron_delays_at, proj.neuron_delays.tobytes())


def rate_synapses(net: CompiledNetwork, layer: CubaLayer | RateReadoutLayer
                  ) -> dict[tuple, tuple[object, bool, int, np.ndarray | None]]:
    """Per (source population, delay[, per-neuron delays]): the integer weight-mantissa matrix (out x source size),
    whether it is dense (then a numpy array, else CSR), its shift relative to the layer's (the synapses' weight
    exponent) and, with per-neuron axonal delays, the steps each synapse adds to the key's delay (out x source
    size; the matrix is then dense). Several projections with the same key add up (each shifted to the group's
    smallest shift first, exactly). With precision groups the rows of each weight exponent are a block of their
    own, keyed with its shift appended: (source, delay[, ...], shift).

    Raises `DeployError` if Lava's int32 accumulation could overflow (then it would wrap, the reference not):
    |2 w| summed over a row times the largest payload must stay below 2**31.
    """
    by_id = net.by_id
    groups: dict[tuple, list] = {}
    for proj in layer.projections:
        groups.setdefault(_synapse_key(proj), []).append(proj)
    out: dict[tuple, tuple[object, bool, int, np.ndarray | None]] = {}
    for key, projs in groups.items():
        source = key[0]
        src = by_id[source]
        per_neuron = projs[0].neuron_delays
        # no round trip through CSR for big dense matrices; DelayDense takes a dense matrix
        dense = all(p.kind == "dense" for p in projs) or per_neuron is not None
        base = min(p.state_shift(layer.shift) for p in projs)
        mats = [_at_shift(p, _matrix(p, src.shape, layer.shape, dense), base, layer) for p in projs]
        m = mats[0]
        for other in mats[1:]:
            m = m + other
        row = np.abs(m).sum(axis=1) if dense else np.asarray(abs(m).sum(axis=1)).reshape(-1)
        payload = RATE_INPUT_LEVELS if isinstance(src, RateInputLayer) else 1
        bound = float(np.max(row, initial=0)) * 2 * payload * 2.0 ** max(0, base - layer.shift - 1)
        if bound > INT32_LIMIT:
            raise DeployError(f"layer {layer.id}: the synaptic input from {source} can reach {bound:.3g} (weights x 2 "
                              f"x payloads), beyond Lava's int32 accumulation; the lava backend cannot run it exactly",
                              None, f"layer {layer.id}")
        steps = None
        if per_neuron is not None:
            if int(per_neuron.max(initial=0)) > DELAY_DENSE_MAX:
                raise DeployError(f"layer {layer.id}: the synapses from {source} wait up to {int(per_neuron.max())} "
                                  f"steps per neuron, and Lava's DelayDense holds at most {DELAY_DENSE_MAX} (6 bits); "
                                  "the lava backend cannot run it", None, f"layer {layer.id}")
            steps = np.broadcast_to(per_neuron.reshape((1, -1) if projs[0].neuron_delays_at == "source" else (-1, 1)),
                                    m.shape)
        # precision groups: the rows (output neurons) of each weight exponent are a synapse block of their own
        rows = np.min([np.broadcast_to(p.neuron_shifts(p.state_shift(layer.shift), layer.shape, flat=True),
                                       (layer.size,)) for p in projs], axis=0)
        blocks = exponent_blocks(m if dense else m.tocsr(), rows, base)
        for block, shift in blocks:
            out[key if len(blocks) == 1 else key + (shift,)] = (block, dense, shift - layer.shift, steps)
    return out


def _at_shift(p, matrix, base: int, layer: CubaLayer | RateReadoutLayer):
    """A projection's mantissa matrix at shift `base`: each row's mantissas << (its shift - base), exactly (one
    shift for the whole projection, or one per output channel with precision groups)."""
    shifts = p.neuron_shifts(p.state_shift(layer.shift), layer.shape, flat=True)
    if np.ndim(shifts) == 0:
        return matrix * (1 << (shifts - base))
    factor = np.left_shift(1, shifts - base).reshape(-1, 1)
    return matrix * factor if isinstance(matrix, np.ndarray) else matrix.multiply(factor).tocsr()


def _matrix(p, source_shape: tuple[int, ...], out_shape: tuple[int, ...], dense: bool):
    """A projection's integer mantissas (out x source size): a numpy array when `dense`, else CSR."""
    if p.kind == "dense":
        return np.asarray(p.weight, dtype=INT)
    m = p.matrix(source_shape, out_shape)
    return m.toarray().astype(INT) if dense else m.tocsr().astype(INT)


def build_rate_network(net: CompiledNetwork, payload: np.ndarray, workdir: Path):
    """Create and connect the processes; returns (input process, model map, record files).

    `payload` is (N, frames, *input_shape) with frames 1 (static) or T (event counts), values 0..255.
    """
    from lava.proc.dense.models import PyDenseModelBitAcc
    from lava.proc.dense.process import Dense
    from lava.proc.sparse.models import PySparseModelBitAcc
    from lava.proc.sparse.process import Sparse

    from lava.proc.dense.process import DelayDense

    from ....lava_runtime.models import PyPeriodicDelayDenseModel, PySpikeDelayModel
    from ....lava_runtime.processes import SpikeDelay
    from ....lava_runtime.session import progress_file, shared_array
    from .models import RATE_MODELS
    from .processes import CubaNeuron, RateInput, RateReadout

    n, frames = payload.shape[:2]
    period = net.run_steps
    bits = net.fmt.state_bits
    procs: dict[str, object] = {}
    model_map: dict[object, type] = {}
    records: dict[str, Path] = {}

    def record_file(layer_id: str, columns: int, dtype: type) -> str:
        records[layer_id] = workdir / f"{layer_id}.rec"
        return shared_array(records[layer_id], np.zeros((n, columns), dtype=dtype))

    payload_path = workdir / "payload.u8"
    shared_array(payload_path, payload.reshape(n, frames, -1).astype(np.uint8))
    progress_file(workdir)

    for layer in net.layers:
        if isinstance(layer, RateInputLayer):
            proc = RateInput(size=layer.size, payload=str(payload_path), samples=n, frames=frames, steps=net.steps,
                             period=period, progress=str(workdir / "progress"))
        elif isinstance(layer, CubaLayer):
            proc = CubaNeuron(size=layer.size, du=layer.du, dv=layer.dv, threshold=layer.threshold,
                              reset_subtract=layer.reset == "subtract", bias=layer.bias_q, shift=layer.shift,
                              state_bits=bits, period=period,
                              record=record_file(layer.id, period * layer.size, np.uint8), samples=n)
        elif isinstance(layer, RateReadoutLayer) and layer.mode == "membrane":
            proc = RateReadout(size=layer.size, bias=np.asarray(layer.bias, dtype=INT), shift=layer.shift,
                               state_bits=bits, period=period, record=record_file(layer.id, layer.size, np.int64),
                               samples=n, dv=layer.dv)
        elif isinstance(layer, RateReadoutLayer):
            continue                # spike_count: counted from the source population's raster
        else:  # pragma: no cover
            raise TypeError(layer.kind)
        procs[layer.id] = proc
        model_map[proc] = RATE_MODELS[type(proc)]
    delay_lines: dict[tuple[str, int], object] = {}

    def delay_line(source: str, steps: int):
        """The output of a line delaying `source` by `steps` (flushed at each period), shared by its targets."""
        if (source, steps) not in delay_lines:
            d = SpikeDelay(size=net.by_id[source].size, delay=steps, period=period)
            model_map[d] = PySpikeDelayModel
            procs[source].s_out.connect(d.s_in)
            delay_lines[(source, steps)] = d.s_out
        return delay_lines[(source, steps)]

    for layer in net.layers:
        if layer.id not in procs or isinstance(layer, RateInputLayer):
            continue
        target = procs[layer.id]
        for (source, delay, *_), (matrix, is_dense, rel_shift, steps) in rate_synapses(net, layer).items():
            # weights << 1 with weight_exp = -1 keeps odd mantissas exact (Lava drops the lowest bit of
            # mixed-sign 8-bit weights otherwise); the projection's own shift above the neuron's is the rest of
            # the exponent; graded payloads need num_message_bits > 0
            graded = isinstance(net.by_id[source], RateInputLayer)
            weights = matrix.astype(np.int32) * 2
            kwargs = {"weight_exp": rel_shift - 1, "num_message_bits": 8 if graded else 0}
            port = procs[source].s_out
            if steps is not None:
                # DelayDense's delay k arrives k + 1 steps after the spike; the rest of the hop's delay - 1 steps
                # goes on top when it fits, else into a delay line before it
                ahead = delay - 1 if int(steps.max(initial=0)) + delay - 1 > DELAY_DENSE_MAX else 0
                syn = DelayDense(weights=weights, delays=(steps + (delay - 1 - ahead)).astype(int), period=period,
                                 **kwargs)
                model_map[syn] = PyPeriodicDelayDenseModel
                port = delay_line(source, ahead) if ahead else port
                port.connect(syn.s_in)
                syn.a_out.connect(target.a_in)
                continue
            if is_dense:
                syn = Dense(weights=weights, **kwargs)
                model_map[syn] = PyDenseModelBitAcc
            else:
                syn = Sparse(weights=weights, **kwargs)
                model_map[syn] = PySparseModelBitAcc
            if delay > 1:
                port = delay_line(source, delay - 1)
            port.connect(syn.s_in)
            syn.a_out.connect(target.a_in)
    return procs[net.layers[0].id], model_map, records


def run_lava_rate(net: CompiledNetwork, x: np.ndarray, progress: Callable[[int], None] | None = None,
                  timeout: float | None = None, hardware: bool = False):
    """`runner.run_lava` for rate networks: x is (N, *input_shape) in [0, 1] or (N, T, *input_shape) counts."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg

    from ....lava_runtime.session import LavaTiming, lava_workdir, run_guarded

    n = x.shape[0]
    T, period = net.steps, net.run_steps
    payload = input_payload(x, net.layers[0], T)          # (N, T, *shape); a static image is a broadcast view
    static = np.asarray(x).shape[1:] == tuple(net.input_shape)
    frames = payload[:, :1] if static else payload
    total = n * period
    with lava_workdir() as workdir:
        t0 = time.perf_counter()
        root, model_map, records = build_rate_network(net, frames, workdir)
        t1 = time.perf_counter()
        if hardware:
            cfg = Loihi2HwCfg(exception_proc_model_map=model_map)
        else:
            cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=model_map)
        run_guarded(root, RunSteps(num_steps=total, blocking=False), cfg, workdir / "progress", total, period,
                     progress, timeout)
        t2 = time.perf_counter()
        readout = net.readout
        rasters: dict[str, np.ndarray] = {}
        acc = None
        for layer in net.layers:
            if isinstance(layer, RateInputLayer):
                raster = np.zeros((n, period) + tuple(layer.shape), dtype=bool)
                raster[:, :T] = payload != 0
                rasters[layer.id] = raster
            elif isinstance(layer, CubaLayer):
                mm = np.memmap(records[layer.id], dtype=np.uint8, mode="r", shape=(n, period * layer.size))
                rasters[layer.id] = np.array(mm).reshape((n, period) + tuple(layer.shape)) != 0
                del mm
        if readout.mode == "membrane":
            mm = np.memmap(records[readout.id], dtype=np.int64, mode="r", shape=(n, readout.size))
            acc = np.array(mm)
            del mm
        result: SimResult = rate_result(net.layers, period, net.fmt.state_bits, rasters, acc, None, readout.scale)
        t3 = time.perf_counter()
    return result, LavaTiming(build_s=t1 - t0, run_s=t2 - t1, readout_s=t3 - t2, steps=total)
