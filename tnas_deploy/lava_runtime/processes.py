"""Lava processes every coding scheme uses (interfaces only; their models are in `models.py`).

Always run these with `exception_proc_model_map` naming the model of every instance: Lava's model search
would otherwise execute every `.py` file in this directory.
"""
from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class SpikeDelay(AbstractProcess):
    """Delays a vector of spikes (or graded payloads) by `delay` steps.

    TTFS uses it to align sources that spike in different windows. With `period` > 0 (rate coding) it
    also flushes at each sample period: at local step tau < `delay` it sends zeros, since what it holds
    then was emitted during the previous sample.
    """

    def __init__(self, *, size: int, delay: int, period: int = 0) -> None:
        super().__init__(size=size, delay=delay, period=period)
        self.s_in = InPort(shape=(size,))
        self.s_out = OutPort(shape=(size,))
