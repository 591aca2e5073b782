"""Build the Lava network of a compiled sigma-delta artifact, stream samples through it in one run, collect results.

Every population becomes Lava's `SigmaDelta` (ReLU, or UNIT for linear populations and the readout) with the
compiled vth, bias and state_exp (spike_exp = -state_exp, so Lava keeps vth and bias as compiled), every
projection Lava's `Dense` (dense weights) or `Sparse` (everything else, from `Projection.matrix()`) with graded
input (`num_message_bits` = the payload bits). A max-pool is a `SdnnMaxPool` fed by its source's spikes directly
(same step). All processes are flat (views need no process). One sample per period of `net.steps` steps.

Lava drops the lowest bit of odd mixed-sign 8-bit weights (lava-nc 0.10.0 `truncate_weights`), so the synapses get
the mantissas doubled with `weight_exp - 1`: the same integers (docs/sdnn.md).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ....compiled import CompiledNetwork
from ....fixed_point import encode_sdnn_input
from ....layers import Layer
from ....result import SimResult
from ..layers import SdnnFlattenLayer, SdnnInputLayer, SdnnMaxPoolLayer, SdnnReadoutLayer, SigmaDeltaLayer
from ..refsim import sdnn_result


def _behind(net: CompiledNetwork, layer_id: str) -> Layer:
    """The layer whose process sends a layer's payloads (views resolved)."""
    layer = net.by_id[layer_id]
    while isinstance(layer, SdnnFlattenLayer):
        layer = net.by_id[layer.source]
    return layer


def build_sdnn_network(net: CompiledNetwork, payload: np.ndarray, workdir: Path):
    """Create and connect the processes; returns (input process, model map, record files)."""
    from lava.proc.dense.process import Dense
    from lava.proc.sdn.process import ActivationMode, SigmaDelta
    from lava.proc.sparse.process import Sparse

    from ....lava_runtime.session import progress_file, shared_array
    from .models import SDNN_MODELS
    from .processes import SdnnInput, SdnnMaxPool

    n = payload.shape[0]
    period = net.steps
    bits = int(net.options["payload_bits"])
    procs: dict[str, object] = {}
    model_map: dict[object, type] = {}
    records: dict[str, Path] = {}

    def record_file(name: str, columns: int, dtype: type) -> str:
        records[name] = workdir / f"{name}.rec"
        return shared_array(records[name], np.zeros((n, columns), dtype=dtype))

    payload_path = workdir / "payload.u8"
    shared_array(payload_path, payload.reshape(n, -1).astype(np.uint8))
    progress_file(workdir)

    for layer in net.layers:
        if isinstance(layer, SdnnInputLayer):
            proc = SdnnInput(size=layer.size, payload=str(payload_path), samples=n, period=period,
                             progress=str(workdir / "progress"))
        elif isinstance(layer, (SigmaDeltaLayer, SdnnReadoutLayer)):
            readout = isinstance(layer, SdnnReadoutLayer)
            extra = {"readout_record": record_file(layer.id + ".act", layer.size, np.int64)} if readout else {}
            proc = SigmaDelta(shape=(layer.size,), vth=int(layer.vth), bias=np.asarray(layer.bias_q, dtype=np.int32),
                              act_mode=ActivationMode.RELU if layer.relu else ActivationMode.UNIT,
                              # Lava holds vth and bias << (spike_exp + state_exp): -state_exp keeps ours as they are
                              spike_exp=-int(layer.state_exp), state_exp=int(layer.state_exp), period=period, samples=n,
                              record="" if readout else record_file(layer.id, period * layer.size, np.int32),
                              **extra)
        elif isinstance(layer, SdnnMaxPoolLayer):
            proc = SdnnMaxPool(source_shape=net.by_id[layer.source].shape, shape=layer.shape, kernel=layer.kernel,
                               stride=layer.stride, period=period, samples=n,
                               record=record_file(layer.id, period * layer.size, np.int32))
        else:
            continue                     # a flatten is a view
        procs[layer.id] = proc
        model_map[proc] = SDNN_MODELS[type(proc)]

    for layer in net.layers:
        if isinstance(layer, SdnnMaxPoolLayer):
            procs[_behind(net, layer.source).id].s_out.connect(procs[layer.id].a_in)
        if not isinstance(layer, (SigmaDeltaLayer, SdnnReadoutLayer)):
            continue
        for proj, weight_exp in zip(layer.projections, layer.weight_exps):
            src_shape = net.by_id[proj.source].shape
            if proj.kind == "dense":
                weights = np.asarray(proj.weight, dtype=np.int32) * 2
                syn = Dense(weights=weights, weight_exp=int(weight_exp) - 1, num_message_bits=bits, period=period)
            else:
                matrix = proj.matrix(src_shape, layer.shape).tocsr().astype(np.int32) * 2
                syn = Sparse(weights=matrix, weight_exp=int(weight_exp) - 1, num_message_bits=bits, period=period)
            model_map[syn] = SDNN_MODELS[type(syn)]
            procs[_behind(net, proj.source).id].s_out.connect(syn.s_in)
            syn.a_out.connect(procs[layer.id].a_in)
    return procs[net.layers[0].id], model_map, records


def run_lava_sdnn(net: CompiledNetwork, x: np.ndarray, progress: Callable[[int], None] | None = None,
                  timeout: float | None = None, hardware: bool = False) -> tuple[SimResult, object]:
    """`Scheme.run_lava` for sigma-delta networks: x is (N, *input_shape) in [0, 1]."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg

    from ....lava_runtime.session import LavaTiming, lava_workdir, run_guarded

    n = x.shape[0]
    period = net.steps
    total = n * period
    with lava_workdir() as workdir:
        t0 = time.perf_counter()
        root, model_map, records = build_sdnn_network(net, encode_sdnn_input(x), workdir)
        t1 = time.perf_counter()
        if hardware:
            cfg = Loihi2HwCfg(exception_proc_model_map=model_map)
        else:
            cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=model_map)
        run_guarded(root, RunSteps(num_steps=total, blocking=False), cfg, workdir / "progress", total, period,
                    progress, timeout)
        t2 = time.perf_counter()
        sent: dict[str, np.ndarray] = {}
        for layer in net.layers:
            if isinstance(layer, SdnnInputLayer):
                first = np.zeros((n, period) + tuple(layer.shape), dtype=np.int64)
                first[:, 0] = encode_sdnn_input(x)
                sent[layer.id] = first
            elif layer.id in records:
                mm = np.memmap(records[layer.id], dtype=np.int32, mode="r", shape=(n, period * layer.size))
                sent[layer.id] = np.array(mm).reshape((n, period) + tuple(layer.shape)).astype(np.int64)
                del mm
        readout = net.readout
        mm = np.memmap(records[readout.id + ".act"], dtype=np.int64, mode="r", shape=(n, readout.size))
        act = np.array(mm)
        del mm
        result = sdnn_result(net.layers, sent, act, readout.scale)
        t3 = time.perf_counter()
    return result, LavaTiming(build_s=t1 - t0, run_s=t2 - t1, readout_s=t3 - t2, steps=total)
