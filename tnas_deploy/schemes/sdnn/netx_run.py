"""Running a sigma-delta netx file in lava-dl's own `netx.hdf5.Network` on Lava's CPU simulator (fixed_pt): the
judge of whether an imported (or exported) SDNN network does what tnas-deploy's reference simulator says.

netx builds a sigma-delta file as a chain of blocks (docs/interop.md, "netx", sigma-delta files): the `input`
layer is a Delta encoder fed straight into its `a_in` (no synapse), every conv or dense layer a synapse and a
SigmaDelta neuron (or a Sigma accumulator, `sigma_output`), each synapse one step late. This module feeds one
sample's integer payloads into the input block, from Lava step `first_step` on, and records every block's
graded messages at every step, with `rate/lava/netx_io.py`'s memory-mapped recorders (int32). Every sample is
one Lava run through `lava_runtime.session.run_guarded` (always stopped, nothing left behind on any exit).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DeployError
from ..rate.netx_run import import_netx_package


def run_netx_sdnn(path: str | Path, payloads: np.ndarray, run_steps: int, first_step: int = 1,
                  timeout: float | None = None, progress: Callable[[int], None] | None = None
                  ) -> list[list[np.ndarray]]:
    """Run each sample of `payloads` (N, frames, *input_shape), integers in C, H, W order, through the netx
    file: frame k goes into the input block's `a_in` at Lava step `first_step` + k. Returns, per sample, every
    block's graded messages as int64 arrays (run_steps, *shape) in (C, H, W) or (N,) order, Lava step t + 1 in
    row t. `progress(1)` after each sample."""
    out = []
    for payload in np.asarray(payloads):
        out.append(_run_one(Path(path), payload, run_steps, first_step, timeout))
        if progress is not None:
            progress(1)
    return out


def _run_one(path: Path, payload: np.ndarray, run_steps: int, first_step: int, timeout: float | None
             ) -> list[np.ndarray]:
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    from ...lava_runtime.session import lava_workdir, progress_file, run_guarded, shared_array
    from ..rate.lava.netx_io import NETX_IO_MODELS, NetxSource, SpikeRecorder

    netx = import_netx_package()
    with lava_workdir() as workdir:
        try:
            net = netx.hdf5.Network(net_config=str(path))
        except Exception as exc:  # noqa: BLE001 - netx raises anything (NotImplementedError, RuntimeError, KeyError)
            raise DeployError(f"lava-dl's netx cannot build this network: {type(exc).__name__}: {exc}", path,
                              "layer") from None
        first = net.layers[0]
        if not isinstance(first, netx.blocks.process.Input):
            raise DeployError("a sigma-delta file starts with an input layer of SDNN neurons (a Delta encoder); this "
                              "one starts with a synapse", path, "layer/0")
        port = first.neuron.a_in
        shape = tuple(port.shape)                        # netx's (x, y, channel) order
        frames = np.asarray(payload)
        if int(np.prod(shape)) != int(np.prod(frames.shape[1:])):
            raise DeployError(f"takes inputs of {int(np.prod(shape))} values (shape {list(shape[::-1])}), but the "
                              f"samples have shape {list(frames.shape[1:])}: another network", path, "layer/0")
        ordered = np.stack([f.transpose(2, 1, 0) if len(shape) == 3 else f.reshape(shape) for f in frames]) \
            if len(frames) else np.zeros((0,) + shape)
        payload_file = shared_array(workdir / "payload.i32", ordered.astype(np.int32))
        progress = progress_file(workdir)
        source = NetxSource(shape=shape, payload=payload_file, frames=len(ordered), first_step=first_step,
                            progress=str(progress), dtype="int32")
        source.s_out.connect(port)
        model_map: dict[Any, type] = {source: NETX_IO_MODELS[NetxSource]}
        records = []
        for i, block in enumerate(net.layers):
            record = workdir / f"block{i}.i32"
            size = int(np.prod(block.out.shape))
            shared_array(record, np.zeros((run_steps, size), dtype=np.int32))
            recorder = SpikeRecorder(shape=tuple(block.out.shape), record=str(record), steps=run_steps, dtype="int32")
            block.out.connect(recorder.a_in)
            model_map[recorder] = NETX_IO_MODELS[SpikeRecorder]
            records.append((record, tuple(block.out.shape)))
        cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=model_map)
        run_guarded(net, RunSteps(num_steps=run_steps, blocking=False), cfg, progress, run_steps, run_steps,
                    None, timeout)
        messages = []
        for record, xyc in records:
            raw = np.array(np.memmap(record, dtype=np.int32, mode="r", shape=(run_steps, int(np.prod(xyc)))))
            raw = raw.reshape((run_steps,) + xyc).astype(np.int64)
            messages.append(raw.transpose(0, 3, 2, 1) if len(xyc) == 3 else raw)
    return messages


__all__ = ["run_netx_sdnn"]
