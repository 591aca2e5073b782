"""Compiling a sigma-delta genome whose numbers already are a chip's integers (an imported lava-dl netx file), without
quantizing it again (docs/interop.md, "netx", sigma-delta files; `interop/netx_sdnn.py` writes such genomes).

The genome's `chip_integers` give, per population and the readout, its state scale S (state units per unit of
value), the populations' `state_exp` (netx's 6: a payload is delta >> 6, so a population's payloads are S / 64 per
unit) and every population's delta threshold (in units of value). At those scales every number must be an integer
the profile's registers hold, exactly as the genome was written:

* each synapse adds `w x S / (payload scale of its source)` state units per unit of payload (the input's payload
  scale is 255): an integer c, stored as a mantissa `c >> e` with one Lava `weight_exp` e per projection (the
  largest the profile allows that divides every c), within the profile's weight mantissas;
* the biases `b x S` and thresholds `theta x S` are integers within the state register;
* the readout (which sends nothing) has no threshold and `state_exp` 0.

What does not fit is refused naming the layer and field (an `OverflowReport`): the chip would compute something
else. The state scales are fixed, so calibration data (optional here) that drives a state, payload or synaptic sum
beyond its limit fails the compile instead of lowering a scale. `compile_exact_sdnn` is the whole compile of such a
genome (`compile.compile_sdnn` hands it over).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import DeployError, OverflowReport
from ...fixed_point import INT, SDNN_INPUT_LEVELS, NumericFormat
from ...layers import Layer
from ...projection import Projection
from ...quantization import EXACT_NOTE, exact_integers
from .layers import (
    SdnnFlattenLayer,
    SdnnInputLayer,
    SdnnMaxPoolLayer,
    SdnnReadoutLayer,
    SigmaDeltaLayer,
)

if TYPE_CHECKING:
    from ...compilation import CompileInputs
    from ...compiled import CompiledNetwork
    from ..base import CompileOptions


def _mantissas(p: Projection, layer: str, factor: float, fmt: NumericFormat) -> tuple[Projection, int]:
    """The projection's contributions `w x factor` as mantissas and one weight exponent (module documentation)."""
    c = exact_integers(np.asarray(p.weight, dtype=np.float64) * factor, "a synapse's contribution", layer, "weight")
    nonzero = np.abs(c[c != 0])
    common = int(np.min(np.log2(nonzero & -nonzero))) if nonzero.size else 0
    exp = max(min(common, fmt.weight_exp_max), 0)
    if exp < fmt.weight_exp_min or (nonzero.size and int(nonzero.max()) >> exp > fmt.weight_mant_max):
        raise OverflowReport(f"the weights from {p.source!r} need more than {fmt.weight_bits}-bit mantissas with one "
                             f"exponent: the largest adds {int(nonzero.max(initial=0))} state units per unit of "
                             f"payload, and this profile's mantissas hold at most {fmt.weight_mant_max} << "
                             f"{fmt.weight_exp_max}; it cannot run these integers exactly (remove chip_integers from "
                             "the genome to quantize it for this profile)", None, f"layer {layer}: weight")
    return Projection(p.source, p.kind, c >> INT(exp), p.kernel, p.stride, p.padding), exp


