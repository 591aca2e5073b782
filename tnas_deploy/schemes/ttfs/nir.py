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
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ... import __version__
from ...errors import DeployError
from ...genome import Genome
from ...interop.nir_common import EXTENSION, EXTENSION_VERSION, linear_node, write_graph
from .lowering import lower
from .layers import ConcatLayer, FlattenLayer, InputLayer, MaxPoolLayer, ReadoutLayer, TtfsLayer
from .mapping import Windows
from ...weights import Weights



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
                nodes[name] = linear_node(proj, src.shape, node_bias, layer.shape)
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
    return write_graph(genome_to_nir(genome, weights, windows), path)
