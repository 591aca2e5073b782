"""A netx layer's axonal `delay` as the genome edge fields that run it exactly (genome version 3; docs/interop.md).

What lava-dl 0.6.0 does with `layer/<i>/delay` (`lava/lib/dl/netx/hdf5.py`, `Network.create_dense`, lines 425-448,
and `netx/blocks/process.py`, `Dense`, lines 145-178): only `dense` (and `dense_rec`) layers read it, and their
synapse becomes Lava's `DelayDense`, in which a spike through a synapse of delay d arrives d + 1 steps later
(d = 0: as through a plain Dense). Delays above 62 are clamped to 0..62 (with a warning) and cast with
`astype(int)`. A number is one delay for the whole layer; a vector with one entry per neuron of the layer
(`weight.shape[0]`) delays the synapses *into* each neuron (tried first, so a square layer reads it this way);
one entry per input (`weight.shape[1]`) delays each input's synapses; a matrix delays each synapse. `conv` layers
ignore it (the code that would read it is commented out).

SLAYER, which writes the dataset, means something else by it: its dense block delays each of its neurons' *output*
spikes (`slayer/block/base.py`, `forward`: `x = self.delay(x)` after the neuron); netx puts the same vector on the
block's input synapses. The import follows netx, the runtime that reads the file, and says so in a note.

The genome counts the same steps after the usual one-step hop: a number becomes the edge's `delay`, a vector per
neuron its `target_delay`, a vector per input its `delay` list, a matrix that is one of these two in disguise (equal
along a row or a column) likewise; a matrix of genuinely per-synapse delays is refused.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DeployError

#: netx clamps delays to this (hdf5.py line 427-430; blocks/process.py line 177: DelayDense max_delay=62).
NETX_MAX_DELAY = 62


def netx_edge_delay(group: Any, kind: str, weight: np.ndarray, out_size: int, path: Path, where: str,
                    notes: list[str]) -> dict[str, Any]:
    """The fields of the edge into the layer's node ({}, {"delay": ...} or {"target_delay": [...]}) for its `delay`
    dataset, as netx runs it (`weight` as stored, `out_size` the layer's neurons); notes for what netx changes
    (clamping, truncation) or ignores (a conv layer's delay)."""
    if "delay" not in group:
        return {}
    field = f"{where}/delay"
    raw = np.asarray(group["delay"][()])
    if raw.dtype.kind not in "iuf" or not np.all(np.isfinite(raw)):
        raise DeployError("expected finite numbers of steps", path, field)
    if kind != "dense":
        if np.any(raw != 0):
            notes.append(f"{field}: netx 0.6.0 ignores the delays of {kind} layers (hdf5.py create_conv); imported "
                         "without them, as netx runs the file")
        return {}
    delay = raw
    if delay.max(initial=0) > NETX_MAX_DELAY:
        notes.append(f"{field}: delays up to {delay.max():g} steps; netx clamps them to 0..{NETX_MAX_DELAY}, and so "
                     "does the import")
        delay = np.clip(delay, 0, NETX_MAX_DELAY)
    if np.any(delay < 0):
        raise DeployError(f"a negative delay ({delay.min():g}): Lava's DelayDense refuses it, and a spike cannot "
                          "arrive before the usual one-step hop", path, field)
    steps = delay.astype(np.int64)                     # netx: delay.astype(int), truncating
    if np.any(steps != delay):
        notes.append(f"{field}: delays that are not whole steps are cut to whole steps (astype(int)), as netx does")
    if not steps.any():
        return {}
    n_out, n_in = out_size, int(np.size(weight)) // max(out_size, 1)     # netx reshapes a flat weight so
    if steps.ndim == 0:
        return {"delay": int(steps)}
    if steps.ndim == 1 and steps.size == n_out:
        notes.append(f"{field}: one delay per neuron of the layer, imported as netx 0.6.0 runs it: on the synapses "
                     "into each neuron (SLAYER, which writes this dataset, delays each neuron's output spikes instead)")
        return {"target_delay": [int(d) for d in steps]}
    if steps.ndim == 1 and steps.size == n_in:
        return {"delay": [int(d) for d in steps]}
    if steps.ndim == 2 and steps.shape == (n_out, n_in):
        if np.all(steps == steps[:, :1]):
            return {"target_delay": [int(d) for d in steps[:, 0]]}
        if np.all(steps == steps[:1, :]):
            return {"delay": [int(d) for d in steps[0]]}
        raise DeployError("a delay per synapse that is neither one per neuron nor one per input: a genome edge holds "
                          "one delay per source or per target neuron", path, field)
    raise DeployError(f"delays of shape {list(steps.shape)} fit neither the layer's {n_out} neurons nor its {n_in} "
                      "inputs (netx raises RuntimeError for it)", path, field)


__all__ = ["NETX_MAX_DELAY", "netx_edge_delay"]
