"""Fixed-point (`fixed_pt`) ProcessModels of the TTFS processes, for `Loihi2SimCfg(select_tag='fixed_pt')`.

All arithmetic goes through `tnas_deploy.fixed_point`, the module the reference simulator uses, so the
two agree bit for bit. Synaptic input arrives as the sum of weight mantissas (Lava's Dense/Sparse with
`weights << 1, weight_exp = -1`, see `runner.py`); `weight_to_state` shifts it into the state here.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from ....lava_runtime.models import PeriodicModel, PySpikeDelayModel
from ....fixed_point import INT, first_spike_step, readout_value, ttfs_fire_step, ttfs_integrate_step, weight_to_state
from .processes import FirstSpikeNeuron, TtfsInput, TtfsNeuron, TtfsReadout
from ....lava_runtime.processes import SpikeDelay


@implements(proc=TtfsInput, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyTtfsInputModel(PeriodicModel):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._steps = proc_params["steps"]
        self._progress = None

    def run_spk(self) -> None:
        tau, sample = self._tau()
        spikes = np.zeros(self._steps.shape[1], dtype=np.int32)
        if tau < self.proc_params["window"] and sample < self._steps.shape[0]:
            spikes = (self._steps[sample] == tau).astype(np.int32)
        self.s_out.send(spikes)
        if self._progress is None:
            self._progress = np.memmap(self.proc_params["progress"], dtype=np.int64, mode="r+", shape=(1,))
        self._progress[0] = self.time_step


@implements(proc=TtfsNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyTtfsNeuronModel(PeriodicModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        p = proc_params
        self._v_init = p["v_init"].astype(INT)
        self._threshold = p["threshold"].astype(INT)
        self._u = np.zeros(p["size"], dtype=INT)
        self._v = self._v_init.copy()
        self._fired = np.zeros(p["size"], dtype=bool)

    def run_spk(self) -> None:
        p = self.proc_params
        a_in = self.a_in.recv().astype(INT)
        tau, sample = self._tau()
        K, start = p["window"], p["integrate_start"]
        if tau == 0:                                   # a new sample: reset
            self._u[:] = 0
            self._v[:] = self._v_init
            self._fired[:] = False
        spikes = np.zeros(p["size"], dtype=np.int32)
        if start <= tau < start + K:
            self._u, self._v, _, _ = ttfs_integrate_step(self._u, self._v, weight_to_state(a_in, p["shift"]),
                                                         p["state_bits"])
        elif start + K <= tau < start + 2 * K:
            self._v, fired_now, self._fired, _ = ttfs_fire_step(self._v, self._fired, p["ramp"], self._threshold,
                                                                p["state_bits"])
            if fired_now.any():
                self._open_record(p["size"], np.int32)[sample, fired_now] = tau - start - K
            spikes = fired_now.astype(np.int32)
        self.s_out.send(spikes)


@implements(proc=FirstSpikeNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFirstSpikeModel(PeriodicModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._fired = np.zeros(proc_params["size"], dtype=bool)

    def run_spk(self) -> None:
        p = self.proc_params
        a_in = self.a_in.recv()
        tau, sample = self._tau()
        if tau == 0:
            self._fired[:] = False
        spikes = np.zeros(p["size"], dtype=np.int32)
        start = p["listen_start"]
        if start <= tau < start + p["window"]:
            fired_now, self._fired = first_spike_step(a_in, self._fired)
            if fired_now.any():
                self._open_record(p["size"], np.int32)[sample, fired_now] = tau - start
            spikes = fired_now.astype(np.int32)
        self.s_out.send(spikes)


@implements(proc=TtfsReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyTtfsReadoutModel(PeriodicModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        self._u = np.zeros(proc_params["size"], dtype=INT)
        self._v = np.zeros(proc_params["size"], dtype=INT)

    def run_spk(self) -> None:
        p = self.proc_params
        a_in = self.a_in.recv().astype(INT)
        tau, sample = self._tau()
        if tau == 0:
            self._u[:] = 0
            self._v[:] = 0
        start, K = p["integrate_start"], p["window"]
        if start <= tau < start + K:
            self._u, self._v, _, _ = ttfs_integrate_step(self._u, self._v, weight_to_state(a_in, p["shift"]),
                                                         p["state_bits"])
            if tau == start + K - 1:
                value, _ = readout_value(self._v, p["bias"], p["state_bits"])
                self._open_record(p["size"], np.int64)[sample] = value


MODELS = {TtfsInput: PyTtfsInputModel, TtfsNeuron: PyTtfsNeuronModel, FirstSpikeNeuron: PyFirstSpikeModel,
          TtfsReadout: PyTtfsReadoutModel, SpikeDelay: PySpikeDelayModel}
