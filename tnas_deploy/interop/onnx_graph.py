"""Building ONNX graphs for looking at networks in netron: the graph builder and the helpers every view uses
(a genome's view in `netron_view.py`, each coding scheme's artifact layers in `schemes/<name>/view.py`)."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from .. import __version__

OPSET = 17
IR_VERSION = 10                 # onnx 1.16: node metadata_props; netron 7+ and onnxruntime 1.17+ read it
DOMAIN = "tnas"                 # custom op domain of the TTFS neuron and readout
DOMAIN_VERSION = 1


def onnx_module():
    import onnx
    return onnx


class GraphBuilder:
    """Collects nodes, initializers and value_infos; keeps names unique."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.value_infos: list[Any] = []
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self.names: set[str] = set()

    def tensor_info(self, name: str, shape: tuple[int, ...] | list[int], elem: int | None = None):
        onnx = onnx_module()
        return onnx.helper.make_tensor_value_info(name, elem or onnx.TensorProto.FLOAT, [1, *shape])

    def edge(self, name: str, shape: tuple[int, ...]) -> None:
        self.value_infos.append(self.tensor_info(name, shape))

    def initializer(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(onnx_module().numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], name: str, *, domain: str = "",
             doc: str | None = None, metadata: dict[str, Any] | None = None, input_names: list[str] | None = None,
             **attrs: Any):
        onnx = onnx_module()
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
            entry.key, entry.value = key, text(value)
        self.nodes.append(node)
        return node

    def model(self, graph_name: str, doc: str, metadata: dict[str, Any]):
        onnx = onnx_module()
        graph = onnx.helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs, self.initializers,
                                       value_info=self.value_infos)
        model = onnx.helper.make_model(
            graph, producer_name="tnas-deploy", producer_version=__version__, doc_string=doc,
            opset_imports=[onnx.helper.make_opsetid("", OPSET), onnx.helper.make_opsetid(DOMAIN, DOMAIN_VERSION)],
            ir_version=IR_VERSION)
        onnx.helper.set_model_props(model, {k: text(v) for k, v in metadata.items()})
        onnx.checker.check_model(model)
        return model


def text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, allow_nan=False)


def provenance_props(provenance: dict[str, Any]) -> dict[str, Any]:
    return {f"provenance.{k}": v for k, v in sorted(provenance.items())}


def pads(padding: tuple[int, int]) -> list[int]:
    return [padding[0], padding[1], padding[0], padding[1]]


def int_array(values: np.ndarray, bits: int | None = None) -> np.ndarray:
    values = np.asarray(values, dtype=np.int64)
    peak = int(np.max(np.abs(values), initial=0))
    for dtype in (np.int8, np.int16, np.int32):
        limit = np.iinfo(dtype).max
        if peak <= limit and (bits is None or bits <= np.iinfo(dtype).bits):
            return values.astype(dtype)
    return values


def synapse_inputs(b: GraphBuilder, net, layer, row: dict[str, Any], attrs: dict[str, Any]
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
        inputs += [p.source, b.initializer(f"{layer.id}.w{i}", int_array(w, net.fmt.weight_bits))]
        names += [f"input{suffix}", f"weight{suffix}" if p.kind != "sparse" else f"weight_values{suffix}"]
        if p.channel_shift is not None:     # precision groups: each output channel's own shift (not `shift`)
            attrs[f"channel_shift{suffix}"] = [int(v) for v in p.channel_shift]
        if p.kind in ("conv2d", "avgpool2d"):
            attrs[f"kernel_shape{suffix}"] = list(p.kernel)
            attrs[f"strides{suffix}"] = list(p.stride)
            attrs[f"pads{suffix}"] = pads(p.padding)
    for var, value in (row.get("headroom_bits") or {}).items():
        if value is not None:
            attrs[f"headroom_bits_{var}"] = float(value)
    return inputs, names
