"""Import NIR graphs (snnTorch, Norse, Sinabs, tnas-deploy and other producers) as rate-coded genomes.

NIR describes neurons in continuous time. tnas-deploy steps them with forward Euler at a time step dt
(`--dt`, seconds per step; the graph's `tnas_deploy.rate` record supplies it for graphs tnas-deploy wrote);
`nir_neurons` holds the neuron mapping. Sum-pooling becomes average pooling with the window's area folded
into what follows (the next weights, a neuron's threshold or the readout's weights); uniform `Scale`s fold
likewise. Nested graphs are spliced in and every edge that closes a cycle becomes a backward edge read in the
same step (`{"node": ..., "recurrent": true, "same_step": true}`, genome version 3) (`nir_graph`).

Refused, naming the node and the parameter, because the genome would compute something else: complex,
non-numeric or non-finite parameters; a non-zero v_leak; a v_reset other than 0; per-neuron parameters that
differ (the genome has one neuron per node); groups or dilation in a convolution; an average pool with padding
(NIR leaves count_include_pad open); a CubaLI (the genome's readout has no synaptic current); a bias that reaches
a CubaLIF whose current decays (Loihi adds biases to v, not to the current); a loop through no neuron; Delay, Conv1d, unknown node types; and any graph carrying
tnas-deploy's `tnas_deploy.ttfs` extension (a TTFS network is not a rate network).

Behaviour the import cannot keep is said in its notes (printed by `tnas-deploy import`): the genome's chip
time (a population's spikes reach their consumers one step later; producers evaluate every layer within the
step), loops through several populations (one step per population hop), NIR's reset-to-v_reset neurons that some
producers simulate with a subtraction, and a CubaLIF's update order (docs/interop.md).
"""
from __future__ import annotations

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
from .nir_graph import (
    FlatGraph,
    Loop,
    PassThrough,
    biased_inputs,
    check_parameters,
    flatten,
    is_neuron,
    structure,
)
from .nir_neurons import REL, li_readout, neuron_spec, read_record, uniform
from .nir_notes import producer_notes

try:  # nir 1.0 defines Identity in nir.ir.graph without exporting it
    from nir.ir.graph import Identity as _IDENTITY
except ImportError:  # pragma: no cover
    class _IDENTITY:  # type: ignore[no-redef]
        pass

#: Why a node type is not imported.
_REFUSED_TYPES = {"CubaLI": "a leaky integrator with a synaptic current: tnas-deploy's membrane readout (leaky or "
                            "not) has no synaptic current",
                  "Delay": "the genome delays every spike by exactly one step per population",
                  "Conv1d": "the genome has 2-D convolutions only"}


