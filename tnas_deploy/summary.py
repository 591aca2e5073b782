"""The compile summary: per layer neurons, synapses, weight bits and exponent, window, headroom; totals.
Printed by `compile` and `inspect` as a table, or as JSON with `--json`."""
from __future__ import annotations

from typing import Any

import numpy as np

from .compiled import CompiledNetwork
from .layers import Layer
from .projection import Projection
from .schemes import scheme_for


def _mant_max(p: Projection) -> int:
    w = p.weight
    if p.kind == "sparse":
        return int(abs(w).max()) if w.nnz else 0
    return int(np.max(np.abs(w))) if np.size(w) else 0


def synapse_count(net: CompiledNetwork, layer: Layer) -> int:
    by_id = net.by_id
    return int(sum(p.fan_out(by_id[p.source].shape, layer.shape).sum() for p in layer.incoming()))


def summarize(net: CompiledNetwork) -> dict[str, Any]:
    rows = []
    for layer in net.layers:
        row: dict[str, Any] = {"layer": layer.id, "kind": layer.kind, "nodes": list(layer.nodes),
                               "shape": list(layer.shape), "window": layer.window,
                               "neurons": layer.size if layer.holds_neurons else 0,
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
        row.update(layer.summary_fields(net))
        rows.append(row)
    return {
        "name": net.name, "profile": net.profile["name"], "tool_version": net.tool_version, "coding": net.coding,
        "steps_per_window": net.steps, "windows": max(layer.window for layer in net.layers) + 1,
        "total_steps": scheme_for(net).total_steps(net),
        "window_method": net.window_method,
        "neurons": sum(r["neurons"] for r in rows), "synapses": sum(r["synapses"] for r in rows),
        "layers": rows, "notes": net.notes, "inputs": net.inputs, "provenance": net.provenance,
    }


def _fmt_bits(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}"


def format_table(summary: dict[str, Any]) -> str:
    scheme = scheme_for(summary)
    uv = any(r.get("headroom_bits") for r in summary["layers"])    # sigma-delta shows its own headroom columns
    header = ["layer", "kind", "shape", "neurons", "synapses", "w bits", "w exp"] + scheme.table_columns(None) + [
        "headroom u/v/thr (bits)"] * uv
    lines = []
    for r in summary["layers"]:
        head = r.get("headroom_bits", {})
        headroom = "/".join(_fmt_bits(head.get(v)) for v in ("u", "v", "threshold")) if head else ""
        if head and not r.get("safe_for_all_inputs", True):
            headroom += " *"
        lines.append([
            r["layer"], r["kind"], "x".join(map(str, r["shape"])), str(r["neurons"]), str(r["synapses"]),
            str(r.get("weight_bits", "")), str(r.get("weight_exp", ""))] + scheme.table_columns(r) + [headroom] * uv)
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(header)]
    out = [f"{summary['name']} on {summary['profile']} (tnas-deploy {summary['tool_version']})"]
    out.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    out.append("  ".join("-" * w for w in widths))
    for row in lines:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    out.append("")
    out.append(scheme.total_line(summary))
    if any(not r.get("safe_for_all_inputs", True) for r in summary["layers"]):
        basis = "calibration data" if scheme.calibrated(summary) else "the worst case (no calibration data given)"
        out.append(f"* headroom from {basis}; some input could saturate this layer "
                   "(the simulators then clip, never wrap, and report it)")
    for note in summary["notes"]:
        out.append(f"note: layer {note['layer']}, {note['variable']}: {note['message']}")
    return "\n".join(out)
