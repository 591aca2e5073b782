"""Lava processes (and their fixed_pt models) that feed and record a lava-dl netx sigma-delta network
(`schemes/sdnn/netx_run.py`).

netx builds a sigma-delta file's blocks from lava-nc's stock Delta, SigmaDelta and Sigma processes, whose
messages are graded (signed integers); these two sit around them:

* `GradedSource` sends one sample's signed integer payloads (int32) into the input block's `a_in` from a
  memory-mapped file, frame k at Lava step `first_step` + k, and writes the time step done into `progress`
  (for `lava_runtime.session.run_guarded`: progress, time-outs, stop);
* `GradedRecorder` writes the graded messages of one block straight into a memory-mapped int32 array
  (steps, neurons): reading a sink's Var with `get()` costs one message per element (../shared/LAVA_NOTES.md).

Run them with `exception_proc_model_map` naming each instance's model (`NETX_SDNN_IO_MODELS`): Lava's model
search would otherwise execute every `.py` file in this directory.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class GradedSource(AbstractProcess):
    """Sends frame k of `payload` (an int32 memmap of shape (frames, *shape), in the port's order) at Lava step
    `first_step` + k, zeros at every other step."""

    def __init__(self, *, shape: tuple[int, ...], payload: str, frames: int, first_step: int, progress: str) -> None:
        super().__init__(shape=shape, payload=payload, frames=frames, first_step=first_step, progress=progress)
        self.s_out = OutPort(shape=shape)


class GradedRecorder(AbstractProcess):
    """Writes the messages arriving at step t (1-based) into row t - 1 of `record`, an int32 memmap (steps, size)."""

    def __init__(self, *, shape: tuple[int, ...], record: str, steps: int) -> None:
        super().__init__(shape=shape, record=record, steps=steps)
        self.a_in = InPort(shape=shape)


@implements(proc=GradedSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyGradedSourceModel(PyLoihiProcessModel):
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
                self._payload = np.memmap(p["payload"], dtype=np.int32, mode="r",
                                          shape=(p["frames"],) + tuple(p["shape"]))
            out = np.array(self._payload[frame], dtype=np.int32)
        self.s_out.send(out)
        if self._progress is None:
            self._progress = np.memmap(p["progress"], dtype=np.int64, mode="r+", shape=(1,))
        self._progress[0] = self.time_step


@implements(proc=GradedRecorder, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyGradedRecorderModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._record: np.memmap | None = None

    def run_spk(self) -> None:
        p = self.proc_params
        messages = np.asarray(self.a_in.recv())
        if self.time_step <= p["steps"] and np.any(messages):
            if self._record is None:
                self._record = np.memmap(p["record"], dtype=np.int32, mode="r+",
                                         shape=(p["steps"], int(np.prod(p["shape"]))))
            self._record[self.time_step - 1] = messages.reshape(-1)


NETX_SDNN_IO_MODELS = {GradedSource: PyGradedSourceModel, GradedRecorder: PyGradedRecorderModel}
