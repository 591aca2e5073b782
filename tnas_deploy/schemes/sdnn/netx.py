"""lava-dl netx (HDF5 `.net`) export of sigma-delta networks (docs/interop.md, "netx", sigma-delta files); import is
in `interop/netx_sdnn.py`, running a file in `netx_run.py`.

netx 0.6.0 builds a file whose neurons are of type `SDNN` as a chain of lava-nc's stock processes (read against
`fixed_point.sigma_delta_step`, checked spike for spike on lava-dl's PilotNet SDNN by tests/test_netx_sdnn.py):

* the `input` layer is a `Delta` encoder whose `a_in` the host drives: `a = a_in << 12` (spike_exp 6 + state_exp 6),
  `delta = a - act + residue`, sent as `delta >> 6` when `|delta| >= vThMant << 12` (docs/fixed_point.md, netx).
  A frame held from the first step on is sent once, as `frame << 6`, at the first step (vThMant 0);
* every `conv` or `dense` layer is a graded synapse (one step late) and a `SigmaDelta` neuron: `sigma += W . m`
  (Dense through `optimize_weight_bits`, exact when `rate.netx.dense_effect` says so; Conv in float32 through
  torch, exact while every partial sum stays below 2**24), `act = relu(sigma + (bias << 12))` (netx ignores the
  file's `activation`: always ReLU), threshold `vThMant << 12`, payload `delta >> 6`: `fixed_point.sigma_delta_step`
  with `state_exp` 6 and the bias and threshold as Lava holds them;
* a layer whose neuron has `sigma_output` is a `Sigma` accumulator: it sends `sigma` at every step and has no bias.

A compiled sigma-delta population with state exponent s <= 6 is the same network in netx with all its state
values multiplied by 2**c, c = 6 - s: its payloads `(x << c) >> 6 = x >> s` are then ours, its threshold and bias
are ours << c (so they must be multiples of 4096 there), and its weights are the mantissas << (weight exponent + c),
minus 6 after the input (whose payload netx sends << 6). The readout (UNIT neurons read once) becomes a Sigma
output with c chosen so that its weights are integers; netx's Sigma has no bias, so the readout's bias is written
into the file's `tnas_deploy` metadata (`readout_bias`) and added by whoever reads the output (`netx_verify.py`).
Whatever else a compiled network holds is refused, naming the layer and field.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ... import __version__
from ...compiled import CompiledNetwork
from ...errors import DeployError
from ...fixed_point import INT
from ...io_utils import hdf5_image, write_bytes_atomic
from ...layers import Layer
from ..rate.netx import METADATA_KEY, dense_effect
from .layers import SdnnFlattenLayer, SdnnInputLayer, SdnnReadoutLayer, SigmaDeltaLayer

#: netx's SDNN neurons: Lava's state_exp and spike_exp (Network(spike_exp=6), the default); the threshold and
#: bias are applied << (spike_exp + state_exp), the payload is delta >> state_exp.
NETX_SDNN_STATE_EXP = 6
NETX_SDNN_SPIKE_EXP = 6
NETX_SDNN_SHIFT = NETX_SDNN_STATE_EXP + NETX_SDNN_SPIKE_EXP
#: tnas-deploy's record in the file (netx reads only `layer`).
METADATA_VERSION = 1
#: Lava's Conv sums in float32 (torch): exact while every partial sum stays below this.
FLOAT32_EXACT = 2 ** 24


@dataclass
class SdnnNetxBlock:
    """One `layer/<i>` of a sigma-delta netx file."""

    kind: str                                   # "input" | "flatten" | "dense" | "conv"
    shape: tuple[int, ...]                      # (C, H, W) or (N,)
    layer_id: str | None = None                 # the tnas-deploy layer it realises
    weight: np.ndarray | None = None            # dense (O, I); conv (O, I / groups, kh, kw): integers
    bias: np.ndarray | None = None              # netx's bias (applied << 12): per channel (C,) or per neuron
    vth: int = 0                                # vThMant (applied << 12)
    sigma_output: bool = False                  # a Sigma accumulator (the readout)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    gain_exp: int = 0                           # c: netx's state values are ours << c


@dataclass
class SdnnNetxPlan:
    blocks: list[SdnnNetxBlock]
    readout_bias: np.ndarray                    # added to the Sigma output's sigma (>> gain) to give our readout
    readout_gain_exp: int = 0
    conditions: list[str] = field(default_factory=list)


def _refuse(layer: str, what: str, message: str) -> DeployError:
    return DeployError(f"netx cannot express this: {message}", None, f"layer {layer}: {what}")


def _multiple(values: np.ndarray, shift: int, layer: str, what: str, why: str) -> np.ndarray:
    """`values << shift` as netx's integer (applied << 12 by netx): refuse when not a multiple of 4096 there."""
    scaled = np.asarray(values, dtype=INT) << INT(shift)
    if np.any(scaled % (1 << NETX_SDNN_SHIFT)):
        raise _refuse(layer, what, f"{why} {int(np.asarray(values).reshape(-1)[np.argmax(scaled % 4096 != 0)])} "
                      f"state units (<< {shift} in netx's units) is not a multiple of 4096; netx applies its "
                      "vThMant and bias << 12")
    return scaled >> INT(NETX_SDNN_SHIFT)


