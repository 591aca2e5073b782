"""Build the Lava network of a compiled artifact, stream samples through it in one run, collect results.

Guarantees: the Lava runtime is always stopped (success, exception, Ctrl-C, time-out, failed worker);
Lava's worker processes do not die of SIGINT (the parent handles Ctrl-C and stops them); any worker
still alive after `stop()` is terminated, then killed, so no orphan process survives and nothing hangs.
"""
from __future__ import annotations

import multiprocessing
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..compiled import CompiledNetwork
from ..errors import DeployError
from ..fixed_point import encode_ttfs_input
from ..network import InputLayer, MaxPoolLayer, ReadoutLayer, TtfsLayer
from ..refsim import SimResult, assemble_result
from .schedule import Schedule, make_schedule, synapse_matrices

STOP_GRACE_S = 5.0


class BackendError(DeployError):
    """The backend failed while running (time-out, crashed worker); the CLI exits with 3."""


@dataclass
class LavaTiming:
    build_s: float        # constructing processes and connections
    run_s: float          # from run() to the last step done (compile + fork + steps)
    readout_s: float      # getting results out of the shared buffers
    steps: int


def build_network(net: CompiledNetwork, schedule: Schedule, x_steps: np.ndarray, workdir: Path):
    """Create and connect the processes; returns (input process, model map, record files)."""
    from lava.proc.dense.models import PyDenseModelBitAcc
    from lava.proc.dense.process import Dense
    from lava.proc.sparse.models import PySparseModelBitAcc
    from lava.proc.sparse.process import Sparse

    from .models import MODELS
    from .processes import FirstSpikeNeuron, SpikeDelay, TtfsInput, TtfsNeuron, TtfsReadout

    n = x_steps.shape[0]
    K, T = schedule.window, schedule.period
    bits = net.fmt.state_bits
    procs: dict[str, object] = {}
    model_map: dict[object, type] = {}
    records: dict[str, Path] = {}

    def record_file(layer_id: str, size: int, dtype: type, fill: int) -> str:
        path = workdir / f"{layer_id}.rec"
        mm = np.memmap(path, dtype=dtype, mode="w+", shape=(n, size))
        mm[:] = fill
        mm.flush()
        del mm
        records[layer_id] = path
        return str(path)

    for layer in net.layers:
        timing = schedule.timing.get(layer.id)
        if timing is None:
            continue                                   # a view: consumers connect to what is behind it
        if isinstance(layer, InputLayer):
            proc = TtfsInput(steps=x_steps.reshape(n, -1), window=K, period=T, progress=str(workdir / "progress"))
        elif isinstance(layer, TtfsLayer):
            per = layer.size // layer.channels
            proc = TtfsNeuron(size=layer.size, v_init=np.repeat(layer.v_init, per),
                              threshold=np.repeat(layer.threshold, per), ramp=layer.ramp, shift=layer.shift,
                              state_bits=bits, window=K, integrate_start=timing.start, period=T,
                              record=record_file(layer.id, layer.size, np.int32, K), samples=n)
        elif isinstance(layer, MaxPoolLayer):
            proc = FirstSpikeNeuron(size=layer.size, window=K, listen_start=timing.start, period=T,
                                    record=record_file(layer.id, layer.size, np.int32, K), samples=n)
        elif isinstance(layer, ReadoutLayer):
            proc = TtfsReadout(size=layer.size, bias=layer.bias, shift=layer.shift, state_bits=bits, window=K,
                               integrate_start=timing.start, period=T,
                               record=record_file(layer.id, layer.size, np.int64, 0), samples=n)
        else:  # pragma: no cover
            raise TypeError(layer.kind)
        procs[layer.id] = proc
        model_map[proc] = MODELS[type(proc)]
        if isinstance(layer, InputLayer):
            continue
        # synapses: Lava's own Dense / Sparse; weights << 1 with weight_exp = -1 keeps odd mantissas exact
        for pop, (matrix, is_dense) in synapse_matrices(net, layer, schedule).items():
            weights = matrix.astype(np.int32) * 2
            syn = Dense(weights=weights.toarray(), weight_exp=-1) if is_dense else Sparse(weights=weights, weight_exp=-1)
            model_map[syn] = PyDenseModelBitAcc if is_dense else PySparseModelBitAcc
            src_port = procs[pop].s_out
            delay = schedule.delays.get((layer.id, pop), 0)
            if delay:
                d = SpikeDelay(size=net.by_id[pop].size, delay=delay)
                model_map[d] = MODELS[SpikeDelay]
                src_port.connect(d.s_in)
                src_port = d.s_out
            src_port.connect(syn.s_in)
            syn.a_out.connect(proc.a_in)
    (workdir / "progress").write_bytes(np.zeros(1, dtype=np.int64).tobytes())
    return procs[net.layers[0].id], model_map, records


