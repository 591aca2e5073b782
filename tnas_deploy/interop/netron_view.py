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

import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import DeployError
from ..genome.nodes import FIRE_ONCE_MODELS
from ..io_utils import atomic_path
from ..schemes import scheme_for

OPSET = 17
IR_VERSION = 10                 # onnx 1.16: node metadata_props; netron 7+ and onnxruntime 1.17+ read it
DOMAIN = "tnas"                 # custom op domain of the TTFS neuron and readout
DOMAIN_VERSION = 1
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

_STD_OPS = {"conv2d": "Conv", "dense": "Gemm", "batchnorm": "BatchNormalization", "maxpool2d": "MaxPool",
            "avgpool2d": "AveragePool", "flatten": "Flatten", "add": "Add", "concat": "Concat", "readout": "Identity"}


# -- public API ---------------------------------------------------------------------------------------
def write_view(source: Path, out: Path) -> Path:
    """Write an ONNX view of a genome (.json) or a compiled artifact to `out` (atomically); returns `out`."""
    source, out = Path(source), Path(out)
    model = build_model(source)
    data = model.SerializeToString()
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
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
    if head.startswith(HDF5_SIGNATURE):
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


# -- shared helpers -----------------------------------------------------------------------------------
def _onnx():
    import onnx
    return onnx


