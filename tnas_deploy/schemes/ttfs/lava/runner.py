"""Build the Lava network of a compiled artifact, stream samples through it in one run, collect results.

Running, stopping and cleaning up (time-outs, failed or killed workers, SIGINT/SIGTERM/SIGHUP) are those of
every scheme: `lava_runtime.session.lava_workdir` holds the run's files, `run_guarded` runs it.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ....compiled import CompiledNetwork
from ....lava_runtime.session import LavaTiming, lava_workdir, progress_file, run_guarded, shared_array
from ....fixed_point import encode_ttfs_input
from ..layers import InputLayer, MaxPoolLayer, ReadoutLayer, TtfsLayer
from ....result import SimResult
from ..refsim import assemble_result
from .schedule import Schedule, make_schedule, neuron_shift, synapse_matrices

def build_network(net: CompiledNetwork, schedule: Schedule, x_steps: np.ndarray, workdir: Path):
    """Create and connect the processes; returns (input process, model map, record files)."""
    from lava.proc.dense.models import PyDenseModelBitAcc
    from lava.proc.dense.process import Dense
    from lava.proc.sparse.models import PySparseModelBitAcc
    from lava.proc.sparse.process import Sparse

    from .models import MODELS
    from .processes import FirstSpikeNeuron, TtfsInput, TtfsNeuron, TtfsReadout
    from ....lava_runtime.processes import SpikeDelay

    n = x_steps.shape[0]
    K, T = schedule.window, schedule.period
    bits = net.fmt.state_bits
    procs: dict[str, object] = {}
    model_map: dict[object, type] = {}
    records: dict[str, Path] = {}

    def record_file(layer_id: str, size: int, dtype: type, fill: int) -> str:
        records[layer_id] = workdir / f"{layer_id}.rec"
        return shared_array(records[layer_id], np.full((n, size), fill, dtype=dtype))

    for layer in net.layers:
        timing = schedule.timing.get(layer.id)
        if timing is None:
            continue                                   # a view: consumers connect to what is behind it
        if isinstance(layer, InputLayer):
            proc = TtfsInput(steps=x_steps.reshape(n, -1), window=K, period=T, progress=str(workdir / "progress"))
        elif isinstance(layer, TtfsLayer):
            per = layer.size // layer.channels
            proc = TtfsNeuron(size=layer.size, v_init=np.repeat(layer.v_init, per),
                              threshold=np.repeat(layer.threshold, per), ramp=layer.ramp, shift=neuron_shift(layer),
                              state_bits=bits, window=K, integrate_start=timing.start, period=T,
                              record=record_file(layer.id, layer.size, np.int32, K), samples=n)
        elif isinstance(layer, MaxPoolLayer):
            proc = FirstSpikeNeuron(size=layer.size, window=K, listen_start=timing.start, period=T,
                                    record=record_file(layer.id, layer.size, np.int32, K), samples=n)
        elif isinstance(layer, ReadoutLayer):
            proc = TtfsReadout(size=layer.size, bias=layer.bias, shift=neuron_shift(layer), state_bits=bits,
                               window=K, integrate_start=timing.start, period=T,
                               record=record_file(layer.id, layer.size, np.int64, 0), samples=n)
        else:  # pragma: no cover
            raise TypeError(layer.kind)
        procs[layer.id] = proc
        model_map[proc] = MODELS[type(proc)]
        if isinstance(layer, InputLayer):
            continue
        # synapses: Lava's own Dense / Sparse, one per synapse block (precision groups: one per weight exponent);
        # weights << 1 with weight_exp = exponent - 1 keeps odd mantissas exact
        for pop, blocks in synapse_matrices(net, layer, schedule).items():
            src_port = procs[pop].s_out
            delay = schedule.delays.get((layer.id, pop), 0)
            if delay:
                d = SpikeDelay(size=net.by_id[pop].size, delay=delay)
                model_map[d] = MODELS[SpikeDelay]
                src_port.connect(d.s_in)
                src_port = d.s_out
            for matrix, is_dense, rel_shift in blocks:
                weights = matrix.astype(np.int32) * 2
                exp = rel_shift - 1
                syn = Dense(weights=weights.toarray(), weight_exp=exp) if is_dense else Sparse(weights=weights,
                                                                                             weight_exp=exp)
                model_map[syn] = PyDenseModelBitAcc if is_dense else PySparseModelBitAcc
                src_port.connect(syn.s_in)
                syn.a_out.connect(proc.a_in)
    progress_file(workdir)
    return procs[net.layers[0].id], model_map, records


def run_lava(net: CompiledNetwork, x: np.ndarray, progress: Callable[[int], None] | None = None,
             timeout: float | None = None, hardware: bool = False) -> tuple[SimResult, LavaTiming]:
    """Run samples `x` through Lava's CPU simulator (or Loihi 2 with `hardware=True`) in one run.

    `progress(n)` is called with the number of samples finished since the last call.
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg

    schedule = make_schedule(net)
    n = x.shape[0]
    total = n * schedule.period
    x_steps = encode_ttfs_input(x, net.steps)
    with lava_workdir() as workdir:
        t0 = time.perf_counter()
        root, model_map, records = build_network(net, schedule, x_steps, workdir)
        t1 = time.perf_counter()
        if hardware:
            cfg = Loihi2HwCfg(exception_proc_model_map=model_map)
        else:
            cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=model_map)
        run_guarded(root, RunSteps(num_steps=total, blocking=False), cfg, workdir / "progress", total,
                     schedule.period, progress, timeout)
        t2 = time.perf_counter()
        local = {lid: np.array(np.memmap(path, dtype=np.int64 if lid == net.readout.id else np.int32, mode="r",
                                         shape=(n, net.by_id[lid].size))) for lid, path in records.items()}
        readout = local.pop(net.readout.id).astype(np.int64)
        local[net.layers[0].id] = x_steps.reshape(n, -1)
        result = assemble_result(net, {k: v.reshape((n, *net.by_id[k].shape)).astype(np.int64) for k, v in local.items()},
                                 readout)
        t3 = time.perf_counter()
    return result, LavaTiming(build_s=t1 - t0, run_s=t2 - t1, readout_s=t3 - t2, steps=total)


