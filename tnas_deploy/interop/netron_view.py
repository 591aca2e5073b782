"""Look at a genome or a compiled artifact in netron (https://netron.app), as a connected graph.

netron draws an ONNX model as a graph, so `write_view` turns either input into an ONNX file (opset 17)
meant for looking, not for running:

* a **genome** (.json): one ONNX node per genome node with the matching standard op (conv2d -> Conv,
  dense -> Gemm, batchnorm -> BatchNormalization, maxpool2d -> MaxPool, avgpool2d -> AveragePool,
  flatten -> Flatten, add -> Add (Sum for more than two inputs), concat -> Concat, readout -> Identity);
  the input node is the graph input. A node that carries a neuron is followed by one node of op
  `tnas.TtfsNeuron` (a custom domain, so no tool mistakes it for a ReLU). Float weights are included
  when the genome's weights file is found and loads; otherwise the weight tensors are graph inputs
  with shapes but no values, and the model metadata says why.
* a **compiled artifact** (.tdart, HDF5): one ONNX node per chip layer after the input: TTFS layers
  (synapses + neurons, batch norm folded in) are `tnas.TtfsNeuron`, the readout layer is
  `tnas.TtfsReadout`, max-pool/flatten/concat are MaxPool/Flatten/Concat. The quantized integer weight
  mantissas (int8/int16), thresholds and initial potentials are initializers, so netron shows them.

Every edge carries a value_info of shape [1, C, H, W] (or [1, N]). What netron should show beyond the
standard ONNX attributes goes into the custom ops' attributes (weight_bits, weight_exp, window, ...) and,
for standard ops, into node metadata (netron's node sidebar, "Metadata"); provenance and the other
file-level facts go into the model's metadata_props.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DeployError
from ..genome.nodes import FIRE_ONCE_MODELS
from ..io_utils import write_bytes_atomic
from ..schemes import scheme_for
from .onnx_graph import DOMAIN, OPSET, GraphBuilder, onnx_module, pads, provenance_props

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

_STD_OPS = {"conv2d": "Conv", "dense": "Gemm", "batchnorm": "BatchNormalization", "maxpool2d": "MaxPool",
            "avgpool2d": "AveragePool", "flatten": "Flatten", "add": "Add", "concat": "Concat", "readout": "Identity"}


# -- public API ---------------------------------------------------------------------------------------
def write_view(source: Path, out: Path) -> Path:
    """Write an ONNX view of a genome (.json) or a compiled artifact to `out` (atomically); returns `out`."""
    source, out = Path(source), Path(out)
    model = build_model(source)
    write_bytes_atomic(out, model.SerializeToString())
    return out


def build_model(source: Path) -> "onnx.ModelProto":  # noqa: F821
    """The ONNX model for a genome or artifact file; raises `DeployError` naming the file if it is neither."""
    source = Path(source)
    kind = detect_kind(source)
    if kind == "genome":
        from ..genome import load_genome
        return _genome_model(load_genome(source), source)
    from ..artifact import load_artifact
    net, summary = load_artifact(source)
    return _artifact_model(net, summary, source)


def detect_kind(source: Path) -> str:
    """'genome' or 'artifact': by suffix .json, else by content (HDF5 signature or a JSON object)."""
    source = Path(source)
    if source.is_dir():
        raise DeployError("is a directory; expected a genome .json or a compiled artifact (.tdart)", source)
    if not source.exists():
        raise DeployError("file not found; expected a genome .json or a compiled artifact (.tdart)", source)
    if source.suffix.lower() == ".json":
        return "genome"
    try:
        with open(source, "rb") as fh:
            head = fh.read(64)
    except OSError as exc:
        raise DeployError(f"cannot read the file ({exc.strerror})", source) from None
    from ..artifact import HEADER_MAGIC
    if head.startswith((HEADER_MAGIC, HDF5_SIGNATURE)):   # artifacts start with their header; older ones with HDF5's
        return "artifact"
    if head.lstrip().startswith(b"{"):
        return "genome"
    raise DeployError("neither a genome (JSON) nor a compiled artifact (HDF5); expected a genome .json or a "
                      "file written by `tnas-deploy compile`", source)


def serve(path: Path, port: int | None = None, browse: bool = False) -> str:
    """Serve `path` with netron's own server on localhost (a free port if `port` is None); returns the URL.

    `browse=True` opens the default browser (netron's own flag). Stop with `stop(url)`."""
    import netron

    path = Path(path)
    if not path.is_file():
        raise DeployError("file not found", path)
    if port is not None and not 0 < port < 65536:
        raise DeployError(f"expected a port between 1 and 65535, got {port}", None, "--port")
    try:
        host, bound = netron.start(str(path), address=("localhost", port), browse=browse)
    except OSError as exc:
        raise DeployError(f"cannot serve on localhost port {port}: {exc.strerror or exc}", None, "--port") from None
    return f"http://{host}:{bound}/"


def stop(url: str, timeout: float = 5.0) -> None:
    """Stop the netron server started by `serve` (given its URL); waits (bounded) until it has stopped."""
    import time
    import urllib.parse

    import netron
    parsed = urllib.parse.urlparse(url)
    address = (parsed.hostname or "localhost", parsed.port)
    netron.stop(address)
    deadline = time.monotonic() + timeout
    while netron.status(address) and time.monotonic() < deadline:   # its loop polls every 0.25 s
        time.sleep(0.02)


# -- genome -------------------------------------------------------------------------------------------
def _genome_weights(genome) -> tuple[dict[str, dict[str, np.ndarray]] | None, str]:
    from ..weights import load_weights

    path = genome.weights_path()
    if path is None:
        return None, "not included: the genome names no weights file"
    if not path.exists():
        return None, f"not included: {genome.weights} not found next to the genome"
    try:
        return load_weights(genome, path), f"included (float32) from {genome.weights}"
    except DeployError as exc:
        return None, f"not included: {exc}"


def _genome_model(genome, source: Path):
    from ..genome import nodes as N

    b = GraphBuilder()
    weights, weights_note = _genome_weights(genome)
    shapes = genome.shapes
    time_attr, K = scheme_for(genome).view_time(genome)
    out_name: dict[str, str] = {}        # node id -> the tensor its consumers read (after the neuron, if any)

    def param(node_id: str, name: str, shape: tuple[int, ...]) -> str:
        tensor = f"{node_id}.{name}"
        if weights is not None:
            b.initializer(tensor, np.asarray(weights[node_id][name], dtype=np.float32).reshape(shape))
        else:
            b.inputs.append(onnx_module().helper.make_tensor_value_info(tensor, onnx_module().TensorProto.FLOAT, list(shape)))
        return tensor

    for node_id in genome.order:
        node = genome.by_id[node_id]
        shape = shapes[node_id]
        if isinstance(node, N.Input):
            b.inputs.append(b.tensor_info(node_id, shape))
            out_name[node_id] = node_id
            continue
        srcs = [out_name[s] for s in node.forward_inputs]
        in_shape = shapes[node.forward_inputs[0]]
        meta: dict[str, Any] = {"genome_node": node_id, "genome_type": node.type_tag}
        if node.label is not None:
            meta["label"] = node.label
        if any(e.recurrent for e in node.inputs):
            meta["recurrent_inputs"] = [e.source for e in node.inputs if e.recurrent]
        pre = f"{node_id}.membrane" if node.spiking else node_id
        attrs: dict[str, Any] = {}
        inputs = list(srcs)
        op = _STD_OPS.get(node.type_tag, "Identity")     # a `neuron` node: identity, then its neuron
        if isinstance(node, N.Conv2d):
            meta.update(out_channels=node.out_channels, kernel=list(node.kernel), stride=list(node.stride),
                        padding=list(node.padding), bias=node.bias)
            attrs.update(kernel_shape=list(node.kernel), strides=list(node.stride), pads=pads(node.padding))
            ws = node.weight_shapes(in_shape)
            inputs += [param(node_id, name, ws[name]) for name in ("weight", "bias") if name in ws]
        elif isinstance(node, N.Dense):
            meta.update(units=node.units, bias=node.bias)
            attrs.update(transB=1)
            ws = node.weight_shapes(in_shape)
            inputs += [param(node_id, name, ws[name]) for name in ("weight", "bias") if name in ws]
        elif isinstance(node, N.BatchNorm):
            meta.update(eps=node.eps, channels=in_shape[0], note="folded into the layer before it at compile time")
            attrs.update(epsilon=float(node.eps))
            inputs += [param(node_id, n, (in_shape[0],)) for n in ("weight", "bias", "running_mean", "running_var")]
        elif isinstance(node, (N.MaxPool2d, N.AvgPool2d)):
            meta.update(kernel=list(node.kernel), stride=list(node.stride))
            attrs.update(kernel_shape=list(node.kernel), strides=list(node.stride))
            if tuple(getattr(node, "padding", (0, 0))) != (0, 0):
                attrs.update(pads=pads(node.padding))
                meta.update(padding=list(node.padding))
        elif isinstance(node, N.Flatten):
            attrs.update(axis=1)
        elif isinstance(node, N.Add):
            op = "Add" if len(inputs) == 2 else "Sum"
        elif isinstance(node, N.Concat):
            attrs.update(axis=1)
        elif isinstance(node, N.Readout):
            meta.update(mode=node.mode, classes=list(genome.task.classes))
            if len(in_shape) > 1:         # the readout reads a membrane of rank > 1 as a flat vector
                op = "Flatten"
                attrs.update(axis=1)
        b.node(op, inputs, [pre], node_id, doc=node.label, metadata=meta, **attrs)
        b.edge(pre, shape)
        if node.spiking and node.neuron.model not in FIRE_ONCE_MODELS:
            spec = {k: v for k, v in node.neuron.to_json().items() if v is not None}
            b.node("CubaNeuron", [pre], [node_id], f"{node_id}.neuron", domain=DOMAIN,
                   doc=f"{spec['model'].upper()} neuron (current-based, Loihi-style decays); output: spikes, one "
                       "step later (docs/rate.md)",
                   metadata={"genome_node": node_id}, input_names=["current"],
                   **{k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v))
                      for k, v in spec.items()}, steps=K)
            b.edge(node_id, shape)
        elif node.spiking:
            b.node("TtfsNeuron", [pre], [node_id], f"{node_id}.neuron", domain=DOMAIN,
                   doc="time-to-first-spike neuron (Stanojevic B1, fires at most once); output spike times code "
                       "ReLU values",
                   metadata={"genome_node": node_id}, input_names=["membrane"],
                   model=node.neuron.model, steps_per_window=K, window_margin=float(genome.time.window_margin))
            b.edge(node_id, shape)
        out_name[node_id] = node_id
    readout = genome.readout.id
    b.outputs.append(b.tensor_info(readout, shapes[readout]))
    b.value_infos = [v for v in b.value_infos if v.name != readout]
    meta = {"format": "tnas-genome", "genome_version": genome.version, "name": genome.name, "source": source.name,
            "coding": genome.coding, time_attr: K,
            "window_margin": genome.time.window_margin if genome.time is not None else None,
            "input_shape": list(genome.task.input_shape), "classes": list(genome.task.classes),
            "weights": weights_note}
    if genome.task.description:
        meta["task"] = genome.task.description
    meta.update(provenance_props(genome.provenance))
    return b.model(genome.name, genome.description or f"genome {genome.name}", meta)