def run_lava(net: CompiledNetwork, x: np.ndarray, progress: Callable[[int], None] | None = None,
             timeout: float | None = None, hardware: bool = False) -> tuple[SimResult, LavaTiming]:
    """Run samples `x` through Lava's CPU simulator (or Loihi 2 with `hardware=True`) in one run.

    `progress(n)` is called with the number of samples finished since the last call. Rate-coded networks
    (`net.coding == "rate"`) run in `rate_runner`; their `x` may also be event counts (N, T, *input_shape).
    """
    if net.coding == "rate":
        from .rate_runner import run_lava_rate
        return run_lava_rate(net, x, progress=progress, timeout=timeout, hardware=hardware)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg

    schedule = make_schedule(net)
    n = x.shape[0]
    total = n * schedule.period
    x_steps = encode_ttfs_input(x, net.steps)
    with tempfile.TemporaryDirectory(prefix="tnas-lava-") as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        root, model_map, records = build_network(net, schedule, x_steps, workdir)
        t1 = time.perf_counter()
        if hardware:
            cfg = Loihi2HwCfg(exception_proc_model_map=model_map)
        else:
            cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=model_map)
        _run_guarded(root, RunSteps(num_steps=total, blocking=False), cfg, workdir / "progress", total,
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


def _run_guarded(root, condition, cfg, progress_file: Path, total: int, period: int,
                 progress: Callable[[int], None] | None, timeout: float | None) -> None:
    started = time.monotonic()
    reported = 0
    grace = STOP_GRACE_S
    in_main = threading.current_thread() is threading.main_thread()
    # Workers are forked inside run(). While it runs, Ctrl-C is only noted: the workers inherit that
    # handler, so they never die of SIGINT themselves; this process raises it once they are up and then
    # stops them in order (see _stop).
    interrupted: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(signum)) if in_main else None
    try:
        try:
            root.run(condition=condition, run_cfg=cfg)
        finally:
            if in_main:
                signal.signal(signal.SIGINT, old)
        if interrupted:
            raise KeyboardInterrupt
        done_at = np.memmap(progress_file, dtype=np.int64, mode="r", shape=(1,))
        services = list(getattr(root.runtime, "service_to_runtime", []))
        # Lava keeps its worker processes here; a worker whose model raises exits without telling the runtime
        actors = list(getattr(getattr(root.runtime, "_messaging_infrastructure", None), "actors", []))
        while True:
            step = int(done_at[0])
            if progress is not None and step // period > reported:
                progress(step // period - reported)
                reported = step // period
            if step >= total:
                break
            # a worker that exited, or a runtime service answering before the last step: a model failed
            dead = [a for a in actors if not a.is_alive()]
            if dead or any(port.probe() for port in services):
                grace = 0.5          # the runtime cannot stop cleanly with a worker gone: end the rest
                raise BackendError(f"a Lava process failed at step {step} of {total}; the run was stopped"
                                   + _worker_error(dead))
            if timeout is not None and time.monotonic() - started > timeout:
                raise BackendError(f"the Lava run did not finish within the time-out of {timeout:g} s "
                                   f"({step} of {total} steps done); raise --timeout", None, "--timeout")
            time.sleep(0.005)
        root.wait()
    finally:
        _stop(root, grace)


def _worker_error(dead: list) -> str:
    for actor in dead:
        exc = getattr(actor, "exception", None)
        if exc:
            error, trace = exc
            return f":\n{trace}".rstrip()
    return ""


def _stop(root, grace: float = STOP_GRACE_S) -> None:
    """Stop the runtime; if it does not stop within `grace` seconds, end every worker that is left."""
    stopper = threading.Thread(target=_quiet_stop, args=(root,), daemon=True)
    stopper.start()
    stopper.join(grace)
    for child in multiprocessing.active_children():
        child.terminate()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and any(c.is_alive() for c in multiprocessing.active_children()):
        time.sleep(0.02)
    for child in multiprocessing.active_children():   # active_children() also reaps the ones that ended
        child.kill()


def _quiet_stop(root) -> None:
    try:
        root.stop()
    except Exception:  # noqa: BLE001 - a runtime that failed to start has nothing to stop
        pass
