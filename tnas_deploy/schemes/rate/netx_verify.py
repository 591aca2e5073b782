"""The netx backend of `tnas-deploy verify --backend netx`: run a compiled rate network's netx file in lava-dl's own
`netx.hdf5.Network` and return what it did as a `SimResult`, spike for spike comparable with the reference.

Which file: `--netx FILE` when given; else, for an artifact compiled from an imported netx file, that file (the
genome's `provenance.imported_path`, then a file of its name, `imported_from`, next to the artifact), checked
against the recorded sha256; else tnas-deploy's own netx export of the artifact, written to a private temporary
folder (the export refuses, naming the layer, what netx cannot express).

Blocks and layers: netx builds one block per population, in the chain's order (the input's neurons, dense,
conv and pooling layers), and a membrane readout is the last block's accumulating neurons; block k's spikes
are the k-th population's raster, the last block's v the readout (`netx_run.py` for the time alignment). A file
ending in an `average` layer (SLAYER's class readout, which netx 0.6.0 cannot build) runs without it, and the
readout is added up from netx's spikes by the artifact's readout rule (`accumulate_readout`).
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ...compiled import CompiledNetwork
from ...errors import DeployError
from ...io_utils import sha256_file
from ...result import SimResult
from ...fixed_point import accumulate_step, weight_to_state
from .layers import CubaLayer, RateInputLayer
from .refsim import input_payload, rate_result

NETX_FORMAT = "lava-dl netx"


@contextmanager
def netx_file(net: CompiledNetwork, artifact: Path, given: Path | None,
              export: Callable[[CompiledNetwork, Path], object] | None = None) -> Iterator[tuple[Path, str]]:
    """The netx file to run for `net` and how it was found (a phrase for the report line); module documentation.
    A file given with --netx runs as it is (a network of other shapes is refused when it is built: `run_netx`).
    `export(net, path)` writes the artifact's own netx file (the rate export when None; sigma-delta passes its own)."""
    provenance = net.provenance if isinstance(net.provenance, dict) else {}
    imported = provenance.get("imported_format") == NETX_FORMAT
    recorded = provenance.get("imported_sha256") if imported else None
    if given is not None:
        if not given.is_file():
            raise DeployError("file not found", given, "--netx")
        other = recorded is not None and sha256_file(given) != recorded
        yield given, f"netx file {given}" + (" (not the file the genome was imported from: its sha256 differs from "
                                             "provenance.imported_sha256)" if other else "")
        return
    if imported:
        candidates = [Path(str(provenance.get("imported_path", ""))), artifact.parent / str(provenance.get(
            "imported_from", ""))]
        found = next((c for c in candidates if str(c) not in ("", ".") and c.is_file()
                      and (recorded is None or sha256_file(c) == recorded)), None)
        if found is None:
            changed = candidates[0].is_file() and str(candidates[0]) not in ("", ".")
            why = ("which has changed since (its sha256 differs from provenance.imported_sha256)" if changed else
                   "which is not found (nor a file of that name, with the recorded sha256, next to the artifact)")
            raise DeployError(f"was compiled from the netx file {provenance.get('imported_path')!r} "
                              f"(provenance.imported_path), {why}; pass it with --netx FILE", artifact, "--backend")
        yield found, f"netx file {found} (the file the genome was imported from)"
        return
    if export is None:
        from .netx import export_netx as export
    with tempfile.TemporaryDirectory(prefix="tnas-netx-") as folder:
        path = Path(folder) / "export.net"
        try:
            export(net, path)
        except DeployError as exc:
            raise DeployError(exc.message, artifact, exc.field) from None
        yield path, "tnas-deploy's netx export of the artifact"


def run_netx_result(net: CompiledNetwork, x: np.ndarray, path: Path, progress: Callable[[float], None] | None = None,
                    timeout: float | None = None) -> SimResult:
    """Run every sample of `x` through the netx file (one guarded Lava run each) and assemble the rate
    `SimResult`: the input's raster from the payload, each population's from its block, the membrane readout
    from the last block's v."""
    from .netx_run import run_netx_samples

    populations = [layer for layer in net.layers if isinstance(layer, CubaLayer)]
    readout = net.readout
    payload = np.asarray(input_payload(x, net.layers[0], net.steps))
    run = net.run_steps
    outs = run_netx_samples(path, payload, run, timeout=timeout, progress=progress)
    # a membrane readout is the last block's v, unless netx does not build the file's readout layer (`average`)
    readout_block = readout.mode == "membrane" and (not outs or outs[0]["readout_built"])
    expected = len(populations) + readout_block
    blocks = len(outs[0]["spikes"]) if outs else expected
    if blocks != expected:
        raise DeployError(f"has {blocks} blocks, but the artifact has {len(populations)} populations"
                          + (" and a membrane readout" if readout_block else "")
                          + f" ({expected} blocks in netx): another network", path, "layer")
    rasters: dict[str, np.ndarray] = {}
    for layer in net.layers:
        if isinstance(layer, RateInputLayer):
            raster = np.zeros((len(x), run) + tuple(layer.shape), dtype=bool)
            raster[:, :net.steps] = payload != 0
            rasters[layer.id] = raster
    for k, layer in enumerate(populations):
        stack = np.stack([out["spikes"][k] for out in outs]) if outs else np.zeros((0, run) + tuple(layer.shape), bool)
        if stack.shape[1:] != (run,) + tuple(layer.shape):
            raise DeployError(f"block {k} has {int(np.prod(stack.shape[2:]))} neurons, but layer {layer.id!r} of the "
                              f"artifact has {layer.size}: another network", path, "layer")
        rasters[layer.id] = stack
    if readout_block and outs:
        acc = np.stack([out["v"].reshape(-1) for out in outs]).astype(np.int64)
    elif readout.mode == "membrane":
        acc = accumulate_readout(net, rasters)
    else:
        acc = np.zeros((len(x), readout.size), dtype=np.int64)
    return rate_result(net.layers, run, net.fmt.state_bits, rasters, acc, None, readout.scale)


def accumulate_readout(net: CompiledNetwork, rasters: dict[str, np.ndarray]) -> np.ndarray:
    """The membrane readout's integer value from its sources' rasters (N, run, *shape), by the readout's own
    rule (`fixed_point.accumulate_step` of each step's synaptic input plus bias): for a file whose readout layer
    netx does not build, so that the comparison covers netx's spikes and what the chip adds up from them."""
    readout = net.readout
    by_id = net.by_id
    n, run = next(iter(rasters.values())).shape[:2]
    acc = np.zeros((n, readout.size), dtype=np.int64)
    bias = np.asarray(readout.bias, dtype=np.int64).reshape(-1)
    parts = [part for p in readout.projections                  # one delay each (axonal delays split)
             for part in p.arrival_parts(by_id[p.source].shape, tuple(readout.shape))]
    for t in range(run):
        a_in = np.zeros((n, readout.size), dtype=np.int64)
        for p in parts:
            if t - p.delay < 0:
                continue
            spikes = rasters[p.source][:, t - p.delay].astype(np.float64)
            value = np.rint(p.apply(spikes.reshape((n,) + tuple(by_id[p.source].shape)))).reshape(n, -1)
            a_in += weight_to_state(value, p.state_shift(readout.shift))
        acc, _ = accumulate_step(acc, a_in, bias, net.fmt.state_bits)
    return acc


__all__ = ["netx_file", "run_netx_result"]
