"""Running a netx file in lava-dl's own `netx.hdf5.Network` on Lava's CPU simulator (fixed_pt): the judge of
whether an exported (or imported) netx network does what tnas-deploy's reference simulator says.

Time alignment (docs/interop.md, "netx"): Lava step s is step s - 1 of the rate reference simulator for every
block. A file whose first layer is a block with a synapse (tnas-deploy's exports: an `input` layer with a shape
only) gets the payload of input step t at Lava step t + 1: the synapse delivers it one step later, as a genome's
hop does. A file whose `input` layer has neurons (SLAYER's) has no synapse in front of them: the payload goes
straight into the neurons' `a_in` and arrives in the step it is sent, so it is sent at Lava step t + 2, one hop
after the input emits it, as the imported genome's input population does. Biases act from Lava step 1 in both.

Every sample is one Lava run through `lava_runtime.session.run_guarded` (always stopped, nothing left behind on
any exit); spikes are recorded into memory-mapped files by `lava/netx_io.py` instead of being read back
element by element.
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DeployError
from .netx import INPUT_MESSAGE_BITS


def run_netx(path: str | Path, payload: np.ndarray, run_steps: int, timeout: float | None = None) -> dict[str, Any]:
    """Run one sample of a netx file on Lava's CPU simulator (fixed_pt).

    `payload` is the graded input (T, *input_shape) in C, H, W order, integers 0..255. Returns `spikes`: per
    block a boolean raster (run_steps, C, H, W) or (run_steps, N), Lava step t + 1 in row t (step t of the rate
    reference simulator, `schemes/rate/refsim.py`), `v`: the last block's membrane after the run (a membrane
    readout's value), int64, `blocks`: each block's kind ("input", "dense", "conv"), and `readout_built`: False when
    the file ends in a layer netx does not build (`buildable_layers`; then `v` is the last built block's). Lava's
    processes are stopped before returning, whatever happens (`run_guarded`).
    """
    return run_netx_samples(path, np.asarray(payload)[None], run_steps, timeout=timeout)[0]


def run_netx_samples(path: str | Path, payloads: np.ndarray, run_steps: int, timeout: float | None = None,
                     progress: Callable[[int], None] | None = None) -> list[dict[str, Any]]:
    """`run_netx` for each sample of `payloads` (N, T, *input_shape), one guarded Lava run per sample (each
    starts from the network's initial state); `progress(1)` after each sample."""
    out = []
    for payload in payloads:
        out.append(_run_one(Path(path), np.asarray(payload), run_steps, timeout))
        if progress is not None:
            progress(1)
    return out


def import_netx_package() -> Any:
    """`lava.lib.dl.netx`, imported without its print-outs: lava-dl's slayer prints a "Prophesee Dataset Toolbox"
    warning on stdout (which would spoil `--json`) and torch a "No CUDA runtime is found" line on stderr, neither
    about anything tnas-deploy uses; a failing import still raises."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from lava.lib.dl import netx
    return netx


def _run_one(path: Path, payload: np.ndarray, run_steps: int, timeout: float | None) -> dict[str, Any]:
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    from ...lava_runtime.session import lava_workdir, progress_file, run_guarded, shared_array
    from .lava.netx_io import NETX_IO_MODELS, NetxSource, SpikeRecorder, VoltageProbe

    netx = import_netx_package()
    built = buildable_layers(path)
    with lava_workdir() as workdir:
        try:
            net = netx.hdf5.Network(net_config=str(path), input_message_bits=INPUT_MESSAGE_BITS, num_layers=built)
        except Exception as exc:  # noqa: BLE001 - netx raises anything (NotImplementedError, RuntimeError, KeyError)
            raise DeployError(f"lava-dl's netx cannot build this network: {type(exc).__name__}: {exc}", path,
                              "layer") from None
        first = net.layers[0]
        neurons_first = isinstance(first, netx.blocks.process.Input)
        # SLAYER's input layer of neurons: the payload goes into their a_in (net.inp would need a sub-compiler)
        port = first.neuron.a_in if neurons_first else net.inp
        shape = tuple(port.shape)
        if int(np.prod(shape)) != int(np.prod(payload.shape[1:])):
            raise DeployError(f"takes inputs of {int(np.prod(shape))} values (shape {list(shape[::-1])}), but the "
                              f"samples have shape {list(payload.shape[1:])}: another network", path, "layer/0")
        frames = np.zeros((len(payload),) + shape, dtype=np.uint8)
        for t, frame in enumerate(payload):
            frames[t] = frame.transpose(2, 1, 0) if len(shape) == 3 else np.asarray(frame).reshape(shape)
        payload_file = shared_array(workdir / "payload.u8", frames)
        progress = progress_file(workdir)
        source = NetxSource(shape=shape, payload=payload_file, frames=len(frames),
                            first_step=2 if neurons_first else 1, progress=str(progress))
        source.s_out.connect(port)
        model_map: dict[Any, type] = {source: NETX_IO_MODELS[NetxSource]}
        records = []
        for i, block in enumerate(net.layers):
            record = workdir / f"block{i}.u8"
            size = int(np.prod(block.out.shape))
            shared_array(record, np.zeros((run_steps, size), dtype=np.uint8))
            recorder = SpikeRecorder(shape=tuple(block.out.shape), record=str(record), steps=run_steps)
            block.out.connect(recorder.a_in)
            model_map[recorder] = NETX_IO_MODELS[SpikeRecorder]
            records.append((record, tuple(block.out.shape)))
        last = net.layers[-1].neuron
        v_file = workdir / "v.i64"
        shared_array(v_file, np.zeros(int(np.prod(last.v.shape)), dtype=np.int64))
        probe = VoltageProbe(var=last.v, record=str(v_file), steps=run_steps)
        model_map[probe] = NETX_IO_MODELS[VoltageProbe]
        cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=model_map)
        run_guarded(net, RunSteps(num_steps=run_steps, blocking=False), cfg, progress, run_steps, run_steps,
                    None, timeout)
        rasters = []
        for record, xyc in records:
            raster = np.array(np.memmap(record, dtype=np.uint8, mode="r", shape=(run_steps, int(np.prod(xyc)))))
            raster = raster.reshape((run_steps,) + xyc) != 0
            rasters.append(raster.transpose(0, 3, 2, 1) if len(xyc) == 3 else raster)
        v = np.array(np.memmap(v_file, dtype=np.int64, mode="r", shape=(int(np.prod(last.v.shape)),)))
        v_shape = tuple(last.v.shape)
        v = v.reshape(v_shape).transpose(2, 1, 0) if len(v_shape) == 3 else v.reshape(v_shape)
        kinds = ["input" if isinstance(b, netx.blocks.process.Input) else
                 "conv" if isinstance(b, netx.blocks.process.Conv) else "dense" for b in net.layers]
    return {"spikes": rasters, "v": v.astype(np.int64), "blocks": kinds, "readout_built": built is None}


def buildable_layers(path: Path) -> int | None:
    """How many of the file's layers netx builds: None for all, else the index of a last `average` layer, which
    netx 0.6.0 cannot build (SLAYER's class readout; lava-dl runs such files with `num_layers` short of it, and
    tnas-deploy imports it as a membrane readout: `interop/netx_average.py`)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            count = len(f["layer"])
            last = f["layer"][str(count - 1)]["type"][()]
    except (OSError, KeyError, ValueError):
        return None                          # netx itself then says what is wrong with the file
    last = last.reshape(-1)[0] if isinstance(last, np.ndarray) else last
    return count - 1 if isinstance(last, (bytes, np.bytes_)) and last == b"average" else None
