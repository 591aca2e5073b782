"""Running a netx file in lava-dl's own `netx.hdf5.Network` on Lava's CPU simulator (fixed_pt): the judge of
whether an exported (or imported) netx network does what tnas-deploy's reference simulator says."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .netx import INPUT_MESSAGE_BITS


def run_netx(path: str | Path, payload: np.ndarray, run_steps: int) -> dict[str, Any]:
    """Run one sample of a file written by `export_netx` on Lava's CPU simulator (fixed_pt).

    `payload` is the graded input (T, *input_shape), integers 0..255, sent at Lava steps 1..T. Returns
    `spikes`: per dense/conv block a boolean raster (run_steps, C, H, W) or (run_steps, N) (Lava step t + 1 is
    step t of the rate reference simulator, `schemes/rate/refsim.py`), and `v`: the last block's membrane after the run (a membrane readout's
    value). Lava's processes are stopped before returning.
    """
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    net = netx.hdf5.Network(net_config=str(path), input_message_bits=INPUT_MESSAGE_BITS)
    payload = np.asarray(payload, dtype=np.int64)
    shape = tuple(net.inp.shape)
    data = np.zeros(shape + (run_steps,), dtype=np.int32)
    for t in range(min(len(payload), run_steps)):
        frame = payload[t]
        data[..., t] = frame.transpose(2, 1, 0) if len(shape) == 3 else frame.reshape(shape)
    source = io.source.RingBuffer(data=data)
    source.s_out.connect(net.inp)
    sinks = []
    for block in net.layers:
        sink = io.sink.RingBuffer(shape=block.out.shape, buffer=run_steps)
        block.out.connect(sink.a_in)
        sinks.append(sink)
    try:
        net.run(condition=RunSteps(num_steps=run_steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        rasters = []
        for sink in sinks:
            d = np.asarray(sink.data.get())                  # (*shape, steps), shape in (x, y, c) order
            d = np.moveaxis(d, -1, 0)
            rasters.append((d.transpose(0, 3, 2, 1) if d.ndim == 4 else d) != 0)
        v = np.asarray(net.layers[-1].neuron.v.get())
        v = v.transpose(2, 1, 0) if v.ndim == 3 else v
    finally:
        net.stop()
    return {"spikes": rasters, "v": v.astype(np.int64)}
