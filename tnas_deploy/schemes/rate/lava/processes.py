"""Lava processes of a compiled rate network (interfaces only; the models are in `models.py`).

Like the TTFS processes, every population runs on a repeating sample period, here `net.run_steps`
(T + D) steps: local step tau = (time_step - 1) % period, sample = (time_step - 1) // period, state
reset at tau = 0, results written straight into memory-mapped files (`record`).

Always run these with `exception_proc_model_map` naming the model of every instance (the rate runner
does): Lava's model search would otherwise execute every `.py` file in this directory.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class RateInput(AbstractProcess):
    """Sends each sample's graded payloads (0..255) at local steps 0..T-1, zeros afterwards.

    `payload` names a uint8 memmap file of shape (samples, frames, size): frames = 1 for a static image
    (sent at every one of the T steps) or T for event counts per bin. The process also writes the current
    time step into `progress` (a one-element int64 memmap) for progress bars and time-outs.
    """

    def __init__(self, *, size: int, payload: str, samples: int, frames: int, steps: int, period: int,
                 progress: str) -> None:
        super().__init__(size=size, payload=payload, samples=samples, frames=frames, steps=steps, period=period,
                         progress=progress)
        self.s_out = OutPort(shape=(size,))


class CubaNeuron(AbstractProcess):
    """A population of CUBA neurons (`fixed_point.cuba_step`): IF, LIF or the OR neurons of a spike max-pool.

    Input is the sum of weight mantissas x payloads delivered by Lava's Dense/Sparse; the model shifts it
    into the state. Records its spike raster per sample in `record`: uint8 (samples, period * size).
    """

    def __init__(self, *, size: int, du: int, dv: int, threshold: int, reset_subtract: bool, bias: np.ndarray,
                 shift: int, state_bits: int, period: int, record: str, samples: int) -> None:
        super().__init__(size=size, du=du, dv=dv, threshold=threshold, reset_subtract=reset_subtract,
                         bias=np.asarray(bias, np.int64).reshape(-1), shift=shift, state_bits=state_bits,
                         period=period, record=record, samples=samples)
        self.a_in = InPort(shape=(size,))
        self.s_out = OutPort(shape=(size,))


class RateReadout(AbstractProcess):
    """The membrane readout: accumulates input plus bias over the whole period (`fixed_point.accumulate_step`),
    first decaying by `dv` each step when it leaks (genome version 3 readout tau; 0: no leak), and records the
    accumulator at the period's last step: int64 (samples, size)."""

    def __init__(self, *, size: int, bias: np.ndarray, shift: int, state_bits: int, period: int, record: str,
                 samples: int, dv: int = 0) -> None:
        super().__init__(size=size, bias=np.asarray(bias, np.int64).reshape(-1), shift=shift, state_bits=state_bits,
                         period=period, record=record, samples=samples, dv=int(dv))
        self.a_in = InPort(shape=(size,))
