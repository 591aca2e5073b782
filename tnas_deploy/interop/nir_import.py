"""Import NIR graphs (snnTorch, Norse, Sinabs, tnas-deploy and other producers) as rate-coded genomes.

NIR describes neurons in continuous time. tnas-deploy steps them with forward Euler at a time step dt
(`--dt`, seconds per step; the graph's `tnas_deploy.rate` record supplies it for graphs tnas-deploy wrote):

    LIF      tau dv/dt = v_leak - v + R I       ->  v <- (1 - dt/tau) v + (R dt/tau) I
    IF           dv/dt = R I                    ->  v <- v + R dt I
    CubaLIF  tau_syn dI/dt = -I + w_in x        ->  I <- (1 - dt/tau_syn) I + (dt/tau_syn) w_in x, then v as LIF
                                                    with the new I (snnTorch's Synaptic order)
    Threshold                                   ->  a LIF with tau = 1 step: v = its input, spikes if v > threshold

which is the genome's neuron (docs/rate.md section 2) with tau' = tau / dt steps: decay_input when R = 1
(input gain dt/tau = 1/tau'), otherwise no input decay and the gain folded into the threshold (a neuron
that resets to zero is unchanged when its input and threshold are scaled alike). Sum-pooling becomes
average pooling with the window's area folded the same way; uniform `Scale`s fold likewise.

Refused, naming the node and the parameter, because the genome would compute something else: a non-zero
v_leak, a v_reset other than 0, per-neuron parameters that differ (tau, r, thresholds, w_in: the genome has
one neuron per node), groups or dilation in a convolution, an average pool with padding (NIR leaves
count_include_pad open), leaky readouts (LI, CubaLI: the genome's membrane readout sums without leak),
Delay, Conv1d, nested graphs, cycles, unknown node types, and any graph carrying tnas-deploy's
`tnas_deploy.ttfs` extension (a TTFS network is not a rate network).

Timing: the genome delivers a population's spikes to its consumers one step later (chip time). snnTorch,
Norse and Sinabs evaluate all layers within one step; for networks without biases that is the same spike
trains shifted by one step per layer (the readout's totals over the run are equal); biases act from step 0
in both, so a biased network's first steps differ (docs/interop.md).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import DeployError
from .imported import Imported, unique_id
from .nir_common import EXTENSION as TTFS_EXTENSION
from .nir_common import RATE_EXTENSION

try:  # nir 1.0 defines Identity in nir.ir.graph without exporting it
    from nir.ir.graph import Identity as _IDENTITY
except ImportError:  # pragma: no cover
    class _IDENTITY:  # type: ignore[no-redef]
        pass

#: Relative tolerance for "this gain is 1" (float round trips of dt products).
_REL = 1e-9


@dataclass
class _Value:
    node: str                     # the genome node holding it
    shape: tuple[int, ...]
    mult: float = 1.0             # the NIR signal is mult x the genome node's value
    population: bool = False      # the node carries a neuron (its value is spikes)


def _record(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, bytes):
        obj = obj.decode("utf-8", "replace")
    if isinstance(obj, str):
        try:
            value = json.loads(obj)
        except (ValueError, RecursionError):     # unreadable or absurdly nested: not our record
            return {}
        return value if isinstance(value, dict) else {}
    return {}


def _has_ttfs(meta: Any) -> bool:
    return isinstance(meta, dict) and TTFS_EXTENSION in meta


def import_nir(path: str | Path, dt: float | None = None, steps: int | None = None, name: str | None = None) -> Imported:
    """Read a NIR file and translate it (see `graph_to_genome`)."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise DeployError("file not found", path)
    try:
        graph = nir.read(path, type_check=False)
    except Exception as exc:  # nir raises many types for files it cannot read
        raise DeployError(f"not a readable NIR graph ({type(exc).__name__}: {exc})", path) from None
    return graph_to_genome(graph, path, dt, steps, name)


