"""Lava processes of a compiled TTFS network (interfaces only; the fixed-point models are in `models.py`).

Every population runs on a repeating *sample period* of T steps: local step tau = (time_step - 1) % T,
sample = (time_step - 1) // T. At tau = 0 each model resets its state, so many samples stream through
one Lava run. Results are written by the models straight into shared memory-mapped files (`record`),
so reading them costs nothing like `Var.get()` (one message per element).

Always run these with `exception_proc_model_map` naming the model of every instance (the mapper does):
Lava's model search would otherwise execute every `.py` file in this directory.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class TtfsInput(AbstractProcess):
    """Injects each sample's input spikes: neuron i spikes at local step `steps[sample, i]` (K = none).

    It also writes the current time step into `progress` (a one-element int64 memmap) for progress bars
    and time-outs.
    """

    def __init__(self, *, steps: np.ndarray, window: int, period: int, progress: str) -> None:
        super().__init__(steps=np.ascontiguousarray(steps, dtype=np.int32), window=window, period=period,
                         progress=progress)
        self.s_out = OutPort(shape=(steps.shape[1],))


class TtfsNeuron(AbstractProcess):
    """A population of fire-once TTFS neurons (Stanojevic B1, discrete time, see `fixed_point`).

    Integrates during [integrate_start, integrate_start + K) of the period and fires during the next K
    steps; records each neuron's spike step within its window (K = no spike) per sample in `record`.
    """

    def __init__(self, *, size: int, v_init: np.ndarray, threshold: np.ndarray, ramp: int, shift: int,
                 state_bits: int, window: int, integrate_start: int, period: int, record: str,
                 samples: int) -> None:
        super().__init__(size=size, v_init=np.asarray(v_init, np.int64), threshold=np.asarray(threshold, np.int64),
                         ramp=ramp, shift=shift, state_bits=state_bits, window=window,
                         integrate_start=integrate_start, period=period, record=record, samples=samples)
        self.a_in = InPort(shape=(size,))
        self.s_out = OutPort(shape=(size,))


class FirstSpikeNeuron(AbstractProcess):
    """Max-pooling neurons: each fires once, on the first step any input of its window spikes."""

    def __init__(self, *, size: int, window: int, listen_start: int, period: int, record: str, samples: int) -> None:
        super().__init__(size=size, window=window, listen_start=listen_start, period=period, record=record,
                         samples=samples)
        self.a_in = InPort(shape=(size,))
        self.s_out = OutPort(shape=(size,))


class TtfsReadout(AbstractProcess):
    """Non-spiking readout: integrates like a TTFS neuron from v = 0 and records v + bias (the logits)."""

    def __init__(self, *, size: int, bias: np.ndarray, shift: int, state_bits: int, window: int,
                 integrate_start: int, period: int, record: str, samples: int) -> None:
        super().__init__(size=size, bias=np.asarray(bias, np.int64), shift=shift, state_bits=state_bits,
                         window=window, integrate_start=integrate_start, period=period, record=record,
                         samples=samples)
        self.a_in = InPort(shape=(size,))


