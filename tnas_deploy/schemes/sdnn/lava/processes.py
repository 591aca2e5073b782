"""Lava processes a sigma-delta network needs beyond Lava's own (interfaces only; the models are in `models.py`).

Populations and the readout are Lava's `SigmaDelta`, synapses Lava's `Dense`/`Sparse` (as lava-dl netx builds SDNN
blocks). Two processes have no Lava counterpart: the host input, and the max-pool of graded spikes (Lava and netx
have no pooling of sigma-delta activations; netx refuses `pool` layers).

Like every scheme's processes, these run on a repeating sample period (`period` = the network's steps): local step
tau = (time_step - 1) % period, sample = (time_step - 1) // period. Always run them with `exception_proc_model_map`
naming the model of every instance (the runner does): Lava's model search would otherwise execute every `.py` file
in this directory.
"""
from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class SdnnInput(AbstractProcess):
    """Sends each sample's graded payloads (`fixed_point.encode_sdnn_input`, 0..255) at local step 0, zeros after.

    `payload` names a uint8 memmap file (samples, size); `progress` a one-element int64 memmap that receives the
    current time step (progress bars and time-outs)."""

    def __init__(self, *, size: int, payload: str, samples: int, period: int, progress: str) -> None:
        super().__init__(size=size, payload=payload, samples=samples, period=period, progress=progress)
        self.s_out = OutPort(shape=(size,))


class SdnnMaxPool(AbstractProcess):
    """Max over pooling windows of the source's activations, reconstructed by summing the graded spikes received
    (same step, no synapse), sent as deltas with threshold 0 (`fixed_point.delta_encode_step`). Records its
    payloads: int32 (samples, period * size) in `record`."""

    def __init__(self, *, source_shape: tuple[int, ...], shape: tuple[int, ...], kernel: tuple[int, int],
                 stride: tuple[int, int], period: int, record: str, samples: int) -> None:
        in_size = 1
        for d in source_shape:
            in_size *= d
        out_size = 1
        for d in shape:
            out_size *= d
        super().__init__(source_shape=tuple(source_shape), shape=tuple(shape), kernel=tuple(kernel),
                         stride=tuple(stride), period=period, record=record, samples=samples, size=out_size)
        self.a_in = InPort(shape=(in_size,))
        self.s_out = OutPort(shape=(out_size,))
