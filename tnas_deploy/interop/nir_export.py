"""Export a TTFS genome and its weights as a NIR graph (Neuromorphic Intermediate Representation).

NIR has no primitive for time-to-first-spike coding: no fire-once neuron, no per-layer time windows, no
max-pooling. The export writes the nearest NIR form and states the exact meaning in a metadata
extension under the key `tnas_deploy.ttfs` on every node it concerns (docs/interop.md):

| lowered layer        | NIR nodes                                   | extension                                   |
| -------------------- | ------------------------------------------- | ------------------------------------------- |
| input                | Input                                       | value coding, steps per window              |
| TTFS layer           | Conv2d / Affine / SumPool2d+Scale -> IF     | fire-once B1 neuron, window index and length |
| max-pool             | SumPool2d -> Threshold(0)                   | fire-once: the earliest input spike         |
| flatten              | Flatten                                     |                                             |
| readout              | Affine (+ bias) -> I -> Output              | the integrator's value after the last window |

Weights are the float weights of the ReLU ANN counterpart with batch norm folded in (NIR has no batch
norm). A NIR consumer that ignores the extension simulates ordinary IF neurons, which is not the same
network; tnas-deploy's own importer will refuse such graphs instead of changing their behaviour.

Rate-coded genomes (`export_rate_nir`) map onto NIR's own neurons, with the forward-Euler discretisation
that snnTorch and Norse use (one step of `dt` seconds per tnas-deploy step; docs/interop.md):

| genome                                   | NIR                                                               |
| ---------------------------------------- | ----------------------------------------------------------------- |
| input                                    | Input                                                             |
| conv2d / dense (a following batch norm folded in) | Conv2d / Affine                                          |
| avgpool2d (padding: SumPool2d + Scale)   | AvgPool2d                                                         |
| flatten; add (NIR sums a node's inputs)  | Flatten; edges                                                    |
| IF neuron                                | IF(r = 1/dt, v_threshold, v_reset 0): v += dt r I                 |
| LIF neuron, tau in steps                 | LIF(tau = tau dt, r = 1 (decay_input) or tau, v_leak 0, v_reset 0) |
| LIF with tau_current                     | CubaLIF(tau_syn = tau_current dt, tau_mem = tau dt, w_in = tau_current, r as LIF) |
| readout membrane / spike_count           | I(r = 1/dt) -> Output / Output of the neuron                      |

The graph's metadata key `tnas_deploy.rate` (a JSON text) records dt, the steps T, the readout mode, the
classes and the timing rule (every population's spikes reach its consumers one step later, chip time);
each neuron node records its genome neuron under the same key. Refused, naming the node: reset by
subtraction (NIR resets to v_reset), max-pooling (NIR 1.0 has no max-pool), concat, recurrent edges, an IF
neuron with tau_current, a batch norm that does not directly follow a conv2d or dense.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import DeployError
from ..genome import Genome
from ..io_utils import atomic_path
from ..lowering import lower
from ..network import ConcatLayer, FlattenLayer, InputLayer, MaxPoolLayer, Projection, ReadoutLayer, TtfsLayer
from ..ttfs import Windows
from ..weights import Weights

EXTENSION = "tnas_deploy.ttfs"
EXTENSION_VERSION = 1
#: Metadata key of rate graphs (graph and neuron nodes); its value is a JSON text.
RATE_EXTENSION = "tnas_deploy.rate"
RATE_EXTENSION_VERSION = 1


def _linear_node(proj: Projection, src_shape: tuple[int, ...], bias: np.ndarray | None, out_shape: tuple[int, ...]):
    import nir

    w = np.asarray(proj.weight, dtype=np.float64)
    if proj.kind == "dense":
        return nir.Affine(weight=w, bias=np.zeros(w.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64))
    if proj.kind == "conv2d":
        return nir.Conv2d(input_shape=tuple(src_shape[1:]), weight=w, stride=tuple(proj.stride),
                          padding=tuple(proj.padding), dilation=(1, 1), groups=1,
                          bias=np.zeros(w.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64))
    # identity (residual add): a per-channel scale
    per = int(np.prod(out_shape[1:])) if len(out_shape) > 1 else 1
    return nir.Scale(scale=np.repeat(w, per).reshape(out_shape))


def genome_to_nir(genome: Genome, weights: Weights, windows: Windows, steps: int | None = None):
    """The NIR graph of a TTFS genome (see the module documentation for the mapping)."""
    import nir

    K = steps or genome.time.steps_per_window
    layers = lower(genome, weights)
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    out_of: dict[str, str] = {}            # layer id -> NIR node that emits its output

    def ext(**fields: Any) -> dict[str, Any]:
        return {EXTENSION: {"version": EXTENSION_VERSION, **fields}}

    for layer in layers:
        if isinstance(layer, InputLayer):
            nodes["input"] = nir.Input(input_type={"input": np.array(layer.shape)}, metadata=ext(
                coding="ttfs", steps_per_window=K,
                value_coding="a pixel x in [0, 1] spikes once, at step K - round(x K) of window 0; x < 1/(2K): none"))
            out_of[layer.id] = "input"
        elif isinstance(layer, (TtfsLayer, ReadoutLayer)):
            target = f"{layer.id}.neuron" if isinstance(layer, TtfsLayer) else f"{layer.id}.integrator"
            bias = np.asarray(layer.bias, dtype=np.float64)
            for i, proj in enumerate(layer.projections):
                src = next(x for x in layers if x.id == proj.source)
                name = f"{layer.id}.synapses{i}" if len(layer.projections) > 1 else f"{layer.id}.synapses"
                # the bias enters once, with the first projection
                node_bias = bias if i == 0 and proj.kind in ("dense", "conv2d", "avgpool2d") else None
                if i == 0 and proj.kind == "identity" and np.any(bias):
                    raise DeployError(f"layer {layer.id!r}: a residual add with a bias has no NIR form here", None,
                                      f"nodes ({layer.id})")
                if isinstance(layer, ReadoutLayer) and proj.kind != "dense":
                    raise DeployError(f"the readout {layer.id!r} reads a {proj.kind} membrane; the NIR export needs a "
                                      "dense layer before the readout", genome.source, f"nodes ({layer.id})")
                if proj.kind == "avgpool2d":
                    # average pooling = sum over the window, then a per-channel scale (1 / area, times any
                    # folded batch-norm scale); NIR's type check does not take grouped convolutions
                    if node_bias is not None and np.any(node_bias):
                        raise DeployError(f"layer {layer.id!r}: average pooling with a folded batch-norm shift has "
                                          "no NIR form here", genome.source, f"nodes ({layer.id})")
                    nodes[f"{name}.sum"] = nir.SumPool2d(kernel_size=np.array(proj.kernel),
                                                         stride=np.array(proj.stride), padding=np.array([0, 0]))
                    per = int(np.prod(layer.shape[1:]))
                    nodes[name] = nir.Scale(scale=np.repeat(np.asarray(proj.weight, float), per).reshape(layer.shape))
                    edges += [(out_of[proj.source], f"{name}.sum"), (f"{name}.sum", name), (name, target)]
                    continue
                nodes[name] = _linear_node(proj, src.shape, node_bias, layer.shape)
                edges.append((out_of[proj.source], name))
                edges.append((name, target))
            if isinstance(layer, TtfsLayer):
                nodes[target] = nir.IF(r=np.ones(layer.shape), v_threshold=np.full(layer.shape, windows.length[layer.id]),
                                       v_reset=np.zeros(layer.shape), metadata=ext(
                    neuron="b1-fire-once", window_index=layer.window, window_length=windows.length[layer.id],
                    steps_per_window=K, genome_nodes=list(layer.nodes),
                    semantics="integrates its inputs' slopes during window index-1, then a unit ramp during its own "
                              "window; fires at most once, when v + ramp reaches v_threshold; the spike time t codes "
                              "ReLU(W x + b) = window_length - t"))
            else:
                shape = (layer.size,)
                nodes[target] = nir.I(r=np.ones(shape), metadata=ext(
                    readout="membrane", read_after_window=layer.window, genome_nodes=list(layer.nodes),
                    semantics="the integrator's value after window read_after_window is the logit vector"))
                nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
                edges.append((target, "output"))
            out_of[layer.id] = target
        elif isinstance(layer, MaxPoolLayer):
            pool, thr = f"{layer.id}.pool", f"{layer.id}.first_spike"
            nodes[pool] = nir.SumPool2d(kernel_size=np.array(layer.kernel), stride=np.array(layer.stride),
                                        padding=np.array([0, 0]))
            nodes[thr] = nir.Threshold(threshold=np.zeros(layer.shape), metadata=ext(
                op="maxpool2d", fire_once=True, genome_nodes=list(layer.nodes),
                semantics="max-pooling of TTFS values: spikes once, at the earliest spike in its window"))
            edges += [(out_of[layer.source], pool), (pool, thr)]
            out_of[layer.id] = thr
        elif isinstance(layer, FlattenLayer):
            src = next(x for x in layers if x.id == layer.source)
            nodes[layer.id] = nir.Flatten(input_type={"input": np.array(src.shape)}, start_dim=0, end_dim=-1)
            edges.append((out_of[layer.source], layer.id))
            out_of[layer.id] = layer.id
        elif isinstance(layer, ConcatLayer):
            raise DeployError("concat has no NIR primitive (NIR sums the edges into a node); export of genomes with "
                              "concat is not supported", genome.source, f"nodes ({layer.id})")
    metadata = {EXTENSION: {"version": EXTENSION_VERSION, "coding": "ttfs", "steps_per_window": K,
                            "window_method": windows.method, "tool": f"tnas-deploy {__version__}",
                            "genome": genome.name},
                "provenance": genome.provenance}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=False)


def export_nir(genome: Genome, weights: Weights, windows: Windows, path: str | Path) -> Path:
    import nir

    graph = genome_to_nir(genome, weights, windows)
    path = Path(path)
    with atomic_path(path) as tmp:
        nir.write(tmp, graph)
    return path


# -- rate-coded genomes ----------------------------------------------------------------------------

def _refuse(genome: Genome, node_id: str, message: str, fld: str = "") -> DeployError:
    index = next(i for i, n in enumerate(genome.nodes) if n.id == node_id)
    return DeployError(f"NIR cannot express this: {message}", genome.source,
                       f"nodes[{index}] (id {node_id!r})" + (f".{fld}" if fld else ""))


def _unique(name: str, taken: set[str]) -> str:
    candidate, k = name, 1
    while candidate in taken:
        k += 1
        candidate = f"{name}_{k}"
    taken.add(candidate)
    return candidate


def rate_genome_to_nir(genome: Genome, weights: Weights, dt: float = 1.0):
    """The NIR graph of a rate-coded genome (see the module documentation for the mapping)."""
    import nir

    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise DeployError(f"expected a time step > 0 seconds, got {dt!r}", None, "--dt")
    dt = float(dt)
    shapes = genome.shapes
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    outs: dict[str, list[str]] = {}          # genome node -> the NIR nodes whose sum is its output
    folded: dict[str, str] = {}              # batchnorm id -> the conv/dense NIR node it was folded into
    taken = {n.id for n in genome.nodes}

    def feed(sources: list[str], target: str) -> None:
        for s in sources:
            for o in outs[s]:
                edges.append((o, target))

    for node_id in genome.order:
        node = genome.by_id[node_id]
        tag = node.type_tag
        for j, edge in enumerate(node.inputs):
            if edge.recurrent:
                raise _refuse(genome, node_id, "a recurrent edge: tnas-deploy delays it by one step more than a forward "
                              "edge, which a NIR cycle does not say", f"inputs[{j}]")
        srcs = list(node.forward_inputs)
        shape = shapes[node_id]
        if tag == "input":
            nodes[node_id] = nir.Input(input_type={"input": np.array(shape)})
            outs[node_id] = [node_id]
        elif tag in ("conv2d", "dense"):
            w = np.asarray(weights[node_id]["weight"], dtype=np.float64)
            b = np.asarray(weights[node_id]["bias"], dtype=np.float64) if node.bias else np.zeros(w.shape[0])
            cons = genome.consumers(node_id)
            if node.neuron is None and len(cons) == 1 and cons[0].type_tag == "batchnorm" and \
                    not any(e.recurrent for n in genome.nodes for e in n.inputs if e.source == node_id):
                bn = cons[0]
                wb = weights[bn.id]
                s = np.asarray(wb["weight"], np.float64) / np.sqrt(np.asarray(wb["running_var"], np.float64) + bn.eps)
                w = w * s.reshape((-1,) + (1,) * (w.ndim - 1))
                b = b * s + np.asarray(wb["bias"], np.float64) - np.asarray(wb["running_mean"], np.float64) * s
                folded[bn.id] = node_id
            if tag == "dense":
                nodes[node_id] = nir.Affine(weight=w, bias=b) if node.bias or node_id in folded.values() \
                    else nir.Linear(weight=w)
            else:
                nodes[node_id] = nir.Conv2d(input_shape=tuple(shapes[srcs[0]][1:]), weight=w, stride=tuple(node.stride),
                                            padding=tuple(node.padding), dilation=(1, 1), groups=1, bias=b)
            feed(srcs, node_id)
            outs[node_id] = [node_id]
        elif tag == "batchnorm":
            if node_id not in folded:
                raise _refuse(genome, node_id, "NIR has no batch norm; tnas-deploy folds one into the conv2d or dense "
                              "right before it (with no neuron between), which this one does not follow", "type")
            outs[node_id] = [folded[node_id]]
        elif tag == "avgpool2d":
            pad = tuple(node.padding)
            if pad == (0, 0):
                nodes[node_id] = nir.AvgPool2d(kernel_size=np.array(node.kernel), stride=np.array(node.stride),
                                               padding=np.array([0, 0]))
                feed(srcs, node_id)
            else:    # zero padding that counts in the mean: a sum over the window, then 1 / area
                scale = _unique(f"{node_id}.scale", taken)
                nodes[node_id] = nir.SumPool2d(kernel_size=np.array(node.kernel), stride=np.array(node.stride),
                                               padding=np.array(pad))
                nodes[scale] = nir.Scale(scale=np.full(shape, 1.0 / (node.kernel[0] * node.kernel[1])))
                feed(srcs, node_id)
                edges.append((node_id, scale))
            outs[node_id] = [node_id if pad == (0, 0) else scale]
        elif tag == "flatten":
            nodes[node_id] = nir.Flatten(input_type={"input": np.array(shapes[srcs[0]])}, start_dim=0, end_dim=-1)
            feed(srcs, node_id)
            outs[node_id] = [node_id]
        elif tag in ("add", "neuron"):
            outs[node_id] = [o for s in srcs for o in outs[s]]      # NIR sums every edge into a node
        elif tag == "maxpool2d":
            raise _refuse(genome, node_id, "NIR 1.0 has no max-pooling", "type")
        elif tag == "concat":
            raise _refuse(genome, node_id, "NIR sums the edges into a node and has no concatenation", "type")
        elif tag != "readout":  # pragma: no cover - every node type is handled above
            raise _refuse(genome, node_id, f"no NIR form for a {tag} node", "type")
        if node.neuron is not None and tag != "readout":
            spec = node.neuron
            if spec.reset != "zero":
                raise _refuse(genome, node_id, "NIR's IF, LIF and CubaLIF reset v to v_reset; a reset by subtraction "
                              "has no NIR form", "neuron.reset")
            name = node_id if tag in ("add", "neuron") else _unique(f"{node_id}.neuron", taken)
            nodes[name] = _nir_neuron(genome, node_id, spec, shape, dt)
            feed_from = outs[node_id]
            for o in feed_from:
                edges.append((o, name))
            outs[node_id] = [name]

    readout = genome.readout
    (src,) = readout.forward_inputs
    n_out = int(np.prod(shapes[src]))
    output = _unique("output", taken)
    if readout.mode == "membrane":
        nodes[readout.id] = nir.I(r=np.full(shapes[src], 1.0 / dt), metadata={RATE_EXTENSION: json.dumps(
            {"readout": "membrane", "semantics": "the integrator's value after the T + D steps is the logit vector"})})
        for o in outs[src]:
            edges.append((o, readout.id))
        last = readout.id
    else:
        last = outs[src][0]
    nodes[output] = nir.Output(output_type={"output": np.array(shapes[src])})
    edges.append((last, output))
    record = {"version": RATE_EXTENSION_VERSION, "coding": "rate", "dt": dt, "steps": genome.steps,
              "readout": readout.mode, "readout_id": readout.id, "outputs": n_out, "classes": list(genome.task.classes),
              "name": genome.name, "tool": f"tnas-deploy {__version__}",
              "timing": "chip time: a population's spikes reach its consumers one step later; the input is presented "
                        "for `steps` steps and the network runs steps + D, D the populations on the longest path",
              "discretisation": "forward Euler with step dt: v += dt/tau (v_leak - v + r I); IF: v += dt r I; CubaLIF: "
                                "I += dt/tau_syn (w_in x - I), then v with the new I",
              "input": "a static image x in [0, 1] at every one of the `steps` steps (tnas-deploy sends round(255 x))",
              "provenance": genome.provenance}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={RATE_EXTENSION: json.dumps(record, sort_keys=True)},
                        type_check=False)


def _nir_neuron(genome: Genome, node_id: str, spec, shape: tuple[int, ...], dt: float):
    import nir

    full = lambda value: np.full(shape, float(value))  # noqa: E731
    meta = {RATE_EXTENSION: json.dumps({"neuron": spec.to_json(), "genome_node": node_id}, sort_keys=True)}
    if spec.model == "if":
        if spec.tau_current is not None:
            raise _refuse(genome, node_id, "an IF neuron with tau_current: NIR's CubaLIF always leaks (no current-based "
                          "IF)", "neuron.tau_current")
        return nir.IF(r=full(1.0 / dt), v_threshold=full(spec.threshold), v_reset=full(0.0), metadata=meta)
    r = 1.0 if spec.decay_input else spec.tau
    if spec.tau_current is None:
        return nir.LIF(tau=full(spec.tau * dt), r=full(r), v_leak=full(0.0), v_threshold=full(spec.threshold),
                       v_reset=full(0.0), metadata=meta)
    return nir.CubaLIF(tau_syn=full(spec.tau_current * dt), tau_mem=full(spec.tau * dt), r=full(r), v_leak=full(0.0),
                       v_threshold=full(spec.threshold), v_reset=full(0.0), w_in=full(spec.tau_current), metadata=meta)


def export_rate_nir(genome: Genome, weights: Weights, path: str | Path, dt: float = 1.0) -> Path:
    import nir

    graph = rate_genome_to_nir(genome, weights, dt)
    path = Path(path)
    with atomic_path(path) as tmp:
        nir.write(tmp, graph)
    return path
