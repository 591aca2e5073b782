"""The compile summary: per layer neurons, synapses, weight bits and exponent, window, headroom; totals.
Printed by `compile` and `inspect` as a table, or as JSON with `--json`."""
from __future__ import annotations

from typing import Any

import numpy as np

from .compiled import CompiledNetwork
from .network import Layer, MaxPoolLayer, Projection, ReadoutLayer, TtfsLayer


def _mant_max(p: Projection) -> int:
    w = p.weight
    if p.kind == "sparse":
        return int(abs(w).max()) if w.nnz else 0
    return int(np.max(np.abs(w))) if np.size(w) else 0


def synapse_count(net: CompiledNetwork, layer: Layer) -> int:
    by_id = net.by_id
    if hasattr(layer, "projections"):
        return int(sum(p.fan_out(by_id[p.source].shape, layer.shape).sum() for p in layer.projections))
    if isinstance(layer, MaxPoolLayer):
        p = Projection(layer.source, "avgpool2d", np.ones(layer.channels), layer.kernel, layer.stride)
        return int(p.fan_out(by_id[layer.source].shape, layer.shape).sum())
    return 0


def summarize(net: CompiledNetwork) -> dict[str, Any]:
    rows = []
    for layer in net.layers:
        row: dict[str, Any] = {"layer": layer.id, "kind": layer.kind, "nodes": list(layer.nodes),
                               "shape": list(layer.shape), "window": layer.window,
                               "neurons": layer.size if layer.kind in NEURON_KINDS else 0,
                               "synapses": synapse_count(net, layer)}
        if getattr(layer, "projections", None):
            mant = max((_mant_max(p) for p in layer.projections), default=0)
            row.update(weight_bits=net.fmt.weight_bits, weight_exp=layer.shift - net.fmt.input_shift,
                       weight_mant_max=mant)
            head = net.headroom.get(layer.id, {})
            row["headroom_bits"] = {var: head[var]["headroom_bits"] for var in ("u", "v") if var in head}
            row["safe_for_all_inputs"] = all(head[var]["safe_for_all_inputs"] for var in ("u", "v") if var in head)
            if "threshold" in head:
                row["headroom_bits"]["threshold"] = head["threshold"]["headroom_bits"]
        if isinstance(layer, TtfsLayer):
            row.update(window_steps=net.steps, window_length=net.windows[layer.id], ramp=layer.ramp)
        if isinstance(layer, ReadoutLayer):
            row.update(window_steps=net.steps, logit_scale=layer.scale)
        if layer.kind == "cuba":
            row.update(role=layer.role, threshold=layer.threshold, du=layer.du, dv=layer.dv, reset=layer.reset,
                       delays=sorted({p.delay for p in layer.projections}))
        if layer.kind == "rate_readout":
            row.update(mode=layer.mode, logit_scale=layer.scale)
        rows.append(row)
    return {
        "name": net.name, "profile": net.profile["name"], "tool_version": net.tool_version, "coding": net.coding,
        "steps_per_window": net.steps, "windows": net.windows_used, "total_steps": net.total_steps,
        "window_method": net.window_method,
        "neurons": sum(r["neurons"] for r in rows), "synapses": sum(r["synapses"] for r in rows),
        "layers": rows, "notes": net.notes, "inputs": net.inputs, "provenance": net.provenance,
    }


#: Layer kinds that hold neurons on the chip (the input is injected by the host; views are routing).
NEURON_KINDS = ("ttfs", "maxpool2d", "readout", "cuba", "rate_readout")


def _fmt_bits(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}"


def format_table(summary: dict[str, Any]) -> str:
    rate = summary.get("coding") == "rate"
    header = ["layer", "kind", "shape", "neurons", "synapses", "w bits", "w exp"] + (
        ["delays"] if rate else ["window", "steps"]) + ["headroom u/v/thr (bits)"]
    lines = []
    for r in summary["layers"]:
        head = r.get("headroom_bits", {})
        headroom = "/".join(_fmt_bits(head.get(v)) for v in ("u", "v", "threshold")) if head else ""
        if head and not r.get("safe_for_all_inputs", True):
            headroom += " *"
        lines.append([
            r["layer"], r["kind"], "x".join(map(str, r["shape"])), str(r["neurons"]), str(r["synapses"]),
            str(r.get("weight_bits", "")), str(r.get("weight_exp", ""))] + (
            [",".join(map(str, r.get("delays", [])))] if rate else [str(r["window"]), str(r.get("window_steps", ""))])
            + [headroom])
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(header)]
    out = [f"{summary['name']} on {summary['profile']} (tnas-deploy {summary['tool_version']})"]
    out.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    out.append("  ".join("-" * w for w in widths))
    for row in lines:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    out.append("")
    if summary.get("coding") == "rate":
        out.append(f"total: {summary['neurons']} neurons, {summary['synapses']} synapses, rate coding: "
                   f"{summary['steps_per_window']} input steps + {summary['total_steps'] - summary['steps_per_window']} "
                   f"steps of depth = {summary['total_steps']} time steps per inference")
    else:
        out.append(f"total: {summary['neurons']} neurons, {summary['synapses']} synapses, {summary['windows']} windows "
                   f"x {summary['steps_per_window']} steps = {summary['total_steps']} time steps per inference "
                   f"(windows from {summary['window_method']})")
    if any(not r.get("safe_for_all_inputs", True) for r in summary["layers"]):
        calibrated = summary["window_method"].startswith("calibration") or (
            summary.get("coding") == "rate" and bool(summary["inputs"].get("calibration")))
        basis = "calibration data" if calibrated else "the worst case (no calibration data given)"
        out.append(f"* headroom from {basis}; some input could saturate this layer "
                   "(the simulators then clip, never wrap, and report it)")
    for note in summary["notes"]:
        out.append(f"note: layer {note['layer']}, {note['variable']}: {note['message']}")
    return "\n".join(out)
