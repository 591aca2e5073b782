"""A TTFS network's layers in netron: TTFS layers (synapses + neurons, batch norm folded in) are `tnas.TtfsNeuron`,
the readout `tnas.TtfsReadout`, max-pool/flatten/concat are MaxPool/Flatten/Concat (see `interop/netron_view.py`)."""
from __future__ import annotations

from typing import Any

from ...compiled import CompiledNetwork
from ...interop.onnx_graph import DOMAIN, GraphBuilder, int_array, synapse_inputs
from ...layers import Layer
from .layers import ConcatLayer, FlattenLayer, MaxPoolLayer, ReadoutLayer, TtfsLayer


def layer_node(b: GraphBuilder, net: CompiledNetwork, layer: Layer, row: dict[str, Any], meta: dict[str, Any],
               common: dict[str, Any]) -> None:
    """One chip layer of a TTFS artifact as an ONNX node with its integer tensors as initializers."""
    if isinstance(layer, (TtfsLayer, ReadoutLayer)):
        attrs: dict[str, Any] = dict(common, steps_per_window=net.steps, shift=int(layer.shift),
                                     weight_bits=int(net.fmt.weight_bits),
                                     weight_exp=int(row.get("weight_exp", layer.shift - net.fmt.input_shift)),
                                     weight_mant_max=int(row.get("weight_mant_max", 0)),
                                     synapse_kinds=[p.kind for p in layer.projections],
                                     delay_windows=[int(p.delay_windows) for p in layer.projections],
                                     genome_nodes=list(layer.nodes))
        inputs, names = synapse_inputs(b, net, layer, row, attrs)
        if "safe_for_all_inputs" in row:
            attrs["safe_for_all_inputs"] = int(bool(row["safe_for_all_inputs"]))
        if isinstance(layer, TtfsLayer):
            inputs += [b.initializer(f"{layer.id}.threshold", int_array(layer.threshold)),
                       b.initializer(f"{layer.id}.v_init", int_array(layer.v_init))]
            names += ["threshold", "v_init"]
            window_length = net.windows.get(layer.id)
            b.node("TtfsNeuron", inputs, [layer.id], layer.id, domain=DOMAIN, metadata=meta, input_names=names,
                   doc="TTFS layer: integer synapses (weight mantissa << shift) into fire-once neurons; "
                       "integrates in window-1, fires in its window",
                   model="ttfs", ramp=int(layer.ramp),
                   window_length=None if window_length is None else float(window_length), **attrs)
        else:
            inputs.append(b.initializer(f"{layer.id}.bias", int_array(layer.bias)))
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
    else:  # pragma: no cover - every TTFS layer kind is handled above
        raise TypeError(layer.kind)