def exact_sdnn(layers: list[Layer], fmt: NumericFormat, chip: dict[str, Any], where: object = None,
               drops: dict[str, int] | None = None) -> tuple[list[Layer], list[dict[str, str]], dict[str, float]]:
    """The integer layers the genome's chip integers give (module documentation): (layers, notes, weight errors).
    Raises OverflowReport naming the layer and field of what does not fit (also for `drops`, a lower state scale
    the headroom rounds ask for), DeployError for a population without a scale or threshold."""
    if drops and any(drops.values()):
        layer = next(k for k, v in drops.items() if v)
        raise OverflowReport("the genome's chip integers fix every state scale; it cannot be lowered", None,
                             f"layer {layer}: scale")
    scales, thresholds = chip["state_scales"], chip.get("thresholds", {})
    state_exp = int(chip.get("state_exp", 0))

    def lookup(table: dict[str, Any], layer: Layer, what: str) -> float:
        for key in (layer.id, *layer.nodes):
            if key in table:
                return float(table[key])
        raise DeployError(f"no {what} for layer {layer.id!r} (genome nodes {list(layer.nodes)}); an exact sigma-delta "
                          f"genome gives one for every population", where, f"chip_integers.{what}")

    payload_scale: dict[str, float] = {}
    out: list[Layer] = []
    for layer in layers:
        if isinstance(layer, SdnnInputLayer):
            payload_scale[layer.id] = float(SDNN_INPUT_LEVELS)
            out.append(replace(layer, scale=float(SDNN_INPUT_LEVELS)))
        elif isinstance(layer, (SdnnFlattenLayer, SdnnMaxPoolLayer)):
            payload_scale[layer.id] = payload_scale[layer.source]
            out.append(layer)
        elif isinstance(layer, (SigmaDeltaLayer, SdnnReadoutLayer)):
            s = lookup(scales, layer, "state_scales")
            readout = isinstance(layer, SdnnReadoutLayer)
            if not readout and not layer.relu:
                raise OverflowReport("a linear population (UNIT mode) in a genome of chip integers: netx's sigma-delta "
                                     "neurons are ReLU", None, f"layer {layer.id}: activation")
            pairs = [_mantissas(p, layer.id, s / payload_scale[p.source], fmt) for p in layer.projections]
            bias = exact_integers(np.asarray(layer.bias, dtype=np.float64) * s, "the bias", layer.id, "bias")
            vth = 0 if readout else int(exact_integers(np.array([lookup(thresholds, layer, "thresholds") * s]),
                                                  "the threshold", layer.id, "vth")[0])
            top = max(int(np.max(np.abs(bias), initial=0)), vth)
            if top > fmt.state_max:
                raise OverflowReport(f"{top} state units of bias or threshold exceed the {fmt.state_bits}-bit state",
                                     None, f"layer {layer.id}: bias")
            exp = 0 if readout else state_exp
            out.append(replace(layer, projections=[p for p, _ in pairs], weight_exps=tuple(e for _, e in pairs),
                               bias_q=bias.reshape(-1), vth=vth, state_exp=exp, scale=s))
            payload_scale[layer.id] = s / 2 ** exp
        else:
            raise DeployError(f"a {layer.kind} layer in a genome of chip integers", where, "chip_integers")
    errors = {layer.id: 0.0 for layer in out if isinstance(layer, (SigmaDeltaLayer, SdnnReadoutLayer))}
    return out, [{"layer": "*", "variable": "weights", "message": EXACT_NOTE}], errors


def compile_exact_sdnn(inputs: CompileInputs, options: CompileOptions, measure_headroom: Callable[..., Any],
                       settle_steps: Callable[[SdnnReadoutLayer], int], max_steps: int) -> CompiledNetwork:
    """Compile a sigma-delta genome of chip integers: lower, build its integers (`exact_sdnn`), and with calibration
    data measure every population's headroom, refusing what overflows (the scales cannot be lowered).
    `compile.compile_sdnn` passes its own headroom measurement, settling rule and step limit."""
    from ...compilation import network_identity
    from ...compiled import CompiledNetwork
    from .lowering import lower_sdnn
    from .quantize import PAYLOAD_BITS

    genome = inputs.genome
    for flag, given in (("--saturate", options.saturate), ("--delta-threshold", options.delta_threshold is not None)):
        if given:
            raise DeployError("does not apply to a genome of chip integers (chip_integers): its thresholds and scales "
                              "are the chip's", genome.source, flag)
    layers = lower_sdnn(genome, inputs.weights)
    readout = layers[-1]
    steps = options.steps if options.steps is not None else (genome.steps or settle_steps(readout))
    if not (1 <= steps <= max_steps):
        raise DeployError(f"steps must be between 1 and {max_steps}, got {steps}", genome.source, "--steps")
    fmt = inputs.profile.require_format()
    try:
        q_layers, notes, errors = exact_sdnn(layers, fmt, genome.chip_integers, genome.source)
    except OverflowReport as exc:
        raise OverflowReport(exc.message, genome.source, exc.field) from None
    if steps < settle_steps(readout):
        notes.append({"layer": readout.id, "variable": "steps", "message":
                      f"{steps} steps end before a static input reaches the readout at step {readout.window}; the "
                      f"readout holds a partial sum (use {settle_steps(readout)})"})
    net = CompiledNetwork(
        steps=steps, layers=q_layers, fmt=fmt, windows={}, window_method="chip integers (chip_integers)",
        options={"saturate": False, "steps": steps, "payload_bits": PAYLOAD_BITS, "chip_integers": True,
                 "settle_steps": settle_steps(readout)},
        notes=notes, quantization_error=errors, coding="sdnn", run_steps=steps, **network_identity(inputs))
    if inputs.calibration is None:
        net.notes.append({"layer": "*", "variable": "headroom", "message": "no calibration data: the ranges of "
                          "states, payloads and synaptic sums are unchecked (pass --calibration to check them)"})
        return net
    headroom, overflows = measure_headroom(net, inputs.calibration.x, options.progress)
    for layer_id, (var, _) in overflows.items():
        entry = headroom[layer_id][var]
        raise OverflowReport(f"calibration data drives |{var}| to {entry['calibration_peak']}, beyond its limit "
                             f"{entry['limit']}; the genome's chip integers fix every scale, so it cannot be lowered",
                             genome.source, f"layer {layer_id}: {var}")
    net.headroom = headroom
    return net


__all__ = ["EXACT_NOTE", "compile_exact_sdnn", "exact_sdnn"]