# -- artifact -----------------------------------------------------------------------------------------
def _artifact_model(net, summary: dict[str, Any], source: Path):
    from ..summary import summarize

    scheme = scheme_for(net)
    b = GraphBuilder()
    rows = {r["layer"]: r for r in (summary.get("layers") if summary else None) or summarize(net)["layers"]}
    K = net.steps
    for layer in net.layers:
        row = rows.get(layer.id, {})
        common = {"window": layer.window, "neurons": int(row.get("neurons", 0)),
                  "synapses": int(row.get("synapses", 0))}
        meta: dict[str, Any] = {"layer_kind": layer.kind, "genome_nodes": list(layer.nodes)}
        if layer is net.layers[0]:        # the input: injected by the host
            b.inputs.append(b.tensor_info(layer.id, layer.shape))
            continue
        scheme.view_layer(b, net, layer, row, meta, common)
        if layer is not net.layers[-1]:
            b.edge(layer.id, layer.shape)
    b.outputs.append(b.tensor_info(net.layers[-1].id, net.layers[-1].shape))
    meta = {"format": "tnas-artifact", "name": net.name, "source": source.name, "tool_version": net.tool_version,
            "profile": net.profile.get("name"), "chip": net.profile.get("chip"),
            "steps_per_window": K, "windows": max(layer.window for layer in net.layers) + 1,
            "total_steps": scheme.total_steps(net),
            "window_method": net.window_method, "input_shape": list(net.input_shape), "classes": list(net.classes),
            "numeric_format": net.fmt.to_json(), "options": net.options}
    meta.update({f"sha256.{k}": v for k, v in sorted(net.inputs.items()) if v is not None})
    if net.notes:
        meta["notes"] = net.notes
    meta.update(provenance_props(net.provenance))
    meta = {k: v for k, v in meta.items() if v is not None}
    meta["coding"] = net.coding
    doc = (f"{net.name} compiled for {net.profile.get('name')} by tnas-deploy {net.tool_version}: "
           + scheme.view_duration(net))
    return b.model(net.name, doc, meta)


__all__ = ["write_view", "build_model", "detect_kind", "serve", "stop", "OPSET", "DOMAIN"]

