"""Fixed-point (`fixed_pt`) ProcessModels of the rate processes, for `Loihi2SimCfg(select_tag='fixed_pt')`.

All arithmetic goes through `tnas_deploy.fixed_point` (`cuba_step`, `accumulate_step`, `weight_to_state`),
the functions the rate reference simulator calls, so the two agree bit for bit.

Period boundaries: every path into a population has a delay >= 1 and the input starts emitting at local
step 0, so nothing legitimate arrives at local step 0. What arrives then was emitted at the end of the
previous sample (one Dense/Sparse hop); the models drop it. Longer delays are flushed by `SpikeDelay`
(with `period`), which sends zeros while it still holds the previous sample's emissions.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from ....fixed_point import INT, CubaParams, accumulate_step, cuba_step, weight_to_state
from ...ttfs.lava.models import PeriodicModel
from .processes import CubaNeuron, RateInput, RateReadout


@implements(proc=RateInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyRateInputModel(PeriodicModel):
    # graded spikes: the payload travels as int32 through the channel; Dense/Sparse with
    # num_message_bits > 0 multiply their weights by it
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
        if tau < p["steps"] and sample < p["samples"]:
            if self._payload is None:
                self._payload = np.memmap(p["payload"], dtype=np.uint8, mode="r",
                                          shape=(p["samples"], p["frames"], p["size"]))
            out = self._payload[sample, tau if p["frames"] > 1 else 0].astype(np.int32)
        self.s_out.send(out)
        if self._progress is None:
            self._progress = np.memmap(p["progress"], dtype=np.int64, mode="r+", shape=(1,))
        self._progress[0] = self.time_step


@implements(proc=CubaNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyCubaNeuronModel(PeriodicModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        p = proc_params
        self._params = CubaParams(int(p["du"]), int(p["dv"]), int(p["threshold"]), bool(p["reset_subtract"]),
                                  int(p["state_bits"]))
        self._bias = p["bias"].astype(INT)
        self._u = np.zeros(p["size"], dtype=INT)
        self._v = np.zeros(p["size"], dtype=INT)

    def run_spk(self) -> None:
        p = self.proc_params
        a_in = self.a_in.recv().astype(INT)
        tau, sample = self._tau()
        if tau == 0:                      # a new sample: reset; what arrives now belongs to the previous one
            self._u[:] = 0
            self._v[:] = 0
            a_in[:] = 0
        self._u, self._v, spikes, _, _ = cuba_step(self._u, self._v, weight_to_state(a_in, p["shift"]), self._bias,
                                                   self._params)
        if spikes.any():
            size = p["size"]
            self._open_record(p["period"] * size, np.uint8)[sample, tau * size:(tau + 1) * size] = spikes
        self.s_out.send(spikes.astype(np.int32))


@implements(proc=RateReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyRateReadoutModel(PeriodicModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._acc = np.zeros(proc_params["size"], dtype=INT)
        self._bias = proc_params["bias"].astype(INT)

    def run_spk(self) -> None:
        p = self.proc_params
        a_in = self.a_in.recv().astype(INT)
        tau, sample = self._tau()
        if tau == 0:
            self._acc[:] = 0
            a_in[:] = 0
        self._acc, _ = accumulate_step(self._acc, weight_to_state(a_in, p["shift"]), self._bias, p["state_bits"],
                                       p.get("dv", 0))
        if tau == p["period"] - 1:
            self._open_record(p["size"], np.int64)[sample] = self._acc


RATE_MODELS = {RateInput: PyRateInputModel, CubaNeuron: PyCubaNeuronModel, RateReadout: PyRateReadoutModel}