def _weights(layer: SigmaDeltaLayer | SdnnReadoutLayer, shift: int) -> np.ndarray:
    """The projection's mantissas << shift (a right shift only when exact)."""
    m = np.asarray(layer.projections[0].weight, dtype=INT)
    if shift >= 0:
        return m << INT(shift)
    if np.any(m % (1 << -shift)):
        raise _refuse(layer.id, "weights", f"its weights are mantissas with weight exponent {layer.weight_exps[0]}, "
                      f"whose sum Lava shifts right (rounding down); netx's weights carry no exponent, and these "
                      f"mantissas are not multiples of 2**{-shift}")
    return m >> INT(-shift)


def _synapse(layer: SigmaDeltaLayer | SdnnReadoutLayer, src: Layer, w: np.ndarray, out_shape: tuple[int, ...]
             ) -> list[SdnnNetxBlock]:
    p = layer.projections[0]
    if p.kind == "dense" or len(out_shape) == 1:
        if p.kind != "dense":
            raise _refuse(layer.id, "projection", f"a {p.kind} projection into a flat layer")
        effect, why = dense_effect(w)
        if effect is None:
            raise _refuse(layer.id, "weights", why)
        return [SdnnNetxBlock("dense", tuple(out_shape), layer.id, weight=w)]
    if p.kind == "conv2d":
        return [SdnnNetxBlock("conv", tuple(out_shape), layer.id, weight=w, stride=tuple(p.stride),
                              padding=tuple(p.padding))]
    if p.kind == "avgpool2d":
        c = src.shape[0]
        kernel = np.repeat(np.asarray(w).reshape(c, 1, 1, 1), p.kernel[0], axis=2).repeat(p.kernel[1], axis=3)
        return [SdnnNetxBlock("conv", tuple(out_shape), layer.id, weight=kernel, stride=tuple(p.stride),
                              padding=tuple(p.padding), groups=c)]
    raise _refuse(layer.id, "projection", f"a {p.kind} projection (a residual add?) has no netx synapse: every netx "
                  "layer has one dense or conv synapse from the layer before it")


