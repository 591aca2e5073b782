"""The netx backend of `tnas-deploy verify --backend netx` for sigma-delta networks: run the network's netx file in
lava-dl's own `netx.hdf5.Network` and return what it did as a `SimResult` of graded payloads, comparable payload for
payload with the reference simulator (docs/interop.md, "netx", sigma-delta files).

Which file: as for rate networks (`schemes/rate/netx_verify.netx_file`): `--netx FILE`, else the file an imported
genome came from, else tnas-deploy's own export of the artifact (`netx.py`).

Time: the reference's input sends its payload at step 0 and every graded synapse adds one step, and every population
runs (biases included) from step 0. netx's input is a Delta encoder: the host holds the frame of payloads on its
`a_in` from Lava step 1 on, and it sends `payload << 6` once, at step 1. So Lava step s is step s - 1 of the
reference for every block. What each block is in the artifact:

* block 0 (the input): its messages >> 6 are the input's payloads;
* a SigmaDelta block: its payloads are the population's (netx's states are ours << (6 - state_exp));
* a last Sigma block (`sigma_output`): it sends its sigma every step; the readout's act is `(sigma >> gain) + bias`
  (the file's `tnas_deploy` metadata records `readout_gain_exp` and `readout_bias`; a foreign file has neither: 0),
  its payloads the changes of act (the readout's threshold is 0);
* a file that ends in a population (its readout is the sum of the last population's payloads, `netx_sdnn.py`):
  the readout is added up from netx's last payloads by the artifact's own readout rule.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from ...compiled import CompiledNetwork
from ...errors import DeployError
from ...fixed_point import INT, encode_sdnn_input, graded_synapse, sigma_delta_step
from ...result import SimResult
from ..rate.netx import METADATA_KEY
from .layers import SdnnFlattenLayer, SdnnInputLayer, SdnnReadoutLayer, SigmaDeltaLayer
from .netx import NETX_SDNN_SPIKE_EXP, export_sdnn_netx
from .refsim import sdnn_result


@contextmanager
def sdnn_netx_file(net: CompiledNetwork, artifact: Path, given: Path | None) -> Iterator[tuple[Path, str]]:
    """The netx file to run for a sigma-delta artifact and how it was found (`rate.netx_verify.netx_file`)."""
    from ..rate.netx_verify import netx_file

    with netx_file(net, artifact, given, export=export_sdnn_netx) as found:
        yield found


def _readout_record(path: Path) -> tuple[int, np.ndarray | None]:
    """(readout_gain_exp, readout_bias) from a file tnas-deploy wrote; (0, None) for any other file."""
    try:
        with h5py.File(path, "r") as f:
            raw = f[METADATA_KEY][()] if METADATA_KEY in f else None
        meta = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw)) if raw is not None else {}
    except (OSError, ValueError, TypeError, RecursionError, AttributeError):
        meta = {}
    gain = meta.get("readout_gain_exp", 0)
    bias = meta.get("readout_bias")
    return (int(gain) if isinstance(gain, int) and 0 <= gain < 32 else 0,
            np.asarray(bias, dtype=INT) if isinstance(bias, list) and all(isinstance(b, int) for b in bias) else None)


def run_sdnn_netx_result(net: CompiledNetwork, x: np.ndarray, path: Path,
                         progress: Callable[[float], None] | None = None, timeout: float | None = None) -> SimResult:
    """Run every sample of `x` through the netx file (one guarded Lava run each) and assemble the sigma-delta
    `SimResult` (module documentation)."""
    from .netx_run import run_netx_sdnn

    steps = net.steps
    payload = encode_sdnn_input(np.asarray(x))
    frames = np.repeat(payload[:, None], steps, axis=1)          # held from Lava step 1 on
    outs = run_netx_sdnn(path, frames, steps, first_step=1, timeout=timeout, progress=progress)
    n = len(x)
    chain = [layer for layer in net.layers if not isinstance(layer, SdnnFlattenLayer)]
    readout = net.readout
    populations = [layer for layer in chain if isinstance(layer, SigmaDeltaLayer)]
    blocks = len(outs[0]) if outs else 0
    sigma_block = blocks == len(populations) + 2
    if outs and blocks not in (len(populations) + 1, len(populations) + 2):
        raise DeployError(f"has {blocks} blocks, but the artifact has an input, {len(populations)} populations and a "
                          "readout: another network", path, "layer")
    sent: dict[str, np.ndarray] = {}
    for k, layer in enumerate(chain[:-1]):
        stack = np.stack([out[k] for out in outs]) if outs else np.zeros((0, steps) + tuple(layer.shape), INT)
        if stack.shape[2:] != tuple(layer.shape):
            raise DeployError(f"block {k} has {int(np.prod(stack.shape[2:]))} neurons, but layer {layer.id!r} of the "
                              f"artifact has {layer.size}: another network", path, "layer")
        if isinstance(layer, SdnnInputLayer):
            stack = np.where(stack % (1 << NETX_SDNN_SPIKE_EXP) == 0, stack >> NETX_SDNN_SPIKE_EXP, stack)
        sent[layer.id] = stack
    if sigma_block and outs:
        gain, bias = _readout_record(path)
        sigma = np.stack([out[-1] for out in outs]).reshape(n, steps, -1)
        if sigma.shape[2] != readout.size:
            raise DeployError(f"its output block has {sigma.shape[2]} neurons, the artifact's readout "
                              f"{readout.size}: another network", path, "layer")
        act = (sigma >> INT(gain)) + (bias if bias is not None and bias.size == readout.size else
                                      np.asarray(readout.bias_q, dtype=INT).reshape(-1))
        sent[readout.id] = np.diff(act, axis=1, prepend=0).reshape((n, steps) + tuple(readout.shape))
        value = act[:, -1] if steps else np.zeros((n, readout.size), dtype=INT)
    else:
        value, sent[readout.id] = _readout_from_payloads(net, sent, n, steps)
    return sdnn_result(net.layers, sent, value, readout.scale)


def _readout_from_payloads(net: CompiledNetwork, sent: dict[str, np.ndarray], n: int, steps: int
                           ) -> tuple[np.ndarray, np.ndarray]:
    """The readout's act at the last step and its payloads, from its sources' payloads by its own rule (graded
    synapses one step late, `fixed_point.sigma_delta_step`): for a file netx has no block of the readout for."""
    readout: SdnnReadoutLayer = net.readout
    by_id = net.by_id
    shape = (n,) + tuple(readout.shape)
    sigma = act = residue = np.zeros(shape, dtype=INT)
    out = np.zeros((n, steps) + tuple(readout.shape), dtype=INT)
    for t in range(steps):
        a_in = np.zeros((n, readout.size), dtype=INT)
        for i, p in enumerate(readout.projections):
            src = p.source
            while isinstance(by_id[src], SdnnFlattenLayer):
                src = by_id[src].source
            if t == 0 or src not in sent:
                continue
            m = sent[src][:, t - 1].reshape((n,) + tuple(by_id[p.source].shape))
            acc = np.rint(p.apply(m)).astype(INT).reshape(n, -1)
            a_in += graded_synapse(acc, readout.weight_exps[i])
        sigma, act, residue, payload, _ = sigma_delta_step(sigma, act, residue, a_in.reshape(shape),
                                                           np.asarray(readout.bias_q, dtype=INT).reshape(shape[1:]),
                                                           readout.vth, readout.state_exp, readout.relu)
        out[:, t] = payload
    return act.reshape(n, -1), out


__all__ = ["run_sdnn_netx_result", "sdnn_netx_file"]
