"""lava-dl netx (HDF5 `.net`) files -> a rate genome plus weights (docs/interop.md, "netx").

The genome is the netx network in its own units (of 64, the LIF's activation shift): weights are the
stored integers, thresholds vThMant, LIF tau 4096 / vDecay, tau_current from iDecay. What netx or Lava would
run differently from the genome is refused naming the layer and field; see `tnas_deploy.schemes.rate.netx`
for how tnas-deploy's integer neuron and netx's blocks correspond.

The genome also records the file's integers exactly (genome version 3, `chip_integers`): each population's
state scale, at which every weight, threshold, bias and decay of the genome is the integer netx runs
(`_ExactScales`). Compiling it builds those integers without quantizing again (`schemes/rate/exact.py`), and
`tnas-deploy verify --backend netx` runs the file itself in netx to compare (`provenance.imported_from`,
`imported_sha256`). A file whose last layer has no neuron and a bias is the one netx network the genome cannot
hold exactly (netx adds that bias once, the genome's readout at every step): it imports without
`chip_integers`, with a note. A file of sigma-delta neurons (type SDNN) becomes a sigma-delta genome
(`netx_sdnn.py`).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from ..errors import DeployError
from ..fixed_point import DECAY_UNITY, RATE_INPUT_LEVELS
from ..io_utils import sha256_file
from ..weights import Weights
from .imported import ID_PATTERN, Imported, unique_id
from .netx_average import average_readout
from .netx_delay import netx_edge_delay
from .netx_sdnn import import_netx_sdnn, is_sdnn
from ..schemes.rate.netx import ACT_SHIFT, METADATA_KEY, VTH_MAX, dense_effect

#: The genome's tau_current for netx's iDecay 0 (a current that never decays): 1 - 1/tau is exactly 1.0 in float.
NEVER_DECAYS = 1e300


def _read(group: h5py.Group, key: str, path: Path, where: str) -> Any:
    try:
        value = group[key][()]
    except KeyError:
        raise DeployError(f"missing {key!r}", path, f"{where}/{key}") from None
    return value


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else b""
    return value.decode("ascii", "replace") if isinstance(value, (bytes, np.bytes_)) else str(value)


def _scalar(value: Any, path: Path, where: str) -> float:
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "iufb" or not np.isfinite(float(arr.reshape(-1)[0])):
        raise DeployError(f"expected one number, got {arr.tolist()!r}", path, where)
    return float(arr.reshape(-1)[0])


def _pair(value: Any, path: Path, where: str) -> tuple[int, int]:
    arr = np.asarray(value).reshape(-1).astype(int)
    if arr.size == 1:
        return int(arr[0]), int(arr[0])
    if arr.size != 2:
        raise DeployError(f"expected one or two integers, got {arr.tolist()!r}", path, where)
    return int(arr[0]), int(arr[1])


def _neuron_spec(cfg: h5py.Group, path: Path, where: str, notes: list[str], input_gain: float = 1.0) -> dict[str, Any]:
    """A genome neuron from a netx CUBA neuron, in units of 64 state units (so weights stay the integers)."""
    kind = _text(_read(cfg, "type", path, where)).upper()
    if kind not in ("CUBA", "LOIHI"):
        raise DeployError(f"neuron type {kind!r} has no tnas-deploy equivalent here (CUBA/LOIHI, Lava's LIF, import "
                          "as a rate genome, a file of SDNN neurons only as a sigma-delta genome; resonate-and-fire "
                          "neurons do not import)", path, f"{where}/type")
    vth = _scalar(_read(cfg, "vThMant", path, where), path, f"{where}/vThMant")
    i_decay = _scalar(_read(cfg, "iDecay", path, where), path, f"{where}/iDecay")
    v_decay = _scalar(_read(cfg, "vDecay", path, where), path, f"{where}/vDecay")
    for key, value in (("vThMant", vth), ("iDecay", i_decay), ("vDecay", v_decay)):
        if value != int(value) or value < 0 or (key != "vThMant" and value > DECAY_UNITY):
            raise DeployError(f"expected an integer {'>= 0' if key == 'vThMant' else 'from 0 to 4096'}, got {value}",
                              path, f"{where}/{key}")
    if vth <= 0:
        raise DeployError("a threshold of 0 spikes on any positive input; only a max-pool's OR neurons use it (a grouped "
                          "conv of equal weights), which this layer is not", path, f"{where}/vThMant")
    spec: dict[str, Any] = {"model": "if" if v_decay == 0 else "lif", "threshold": vth / input_gain, "reset": "zero"}
    if v_decay:
        spec["tau"] = DECAY_UNITY / v_decay
        spec["decay_input"] = False          # the input gain is in the weights
    if i_decay == 0:
        spec["tau_current"] = NEVER_DECAYS
        notes.append(f"{where}: iDecay 0 keeps the current forever; imported as tau_current {NEVER_DECAYS:g} (it "
                     "keeps 1 - 1/tau = 1.0 of the current per step, du = 0)")
    elif i_decay < DECAY_UNITY:
        spec["tau_current"] = DECAY_UNITY / i_decay
    if "refDelay" in cfg and _scalar(cfg["refDelay"][()], path, f"{where}/refDelay") > 1:
        notes.append(f"{where}: refDelay {int(cfg['refDelay'][()])} ignored, as netx ignores it (no refractory period)")
    return spec


def import_netx(path: str | Path, steps: int | None = None, name: str | None = None) -> Imported:
    """A netx file as a rate genome plus weights (docs/interop.md): weights are the stored integers (the state
    in units of 64), thresholds vThMant, LIF tau = 4096 / vDecay; exporting the genome again reproduces a file
    tnas-deploy wrote. Raises DeployError naming file and dataset for anything the genome cannot express."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except (OSError, FileNotFoundError) as exc:
        raise DeployError(f"not a readable HDF5 file ({exc}); expected a lava-dl netx .net file", path) from None
    with f:
        if "layer" not in f or not isinstance(f["layer"], h5py.Group):
            raise DeployError("no 'layer' group: not a netx network", path, "layer")
        meta: dict[str, Any] = {}
        if METADATA_KEY in f:
            try:
                meta = json.loads(_text(f[METADATA_KEY][()]))
            except (ValueError, TypeError, RecursionError):     # unreadable or absurdly nested: ignore the record
                meta = {}
        keys = sorted(f["layer"].keys(), key=lambda k: int(k) if k.isdigit() else -1)
        if [k for k in keys] != [str(i) for i in range(len(keys))]:
            raise DeployError(f"expected layers 0..{len(keys) - 1}, found {keys}", path, "layer")
        t_sample = int(_scalar(f["simulation/tSample"][()], path, "simulation/tSample")) \
            if "simulation" in f and "tSample" in f["simulation"] else None
        if is_sdnn(f["layer"]):                 # sigma-delta neurons: a sigma-delta genome (netx_sdnn.py)
            return import_netx_sdnn(path, [f["layer"][k] for k in keys], steps if steps is not None else t_sample,
                                    name, meta)
        return _import_layers([f["layer"][k] for k in keys], path, meta, steps, name, t_sample)


