"""Fixed-point (`fixed_pt`) models of a sigma-delta network on Lava's CPU simulator.

* `PyPeriodicSigmaDeltaModel` is Lava's own `PySigmaDeltaModelFixed` (its `dynamics`: sigma, activation, delta,
  residue, in int32) with two additions: at the first step of each sample period it zeroes sigma, act, residue and
  error (a new sample), and it records the payloads it sends (and, for the readout, act at the period's last step)
  into memory-mapped files. The arithmetic is Lava's, so `verify` checks `fixed_point.sigma_delta_step` against it.
* `PyPeriodicDenseModel` / `PyPeriodicSparseModel` are Lava's bit-accurate graded synapses that also empty their
  one-step buffer at the first step of each period (what it holds then was sent during the previous sample).
* `PySdnnInputModel` and `PySdnnMaxPoolModel` are ours and call `fixed_point` (`delta_encode_step`) and the
  reference simulator's `max_pool`.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.models import PyDenseModelBitAcc
from lava.proc.dense.process import Dense
from lava.proc.sdn.models import PySigmaDeltaModelFixed
from lava.proc.sdn.process import SigmaDelta
from lava.proc.sparse.models import PySparseModelBitAcc
from lava.proc.sparse.process import Sparse

from ....fixed_point import INT, delta_encode_step
from ....lava_runtime.models import PeriodicModel
from ..refsim import max_pool
from .processes import SdnnInput, SdnnMaxPool


@implements(proc=SigmaDelta, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyPeriodicSigmaDeltaModel(PeriodicModel, PySigmaDeltaModelFixed):
    _readout: np.memmap | None = None      # the readout's act per sample, opened after Lava forks

    def run_spk(self) -> None:
        p = self.proc_params
        a_in = self.a_in.recv()
        tau, sample = self._tau()
        if tau == 0:                      # a new sample: Lava's neuron starts from rest
            for var in (self.sigma, self.act, self.residue, self.error):
                var[:] = 0
        s_out = np.right_shift(self.dynamics(a_in), self.state_exp)    # Lava's PySigmaDeltaModelFixed.run_spk
        self.s_out.send(s_out)
        if sample >= p["samples"]:
            return
        size = s_out.shape[0]
        if p.get("record"):
            self._open_record(p["period"] * size, np.int32)[sample, tau * size:(tau + 1) * size] = s_out
        if p.get("readout_record") and tau == p["period"] - 1:
            if self._readout is None:
                self._readout = np.memmap(p["readout_record"], dtype=np.int64, mode="r+", shape=(p["samples"], size))
            self._readout[sample] = self.act


@implements(proc=Dense, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyPeriodicDenseModel(PyDenseModelBitAcc):
    def run_spk(self) -> None:
        if (self.time_step - 1) % self.proc_params["period"] == 0:
            self.a_buff[:] = 0
        super().run_spk()


@implements(proc=Sparse, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyPeriodicSparseModel(PySparseModelBitAcc):
    def run_spk(self) -> None:
        if (self.time_step - 1) % self.proc_params["period"] == 0:
            self.a_buff[:] = 0
        super().run_spk()


@implements(proc=SdnnInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySdnnInputModel(PeriodicModel):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=8)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._payload: np.memmap | None = None
        self._progress: np.memmap | None = None
        self._zeros = np.zeros(proc_params["size"], dtype=np.int32)

    def run_spk(self) -> None:
        p = self.proc_params
        tau, sample = self._tau()
        out = self._zeros
        if tau == 0 and sample < p["samples"]:
            if self._payload is None:
                self._payload = np.memmap(p["payload"], dtype=np.uint8, mode="r", shape=(p["samples"], p["size"]))
            out = self._payload[sample].astype(np.int32)
        self.s_out.send(out)
        if self._progress is None:
            self._progress = np.memmap(p["progress"], dtype=np.int64, mode="r+", shape=(1,))
        self._progress[0] = self.time_step


@implements(proc=SdnnMaxPool, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySdnnMaxPoolModel(PeriodicModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._recon = np.zeros((1,) + tuple(proc_params["source_shape"]), dtype=INT)
        self._act = np.zeros((1,) + tuple(proc_params["shape"]), dtype=INT)
        self._residue = np.zeros_like(self._act)

    def run_spk(self) -> None:
        p = self.proc_params
        a_in = self.a_in.recv().astype(INT)
        tau, sample = self._tau()
        if tau == 0:
            self._recon[:] = 0
            self._act[:] = 0
            self._residue[:] = 0
        self._recon += a_in.reshape(self._recon.shape)
        new = max_pool(self._recon, p["kernel"], p["stride"])
        self._act, self._residue, s = delta_encode_step(self._act, self._residue, new, 0)
        out = s.reshape(-1).astype(np.int32)
        self.s_out.send(out)
        if sample < p["samples"]:
            size = out.shape[0]
            self._open_record(p["period"] * size, np.int32)[sample, tau * size:(tau + 1) * size] = out


#: The model of each process class the runner creates (Lava's own processes get the periodic variants above).
SDNN_MODELS = {SigmaDelta: PyPeriodicSigmaDeltaModel, Dense: PyPeriodicDenseModel, Sparse: PyPeriodicSparseModel,
               SdnnInput: PySdnnInputModel, SdnnMaxPool: PySdnnMaxPoolModel}