def netx_sdnn_blocks(net: CompiledNetwork) -> SdnnNetxPlan:
    """The netx layers realising a compiled sigma-delta network exactly (module documentation), or a DeployError
    naming the layer and field netx cannot express."""
    by_id = net.by_id
    inp = net.layers[0]
    if not isinstance(inp, SdnnInputLayer):
        raise DeployError("expected a sigma-delta network starting with its input layer", None, "layers")
    plan = SdnnNetxPlan([SdnnNetxBlock("input", tuple(inp.shape))], readout_bias=np.zeros(0, dtype=INT))
    prev: Layer = inp
    for layer in net.layers[1:]:
        if isinstance(layer, SdnnFlattenLayer):
            if layer.source != prev.id:
                raise _refuse(layer.id, "source", f"it flattens {layer.source!r}, not the layer before it")
            plan.blocks.append(SdnnNetxBlock("flatten", tuple(prev.shape)))
            continue
        if not isinstance(layer, (SigmaDeltaLayer, SdnnReadoutLayer)):
            raise _refuse(layer.id, "kind", f"a {layer.kind} layer: netx 0.6.0 builds input, conv, dense and flatten "
                          "layers only (its pool layers raise NotImplementedError)")
        if len(layer.projections) != 1:
            raise _refuse(layer.id, "inputs", f"it is fed by {len(layer.projections)} projections (a residual add or "
                          "a skip connection); every netx layer has exactly one synapse, from the layer before it")
        p = layer.projections[0]
        source = p.source
        if source != prev.id and not (isinstance(by_id.get(source), SdnnFlattenLayer) and by_id[source].source
                                      == prev.id):
            raise _refuse(layer.id, "inputs", f"it reads {source!r}, not the layer before it ({prev.id!r}); netx "
                          "layers form a chain")
        after_input = NETX_SDNN_SPIKE_EXP if prev is inp else 0    # netx's Delta input sends the payload << 6
        exp = int(layer.weight_exps[0]) if layer.weight_exps else 0
        bias = np.asarray(layer.bias_q, dtype=INT).reshape(layer.shape)
        if isinstance(layer, SdnnReadoutLayer):
            gain = max(0, after_input - exp)
            w = _weights(layer, exp + gain - after_input)
            blocks = _synapse(layer, prev, w, tuple(layer.shape))
            blocks[-1].sigma_output, blocks[-1].gain_exp = True, gain
            plan.readout_bias, plan.readout_gain_exp = bias.reshape(-1), gain
            plan.blocks += blocks
            plan.conditions += _conditions(layer, blocks[-1], prev is inp)
            break
        if not layer.relu:
            raise _refuse(layer.id, "activation", "a population in Lava's UNIT mode (a linear node whose value "
                          "feeds a synapse): netx builds every SDNN neuron with ReLU (it ignores the file's "
                          "'activation')")
        gain = NETX_SDNN_STATE_EXP - int(layer.state_exp)
        if gain < 0:
            raise _refuse(layer.id, "state_exp", f"state exponent {layer.state_exp}: netx sends delta >> 6, so a "
                          "population's payloads are ours only when its state exponent is at most 6")
        w = _weights(layer, exp + gain - after_input)
        blocks = _synapse(layer, prev, w, tuple(layer.shape))
        block = blocks[-1]
        block.vth = int(_multiple(np.array([layer.vth]), gain, layer.id, "vth", "the threshold")[0])
        b = _multiple(bias, gain, layer.id, "bias", "the bias")
        if np.any(b):
            block.bias = b[:, 0, 0] if b.ndim == 3 and np.all(b == b[:, :1, :1]) else b
        block.gain_exp = gain
        plan.blocks += blocks
        plan.conditions += _conditions(layer, block, prev is inp)
        prev = layer
    else:
        raise _refuse(net.layers[-1].id, "readout", "the network does not end in a sigma-delta readout")
    return plan


def _conditions(layer: Layer, block: SdnnNetxBlock, after_input: bool) -> list[str]:
    """Inputs-dependent conditions of exactness: Lava's Conv sums in float32, exact while |sums| < 2**24. After the
    input (payloads up to 255, sent << 6) the bound holds for every input or never; later payloads are bounded by the
    16-bit messages only, so the condition is stated with that worst case."""
    if block.kind != "conv":
        return []
    payload = 255 << NETX_SDNN_SPIKE_EXP if after_input else 2 ** 15 - 1
    bound = float(np.abs(block.weight).reshape(block.weight.shape[0], -1).sum(axis=1).max()) * payload
    if bound < FLOAT32_EXACT:
        return []
    return [f"layer {layer.id}: Lava's Conv partial sums stay below 2**24 (it sums in float32; this layer's bound is "
            f"{bound:.0f})"]


