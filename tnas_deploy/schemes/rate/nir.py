"""Export a rate-coded genome and its weights as a NIR graph (Neuromorphic Intermediate Representation).

Rate-coded genomes map onto NIR's own neurons, with the forward-Euler discretisation
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
| leaky membrane readout, tau in steps     | LI(tau = tau dt, r = tau, v_leak 0): v keeps 1 - 1/tau, adds I     |

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

from ... import __version__
from ...errors import DeployError
from ...genome import Genome
from ...interop.imported import unique_name
from ...interop.nir_common import RATE_EXTENSION, RATE_EXTENSION_VERSION, refuse_node, write_graph
from ...weights import Weights


def _membrane_readout(tau: float | None, shape: tuple[int, ...], dt: float):
    """The NIR node of a membrane readout: an integrator I(r = 1/dt) (v += dt r I), or for a leaky readout of tau
    steps an LI(tau dt, r = tau, v_leak 0), whose Euler step v += (-v + r I) / tau keeps 1 - 1/tau and adds I."""
    import nir

    if tau is None:
        return nir.I(r=np.full(shape, 1.0 / dt), metadata={RATE_EXTENSION: json.dumps(
            {"readout": "membrane", "semantics": "the integrator's value after the T + D steps is the logit vector"})})
    return nir.LI(tau=np.full(shape, tau * dt), r=np.full(shape, float(tau)), v_leak=np.zeros(shape),
                  metadata={RATE_EXTENSION: json.dumps({"readout": "membrane", "tau": tau, "semantics": "the leaky "
                            "integrator's value after the T + D steps is the logit vector"})})


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
                raise refuse_node(genome, node_id, "a recurrent edge: tnas-deploy delays it by one step more than a forward "
                              "edge, which a NIR cycle does not say", f"inputs[{j}]")
            if edge.delayed:
                raise refuse_node(genome, node_id, "an axonal delay (genome version 3): the NIR export does not write "
                                  "delays", f"inputs[{j}]")
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
                raise refuse_node(genome, node_id, "NIR has no batch norm; tnas-deploy folds one into the conv2d or dense "
                              "right before it (with no neuron between), which this one does not follow", "type")
            outs[node_id] = [folded[node_id]]
        elif tag == "avgpool2d":
            pad = tuple(node.padding)
            if pad == (0, 0):
                nodes[node_id] = nir.AvgPool2d(kernel_size=np.array(node.kernel), stride=np.array(node.stride),
                                               padding=np.array([0, 0]))
                feed(srcs, node_id)
            else:    # zero padding that counts in the mean: a sum over the window, then 1 / area
                scale = unique_name(f"{node_id}.scale", taken)
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
            raise refuse_node(genome, node_id, "NIR 1.0 has no max-pooling", "type")
        elif tag == "concat":
            raise refuse_node(genome, node_id, "NIR sums the edges into a node and has no concatenation", "type")
        elif tag != "readout":  # pragma: no cover - every node type is handled above
            raise refuse_node(genome, node_id, f"no NIR form for a {tag} node", "type")
        if node.neuron is not None and tag != "readout":
            spec = node.neuron
            if spec.reset != "zero":
                raise refuse_node(genome, node_id, "NIR's IF, LIF and CubaLIF reset v to v_reset; a reset by subtraction "
                              "has no NIR form", "neuron.reset")
            name = node_id if tag in ("add", "neuron") else unique_name(f"{node_id}.neuron", taken)
            nodes[name] = _nir_neuron(genome, node_id, spec, shape, dt)
            feed_from = outs[node_id]
            for o in feed_from:
                edges.append((o, name))
            outs[node_id] = [name]

    readout = genome.readout
    (src,) = readout.forward_inputs
    n_out = int(np.prod(shapes[src]))
    output = unique_name("output", taken)
    if readout.mode == "membrane":
        nodes[readout.id] = _membrane_readout(readout.tau, shapes[src], dt)
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
            raise refuse_node(genome, node_id, "an IF neuron with tau_current: NIR's CubaLIF always leaks (no current-based "
                          "IF)", "neuron.tau_current")
        return nir.IF(r=full(1.0 / dt), v_threshold=full(spec.threshold), v_reset=full(0.0), metadata=meta)
    r = 1.0 if spec.decay_input else spec.tau
    if spec.tau_current is None:
        return nir.LIF(tau=full(spec.tau * dt), r=full(r), v_leak=full(0.0), v_threshold=full(spec.threshold),
                       v_reset=full(0.0), metadata=meta)
    return nir.CubaLIF(tau_syn=full(spec.tau_current * dt), tau_mem=full(spec.tau * dt), r=full(r), v_leak=full(0.0),
                       v_threshold=full(spec.threshold), v_reset=full(0.0), w_in=full(spec.tau_current), metadata=meta)


def export_rate_nir(genome: Genome, weights: Weights, path: str | Path, dt: float = 1.0) -> Path:
    return write_graph(rate_genome_to_nir(genome, weights, dt), path)
