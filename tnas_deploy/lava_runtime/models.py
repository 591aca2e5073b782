"""Fixed-point (`fixed_pt`) models every coding scheme builds on: the periodic base model (one sample per
period of steps, results written to shared memory-mapped files), the spike delay line, and Lava's delayed dense
synapse emptied at each period.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.models import PyDelayDenseModelBitAcc
from lava.proc.dense.process import DelayDense

from .processes import SpikeDelay


class PeriodicModel(PyLoihiProcessModel):
    """Local step within the sample period and lazily opened result file (opened after Lava forks)."""

    _record: np.memmap | None = None

    def _tau(self) -> tuple[int, int]:
        period = self.proc_params["period"]
        return (self.time_step - 1) % period, (self.time_step - 1) // period

    def _open_record(self, columns: int, dtype: type) -> np.memmap:
        if self._record is None:
            self._record = np.memmap(self.proc_params["record"], dtype=dtype, mode="r+",
                                     shape=(self.proc_params["samples"], columns))
        return self._record


@implements(proc=SpikeDelay, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeDelayModel(PyLoihiProcessModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=1)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._ring = np.zeros((proc_params["delay"], proc_params["size"]), dtype=np.int32)

    def run_spk(self) -> None:
        delay, period = self.proc_params["delay"], self.proc_params.get("period", 0)
        slot = (self.time_step - 1) % delay
        out = self._ring[slot].copy()          # what arrived `delay` steps ago
        if period and (self.time_step - 1) % period < delay:
            out[:] = 0                         # emitted during the previous sample period: flushed
        self.s_out.send(out)                   # send before receiving: safe inside recurrent loops
        self._ring[slot] = self.s_in.recv()


@implements(proc=DelayDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyPeriodicDelayDenseModel(PyDelayDenseModelBitAcc):
    """Lava's bit-accurate DelayDense (lava-nc 0.10 `PyDelayDenseModelBitAcc`, what lava-dl netx builds for a
    layer's `delay`): the same weights, clipping, delay buffer and shifts, with two changes that keep the integers.

    * At the first step of each sample period (proc param `period`) the delay buffer is emptied: what it holds
      then was sent during the previous sample.
    * `calc_act` sums only the synapses of the sources that sent something, into their delay slots: the original
      multiplies a (delays x outputs, inputs) matrix by the input at every step, which costs seconds per hundred
      steps at 62 delays. Sums are exact (float64 below 2**53; the rate runner keeps them below 2**31).
    """

    def run_spk(self) -> None:
        if (self.time_step - 1) % self.proc_params["period"] == 0:
            self.a_buff[:] = 0
        super().run_spk()

    def calc_act(self, s_in: np.ndarray) -> np.ndarray:
        slots = self.a_buff.shape[-1]
        active = np.flatnonzero(s_in)
        if active.size == 0:
            return np.zeros((self.weights.shape[0], slots), dtype=np.int64)
        outputs = self.weights.shape[0]
        index = np.arange(outputs)[:, None] * slots + self.delays[:, active]
        values = self.weights[:, active].astype(np.float64) * np.asarray(s_in, dtype=np.float64)[active]
        act = np.bincount(index.ravel(), weights=values.ravel(), minlength=outputs * slots)
        return np.rint(act).astype(np.int64).reshape(outputs, slots)