# -- writing --------------------------------------------------------------------------------------

def write_sdnn_netx(plan: SdnnNetxPlan, path: str | Path, metadata: dict[str, Any]) -> Path:
    """Write the blocks as a netx HDF5 file of SDNN neurons (atomically, no timestamps)."""
    path = Path(path)

    def fill(f: h5py.File) -> None:
        def put(group, key, value):
            group.create_dataset(key, data=value, track_times=False)
        for i, b in enumerate(plan.blocks):
            g = f.create_group(f"layer/{i}")
            put(g, "type", np.array([b.kind.encode()]))
            put(g, "shape", np.array(b.shape, dtype=np.int64))
            if b.kind == "dense":
                put(g, "weight", np.asarray(b.weight, dtype=np.float32))
                put(g, "inFeatures", np.int64(b.weight.shape[1]))
                put(g, "outFeatures", np.int64(b.weight.shape[0]))
            elif b.kind == "conv":
                put(g, "weight", np.asarray(b.weight, dtype=np.float32))
                put(g, "inChannels", np.int64(b.weight.shape[1] * b.groups))
                put(g, "outChannels", np.int64(b.weight.shape[0]))
                put(g, "kernelSize", np.array(b.weight.shape[2:4], dtype=np.int64))
                put(g, "stride", np.array(b.stride, dtype=np.int64))
                put(g, "padding", np.array(b.padding, dtype=np.int64))
                put(g, "dilation", np.array([1, 1], dtype=np.int64))
                put(g, "groups", np.int64(b.groups))
            if b.bias is not None:
                bias = np.asarray(b.bias)
                put(g, "bias", (bias.transpose(2, 1, 0) if bias.ndim == 3 else bias).astype(np.float32))
            if b.kind != "flatten":
                n = g.create_group("neuron")
                put(n, "type", np.bytes_("SDNN"))
                put(n, "activation", np.bytes_("relu"))
                put(n, "vThMant", np.int64(b.vth))
                if b.sigma_output:
                    put(n, "sigma_output", np.bool_(True))
        put(f, METADATA_KEY, np.bytes_(json.dumps(metadata, sort_keys=True)))
    write_bytes_atomic(path, hdf5_image(fill))
    return path


def _metadata(net: CompiledNetwork, plan: SdnnNetxPlan) -> dict[str, Any]:
    readout = net.layers[-1]
    return {"version": METADATA_VERSION, "tool": f"tnas-deploy {__version__}", "name": net.name, "coding": net.coding,
            "run_steps": net.run_steps or net.steps, "classes": list(net.classes), "readout_id": readout.id,
            "input": "round(input_scale x) per pixel into the input layer's neuron.a_in, held from Lava step 1 on "
                     "(netx's Delta input sends it once, << 6, at step 1)",
            "input_scale": float(net.layers[0].scale),
            "readout": "the last layer's sigma at the last step, >> readout_gain_exp, plus readout_bias (state "
                       "units), / logit_scale",
            "readout_bias": [int(b) for b in plan.readout_bias], "readout_gain_exp": plan.readout_gain_exp,
            "logit_scale": float(readout.scale),
            "layers": [net.by_id[b.layer_id].nodes[0] if net.by_id[b.layer_id].nodes else b.layer_id
                       for b in plan.blocks if b.layer_id is not None],
            "exact_unless": plan.conditions}


def export_sdnn_netx(net: CompiledNetwork, path: str | Path) -> SdnnNetxPlan:
    """Check and write a compiled sigma-delta network as a netx file; returns the plan (with its conditions)."""
    plan = netx_sdnn_blocks(net)
    write_sdnn_netx(plan, path, _metadata(net, plan))
    return plan


__all__ = ["NETX_SDNN_SHIFT", "NETX_SDNN_SPIKE_EXP", "NETX_SDNN_STATE_EXP", "SdnnNetxBlock", "SdnnNetxPlan",
           "export_sdnn_netx", "netx_sdnn_blocks", "write_sdnn_netx"]
