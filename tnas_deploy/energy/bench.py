"""`tnas-deploy bench`: run samples once, then map, estimate energy and latency on every profile, and write
the report (report.json with everything; report.md and report.html for people). The report holds no
timestamps or timings, so the same inputs give the same files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..artifact import load_artifact, save_artifact
from ..compiled import CompiledNetwork
from ..errors import DeployError
from ..io_utils import sha256_file
from ..profiles import available_profiles, load_profile
from ..regression import regression_block, regression_outputs
from ..result import SimResult
from ..summary import summarize
from ..result import SPIKE_TIMES
from ..schemes import scheme_for
from .activity import LayerActivity, neurobench_metrics
from .baseline import estimate_baseline
from .mapping import place
from .bands import uncertainty
from .model import estimate

REPORT_FORMAT = "tnas-bench-report"
REPORT_VERSION = 1


def load_target(target: Path, data: Path, calibration: Path | None, compile_profile: str,
                out_dir: Path, coding: str | None = None) -> tuple[CompiledNetwork, Path]:
    """An artifact as it is, or a genome compiled for `compile_profile` (calibrated on `calibration` or the data;
    with `coding`, compiled in that coding: `compile --coding`)."""
    if target.suffix == ".json":
        from ..compiler import compile_files
        from ..schemes import CompileOptions
        net, summary = compile_files(target, profile=compile_profile, calibration_path=calibration or data,
                                     options=CompileOptions(coding=coding))
        path = out_dir / f"{net.name}.{compile_profile}.tdart"
        save_artifact(net, path, summary)
        return net, path
    net, _ = load_artifact(target)
    return net, target


def accuracy_block(predictions: np.ndarray, labels: np.ndarray, classes: tuple[str, ...]) -> dict[str, Any]:
    """WAR (overall accuracy), UAR (mean per-class recall) and the confusion matrix (rows: true class)."""
    n = len(classes)
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    support = confusion.sum(axis=1)
    recall = np.divide(np.diag(confusion), support, out=np.zeros(n), where=support > 0)
    present = support > 0
    return {"war": float(np.trace(confusion) / max(1, confusion.sum())),
            "uar": float(recall[present].mean()) if present.any() else None,
            "per_class_recall": {c: (float(r) if s else None) for c, r, s in zip(classes, recall, support)},
            "confusion_matrix": confusion.tolist(), "classes": list(classes)}


def _layer_block(net: CompiledNetwork, act: LayerActivity, result: SimResult) -> dict[str, Any]:
    K = net.steps
    histogram = None
    if act.layer in result.spike_times:
        times = result.spike_times[act.layer]
        if result.spike_format != SPIKE_TIMES:      # rate raster, sigma-delta payloads (samples, steps, ...): per step
            histogram = (times != 0).reshape(times.shape[0], times.shape[1], -1).sum(axis=(0, 2)).astype(int).tolist()
        else:
            local = times[times >= 0] % K
            histogram = np.bincount(local, minlength=K).astype(int).tolist()
    return {"kind": act.kind, "neurons": act.neurons, "synapses": act.synapses, "spikes": act.spikes,
            "spikes_per_neuron": act.spikes / act.neurons if act.neurons else 0.0,
            "synaptic_events": act.synaptic_events, "effective_synaptic_events": act.effective_synaptic_events,
            "active_updates": act.active_updates, "idle_updates": act.idle_updates,
            "activation_sparsity": act.silent_share, "spike_step_histogram": histogram}


def profile_block(net: CompiledNetwork, activity: dict[str, LayerActivity], name: str,
                  static_mode: str = "whole-chip") -> dict[str, Any]:
    profile = load_profile(name)
    block: dict[str, Any] = {"name": profile.name, "kind": profile.kind, "chip": profile.chip, "file": str(profile.path),
                             "sha256": profile.sha256,
                             "numbers": {k: {"value": q.value, "provenance": q.provenance}
                                         for k, q in sorted(profile.quantities.items())}}
    if profile.kind == "baseline":
        block["baseline"] = estimate_baseline(net.genome, profile)
        return block
    placement = place(net, activity, profile)
    payload = payload_problem(net, profile)
    if payload:
        placement.fits, placement.problem = False, "; ".join(filter(None, [payload, placement.problem]))
    block["placement"] = placement.to_json()
    if not placement.fits:
        block["energy"] = None
        unknown = not placement.problem or placement.problem.startswith("unknown")
        block["note"] = placement.problem if unknown else f"does not fit: {placement.problem}"
        if unknown and profile.unknown_reason:
            block["note"] = f"energy per inference unknown: {profile.unknown_reason} ({placement.problem})"
        return block
    energy = estimate(activity, placement, profile, static_mode).to_json()
    block["energy"] = {**energy, **uncertainty(profile, energy)}
    if energy["total_pj"] is None:
        block["note"] = "energy per inference unknown: " + (profile.unknown_reason or "the profile lacks " + ", ".join(
            energy["unknown_profile_numbers"]))
    return block


def payload_problem(net: CompiledNetwork, profile) -> str | None:
    """Why `net`'s spikes cannot travel on `profile`'s chip (graded payloads it lacks), or None."""
    need = scheme_for(net).spike_payload_bits
    have = profile.get("resources.graded_spike_bits") or 0
    if need <= have:
        return None
    offer = f"{have:.0f}-bit payloads" if have else "no graded payloads (no resources.graded_spike_bits)"
    return (f"the network's spikes carry {need}-bit graded payloads ({net.coding} coding); the profile gives "
            f"{offer}; splitting cannot help")


def run_bench(target: Path, data_path: Path, profiles: list[str] | None = None, backend: str = "reference",
              calibration: Path | None = None, out_dir: Path | None = None, progress: bool = True,
              samples: int | None = None, compile_profile: str = "loihi2", window_us: float | None = None,
              static_mode: str = "whole-chip", coding: str | None = None) -> tuple[dict[str, Any], Path]:
    from ..runner import run_backend
    from .report import write_reports

    names = profiles or available_profiles()
    out_dir = out_dir or Path("build") / f"report-{target.stem}"
    net, artifact_path = load_target(target, data_path, calibration, compile_profile, out_dir, coding)
    scheme = scheme_for(net)
    data = scheme.load_data(data_path, net, window_us=window_us).head(samples)
    result, _ = run_backend(net, data.x, backend, progress=progress)
    activity = scheme.measure_activity(net, result)
    blocks: dict[str, Any] = {}
    for name in names:
        block = profile_block(net, activity, name, static_mode)
        if block["name"] in blocks:
            raise DeployError(f"two profiles are named {block['name']!r}", block["file"], "profile.name")
        blocks[block["name"]] = block
    report: dict[str, Any] = {
        "format": REPORT_FORMAT, "version": REPORT_VERSION, "tool_version": __version__,
        "network": net.name, "artifact": {"path": str(artifact_path), "sha256": sha256_file(artifact_path),
                                          "compiled_for": net.profile["name"], "steps_per_window": net.steps,
                                          "total_steps": scheme.total_steps(net)},
        "data": {"path": str(data_path), "sha256": data.sha256, "samples": len(data), "labelled": data.y is not None},
        "backend": backend, "provenance": net.provenance,
        "inputs": net.inputs, "summary": summarize(net),
        "metrics": neurobench_metrics(net, result, activity, scheme.total_steps(net)),
        "layers": {k: _layer_block(net, a, result) for k, a in activity.items()},
        "profiles": blocks,
    }
    outputs = regression_outputs(net)
    if outputs:
        report["regression"] = regression_block(result.logits, data.y, outputs)
    elif data.y is not None:
        report["accuracy"] = accuracy_block(result.predictions, data.y, net.classes)
    report_json = json.dumps(report, indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_reports(report, out_dir, also={"report.json": report_json.encode("utf-8")})
    return report, out_dir
