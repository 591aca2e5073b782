"""lava-dl netx files of sigma-delta neurons (neuron type `SDNN`) -> a sigma-delta genome plus weights (docs/interop.md,
"netx", sigma-delta files); `netx_import.import_netx` hands such files here.

netx builds them as `schemes/sdnn/netx.py` describes: a Delta input layer fed the host's integer payload, conv and
dense layers of SigmaDelta neurons (ReLU; threshold and bias applied << 12, payload delta >> 6) and possibly a last
Sigma accumulator (`sigma_output`). The genome is that network in real units: every population's value is its
`act / 4096`, so its payloads are 64 per unit, a weight W of the file is W / 64 in the genome (W x 255 / 64 after
the input, whose value x is the payload / 255: lava-dl's integer frame / 255), a bias b is b, a threshold vThMant is
vThMant. Its `chip_integers` (genome version 4) record the state scale of every population (4096 state units per
unit), the state exponent (6) and every population's delta threshold, at which those numbers are exactly the file's
integers; compiling builds them without quantizing again (`schemes/sdnn/netx_exact.py`), and
`tnas-deploy verify --backend netx` runs the file itself in netx to compare.

The readout: a last Sigma layer (PilotNet SDNN's output) is the genome's readout, its act = sigma (netx's Sigma has no
bias); a file ending in a population (square_network.net) gets a readout that adds up the last population's payloads
(an identity dense node into the readout: each neuron's reconstructed value), which netx's own run gives by adding up
the same payloads (`schemes/sdnn/netx_verify.py`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from ..errors import DeployError
from ..io_utils import sha256_file
from ..schemes.rate.netx import dense_effect
from ..weights import Weights
from .imported import Imported, unique_id

#: netx applies vThMant and bias << (spike_exp 6 + state_exp 6): a population's state units per unit of value.
SDNN_STATE_SCALE = 4096
#: netx's SDNN payload is delta >> 6 (Lava's state_exp).
SDNN_STATE_EXP = 6
#: The genome's input value x is the payload / 255 (tnas-deploy's sigma-delta input encoding, round(255 x)).
INPUT_LEVELS = 255
#: The added readout of a file that ends in a population: the sum of its payloads, 64 per unit of value.
SUM_READOUT_SCALE = 64
#: Layer types netx 0.6.0 builds (others raise NotImplementedError there, or are not sigma-delta layers).
LAYER_KINDS = ("input", "flatten", "dense", "conv")


def is_sdnn(group: h5py.Group) -> bool:
    """Whether a netx file's `layer` group describes sigma-delta neurons (its first layer with a neuron is SDNN)."""
    for key in sorted(group.keys(), key=lambda k: int(k) if k.isdigit() else -1):
        layer = group[key]
        if isinstance(layer, h5py.Group) and "neuron" in layer and "type" in layer["neuron"]:
            return _text(layer["neuron"]["type"][()]).upper() == "SDNN"
    return False


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else b""
    return value.decode("ascii", "replace") if isinstance(value, (bytes, np.bytes_)) else str(value)


def _integers(g: h5py.Group, key: str, path: Path, where: str) -> np.ndarray:
    if key not in g:
        raise DeployError(f"missing {key!r}", path, f"{where}/{key}")
    value = np.asarray(g[key][()])
    if value.dtype.kind not in "iuf" or not np.all(np.isfinite(value)):
        raise DeployError("expected finite numbers", path, f"{where}/{key}")
    ints = value.astype(np.int64)                      # netx reads them with astype(int)
    return ints


def _pair(g: h5py.Group, key: str, path: Path, where: str) -> tuple[int, int]:
    arr = _integers(g, key, path, where).reshape(-1)
    if arr.size not in (1, 2):
        raise DeployError(f"expected one or two integers, got {arr.tolist()!r}", path, f"{where}/{key}")
    return (int(arr[0]), int(arr[-1]))


def _neuron(g: h5py.Group, path: Path, where: str) -> tuple[int, bool]:
    """(vThMant, sigma_output) of an SDNN neuron; refuses other neuron types and what netx does not read."""
    if "neuron" not in g:
        raise DeployError("a layer without neuron: netx gives it its default CUBA integrator, which a sigma-delta "
                          "network does not have", path, f"{where}/neuron")
    cfg = g["neuron"]
    kind = _text(cfg["type"][()]).upper() if "type" in cfg else ""
    if kind != "SDNN":
        raise DeployError(f"neuron type {kind!r} in a sigma-delta network: every layer of an imported file has the "
                          "same neuron type", path, f"{where}/neuron/type")
    vth = _integers(cfg, "vThMant", path, f"{where}/neuron").reshape(-1)
    if vth.size != 1 or vth[0] < 0:
        raise DeployError(f"expected one integer >= 0, got {vth.tolist()}", path, f"{where}/neuron/vThMant")
    if "activation" in cfg and _text(cfg["activation"][()]).lower() != "relu":
        raise DeployError(f"activation {_text(cfg['activation'][()])!r}: netx ignores it and builds ReLU sigma-delta "
                          "neurons, so the file does not run as it says", path, f"{where}/neuron/activation")
    if "messageBits" in cfg:
        raise DeployError("messageBits: tnas-deploy imports netx's default graded payloads (16 bits) only", path,
                          f"{where}/neuron/messageBits")
    return int(vth[0]), "sigma_output" in cfg


