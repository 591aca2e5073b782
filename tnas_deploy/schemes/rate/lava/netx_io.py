"""Lava processes (and their fixed_pt models) that feed and record a lava-dl netx network (`netx_run.py`).

netx builds its blocks from lava-nc's stock processes; these three sit around them:

* `NetxSource` sends one sample's graded payloads (uint8 0..255 for rate networks, signed int32 for sigma-delta
  ones) into the network's input port from a memory-mapped file, starting at a given Lava step, and writes the
  time step done into `progress` (for `lava_runtime.session.run_guarded`: progress, time-outs, stop);
* `SpikeRecorder` writes the spikes of one block straight into a memory-mapped raster (steps, neurons), as 0/1
  (uint8) or, for graded messages, as the int32 payloads: reading a sink's Var with `get()` costs one message
  per element (../shared/LAVA_NOTES.md), which for the large blocks of a PilotNet costs far more than the run
  itself;
* `VoltageProbe` reads a LIF's `v` through a RefPort after the last step (a membrane readout's value) and
  writes it into a memory-mapped file.

Both the rate and the sigma-delta netx runs use them (`schemes/rate/netx_run.py`, `schemes/sdnn/netx_run.py`). Run
them with `exception_proc_model_map` naming each instance's model (`NETX_IO_MODELS`): Lava's model search would
otherwise execute every `.py` file in this directory.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort, PyRefPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort, RefPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class NetxSource(AbstractProcess):
    """Sends frame k of `payload` (a memmap of `dtype`, "uint8" or "int32", of shape (frames, *shape), in the port's
    order) at Lava step `first_step` + k, zeros at every other step."""

    def __init__(self, *, shape: tuple[int, ...], payload: str, frames: int, first_step: int, progress: str,
                 dtype: str = "uint8") -> None:
        super().__init__(shape=shape, payload=payload, frames=frames, first_step=first_step, progress=progress,
                         dtype=dtype)
        self.s_out = OutPort(shape=shape)


class SpikeRecorder(AbstractProcess):
    """Writes the messages arriving at step t (1-based) into row t - 1 of `record`, a memmap (steps, size): spikes
    as 0/1 when `dtype` is "uint8", graded payloads as they are when it is "int32"."""

    def __init__(self, *, shape: tuple[int, ...], record: str, steps: int, dtype: str = "uint8") -> None:
        super().__init__(shape=shape, record=record, steps=steps, dtype=dtype)
        self.a_in = InPort(shape=shape)


class VoltageProbe(AbstractProcess):
    """Reads the referenced variable after Lava step `steps` into `record`, an int64 memmap of its size."""

    def __init__(self, *, var, record: str, steps: int) -> None:
        super().__init__(record=record, steps=steps)
        self.state = RefPort(var.shape)
        self.state.connect_var(var)


@implements(proc=NetxSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyNetxSourceModel(PyLoihiProcessModel):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._payload: np.memmap | None = None
        self._progress: np.memmap | None = None
        self._zeros = np.zeros(proc_params["shape"], dtype=np.int32)

    def run_spk(self) -> None:
        p = self.proc_params
        frame = self.time_step - p["first_step"]
        out = self._zeros
        if 0 <= frame < p["frames"]:
            if self._payload is None:          # opened after Lava forked this process
                self._payload = np.memmap(p["payload"], dtype=p["dtype"], mode="r",
                                          shape=(p["frames"],) + tuple(p["shape"]))
            out = self._payload[frame].astype(np.int32)
        self.s_out.send(out)
        if self._progress is None:
            self._progress = np.memmap(p["progress"], dtype=np.int64, mode="r+", shape=(1,))
        self._progress[0] = self.time_step


@implements(proc=SpikeRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeRecorderModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._record: np.memmap | None = None

    def run_spk(self) -> None:
        p = self.proc_params
        messages = np.asarray(self.a_in.recv()).reshape(-1)
        if self.time_step <= p["steps"] and np.any(messages):
            if self._record is None:
                self._record = np.memmap(p["record"], dtype=p["dtype"], mode="r+",
                                         shape=(p["steps"], int(np.prod(p["shape"]))))
            self._record[self.time_step - 1] = messages != 0 if p["dtype"] == "uint8" else messages


@implements(proc=VoltageProbe, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyVoltageProbeModel(PyLoihiProcessModel):
    state: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, int)

    def post_guard(self) -> bool:
        return self.time_step == self.proc_params["steps"]

    def run_post_mgmt(self) -> None:
        value = np.asarray(self.state.read(), dtype=np.int64).reshape(-1)
        record = np.memmap(self.proc_params["record"], dtype=np.int64, mode="r+", shape=value.shape)
        record[:] = value
        record.flush()


NETX_IO_MODELS = {NetxSource: PyNetxSourceModel, SpikeRecorder: PySpikeRecorderModel,
                  VoltageProbe: PyVoltageProbeModel}