def _import_layers(groups: list[h5py.Group], path: Path, meta: dict[str, Any],
                   steps: int | None, name: str | None, t_sample: int | None) -> Imported:
    notes: list[str] = []
    nodes: list[dict[str, Any]] = []
    weights: Weights = {}
    exact = _ExactScales()
    readout_id = meta.get("readout_id") if isinstance(meta.get("readout_id"), str) and \
        ID_PATTERN.match(meta["readout_id"]) and meta["readout_id"] != "x" else "out"
    taken: set[str] = {"x", readout_id}
    ids = list(meta.get("layers", []))
    shape: tuple[int, ...] | None = None       # the current value's shape (C, H, W) or (N,)
    prev = "x"                                 # the node the next layer reads
    prev_is_population = False
    graded = True                              # the current value is the graded input (x 255 per unit)
    pending_flatten = False
    n_populations = 0
    delayed = False                            # a layer has axonal delays (genome version 3)

    for i, g in enumerate(groups):
        where = f"layer/{i}"
        kind = _text(_read(g, "type", path, where))
        if kind == "input":
            if i != 0:
                raise DeployError("an input layer after the first layer", path, f"{where}/type")
            shape = tuple(int(s) for s in np.asarray(_read(g, "shape", path, where)).reshape(-1))
            if "neuron" in g:
                node_id = unique_id("input_neurons", taken)
                # netx's input block feeds a_in straight to its neurons (no synapse, no bias: netx uses the
                # layer's 'weight'/'bias' only as an unused transform); tnas-deploy drives them with the payload
                spec = _neuron_spec(g["neuron"], path, f"{where}/neuron", notes, input_gain=RATE_INPUT_LEVELS)
                nodes.append({"id": node_id, "type": "neuron", "inputs": ["x"], "neuron": spec})
                exact.population(node_id, RATE_INPUT_LEVELS)     # a payload level adds a_in << 6
                prev, prev_is_population, graded = node_id, True, False
                n_populations += 1
                if "weight" in g or "bias" in g:
                    notes.append(f"{where}: the input layer's weight/bias transform is ignored, as netx ignores it")
            continue
        if kind == "flatten":
            pending_flatten = True
            continue
        if kind == "average" and i == len(groups) - 1 and prev_is_population and shape is not None:
            added, group_sums, shape = average_readout(g, prev, shape, taken, path, where, notes)   # SLAYER's readout
            weights[added[-1]["id"]] = group_sums
            exact.population(readout_id, 1.0)
            nodes += added + [{"id": readout_id, "type": "readout", "inputs": [added[-1]["id"]], "mode": "membrane"}]
            break
        if kind in ("dense_rec", "dense_comp", "pool", "average", "concat", "convT", "unpool"):
            why = {"dense_rec": "a dense_rec layer feeds its spikes back after one step; a genome's recurrent edge "
                                "arrives after two (docs/rate.md section 1)",
                   "dense_comp": "complex-valued synapses (resonate-and-fire networks) have no genome form"}.get(
                kind, f"netx 0.6.0 does not implement {kind!r} layers (NotImplementedError)")
            raise DeployError(f"cannot import: {why}", path, f"{where}/type")
        if kind not in ("dense", "conv"):
            raise DeployError(f"unknown layer type {kind!r}; netx knows input, flatten, dense, conv", path, f"{where}/type")
        if shape is None:
            if kind == "conv":
                raise DeployError("a conv layer with no input layer before it: the input shape is unknown", path,
                                  f"{where}/type")
        if "weight" not in g:
            raise DeployError("missing 'weight'", path, f"{where}/weight")
        w = np.asarray(g["weight"][()])
        if w.dtype.kind not in "iuf" or not np.all(np.isfinite(w)):
            raise DeployError("expected finite numbers", path, f"{where}/weight")
        w = w.astype(np.int64).astype(np.float64)      # netx reads weights with astype(int)
        out_shape = tuple(int(s) for s in np.asarray(_read(g, "shape", path, where)).reshape(-1))
        delay = netx_edge_delay(g, kind, w, int(np.prod(out_shape)), path, where, notes)   # axonal delays: edge fields
        delayed = delayed or bool(delay)
        has_neuron = "neuron" in g
        bias = np.asarray(g["bias"][()]).astype(np.int64).astype(np.float64) if "bias" in g else None
        last = i == len(groups) - 1
        node_id = ids[n_populations] if n_populations < len(ids) and ID_PATTERN.match(str(ids[n_populations])) \
            and ids[n_populations] not in taken else None
        node_id = unique_id(node_id or f"{kind}{i}", taken)
        if pending_flatten or (kind == "dense" and shape is not None and len(shape) > 1):
            if shape is None or len(shape) > 1:
                fid = unique_id(f"flatten{i}", taken)
                nodes.append({"id": fid, "type": "flatten", "inputs": [prev]})
                prev = fid
                shape = (int(np.prod(shape)),) if shape is not None else None
            pending_flatten = False
        gain = RATE_INPUT_LEVELS if graded else 1.0
        if kind == "dense":
            if w.ndim == 1:
                w = w.reshape(int(np.prod(out_shape)), -1)
            if w.ndim != 2 or w.shape[0] != int(np.prod(out_shape)) or (shape is not None and w.shape[1] != shape[0]):
                raise DeployError(f"weight of shape {list(w.shape)} does not connect {list(shape or ('?',))} to "
                                  f"{list(out_shape)}", path, f"{where}/weight")
            if shape is None:
                shape = (w.shape[1],)
            exact.dense_weights(w, f"{where}/weight")
            node = {"id": node_id, "type": "dense", "inputs": [{"node": prev, **delay} if delay else prev],
                    "units": int(w.shape[0]), "bias": bias is not None}
            weights[node_id] = {"weight": w * gain}
            new_shape: tuple[int, ...] = (int(w.shape[0]),)
        else:
            if w.ndim == 5:
                w = w[..., 0]
            stride = _pair(_read(g, "stride", path, where), path, f"{where}/stride")
            padding = _pair(_read(g, "padding", path, where), path, f"{where}/padding")
            dilation = _pair(_read(g, "dilation", path, where), path, f"{where}/dilation")
            groups_n = int(_scalar(_read(g, "groups", path, where), path, f"{where}/groups"))
            if dilation != (1, 1):
                raise DeployError(f"dilation {list(dilation)}: a genome conv2d has no dilation", path, f"{where}/dilation")
            if w.ndim != 4 or len(shape) != 3 or w.shape[1] * groups_n != shape[0]:
                raise DeployError(f"weight of shape {list(w.shape)} with groups {groups_n} does not fit the input "
                                  f"{list(shape)}", path, f"{where}/weight")
            new_shape = (int(w.shape[0]), (shape[1] + 2 * padding[0] - w.shape[2]) // stride[0] + 1,
                         (shape[2] + 2 * padding[1] - w.shape[3]) // stride[1] + 1)
            if tuple(out_shape) != new_shape:
                raise DeployError(f"shape {list(out_shape)} does not match the convolution's output {list(new_shape)}",
                                  path, f"{where}/shape")
            if groups_n != 1:
                node = _grouped_conv(g, w, groups_n, shape, stride, padding, bias, prev, prev_is_population, node_id,
                                     path, where, has_neuron, notes, gain)
                nodes.append(node)
                if node["type"] == "avgpool2d":      # the threshold was divided by W x area x gain (_grouped_conv)
                    exact.population(node_id, float(w.flat[0]) * w.shape[2] * w.shape[3] * gain)
                prev, shape, prev_is_population, graded = node_id, new_shape, has_neuron, False
                if has_neuron:
                    n_populations += 1
                continue
            node = {"id": node_id, "type": "conv2d", "inputs": [prev], "out_channels": int(w.shape[0]),
                    "kernel": [int(w.shape[2]), int(w.shape[3])], "stride": list(stride), "padding": list(padding),
                    "bias": bias is not None}
            weights[node_id] = {"weight": w * gain}
        if bias is not None:
            b = bias.reshape(-1)
            if kind == "conv" and b.size != new_shape[0]:
                if b.size == int(np.prod(new_shape)):
                    full = bias.reshape(new_shape[2], new_shape[1], new_shape[0]).transpose(2, 1, 0)
                    if not np.all(full == full[:, :1, :1]):
                        raise DeployError("a per-neuron bias that varies within a channel: a genome conv2d has one bias "
                                          "per channel", path, f"{where}/bias")
                    b = full[:, 0, 0]
                else:
                    raise DeployError(f"bias of {b.size} values for {new_shape[0]} channels", path, f"{where}/bias")
            if kind == "dense" and b.size != new_shape[0]:
                raise DeployError(f"bias of {b.size} values for {new_shape[0]} neurons", path, f"{where}/bias")
            weights[node_id]["bias"] = b
        if has_neuron:
            cfg = g["neuron"]
            readout_like = all(k in cfg for k in ("iDecay", "vDecay", "vThMant")) and \
                int(cfg["iDecay"][()]) == DECAY_UNITY and int(cfg["vDecay"][()]) == 0 and \
                int(cfg["vThMant"][()]) >= VTH_MAX
            if last and readout_like:           # tnas-deploy's membrane readout: accumulating neurons
                node["neuron"] = None
                scale = meta.get("logit_scale")
                units = 1.0
                if meta.get("readout") == "membrane" and isinstance(scale, (int, float)) and 0 < scale < math.inf:
                    # our own file: logits = v x logit_scale = 64 logit_scale x (sum of W s + b)
                    weights[node_id] = {k: a * ((1 << ACT_SHIFT) * scale) for k, a in weights[node_id].items()}
                    units = 1.0 / ((1 << ACT_SHIFT) * scale)
                exact.population(readout_id, units)
                nodes.append(node)
                nodes.append({"id": readout_id, "type": "readout", "inputs": [node_id], "mode": "membrane"})
                prev, shape = node_id, new_shape
                break
            spec = _neuron_spec(cfg, path, f"{where}/neuron", notes)
            if "tau_current" in spec and bias is not None and np.any(bias != 0):
                raise DeployError("a neuron with a decaying current (iDecay < 4096) and a bias: Lava adds the bias to v, "
                                  "the genome's float model keeps it in the current; no genome expresses it", path,
                                  f"{where}/bias")
            node["neuron"] = spec
            exact.population(node_id, 1.0)
            n_populations += 1
        else:
            node["neuron"] = None
            if not last:
                raise DeployError("a layer without neuron inside the network: netx gives it its default integrator "
                                  "(iDecay 0, vDecay 4096) which spikes past 2**23 only; tnas-deploy reads such a layer "
                                  "only as the last one (the readout)", path, f"{where}/neuron")
            exact.population(readout_id, 1.0)
            if bias is not None and np.any(bias != 0):
                R = _run_steps(steps, meta, t_sample, n_populations)
                weights[node_id]["bias"] = weights[node_id]["bias"] / R
                notes.append(f"{where}: netx's default output integrator adds its bias once (v = u + bias), the genome's "
                             f"membrane readout at every step: imported as bias / {R} (the run length), which gives the "
                             "same final value in float")
                exact.inexact(f"{where}/bias: the bias netx adds once is spread over the {R} steps of the run")
            nodes.append(node)
            nodes.append({"id": readout_id, "type": "readout", "inputs": [node_id], "mode": "membrane"})
            prev, shape = node_id, new_shape
            break
        nodes.append(node)
        prev, shape, prev_is_population, graded = node_id, new_shape, True, False
    else:
        if not prev_is_population:
            raise DeployError("the last layer carries no neuron and is not a readout", path, "layer")
        nodes.append({"id": readout_id, "type": "readout", "inputs": [prev], "mode": "spike_count"})
    if shape is None:
        raise DeployError("no dense or conv layer", path, "layer")
    first = groups[0]
    input_shape = [int(s) for s in np.asarray(first["shape"][()]).reshape(-1)] if _text(first["type"][()]) == "input" \
        else [int(weights[nodes[0]["id"]]["weight"].shape[1])]
    T = steps if steps is not None else meta.get("steps") or t_sample
    if T is None:
        raise DeployError("the file records no number of time steps (simulation/tSample); pass --steps T", path,
                          "simulation/tSample")
    task = _task(meta, int(np.prod(shape)), nodes[-1], len(groups) - 1, notes)
    genome: dict[str, Any] = {
        "format": "tnas-genome", "version": 2, "name": name or str(meta.get("name") or _stem_name(path)),
        "task": {"input_shape": input_shape, **task},
        "coding": {"scheme": "rate", "steps": int(T)},
        "provenance": {"imported_from": path.name, "imported_format": "lava-dl netx", "imported_path": str(path),
                       "imported_sha256": sha256_file(path), "tool": f"tnas-deploy {__version__}"},
        "nodes": [{"id": "x", "type": "input"}] + nodes}
    chip = exact.block(path)
    if chip is not None:
        genome["chip_integers"] = chip
    else:
        notes.append(f"not imported as chip integers ({'; '.join(exact.reasons)}): compiling quantizes the genome "
                     "anew, and it does not run bit for bit as netx runs the file")
    if chip is not None or "outputs" in task or delayed:
        genome["version"] = 3
    return Imported(genome, weights, notes)


def _task(meta: dict[str, Any], n_out: int, readout: dict[str, Any], last_layer: int, notes: list[str]
          ) -> dict[str, Any]:
    """Class names (the file's record, else "0".."n-1"); a regression readout's output names when the file records
    them (tnas-deploy's export of a regression genome); one output is a regression readout too (a class needs a
    second one to be told from): a real-valued output, task.outputs (genome version 3)."""
    outputs = meta.get("outputs")
    if isinstance(outputs, list) and len(outputs) == n_out and len(set(map(str, outputs))) == n_out:
        return {"outputs": [str(o) for o in outputs]}
    classes = meta.get("classes") if isinstance(meta.get("classes"), list) and len(meta["classes"]) == n_out \
        and len(set(map(str, meta["classes"]))) == n_out else None
    if classes is not None and n_out >= 2:
        return {"classes": [str(c) for c in classes]}
    if n_out >= 2:
        return {"classes": [str(k) for k in range(n_out)]}
    what = "the membrane value" if readout.get("mode") == "membrane" else "the spike count"
    notes.append(f"layer/{last_layer}: one output: imported as a regression readout (task.outputs, genome version 3) "
                 f"whose real value is {what} of the last layer, not a class")
    return {"outputs": ["output"]}


class _ExactScales:
    """The state scale of every population and of the membrane readout at which the genome's numbers are exactly
    the file's integers (`chip_integers.state_scales`, in units of 64 state units: the genome is written so that
    a spike adds `w << 6`), and the reasons, if any, why the genome cannot hold them exactly."""

    def __init__(self) -> None:
        self.scales: dict[str, float] = {}
        self.reasons: list[str] = []

    def population(self, node_id: str, units: float) -> None:
        """The node's genome unit is `units` x 64 state units (1 for a layer whose weights are the stored
        integers; 255 for the input's neurons, which get a payload level per 1/255 of the input)."""
        self.scales[node_id] = float(units) * (1 << ACT_SHIFT)

    def dense_weights(self, weight: np.ndarray, where: str) -> None:
        """netx passes dense weights through optimize_weight_bits and Lava's Dense; when that changes them, netx
        runs other integers than the file stores (`schemes.rate.netx.dense_effect`)."""
        effect, why = dense_effect(weight)
        if effect is None:
            self.inexact(f"{where}: {why}")

    def inexact(self, reason: str) -> None:
        self.reasons.append(reason)

    def block(self, path: Path) -> dict[str, Any] | None:
        if self.reasons:
            return None
        return {"state_scales": dict(self.scales), "source": f"lava-dl netx file {path.name}"}


def _stem_name(path: Path) -> str:
    return unique_id(path.stem, set())


def _run_steps(steps: int | None, meta: dict[str, Any], t_sample: int | None, populations: int) -> int:
    T = steps if steps is not None else meta.get("steps") or t_sample or 1
    return int(T) + populations + 1


def _grouped_conv(g: h5py.Group, w: np.ndarray, groups_n: int, shape: tuple[int, ...], stride, padding, bias,
                  prev: str, prev_is_population: bool, node_id: str, path: Path, where: str, has_neuron: bool,
                  notes: list[str], gain: float) -> dict[str, Any]:
    """A depthwise conv of equal weights: a max-pool of spikes (OR neurons) or an average pool with a neuron."""
    c = shape[0]
    if not (groups_n == c and w.shape[0] == c and w.shape[1] == 1 and np.all(w == w.flat[0]) and w.flat[0] > 0):
        raise DeployError(f"a grouped convolution (groups {groups_n}) other than a pool (equal positive weights, one "
                          "channel per group): a genome conv2d has no groups", path, f"{where}/groups")
    if bias is not None and np.any(bias != 0):
        raise DeployError("a pooling layer (grouped conv of equal weights) with a bias", path, f"{where}/bias")
    kernel = [int(w.shape[2]), int(w.shape[3])]
    cfg = g["neuron"] if has_neuron else None
    or_neuron = cfg is not None and int(cfg["vThMant"][()]) == 0 and int(cfg["iDecay"][()]) == DECAY_UNITY \
        and int(cfg["vDecay"][()]) == DECAY_UNITY
    if or_neuron:
        if not prev_is_population or tuple(padding) != (0, 0):
            raise DeployError("OR neurons (vThMant 0) pooling the graded input or with padding: a genome max-pools "
                              "spikes only, without padding", path, f"{where}/neuron")
        return {"id": node_id, "type": "maxpool2d", "inputs": [prev], "kernel": kernel, "stride": list(stride)}
    if cfg is None:
        raise DeployError("a pooling layer without neuron", path, f"{where}/neuron")
    # average pool: pre-value = mean = sum / area; the layer adds W x sum, so the threshold is vth / (W area)
    spec = _neuron_spec(cfg, path, f"{where}/neuron", notes, input_gain=float(w.flat[0]) * kernel[0] * kernel[1] * gain)
    return {"id": node_id, "type": "avgpool2d", "inputs": [prev], "kernel": kernel, "stride": list(stride),
            "padding": list(padding), "neuron": spec}


__all__ = ["import_netx"]