def import_netx_sdnn(path: Path, groups: list[h5py.Group], steps: int | None, name: str | None,
                     meta: dict[str, Any]) -> Imported:
    """The genome of a sigma-delta netx file (module documentation). `groups` are the file's `layer/<i>` in order;
    raises DeployError naming the file and dataset for what the genome cannot hold exactly."""
    notes: list[str] = []
    nodes: list[dict[str, Any]] = []
    weights: Weights = {}
    taken = {"x", "out"}
    scales: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    first = groups[0]
    if "type" not in first or _text(first["type"][()]) != "input" or "neuron" not in first:
        raise DeployError("a sigma-delta file starts with an input layer of SDNN neurons (netx's Delta encoder)", path,
                          "layer/0/type")
    shape = tuple(int(s) for s in _integers(first, "shape", path, "layer/0").reshape(-1))
    vth_in, _ = _neuron(first, path, "layer/0")
    if vth_in != 0:
        raise DeployError(f"an input threshold of {vth_in}: netx's Delta input then never sends a held pixel below it, "
                          "where tnas-deploy's input sends every pixel once; only vThMant 0 imports", path,
                          "layer/0/neuron/vThMant")
    if "weight" in first or "bias" in first:
        notes.append("layer/0: the input layer's weight/bias transform is ignored, as netx ignores it")
    input_shape = list(shape)
    prev, prev_is_input, pending_flatten = "x", True, False
    readout_source = None
    for i, g in enumerate(groups[1:], start=1):
        where = f"layer/{i}"
        kind = _text(g["type"][()]) if "type" in g else ""
        if kind not in LAYER_KINDS or kind == "input":
            raise DeployError(f"cannot import a {kind!r} layer into a sigma-delta genome (netx 0.6.0 builds input, "
                              "flatten, dense and conv layers; an input layer comes first only)", path, f"{where}/type")
        if kind == "flatten":
            pending_flatten = True
            continue
        if "delay" in g:
            raise DeployError("axonal delays in a sigma-delta network have no genome form", path, f"{where}/delay")
        vth, sigma_output = _neuron(g, path, where)
        w = _integers(g, "weight", path, where).astype(np.float64)
        out_shape = tuple(int(s) for s in _integers(g, "shape", path, where).reshape(-1))
        gain = INPUT_LEVELS / 64 if prev_is_input else 1 / 64     # genome weight per stored integer
        node_id = unique_id(f"{kind}{i}", taken)
        if kind == "dense" and (pending_flatten or len(shape) > 1):
            fid = unique_id(f"flatten{i}", taken)
            nodes.append({"id": fid, "type": "flatten", "inputs": [prev]})
            prev, shape, pending_flatten = fid, (int(np.prod(shape)),), False
        if kind == "dense":
            if w.ndim == 1:
                w = w.reshape(int(np.prod(out_shape)), -1)
            if w.shape != (int(np.prod(out_shape)), shape[0]):
                raise DeployError(f"weight of shape {list(w.shape)} does not connect {list(shape)} to "
                                  f"{list(out_shape)}", path, f"{where}/weight")
            effect, why = dense_effect(w)
            if effect is None:          # netx would run other weights than the file stores
                raise DeployError(f"cannot import these weights exactly: {why}", path, f"{where}/weight")
            node = {"id": node_id, "type": "dense", "inputs": [prev], "units": int(w.shape[0])}
            new_shape: tuple[int, ...] = (int(w.shape[0]),)
        else:
            if w.ndim == 5:
                w = w[..., 0]
            stride, padding = _pair(g, "stride", path, where), _pair(g, "padding", path, where)
            if _pair(g, "dilation", path, where) != (1, 1):
                raise DeployError("dilation: a genome conv2d has no dilation", path, f"{where}/dilation")
            if int(_integers(g, "groups", path, where).reshape(-1)[0]) != 1:
                raise DeployError("a grouped convolution: a genome conv2d has no groups", path, f"{where}/groups")
            if w.ndim != 4 or len(shape) != 3 or w.shape[1] != shape[0]:
                raise DeployError(f"weight of shape {list(w.shape)} does not fit the input {list(shape)}", path,
                                  f"{where}/weight")
            new_shape = (int(w.shape[0]), (shape[1] + 2 * padding[0] - w.shape[2]) // stride[0] + 1,
                         (shape[2] + 2 * padding[1] - w.shape[3]) // stride[1] + 1)
            if out_shape != new_shape:
                raise DeployError(f"shape {list(out_shape)} does not match the convolution's output {list(new_shape)}",
                                  path, f"{where}/shape")
            node = {"id": node_id, "type": "conv2d", "inputs": [prev], "out_channels": int(w.shape[0]),
                    "kernel": [int(w.shape[2]), int(w.shape[3])], "stride": list(stride), "padding": list(padding)}
        weights[node_id] = {"weight": w * gain}
        bias = _bias(g, new_shape, path, where)
        if sigma_output:
            if bias is not None:
                raise DeployError("a bias on a sigma_output layer: netx's Sigma accumulator cannot take one (its "
                                  "process has no bias)", path, f"{where}/bias")
            if i != len(groups) - 1:
                raise DeployError("a sigma_output layer before the last layer: it sends its sum, not deltas; only "
                                  "the last layer can be read this way", path, f"{where}/neuron/sigma_output")
            node["bias"] = False
            nodes.append(node)
            readout_source = node_id
            scales["out"] = SDNN_STATE_SCALE
            shape = new_shape
            break
        node["bias"] = bias is not None
        if bias is not None:
            weights[node_id]["bias"] = bias
        node["neuron"] = SDNN_NEURON
        nodes.append(node)
        scales[node_id] = SDNN_STATE_SCALE
        thresholds[node_id] = float(vth)
        prev, shape, prev_is_input = node_id, new_shape, False
    if not scales:
        raise DeployError("no dense or conv layer", path, "layer")
    if readout_source is None:       # ends in a population: read the sum of its payloads
        if len(shape) > 1:
            fid = unique_id("flatten_out", taken)
            nodes.append({"id": fid, "type": "flatten", "inputs": [prev]})
            prev = fid
        size = int(np.prod(shape))
        readout_source = unique_id("payload_sum", taken)
        nodes.append({"id": readout_source, "type": "dense", "inputs": [prev], "units": size, "bias": False})
        weights[readout_source] = {"weight": np.eye(size)}
        scales["out"] = SUM_READOUT_SCALE
        notes.append(f"layer/{len(groups) - 1}: the file ends in a population; the genome reads the sum of its "
                     "payloads (an identity dense node 'payload_sum' into the readout: each neuron's value x 64, "
                     "reconstructed), which netx's run gives by adding up the same payloads")
        shape = (size,)
    nodes.append({"id": "out", "type": "readout", "inputs": [readout_source], "mode": "membrane"})
    n_out = int(np.prod(shape))
    task: dict[str, Any] = {"input_shape": input_shape}
    if n_out == 1:
        task["outputs"] = ["output"]
        notes.append(f"layer/{len(groups) - 1}: one output: imported as a regression readout (task.outputs) whose "
                     "real value is the last layer's sigma / 4096, not a class")
    else:
        task["classes"] = [str(k) for k in range(n_out)]
    genome: dict[str, Any] = {
        "format": "tnas-genome", "version": 4, "name": name or unique_id(path.stem, set()),
        "task": task,
        "coding": {"scheme": "sdnn", **({"steps": int(steps)} if steps is not None else {})},
        "provenance": {"imported_from": path.name, "imported_format": "lava-dl netx", "imported_path": str(path),
                       "imported_sha256": sha256_file(path), "tool": f"tnas-deploy {__version__}"},
        "chip_integers": {"state_scales": scales, "state_exp": SDNN_STATE_EXP, "thresholds": thresholds,
                          "source": f"lava-dl netx file {path.name}"},
        "nodes": [{"id": "x", "type": "input"}] + nodes}
    return Imported(genome, weights, notes)


#: The neuron of every imported population (a ReLU sigma-delta neuron).
SDNN_NEURON: dict[str, Any] = {"model": "sigma_delta"}


def _bias(g: h5py.Group, shape: tuple[int, ...], path: Path, where: str) -> np.ndarray | None:
    """The layer's bias as netx broadcasts it: one per channel (or per neuron of a dense layer); None without one."""
    if "bias" not in g:
        return None
    b = _integers(g, "bias", path, where).astype(np.float64)
    if b.size == shape[0]:
        return b.reshape(-1)
    if len(shape) == 3 and b.size == int(np.prod(shape)):
        full = b.reshape(shape[::-1]).transpose(2, 1, 0)   # netx's (x, y, channel) order
        if np.all(full == full[:, :1, :1]):
            return full[:, 0, 0]
        raise DeployError("a bias per neuron of a convolution: a genome conv2d has one bias per channel", path,
                          f"{where}/bias")
    raise DeployError(f"bias of {b.size} values for {shape[0]} channels or neurons", path, f"{where}/bias")


__all__ = ["import_netx_sdnn", "is_sdnn"]