def graph_to_genome(graph, where: str | Path, dt: float | None = None, steps: int | None = None,
                    name: str | None = None) -> Imported:
    """A NIR graph as a rate genome (JSON object) plus weights; DeployError names the node and the parameter."""
    import nir

    where = Path(where) if not isinstance(where, Path) else where
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    if _has_ttfs(meta) or any(_has_ttfs(getattr(n, "metadata", None)) for n in graph.nodes.values()):
        raise DeployError(f"the graph carries tnas-deploy's {TTFS_EXTENSION!r} extension: it is a TTFS network "
                          "(fire-once neurons in time windows), and importing it as a rate network would change its "
                          "behaviour; recompile the TTFS genome instead", where, f"metadata.{TTFS_EXTENSION}")
    rec = _record(meta.get(RATE_EXTENSION))
    if dt is None and isinstance(rec.get("dt"), (int, float)):
        dt = float(rec["dt"])
    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise DeployError(f"expected a time step > 0 seconds, got {dt}", None, "--dt")
    notes: list[str] = []
    names = list(graph.nodes)

    def fail(node: str, message: str, param: str = "") -> DeployError:
        return DeployError(message, where, f"node {node!r}" + (f".{param}" if param else ""))

    incoming: dict[str, list[str]] = {n: [] for n in names}
    outgoing: dict[str, list[str]] = {n: [] for n in names}
    for k, (a, b) in enumerate(graph.edges):
        for end in (a, b):
            if end not in graph.nodes:
                raise DeployError(f"edge from {a!r} to {b!r} names an unknown node", where, f"edges[{k}]")
        incoming[b].append(a)
        outgoing[a].append(b)
    supported = (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d, nir.Scale,
                 nir.Flatten, nir.IF, nir.LIF, nir.CubaLIF, nir.Threshold, nir.I, _IDENTITY)
    for n, node in graph.nodes.items():
        if not isinstance(node, supported):
            kind = type(node).__name__
            why = {"LI": "a leaky integrator: tnas-deploy's membrane readout sums its input without leak",
                   "CubaLI": "a leaky integrator: tnas-deploy's membrane readout sums its input without leak",
                   "Delay": "the genome delays every spike by exactly one step per population",
                   "NIRGraph": "nested graphs are not supported; flatten the graph first",
                   "Conv1d": "the genome has 2-D convolutions only"}.get(kind, "unknown to tnas-deploy")
            raise fail(n, f"cannot import a {kind} node: {why}", "type")
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise DeployError(f"expected one Input and one Output node, found {len(inputs)} and {len(outputs)}", where, "nodes")
    order = _topological(names, incoming, where)

    taken: set[str] = set()
    gnodes: list[dict[str, Any]] = []
    weights: dict[str, dict[str, np.ndarray]] = {}
    by_id: dict[str, dict[str, Any]] = {}
    values: dict[str, _Value] = {}
    readout: dict[str, Any] | None = None
    readout_id = rec.get("readout_id") if isinstance(rec.get("readout_id"), str) else "out"

    def add(node: dict[str, Any]) -> dict[str, Any]:
        gnodes.append(node)
        by_id[node["id"]] = node
        return node

    def source(n: str, allow_many: bool = True) -> _Value:
        """The value entering NIR node n: its one input, or an add node summing several."""
        ins = [values[s] for s in incoming[n]]
        if not ins:
            raise fail(n, "the node has no input edge", "inputs")
        if len(ins) == 1:
            return ins[0]
        if not allow_many:
            raise fail(n, f"{len(ins)} input edges into an output or integrator", "inputs")
        if len({v.shape for v in ins}) != 1:
            raise fail(n, f"its input edges carry shapes {[list(v.shape) for v in ins]}; NIR sums them", "inputs")
        if len({v.mult for v in ins}) != 1:
            raise fail(n, "its inputs are scaled differently (sum-pooling or Scale on one branch only)", "inputs")
        node = add({"id": unique_id(f"{n}_sum", taken), "type": "add", "inputs": [v.node for v in ins]})
        return _Value(node["id"], ins[0].shape, ins[0].mult)

    for n in order:
        node = graph.nodes[n]
        if isinstance(node, nir.Input):
            shape = _shape(node.input_type.get("input"), n, fail)
            if len(shape) not in (1, 3):
                raise fail(n, f"input shape {list(shape)}: a genome input is [features] or [channels, height, width]",
                           "input_type")
            gid = unique_id(n, taken)
            add({"id": gid, "type": "input"})
            values[n] = _Value(gid, shape)
            input_shape = shape
        elif isinstance(node, _IDENTITY):
            values[n] = source(n)
        elif isinstance(node, (nir.Affine, nir.Linear)):
            v = source(n)
            if len(v.shape) != 1:
                raise fail(n, f"an Affine on a value of shape {list(v.shape)}; put a Flatten before it", "inputs")
            w = np.asarray(node.weight, dtype=np.float64)
            if w.ndim != 2 or w.shape[1] != v.shape[0]:
                raise fail(n, f"weight of shape {list(w.shape)} does not take {v.shape[0]} inputs", "weight")
            gid = unique_id(n, taken)
            has_bias = isinstance(node, nir.Affine)
            add({"id": gid, "type": "dense", "inputs": [v.node], "units": int(w.shape[0]), "bias": has_bias,
                 "neuron": None, "label": str(n)})
            weights[gid] = {"weight": w * v.mult}
            if has_bias:
                b = np.asarray(node.bias, dtype=np.float64).reshape(-1)
                if b.size != w.shape[0]:
                    raise fail(n, f"bias of {b.size} values for {w.shape[0]} outputs", "bias")
                weights[gid]["bias"] = b
            values[n] = _Value(gid, (int(w.shape[0]),))
        elif isinstance(node, nir.Conv2d):
            v = source(n)
            w = np.asarray(node.weight, dtype=np.float64)
            if len(v.shape) != 3 or w.ndim != 4 or w.shape[1] != v.shape[0]:
                raise fail(n, f"weight of shape {list(w.shape)} does not fit an input of shape {list(v.shape)}", "weight")
            if int(np.asarray(node.groups).reshape(-1)[0]) != 1:
                raise fail(n, f"groups {node.groups}: a genome conv2d has no groups", "groups")
            if _pair(node.dilation) != (1, 1):
                raise fail(n, f"dilation {list(_pair(node.dilation))}: a genome conv2d has no dilation", "dilation")
            stride = _pair(node.stride)
            padding = _padding(node.padding, w.shape[2:], stride, n, fail)
            h = (v.shape[1] + 2 * padding[0] - w.shape[2]) // stride[0] + 1
            wd = (v.shape[2] + 2 * padding[1] - w.shape[3]) // stride[1] + 1
            if h < 1 or wd < 1:
                raise fail(n, f"the kernel does not fit the input of shape {list(v.shape)}", "weight")
            gid = unique_id(n, taken)
            add({"id": gid, "type": "conv2d", "inputs": [v.node], "out_channels": int(w.shape[0]),
                 "kernel": [int(w.shape[2]), int(w.shape[3])], "stride": list(stride), "padding": list(padding),
                 "bias": True, "neuron": None, "label": str(n)})
            b = np.asarray(node.bias, dtype=np.float64).reshape(-1) if node.bias is not None else np.zeros(w.shape[0])
            if b.size == 1 and w.shape[0] > 1:
                b = np.full(w.shape[0], float(b[0]))
            if b.size != w.shape[0]:
                raise fail(n, f"bias of {b.size} values for {w.shape[0]} channels", "bias")
            weights[gid] = {"weight": w * v.mult, "bias": b}
            values[n] = _Value(gid, (int(w.shape[0]), h, wd))
        elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            v = source(n)
            if len(v.shape) != 3:
                raise fail(n, f"pooling a value of shape {list(v.shape)}", "inputs")
            kernel, stride = _pair(node.kernel_size), _pair(node.stride)
            padding = _pair(node.padding)
            if isinstance(node, nir.AvgPool2d) and padding != (0, 0):
                raise fail(n, "AvgPool2d with padding: NIR does not say whether the padding counts in the mean "
                           "(count_include_pad); write SumPool2d followed by a Scale instead", "padding")
            if any(p > k // 2 for p, k in zip(padding, kernel)):
                raise fail(n, f"padding {list(padding)} is more than half the kernel {list(kernel)}", "padding")
            h = (v.shape[1] + 2 * padding[0] - kernel[0]) // stride[0] + 1
            wd = (v.shape[2] + 2 * padding[1] - kernel[1]) // stride[1] + 1
            gid = unique_id(n, taken)
            spec = {"id": gid, "type": "avgpool2d", "inputs": [v.node], "kernel": list(kernel), "stride": list(stride),
                    "neuron": None, "label": str(n)}
            if padding != (0, 0):
                spec["padding"] = list(padding)
            add(spec)
            area = kernel[0] * kernel[1] if isinstance(node, nir.SumPool2d) else 1
            values[n] = _Value(gid, (v.shape[0], h, wd), v.mult * area)
        elif isinstance(node, nir.Scale):
            v = source(n)
            s = np.asarray(node.scale, dtype=np.float64)
            if s.size == 0 or not np.all(s == s.reshape(-1)[0]):
                raise fail(n, "a Scale with differing factors: the genome folds only a uniform scale", "scale")
            values[n] = _Value(v.node, v.shape, v.mult * float(s.reshape(-1)[0]), v.population)
        elif isinstance(node, nir.Flatten):
            v = source(n)
            if int(node.end_dim) not in (-1, len(v.shape) - 1, len(v.shape)) or int(node.start_dim) not in (0, 1):
                raise fail(n, f"a partial flatten (start_dim {node.start_dim}, end_dim {node.end_dim}): the genome "
                           "flattens a whole sample", "start_dim")
            if len(v.shape) == 1:
                values[n] = v
            else:
                gid = unique_id(n, taken)
                add({"id": gid, "type": "flatten", "inputs": [v.node], "label": str(n)})
                values[n] = _Value(gid, (int(np.prod(v.shape)),), v.mult, False)
        elif isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF, nir.Threshold)):
            v = source(n)
            gid = unique_id(n, taken)
            add({"id": gid, "type": "neuron", "inputs": [v.node], "neuron": _neuron(node, n, v, dt, fail, notes),
                 "label": str(n)})
            values[n] = _Value(gid, v.shape, 1.0, True)
        elif isinstance(node, nir.I):
            v = source(n, allow_many=False)
            if v.population:
                raise fail(n, "an integrator of spikes: use the spike count (an Output after the neuron)", "inputs")
            r = _uniform(node.r, "r", n, fail, v.shape)
            if dt is None:
                raise fail(n, "the integrator is continuous-time (v += dt R I); pass --dt (seconds per step)", "r")
            values[n] = _Value(v.node, v.shape, v.mult * r * dt, False)
            readout = {"mode": "membrane", "node": n}
        elif isinstance(node, nir.Output):
            v = source(n, allow_many=False)
            if v.population:
                readout = {"id": readout_id, "type": "readout", "inputs": [v.node], "mode": "spike_count"}
            else:
                if readout is None:
                    notes.append(f"node {n!r}: the output of a non-spiking node is read as tnas-deploy's membrane "
                                 "readout, its sum over the run")
                target = by_id[v.node]
                if not math.isclose(v.mult, 1.0, rel_tol=_REL):
                    if target["type"] not in ("dense", "conv2d"):
                        raise fail(n, f"the readout's value is scaled by {v.mult:g} after its last weighted node", "inputs")
                    weights[v.node] = {k: a * v.mult for k, a in weights[v.node].items()}
                if target.get("neuron") is not None:
                    raise fail(n, "reads a node with a neuron", "inputs")
                readout = {"id": readout_id, "type": "readout", "inputs": [v.node], "mode": "membrane"}
            values[n] = v
    assert readout is not None and "id" in readout
    if readout["id"] in taken:
        readout["id"] = unique_id(readout["id"], taken)
    add(readout)
    gnodes = _merge_neurons(gnodes)
    n_out = int(np.prod(values[outputs[0]].shape))
    classes = rec.get("classes") if isinstance(rec.get("classes"), list) and len(rec["classes"]) == n_out \
        else [str(k) for k in range(n_out)]
    T = steps if steps is not None else rec.get("steps")
    if T is None:
        raise DeployError("the graph records no number of time steps; pass --steps T (the steps the input is "
                          "presented)", where, "--steps")
    genome = {"format": "tnas-genome", "version": 2,
              "name": name or unique_id(str(rec.get("name") or where.stem), set()),
              "task": {"input_shape": list(input_shape), "classes": [str(c) for c in classes]},
              "coding": {"scheme": "rate", "steps": int(T)},
              "provenance": {"imported_from": where.name, "imported_format": "NIR",
                             "dt_seconds": dt, "tool": f"tnas-deploy {__version__}"},
              "nodes": gnodes}
    return Imported(genome, weights, notes)


