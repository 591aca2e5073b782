"""A rate network's layers in netron (one ONNX node per population or readout, see `interop/netron_view.py`)."""
from __future__ import annotations

from typing import Any

from ...compiled import CompiledNetwork
from ...interop.onnx_graph import DOMAIN, GraphBuilder, int_array, synapse_inputs
from ...layers import Layer


def layer_node(b: GraphBuilder, net: CompiledNetwork, layer: Layer, row: dict[str, Any], meta: dict[str, Any],
                     common: dict[str, Any]) -> None:
    """A rate population or readout: its integer synapses (dense tensors; composed sparse maps as their
    non-zero values) and neuron registers, one input per projection with its delay."""
    attrs: dict[str, Any] = dict(common, shift=int(layer.shift), weight_bits=int(net.fmt.weight_bits))
    if layer.projections:
        attrs.update(synapse_kinds=[p.kind for p in layer.projections], delays=[int(p.delay) for p in layer.projections])
    inputs, names = synapse_inputs(b, net, layer, row, attrs)
    if layer.kind == "cuba":
        inputs.append(b.initializer(f"{layer.id}.bias", int_array(layer.bias_q)))
        names.append("bias")
        b.node("CubaNeuron", inputs, [layer.id], layer.id, domain=DOMAIN, metadata=meta, input_names=names,
               doc="rate population: integer synapses (mantissa << shift, delivered after `delays` steps) into "
                   "current-based neurons (docs/rate.md)" + (": max-pool of spikes as OR neurons"
                                                             if layer.role == "or_pool" else ""),
               role=layer.role, du=int(layer.du), dv=int(layer.dv), threshold=int(layer.threshold),
               reset=layer.reset, **attrs)
    else:
        if layer.mode == "membrane":
            inputs.append(b.initializer(f"{layer.id}.bias", int_array(layer.bias)))
            names.append("bias")
        else:
            inputs.append(layer.source)
            names.append("counted")
        b.node("RateReadout", inputs, [layer.id], layer.id, domain=DOMAIN, metadata=meta, input_names=names,
               doc=f"readout ({layer.mode}) over the whole run; logit = value x logit_scale", mode=layer.mode,
               logit_scale=float(layer.scale), classes=list(net.classes), **attrs)
