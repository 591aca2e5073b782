"""A sigma-delta network's layers in netron: populations are `tnas.SigmaDelta` (graded synapses + neuron, batch
norm folded in), the readout `tnas.SigmaDeltaReadout`, max-pool/flatten are MaxPool/Flatten
(`interop/netron_view.py`)."""
from __future__ import annotations

from typing import Any

from ...compiled import CompiledNetwork
from ...interop.onnx_graph import DOMAIN, GraphBuilder, int_array, synapse_inputs
from ...layers import Layer
from .layers import SdnnFlattenLayer, SdnnMaxPoolLayer, SdnnReadoutLayer, SigmaDeltaLayer


def layer_node(b: GraphBuilder, net: CompiledNetwork, layer: Layer, row: dict[str, Any], meta: dict[str, Any],
               common: dict[str, Any]) -> None:
    """One chip layer of a sigma-delta artifact as an ONNX node with its integer tensors as initializers."""
    if isinstance(layer, (SigmaDeltaLayer, SdnnReadoutLayer)):
        attrs: dict[str, Any] = dict(common, steps=net.steps, weight_bits=int(net.fmt.weight_bits),
                                     weight_exps=[int(e) for e in layer.weight_exps],
                                     synapse_kinds=[p.kind for p in layer.projections], genome_nodes=list(layer.nodes),
                                     vth=int(layer.vth), state_exp=int(layer.state_exp), scale=float(layer.scale),
                                     activation="relu" if layer.relu else "unit")
        inputs, names = synapse_inputs(b, net, layer, row, attrs)
        inputs.append(b.initializer(f"{layer.id}.bias", int_array(layer.bias_q)))
        names.append("bias")
        if isinstance(layer, SigmaDeltaLayer):
            b.node("SigmaDelta", inputs, [layer.id], layer.id, domain=DOMAIN, metadata=meta, input_names=names,
                   doc="sigma-delta population: graded synapses (mantissa x payload, shifted by weight_exp) into "
                       "sigma-delta neurons (Lava SigmaDelta; docs/sdnn.md)", **attrs)
        else:
            b.node("SigmaDeltaReadout", inputs, [layer.id], layer.id, domain=DOMAIN, metadata=meta,
                   input_names=names, doc="readout: act = sigma + bias at the last step; logit = act / scale",
                   classes=list(net.classes), **attrs)
    elif isinstance(layer, SdnnMaxPoolLayer):
        b.node("MaxPool", [layer.source], [layer.id], layer.id,
               doc="max of the reconstructed source activations, sent as deltas in the same step",
               metadata={**meta, **common}, kernel_shape=list(layer.kernel), strides=list(layer.stride))
    elif isinstance(layer, SdnnFlattenLayer):
        b.node("Flatten", [layer.source], [layer.id], layer.id, metadata={**meta, **common}, axis=1)
    else:  # pragma: no cover - every sigma-delta layer kind is handled above
        raise TypeError(layer.kind)