def _merge_neurons(gnodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put each neuron node onto the dense, conv2d, avgpool2d or add node it reads when nothing else reads that
    node (the genome's usual form: `{"type": "dense", ..., "neuron": {...}}`)."""
    by_id = {g["id"]: g for g in gnodes}
    for node in list(gnodes):
        if node["type"] != "neuron":
            continue
        (src,) = node["inputs"]
        target = by_id[src]
        readers = [g for g in gnodes if src in g.get("inputs", [])]
        if target["type"] in ("dense", "conv2d", "avgpool2d", "add") and target.get("neuron") is None and \
                readers == [node]:
            target["neuron"] = node["neuron"]
            gnodes.remove(node)
            for g in gnodes:
                if "inputs" in g:
                    g["inputs"] = [src if i == node["id"] else i for i in g["inputs"]]
    return gnodes


def _topological(names: list[str], incoming: dict[str, list[str]], where: Path) -> list[str]:
    done: list[str] = []
    placed: set[str] = set()
    remaining = list(names)
    while remaining:
        ready = [n for n in remaining if all(s in placed for s in incoming[n])]
        if not ready:
            raise DeployError(f"the graph has a cycle through {sorted(remaining)}: recurrent NIR graphs leave the delay "
                              "of the loop open, and a genome's recurrent edge has a fixed one; not imported", where,
                              "edges")
        for n in ready:
            done.append(n)
            placed.add(n)
        remaining = [n for n in remaining if n not in placed]
    return done


def _shape(value: Any, n: str, fail) -> tuple[int, ...]:
    arr = np.asarray(value if value is not None else [], dtype=np.float64).reshape(-1)
    if arr.size == 0 or np.any(arr < 1) or np.any(arr != np.round(arr)):
        raise fail(n, f"expected a shape of positive integers, got {value!r}", "input_type")
    return tuple(int(a) for a in arr)


def _pair(value: Any) -> tuple[int, int]:
    arr = np.asarray(value).reshape(-1)
    if arr.size == 1:
        return int(arr[0]), int(arr[0])
    return int(arr[0]), int(arr[1])


def _padding(value: Any, kernel: tuple[int, ...], stride: tuple[int, int], n: str, fail) -> tuple[int, int]:
    if isinstance(value, (str, bytes)):
        text = value.decode() if isinstance(value, bytes) else value
        if text == "valid":
            return 0, 0
        if text == "same" and stride == (1, 1) and all(k % 2 == 1 for k in kernel):
            return int(kernel[0]) // 2, int(kernel[1]) // 2
        raise fail(n, f"padding {text!r} with kernel {list(kernel)} and stride {list(stride)} is not a symmetric zero "
                   "padding", "padding")
    return _pair(value)


def _uniform(value: Any, param: str, n: str, fail, shape: tuple[int, ...] | None = None) -> float:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise fail(n, f"expected finite numbers, got {np.asarray(value).tolist()!r}", param)
    if shape is not None and arr.size not in (1, int(np.prod(shape))):
        raise fail(n, f"{arr.size} values for {int(np.prod(shape))} neurons", param)
    if not np.all(arr == arr[0]):
        raise fail(n, f"per-neuron values from {arr.min():g} to {arr.max():g}; a genome node has one {param} for all "
                   "its neurons", param)
    return float(arr[0])


def _neuron(node, n: str, v: _Value, dt: float | None, fail, notes: list[str]) -> dict[str, Any]:
    """The genome neuron for a NIR neuron fed by value v (module documentation)."""
    import nir

    if v.mult <= 0:
        raise fail(n, f"its input is scaled by {v.mult:g} <= 0 before the neuron", "inputs")
    if isinstance(node, nir.Threshold):
        theta = _uniform(node.threshold, "threshold", n, fail, v.shape)
        return {"model": "lif", "tau": 1.0, "threshold": _positive(theta / v.mult, n, fail, "threshold"),
                "reset": "zero"}
    theta = _uniform(node.v_threshold, "v_threshold", n, fail, v.shape)
    reset = _uniform(node.v_reset, "v_reset", n, fail, v.shape)
    if reset != 0:
        raise fail(n, f"v_reset {reset:g}: the genome's neurons reset to 0", "v_reset")
    r = _uniform(node.r, "r", n, fail, v.shape)
    if dt is None:
        raise fail(n, "continuous-time neuron: pass --dt, the time step (seconds) the producer simulated it with; "
                   "tnas-deploy steps it with forward Euler (docs/interop.md)", "tau" if not isinstance(node, nir.IF) else "r")
    recorded = _record((node.metadata or {}).get(RATE_EXTENSION)).get("neuron") if isinstance(node.metadata, dict) \
        else None
    if isinstance(node, nir.IF):
        gain = v.mult * r * dt
        spec = {"model": "if", "threshold": _positive(_div(theta, gain), n, fail, "v_threshold"), "reset": "zero"}
    else:
        leak = _uniform(node.v_leak, "v_leak", n, fail, v.shape)
        if leak != 0:
            raise fail(n, f"v_leak {leak:g}: the genome's neurons rest at 0 (a leak towards another potential is a "
                       "constant input the producer's initial state also depends on)", "v_leak")
        tau_key = "tau" if isinstance(node, nir.LIF) else "tau_mem"
        tau = _steps(_uniform(getattr(node, tau_key), tau_key, n, fail, v.shape) / dt)
        if tau < 1:
            raise fail(n, f"{tau_key} is {tau:g} steps of dt = {dt:g} s; the genome's LIF needs at least one step "
                       "(forward Euler overshoots below it)", tau_key)
        decay_input = math.isclose(r, 1.0, rel_tol=_REL)
        gain = v.mult * (1.0 if decay_input else r / tau)
        spec = {"model": "lif", "tau": tau, "decay_input": decay_input, "reset": "zero"}
        if isinstance(node, nir.CubaLIF):
            tau_c = _steps(_uniform(node.tau_syn, "tau_syn", n, fail, v.shape) / dt)
            if tau_c < 1:
                raise fail(n, f"tau_syn is {tau_c:g} steps of dt = {dt:g} s; at least one step is needed", "tau_syn")
            w_in = _uniform(node.w_in, "w_in", n, fail, v.shape)
            gain *= w_in / tau_c
            spec["tau_current"] = tau_c
        spec["threshold"] = _positive(_div(theta, gain), n, fail, "v_threshold")
    if isinstance(recorded, dict) and _same_neuron(recorded, spec):
        return dict(recorded)           # tnas-deploy's own record: the exact values, without float round-off
    return spec


def _steps(value: float) -> float:
    """A time constant in steps, without the float noise of tau / dt (1e-3 / 1e-4 = 10.000000000000002)."""
    nice = float(f"{value:.12g}")
    return nice if math.isclose(nice, value, rel_tol=1e-12) else value


def _div(theta: float, gain: float) -> float:
    return theta if math.isclose(gain, 1.0, rel_tol=_REL) else theta / gain


def _positive(value: float, n: str, fail, param: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise fail(n, f"the threshold in the genome's units would be {value:g}; it must be > 0", param)
    return float(value)


def _same_neuron(recorded: dict[str, Any], spec: dict[str, Any]) -> bool:
    for key in ("model", "reset", "decay_input"):
        if key in spec and recorded.get(key, spec[key]) != spec[key]:
            return False
    for key in ("tau", "threshold", "tau_current"):
        a, b = recorded.get(key), spec.get(key)
        if (a is None) != (b is None) or (a is not None and not math.isclose(a, b, rel_tol=1e-9)):
            return False
    return True


__all__ = ["graph_to_genome", "import_nir"]