@dataclass
class _Value:
    node: str                     # the genome node holding it
    shape: tuple[int, ...]
    mult: float = 1.0             # the NIR signal is mult x the genome node's value
    population: bool = False      # the node carries a neuron (its value is spikes)
    arrival: int = 0              # steps after the input's first emission that this value starts (chip time)


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
    """A NIR graph as a rate genome (JSON object) plus weights and notes; DeployError names the node and the
    parameter."""
    import nir

    where = Path(where) if not isinstance(where, Path) else where
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    nodes, edges = flatten(graph, where)
    if _has_ttfs(meta) or any(_has_ttfs(getattr(n, "metadata", None)) for n in nodes.values()):
        raise DeployError(f"the graph carries tnas-deploy's {TTFS_EXTENSION!r} extension: it is a TTFS network "
                          "(fire-once neurons in time windows), and importing it as a rate network would change its "
                          "behaviour; recompile the TTFS genome instead", where, f"metadata.{TTFS_EXTENSION}")
    rec = read_record(meta.get(RATE_EXTENSION))
    if dt is None and isinstance(rec.get("dt"), (int, float)):
        dt = float(rec["dt"])
    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise DeployError(f"expected a time step > 0 seconds, got {dt}", None, "--dt")

    def fail(node: str, message: str, param: str = "") -> DeployError:
        return DeployError(message, where, f"node {node!r}" + (f".{param}" if param else ""))

    supported = (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d, nir.Scale,
                 nir.Flatten, nir.IF, nir.LIF, nir.CubaLIF, nir.Threshold, nir.I, nir.LI, _IDENTITY, PassThrough)
    for n, node in nodes.items():
        if not isinstance(node, supported):
            kind = type(node).__name__
            raise fail(n, f"cannot import a {kind} node: {_REFUSED_TYPES.get(kind, 'unknown to tnas-deploy')}", "type")
    check_parameters(nodes, fail)
    inputs = [n for n, node in nodes.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in nodes.items() if isinstance(node, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise DeployError(f"expected one Input and one Output node, found {len(inputs)} and {len(outputs)}", where, "nodes")
    flat = structure(nodes, edges, inputs[0], where)
    if flat.incoming[inputs[0]] or flat.recurrent_into(inputs[0]):
        raise fail(inputs[0], "edges into the Input node: the genome's input is the data alone", "inputs")
    if flat.outgoing[outputs[0]]:
        raise fail(outputs[0], "edges out of the Output node: the genome's readout ends the network", "outputs")
    walk = _Walk(flat, dt, fail, rec)
    for n in flat.order:
        walk.visit(n)
    walk.finish()
    gnodes = _merge_neurons(walk.gnodes)
    n_out = int(np.prod(walk.values[outputs[0]].shape))
    classes = rec.get("classes") if isinstance(rec.get("classes"), list) and len(rec["classes"]) == n_out \
        else [str(k) for k in range(n_out)]
    T = steps if steps is not None else rec.get("steps")
    if T is None:
        raise DeployError("the graph records no number of time steps; pass --steps T (the steps the input is "
                          "presented)", where, "--steps")
    # a graph with tnas-deploy's record was written in the genome's own chip time: nothing differs
    leaky = walk.readout is not None and "tau" in walk.readout      # a leaky readout is a version 3 field, as is
    version3 = leaky or bool(flat.loops)                              # a backward edge read in the same step
    notes = walk.notes + ([] if rec else producer_notes(flat, int(T), walk.values[outputs[0]].arrival, leaky))
    genome = {"format": "tnas-genome", "version": 3 if version3 else 2,
              "name": name or unique_id(str(rec.get("name") or where.stem), set()),
              "task": {"input_shape": list(walk.input_shape), "classes": [str(c) for c in classes]},
              "coding": {"scheme": "rate", "steps": int(T)},
              "provenance": {"imported_from": where.name, "imported_format": "NIR",
                             "dt_seconds": dt, "tool": f"tnas-deploy {__version__}"},
              "nodes": gnodes}
    return Imported(genome, walk.weights, notes)


class _Walk:
    """Translates the nodes of a flattened NIR graph in topological order into genome nodes and weights."""

    def __init__(self, flat: FlatGraph, dt: float | None, fail, rec: dict[str, Any]):
        self.flat, self.dt, self.fail = flat, dt, fail
        self.taken: set[str] = set()
        self.gnodes: list[dict[str, Any]] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.weights: dict[str, dict[str, np.ndarray]] = {}
        self.values: dict[str, _Value] = {}
        self.notes: list[str] = []
        self.readout: dict[str, Any] | None = None
        self.readout_id = rec.get("readout_id") if isinstance(rec.get("readout_id"), str) else "out"
        self.input_shape: tuple[int, ...] = ()
        self.pending: list[tuple[dict[str, Any], Loop, _Value]] = []  # backward edge, its loop, the value it joins
        self.filtered: list[tuple[str, float]] = []                   # CubaLIFs whose current decays, tau_syn in steps

    def add(self, node: dict[str, Any]) -> dict[str, Any]:
        self.gnodes.append(node)
        self.by_id[node["id"]] = node
        return node

    def source(self, n: str, allow_many: bool = True, backward: list[dict[str, Any]] | None = None) -> _Value:
        """The value entering NIR node n: its one forward input, or an add node summing several. The backward
        edges into n are appended to `backward` when given (a neuron node takes them itself), otherwise they join
        an add node; `finish` fills in their sources."""
        fail = self.fail
        ins = [self.values[s] for s in self.flat.incoming[n]]
        loops = self.flat.recurrent_into(n)
        if not ins:
            raise fail(n, "the node has no input edge", "inputs")
        if (len(ins) > 1 or loops) and not allow_many:
            raise fail(n, f"{len(ins) + len(loops)} input edges into an output or integrator (or a loop into it)",
                       "inputs")
        if len({v.shape for v in ins}) != 1:
            raise fail(n, f"its input edges carry shapes {[list(v.shape) for v in ins]}; NIR sums them", "inputs")
        if len({v.mult for v in ins}) != 1:
            raise fail(n, "its inputs are scaled differently (sum-pooling or Scale on one branch only)", "inputs")
        arrival = max(v.arrival + v.population for v in ins)
        into: list[Any]                       # the inputs the backward edges join
        if len(ins) == 1 and (not loops or backward is not None):
            value, into = ins[0], backward if backward is not None else []
        else:
            node = self.add({"id": unique_id(f"{n}_sum", self.taken), "type": "add", "inputs": [v.node for v in ins]})
            value, into = _Value(node["id"], ins[0].shape, ins[0].mult, False, arrival), node["inputs"]
        for loop in loops:
            # read in the same step (version 3): a loop through one population takes one step, as in the producer
            edge: dict[str, Any] = {"node": None, "recurrent": True, "same_step": True}
            into.append(edge)
            self.pending.append((edge, loop, value))
        return value

    def visit(self, n: str) -> None:
        import nir

        node, fail = self.flat.nodes[n], self.fail
        if isinstance(node, nir.Input):
            shape = _shape(node.input_type.get("input"), n, fail)
            if len(shape) not in (1, 3):
                raise fail(n, f"input shape {list(shape)}: a genome input is [features] or [channels, height, width]",
                           "input_type")
            gid = unique_id(n, self.taken)
            self.add({"id": gid, "type": "input"})
            self.values[n] = _Value(gid, shape, 1.0, True, 0)
            self.input_shape = shape
        elif isinstance(node, (_IDENTITY, PassThrough)):
            self.values[n] = self.source(n)
        elif isinstance(node, (nir.Affine, nir.Linear)):
            self._dense(n, node)
        elif isinstance(node, nir.Conv2d):
            self._conv(n, node)
        elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            self._pool(n, node)
        elif isinstance(node, nir.Scale):
            v = self.source(n)
            s = np.asarray(node.scale, dtype=np.float64)
            if s.size == 0 or not np.all(s == s.reshape(-1)[0]):
                raise fail(n, "a Scale with differing factors: the genome folds only a uniform scale", "scale")
            self.values[n] = _Value(v.node, v.shape, v.mult * float(s.reshape(-1)[0]), v.population, v.arrival)
        elif isinstance(node, nir.Flatten):
            v = self.source(n)
            if int(node.end_dim) not in (-1, len(v.shape) - 1, len(v.shape)) or int(node.start_dim) not in (0, 1):
                raise fail(n, f"a partial flatten (start_dim {node.start_dim}, end_dim {node.end_dim}): the genome "
                           "flattens a whole sample", "start_dim")
            if len(v.shape) == 1:
                self.values[n] = v
            else:
                gid = unique_id(n, self.taken)
                self.add({"id": gid, "type": "flatten", "inputs": [v.node], "label": str(n)})
                self.values[n] = _Value(gid, (int(np.prod(v.shape)),), v.mult, False, v.arrival + v.population)
        elif is_neuron(node):
            backward: list[dict[str, Any]] = []
            v = self.source(n, backward=backward)
            gid = unique_id(n, self.taken)
            spec = neuron_spec(node, n, v.mult, v.shape, self.dt, fail)
            self.add({"id": gid, "type": "neuron", "inputs": [v.node, *backward], "neuron": spec, "label": str(n)})
            if (spec.get("tau_current") or 1.0) != 1.0:
                self.filtered.append((n, spec["tau_current"]))
            self.values[n] = _Value(gid, v.shape, 1.0, True, v.arrival + v.population)
        elif isinstance(node, (nir.I, nir.LI)):
            self._integrator(n, node)
        elif isinstance(node, nir.Output):
            self._output(n)

    def _dense(self, n: str, node) -> None:
        v = self.source(n)
        if len(v.shape) != 1:
            raise self.fail(n, f"an Affine on a value of shape {list(v.shape)}; put a Flatten before it", "inputs")
        w = np.asarray(node.weight, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != v.shape[0]:
            raise self.fail(n, f"weight of shape {list(w.shape)} does not take {v.shape[0]} inputs", "weight")
        gid = unique_id(n, self.taken)
        has_bias = type(node).__name__ == "Affine"
        self.add({"id": gid, "type": "dense", "inputs": [v.node], "units": int(w.shape[0]), "bias": has_bias,
                  "neuron": None, "label": str(n)})
        self.weights[gid] = {"weight": w * v.mult}
        if has_bias:
            b = np.asarray(node.bias, dtype=np.float64).reshape(-1)
            if b.size != w.shape[0]:
                raise self.fail(n, f"bias of {b.size} values for {w.shape[0]} outputs", "bias")
            self.weights[gid]["bias"] = b
        self.values[n] = _Value(gid, (int(w.shape[0]),), 1.0, False, v.arrival + v.population)

    def _conv(self, n: str, node) -> None:
        fail = self.fail
        v = self.source(n)
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
        gid = unique_id(n, self.taken)
        self.add({"id": gid, "type": "conv2d", "inputs": [v.node], "out_channels": int(w.shape[0]),
                  "kernel": [int(w.shape[2]), int(w.shape[3])], "stride": list(stride), "padding": list(padding),
                  "bias": True, "neuron": None, "label": str(n)})
        b = np.asarray(node.bias, dtype=np.float64).reshape(-1) if node.bias is not None else np.zeros(w.shape[0])
        if b.size == 1 and w.shape[0] > 1:
            b = np.full(w.shape[0], float(b[0]))
        if b.size != w.shape[0]:
            raise fail(n, f"bias of {b.size} values for {w.shape[0]} channels", "bias")
        self.weights[gid] = {"weight": w * v.mult, "bias": b}
        self.values[n] = _Value(gid, (int(w.shape[0]), h, wd), 1.0, False, v.arrival + v.population)

    def _pool(self, n: str, node) -> None:
        v = self.source(n)
        if len(v.shape) != 3:
            raise self.fail(n, f"pooling a value of shape {list(v.shape)}", "inputs")
        kernel, stride = _pair(node.kernel_size), _pair(node.stride)
        padding = _pair(node.padding)
        is_sum = type(node).__name__ == "SumPool2d"
        if not is_sum and padding != (0, 0):
            raise self.fail(n, "AvgPool2d with padding: NIR does not say whether the padding counts in the mean "
                            "(count_include_pad); write SumPool2d followed by a Scale instead", "padding")
        if any(p > k // 2 for p, k in zip(padding, kernel)):
            raise self.fail(n, f"padding {list(padding)} is more than half the kernel {list(kernel)}", "padding")
        h = (v.shape[1] + 2 * padding[0] - kernel[0]) // stride[0] + 1
        wd = (v.shape[2] + 2 * padding[1] - kernel[1]) // stride[1] + 1
        gid = unique_id(n, self.taken)
        spec = {"id": gid, "type": "avgpool2d", "inputs": [v.node], "kernel": list(kernel), "stride": list(stride),
                "neuron": None, "label": str(n)}
        if padding != (0, 0):
            spec["padding"] = list(padding)
        self.add(spec)
        area = kernel[0] * kernel[1] if is_sum else 1
        self.values[n] = _Value(gid, (v.shape[0], h, wd), v.mult * area, False, v.arrival + v.population)

    def _integrator(self, n: str, node) -> None:
        """An I (v += R dt I: the membrane readout's sum) or an LI with tau = dt (v = R I each step, read as the
        sum over the run, as an Output after a non-spiking node) in front of the Output."""
        fail = self.fail
        v = self.source(n, allow_many=False)
        consumers = self.flat.outgoing[n]
        if len(consumers) != 1 or type(self.flat.nodes[consumers[0]]).__name__ != "Output":
            raise fail(n, "an integrator is read as the genome's readout, so it must feed the Output and nothing else",
                       "outputs")
        if v.population:
            raise fail(n, "an integrator of spikes: use the spike count (an Output after the neuron)", "inputs")
        tau = None
        if type(node).__name__ == "LI":
            gain, tau = li_readout(node, n, v.shape, self.dt, fail)
            self.notes.append(f"node {n!r}: the leaky integrator has tau = dt, so it keeps no memory (its membrane is "
                              "R times this step's input); it is read as tnas-deploy's membrane readout, the sum of its "
                              "membrane over the run" if tau is None else
                              f"node {n!r}: the leaky integrator (tau = {tau:g} steps) is read as tnas-deploy's leaky "
                              "membrane readout (readout tau, genome version 3): the logits are its membrane after the "
                              "run, the producer's last value; R dt / tau is folded into the weights before it")
        else:
            r = uniform(node.r, "r", n, fail, v.shape)
            if self.dt is None:
                raise fail(n, "the integrator is continuous-time (v += dt R I); pass --dt (seconds per step)", "r")
            gain = r * self.dt
        self.values[n] = _Value(v.node, v.shape, v.mult * gain, False, v.arrival)
        self.readout = {"mode": "membrane", "node": n, "tau": tau}

    def _output(self, n: str) -> None:
        v = self.source(n, allow_many=False)
        if v.population:
            self.readout = {"id": self.readout_id, "type": "readout", "inputs": [v.node], "mode": "spike_count"}
        else:
            if self.readout is None:
                self.notes.append(f"node {n!r}: the output of a non-spiking node is read as tnas-deploy's membrane "
                                  "readout, its sum over the run")
            target = self.by_id[v.node]
            if not math.isclose(v.mult, 1.0, rel_tol=REL):
                if target["type"] not in ("dense", "conv2d"):
                    raise self.fail(n, f"the readout's value is scaled by {v.mult:g} after its last weighted node",
                                    "inputs")
                self.weights[v.node] = {k: a * v.mult for k, a in self.weights[v.node].items()}
            if target.get("neuron") is not None:
                raise self.fail(n, "reads a node with a neuron", "inputs")
            tau = (self.readout or {}).get("tau")
            self.readout = {"id": self.readout_id, "type": "readout", "inputs": [v.node], "mode": "membrane",
                            **({} if tau is None else {"tau": tau})}
        self.values[n] = v

    def finish(self) -> None:
        """Close the backward edges, refuse biases that a decaying current would filter, add the readout."""
        for edge, loop, joins in self.pending:
            v = self.values[loop.source]
            where = f"{loop.source!r} -> {loop.target!r}"
            if not any(is_neuron(self.flat.nodes[p]) for p in loop.path):
                raise self.fail(loop.target, f"the edge {where} closes a loop through no neuron: a linear recurrence "
                                "without limit, which the genome cannot compute", "inputs")
            if v.shape != joins.shape:
                raise self.fail(loop.target, f"the backward edge {where} carries shape {list(v.shape)} into a value of "
                                f"shape {list(joins.shape)}", "inputs")
            if not math.isclose(v.mult, joins.mult, rel_tol=REL):
                raise self.fail(loop.target, f"the backward edge {where} is scaled by {v.mult:g}, the node's other "
                                f"inputs by {joins.mult:g} (sum-pooling or Scale on one branch only)", "inputs")
            edge["node"] = v.node
        biased = biased_inputs(self.flat)
        for n, tau_c in self.filtered:
            if biased[n] is not None:
                raise self.fail(biased[n], f"a non-zero bias reaches CubaLIF {n!r}, whose synaptic current filters it "
                                f"(tau_syn = {tau_c:g} steps); Loihi adds a neuron's bias to v, not to its current, so "
                                "no chip computes it exactly and the compile would refuse it: remove the bias, or use "
                                "tau_syn = dt", "bias")
        assert self.readout is not None and "id" in self.readout
        if self.readout["id"] in self.taken:
            self.readout["id"] = unique_id(self.readout["id"], self.taken)
        self.add(self.readout)


def _sources(node: dict[str, Any]) -> list[str]:
    return [e if isinstance(e, str) else e["node"] for e in node.get("inputs", [])]


def _merge_neurons(gnodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Put each neuron node onto the dense, conv2d, avgpool2d or add node it reads when nothing else reads that
    node (the genome's usual form: `{"type": "dense", ..., "neuron": {...}}`); its backward edges move along."""
    by_id = {g["id"]: g for g in gnodes}
    for node in list(gnodes):
        if node["type"] != "neuron":
            continue
        (src,) = [e for e in node["inputs"] if isinstance(e, str)]
        target = by_id[src]
        readers = [g for g in gnodes if src in _sources(g)]
        if target["type"] in ("dense", "conv2d", "avgpool2d", "add") and target.get("neuron") is None and \
                readers == [node]:
            target["neuron"] = node["neuron"]
            target["inputs"] = target["inputs"] + [e for e in node["inputs"] if not isinstance(e, str)]
            gnodes.remove(node)
            for g in gnodes:
                if "inputs" in g:
                    g["inputs"] = [(src if e == node["id"] else e) if isinstance(e, str) else
                                   ({**e, "node": src} if e["node"] == node["id"] else e) for e in g["inputs"]]
    return gnodes


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


__all__ = ["graph_to_genome", "import_nir"]