class _Builder:
    """Collects nodes, initializers and value_infos; keeps names unique."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.value_infos: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self.names: set[str] = set()

    def tensor_info(self, name: str, shape: tuple[int, ...] | list[int], elem: int | None = None):
        onnx = _onnx()
        return onnx.helper.make_tensor_value_info(name, elem or onnx.TensorProto.FLOAT, [1, *shape])

    def edge(self, name: str, shape: tuple[int, ...]) -> None:
        self.value_infos.append(self.tensor_info(name, shape))

    def initializer(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(_onnx().numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], name: str, *, domain: str = "",
             doc: str | None = None, metadata: dict[str, Any] | None = None, input_names: list[str] | None = None,
             **attrs: Any):
        onnx = _onnx()
        if name in self.names:
            raise AssertionError(f"duplicate node name {name!r}")
        self.names.add(name)
        node = onnx.helper.make_node(op, inputs, outputs, name=name, domain=domain or None, doc_string=doc,
                                     **{k: v for k, v in attrs.items() if v is not None})
        props = dict(metadata or {})
        if input_names:   # netron labels the inputs of ops it has no schema for from this key
            props["input_names"] = "[" + ", ".join(f"'{n}'" for n in input_names) + "]"
        for key, value in props.items():
            entry = node.metadata_props.add()
            entry.key, entry.value = key, _text(value)
        self.nodes.append(node)
        return node

    def model(self, graph_name: str, doc: str, metadata: dict[str, Any]):
        onnx = _onnx()
        graph = onnx.helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs, self.initializers,
                                       value_info=self.value_infos)
        model = onnx.helper.make_model(
            graph, producer_name="tnas-deploy", producer_version=__version__, doc_string=doc,
            opset_imports=[onnx.helper.make_opsetid("", OPSET), onnx.helper.make_opsetid(DOMAIN, DOMAIN_VERSION)],
            ir_version=IR_VERSION)
        onnx.helper.set_model_props(model, {k: _text(v) for k, v in metadata.items()})
        onnx.checker.check_model(model)
        return model


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, allow_nan=False)


def _provenance(provenance: dict[str, Any]) -> dict[str, Any]:
    return {f"provenance.{k}": v for k, v in sorted(provenance.items())}


def _pads(padding: tuple[int, int]) -> list[int]:
    return [padding[0], padding[1], padding[0], padding[1]]


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

    b = _Builder()
    weights, weights_note = _genome_weights(genome)
    shapes = genome.shapes
    time_attr, K = scheme_for(genome).view_time(genome)
    out_name: dict[str, str] = {}        # node id -> the tensor its consumers read (after the neuron, if any)

    def param(node_id: str, name: str, shape: tuple[int, ...]) -> str:
        tensor = f"{node_id}.{name}"
        if weights is not None:
            b.initializer(tensor, np.asarray(weights[node_id][name], dtype=np.float32).reshape(shape))
        else:
            b.inputs.append(_onnx().helper.make_tensor_value_info(tensor, _onnx().TensorProto.FLOAT, list(shape)))
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
            attrs.update(kernel_shape=list(node.kernel), strides=list(node.stride), pads=_pads(node.padding))
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
                attrs.update(pads=_pads(node.padding))
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
    meta.update(_provenance(genome.provenance))
    return b.model(genome.name, genome.description or f"genome {genome.name}", meta)


# -- artifact -----------------------------------------------------------------------------------------
def _int_array(values: np.ndarray, bits: int | None = None) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    peak = int(np.max(np.abs(values), initial=0))
    for dtype in (np.int8, np.int16, np.int32):
        limit = np.iinfo(dtype).max
        if peak <= limit and (bits is None or bits <= np.iinfo(dtype).bits):
            return values.astype(dtype)
    return values


def _artifact_model(net, summary: dict[str, Any], source: Path):
    from ..schemes.ttfs.layers import ConcatLayer, FlattenLayer, InputLayer, MaxPoolLayer, ReadoutLayer, TtfsLayer
    from ..schemes.rate.layers import CubaLayer, RateInputLayer, RateReadoutLayer
    from ..summary import summarize

    b = _Builder()
    rows = {r["layer"]: r for r in (summary.get("layers") if summary else None) or summarize(net)["layers"]}
    K = net.steps
    for layer in net.layers:
        row = rows.get(layer.id, {})
        common = {"window": layer.window, "neurons": int(row.get("neurons", 0)),
                  "synapses": int(row.get("synapses", 0))}
        meta: dict[str, Any] = {"layer_kind": layer.kind, "genome_nodes": list(layer.nodes)}
        if isinstance(layer, (InputLayer, RateInputLayer)):
            b.inputs.append(b.tensor_info(layer.id, layer.shape))
            continue
        if isinstance(layer, (CubaLayer, RateReadoutLayer)):
            _rate_layer_node(b, net, layer, row, meta, common)
        elif isinstance(layer, (TtfsLayer, ReadoutLayer)):
            attrs: dict[str, Any] = dict(common, steps_per_window=K, shift=int(layer.shift),
                                         weight_bits=int(net.fmt.weight_bits),
                                         weight_exp=int(row.get("weight_exp", layer.shift - net.fmt.input_shift)),
                                         weight_mant_max=int(row.get("weight_mant_max", 0)),
                                         synapse_kinds=[p.kind for p in layer.projections],
                                         delay_windows=[int(p.delay_windows) for p in layer.projections],
                                         genome_nodes=list(layer.nodes))
            inputs, names = _synapse_inputs(b, net, layer, row, attrs)
            if "safe_for_all_inputs" in row:
                attrs["safe_for_all_inputs"] = int(bool(row["safe_for_all_inputs"]))
            if isinstance(layer, TtfsLayer):
                inputs += [b.initializer(f"{layer.id}.threshold", _int_array(layer.threshold)),
                           b.initializer(f"{layer.id}.v_init", _int_array(layer.v_init))]
                names += ["threshold", "v_init"]
                window_length = net.windows.get(layer.id)
                b.node("TtfsNeuron", inputs, [layer.id], layer.id, domain=DOMAIN, metadata=meta, input_names=names,
                       doc="TTFS layer: integer synapses (weight mantissa << shift) into fire-once neurons; "
                           "integrates in window-1, fires in its window",
                       model="ttfs", ramp=int(layer.ramp),
                       window_length=None if window_length is None else float(window_length), **attrs)
            else:
                inputs.append(b.initializer(f"{layer.id}.bias", _int_array(layer.bias)))
                names.append("bias")
                b.node("TtfsReadout", inputs, [layer.id], layer.id, domain=DOMAIN, metadata=meta, input_names=names,
                       doc="readout: membrane potential after its sources' window, plus bias, read as logits "
                           "(logit = state x logit_scale)",
                       logit_scale=float(layer.scale), classes=list(net.classes), **attrs)
        elif isinstance(layer, MaxPoolLayer):
            b.node("MaxPool", [layer.source], [layer.id], layer.id, doc="max-pooling = earliest spike in each window",
                   metadata={**meta, **common}, kernel_shape=list(layer.kernel), strides=list(layer.stride))
        elif isinstance(layer, FlattenLayer):
            b.node("Flatten", [layer.source], [layer.id], layer.id, metadata={**meta, **common}, axis=1)
        elif isinstance(layer, ConcatLayer):
            b.node("Concat", list(layer.sources), [layer.id], layer.id, axis=1,
                   metadata={**meta, **common, "delay_windows": list(layer.delay_windows)})
        else:  # pragma: no cover - LAYER_TYPES is closed
            raise DeployError(f"layer {layer.id!r} of kind {layer.kind!r} has no netron view", source)
        if layer is not net.layers[-1]:
            b.edge(layer.id, layer.shape)
    b.outputs.append(b.tensor_info(net.layers[-1].id, net.layers[-1].shape))
    meta = {"format": "tnas-artifact", "name": net.name, "source": source.name, "tool_version": net.tool_version,
            "profile": net.profile.get("name"), "chip": net.profile.get("chip"),
            "steps_per_window": K, "windows": max(layer.window for layer in net.layers) + 1,
            "total_steps": scheme_for(net).total_steps(net),
            "window_method": net.window_method, "input_shape": list(net.input_shape), "classes": list(net.classes),
            "numeric_format": net.fmt.to_json(), "options": net.options}
    meta.update({f"sha256.{k}": v for k, v in sorted(net.inputs.items()) if v is not None})
    if net.notes:
        meta["notes"] = net.notes
    meta.update(_provenance(net.provenance))
    meta = {k: v for k, v in meta.items() if v is not None}
    meta["coding"] = net.coding
    doc = (f"{net.name} compiled for {net.profile.get('name')} by tnas-deploy {net.tool_version}: "
           + scheme_for(net).view_duration(net))
    return b.model(net.name, doc, meta)


def _synapse_inputs(b: "_Builder", net, layer, row: dict[str, Any], attrs: dict[str, Any]
                    ) -> tuple[list[str], list[str]]:
    """A population's synapses as node inputs (source, integer weights) plus their geometry and headroom in
    `attrs`. Composed sparse maps give their non-zero values; a backward edge (source not earlier: ONNX graphs
    are acyclic) is listed in `recurrent_sources` instead of drawn."""
    inputs: list[str] = []
    names: list[str] = []
    order = [x.id for x in net.layers]
    many = len(layer.projections) > 1
    for i, p in enumerate(layer.projections):
        suffix = f"_{i}" if many else ""
        if order.index(p.source) >= order.index(layer.id):
            attrs.setdefault("recurrent_sources", []).append(f"{p.source} (delay {p.delay})")
            continue
        w = p.weight.tocsr().data if p.kind == "sparse" else p.weight
        inputs += [p.source, b.initializer(f"{layer.id}.w{i}", _int_array(w, net.fmt.weight_bits))]
        names += [f"input{suffix}", f"weight{suffix}" if p.kind != "sparse" else f"weight_values{suffix}"]
        if p.kind in ("conv2d", "avgpool2d"):
            attrs[f"kernel_shape{suffix}"] = list(p.kernel)
            attrs[f"strides{suffix}"] = list(p.stride)
            attrs[f"pads{suffix}"] = _pads(p.padding)
    for var, value in (row.get("headroom_bits") or {}).items():
        if value is not None:
            attrs[f"headroom_bits_{var}"] = float(value)
    return inputs, names


def _rate_layer_node(b: "_Builder", net, layer, row: dict[str, Any], meta: dict[str, Any],
                     common: dict[str, Any]) -> None:
    """A rate population or readout: its integer synapses (dense tensors; composed sparse maps as their
    non-zero values) and neuron registers, one input per projection with its delay."""
    attrs: dict[str, Any] = dict(common, shift=int(layer.shift), weight_bits=int(net.fmt.weight_bits))
    if layer.projections:
        attrs.update(synapse_kinds=[p.kind for p in layer.projections], delays=[int(p.delay) for p in layer.projections])
    inputs, names = _synapse_inputs(b, net, layer, row, attrs)
    if layer.kind == "cuba":
        inputs.append(b.initializer(f"{layer.id}.bias", _int_array(layer.bias_q)))
        names.append("bias")
        b.node("CubaNeuron", inputs, [layer.id], layer.id, domain=DOMAIN, metadata=meta, input_names=names,
               doc="rate population: integer synapses (mantissa << shift, delivered after `delays` steps) into "
                   "current-based neurons (docs/rate.md)" + (": max-pool of spikes as OR neurons"
                                                             if layer.role == "or_pool" else ""),
               role=layer.role, du=int(layer.du), dv=int(layer.dv), threshold=int(layer.threshold),
               reset=layer.reset, **attrs)
    else:
        if layer.mode == "membrane":
            inputs.append(b.initializer(f"{layer.id}.bias", _int_array(layer.bias)))
            names.append("bias")
        else:
            inputs.append(layer.source)
            names.append("counted")
        b.node("RateReadout", inputs, [layer.id], layer.id, domain=DOMAIN, metadata=meta, input_names=names,
               doc=f"readout ({layer.mode}) over the whole run; logit = value x logit_scale", mode=layer.mode,
               logit_scale=float(layer.scale), classes=list(net.classes), **attrs)


__all__ = ["write_view", "build_model", "detect_kind", "serve", "stop", "OPSET", "DOMAIN"]

