"""What a simulation returns, whatever the coding and the backend: spikes per layer, the readout, logits,
predictions, per-layer counts and the peak of every state variable.

How a layer's spikes are stored depends on the coding and is named by `spike_format`:
`SPIKE_TIMES` (one global spike step per neuron, -1 = no spike: TTFS) or `SPIKE_RASTERS` (a boolean
raster (samples, steps, *shape): rate) or `SPIKE_PAYLOADS` (graded payloads (samples, steps, *shape), int32:
sigma-delta). Result and golden files keep both under `spike_times/<layer>`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPIKE_TIMES = "times"
SPIKE_RASTERS = "rasters"
#: Sigma-delta: the graded payload each neuron sent at each step, int32 (samples, steps, *shape), 0 = no spike.
SPIKE_PAYLOADS = "payloads"


@dataclass
class SimResult:
    """Per sample: every spiking layer's spikes (in `spike_format`), readout, prediction, counts."""

    spike_times: dict[str, np.ndarray]          # layer id -> SPIKE_TIMES: (N, *shape) int64 global step, -1 = none;
                                                # SPIKE_RASTERS: (N, steps, *shape) bool
    readout: np.ndarray                         # (N, classes) int64 readout membrane (logits in state units)
    logits: np.ndarray                          # (N, classes) float64 = readout * scale
    predictions: np.ndarray                     # (N,) int64, argmax of the readout (lowest index on ties)
    counts: dict[str, dict[str, np.ndarray]]    # layer id -> {spikes, synaptic_events, neuron_updates} -> (N,)
    spike_format: str                           # SPIKE_TIMES or SPIKE_RASTERS
    peaks: dict[str, dict[str, int]] = field(default_factory=dict)  # layer -> {u, v}: largest |value| before saturation
    saturated: dict[str, bool] = field(default_factory=dict)        # layer -> whether any state was clipped

    @property
    def samples(self) -> int:
        return int(self.predictions.shape[0])

    def spike_total(self) -> int:
        """Spikes in every recorded layer and sample."""
        return sum(count_spikes(a, self.spike_format) for a in self.spike_times.values())


def count_spikes(spikes: np.ndarray, spike_format: str) -> int:
    """Spikes in an array of spike times (-1 = none), a boolean raster or graded payloads (0 = none)."""
    if spike_format == SPIKE_PAYLOADS:
        return int(np.count_nonzero(spikes))
    return int(spikes.sum()) if spike_format == SPIKE_RASTERS else int((spikes >= 0).sum())


def concat_results(parts: list[SimResult]) -> SimResult:
    """One result from the results of consecutive batches (samples in order)."""
    first = parts[0]
    return SimResult(
        spike_times={k: np.concatenate([p.spike_times[k] for p in parts]) for k in first.spike_times},
        readout=np.concatenate([p.readout for p in parts]),
        logits=np.concatenate([p.logits for p in parts]),
        predictions=np.concatenate([p.predictions for p in parts]),
        counts={k: {c: np.concatenate([p.counts[k][c] for p in parts]) for c in first.counts[k]} for k in first.counts},
        peaks={k: {v: max(p.peaks[k][v] for p in parts) for v in first.peaks[k]} for k in first.peaks},
        saturated={k: any(p.saturated[k] for p in parts) for k in first.saturated},
        spike_format=first.spike_format,
    )
