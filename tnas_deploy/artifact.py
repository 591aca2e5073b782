"""The compiled artifact: one HDF5 file with quantized tensors, thresholds, schedule, profile, provenance,
tool version and the sha256 of every input. Written atomically and byte-reproducibly (no timestamps,
fixed ordering), so the same inputs give the same bytes.

Layout (see docs/artifact.md):
    /                attrs: format="tnas-artifact", format_version, tool_version, name
    /meta/<key>      UTF-8 JSON text: genome, provenance, profile, inputs, options, network, summary, notes, ...
    /arrays/<layer>/<name>   integer tensors: weights of projection i as `w<i>`, `threshold`, `v_init`, `bias`
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from . import __version__
from .compiled import CompiledNetwork
from .errors import DeployError
from .fixed_point import NumericFormat
from .io_utils import atomic_path
from .schemes.rate.layers import RATE_LAYER_TYPES, CubaLayer, RateInputLayer, RateProjection, RateReadoutLayer
from .schemes.ttfs.layers import LAYER_TYPES, ConcatLayer, FlattenLayer, MaxPoolLayer, ReadoutLayer, TtfsLayer
from .layers import Layer
from .projection import Projection

FORMAT = "tnas-artifact"
FORMAT_VERSION = 1


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, indent=1, allow_nan=False)


def _projection_json(p: Projection) -> dict[str, Any]:
    out: dict[str, Any] = {"source": p.source, "kind": p.kind, "kernel": list(p.kernel), "stride": list(p.stride),
                           "padding": list(p.padding), "delay_windows": p.delay_windows}
    if isinstance(p, RateProjection):
        out["delay"] = p.delay
        if p.shift is not None:
            out["shift"] = p.shift
    if p.kind == "sparse":
        out["matrix_shape"] = list(p.weight.shape)
    return out


def _rate_layer_json(layer: Layer) -> dict[str, Any]:
    if isinstance(layer, RateInputLayer):
        return {"values": layer.values}
    if isinstance(layer, CubaLayer):
        return {"projections": [_projection_json(p) for p in layer.projections], "shift": layer.shift,
                "threshold_float": float(layer.threshold_float).hex(), "leak": float(layer.leak).hex(),
                "current_leak": float(layer.current_leak).hex(), "reset": layer.reset, "role": layer.role,
                "du": layer.du, "dv": layer.dv, "threshold": layer.threshold, "scale": float(layer.scale).hex()}
    assert isinstance(layer, RateReadoutLayer)
    return {"projections": [_projection_json(p) for p in layer.projections], "shift": layer.shift, "mode": layer.mode,
            "source": layer.source, "scale": float(layer.scale).hex()}


def _layer_json(layer: Layer) -> dict[str, Any]:
    out: dict[str, Any] = {"id": layer.id, "kind": layer.kind, "shape": list(layer.shape), "window": layer.window,
                           "nodes": list(layer.nodes)}
    if layer.kind in RATE_LAYER_TYPES:
        out.update(_rate_layer_json(layer))
        return out
    if isinstance(layer, (TtfsLayer, ReadoutLayer)):
        out["projections"] = [{"source": p.source, "kind": p.kind, "kernel": list(p.kernel), "stride": list(p.stride),
                               "padding": list(p.padding), "delay_windows": p.delay_windows}
                              for p in layer.projections]
        out["shift"] = layer.shift
    if isinstance(layer, TtfsLayer):
        out["ramp"] = layer.ramp
        out["bias_float"] = [float(b) for b in layer.bias]
    if isinstance(layer, ReadoutLayer):
        out["scale"] = float(layer.scale).hex()     # exact round trip of the float
    if isinstance(layer, MaxPoolLayer):
        out.update(source=layer.source, kernel=list(layer.kernel), stride=list(layer.stride))
    if isinstance(layer, FlattenLayer):
        out["source"] = layer.source
    if isinstance(layer, ConcatLayer):
        out.update(sources=list(layer.sources), delay_windows=list(layer.delay_windows))
    return out


def _int_array(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.int64)
    return w.astype(np.int16 if np.abs(w).max(initial=0) < 2 ** 15 else np.int32)


def _layer_arrays(layer: Layer) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    if layer.kind in RATE_LAYER_TYPES:
        for i, p in enumerate(getattr(layer, "projections", [])):
            if p.kind == "sparse":
                m = p.weight.tocsr()
                arrays[f"w{i}_data"] = _int_array(m.data)
                arrays[f"w{i}_indices"] = m.indices.astype(np.int64)
                arrays[f"w{i}_indptr"] = m.indptr.astype(np.int64)
            else:
                arrays[f"w{i}"] = _int_array(p.weight)
        if isinstance(layer, CubaLayer):
            arrays["bias"] = np.asarray(layer.bias_q, dtype=np.int64)
            arrays["bias_float"] = np.asarray(layer.bias, dtype=np.float64)
        if isinstance(layer, RateReadoutLayer) and layer.mode == "membrane":
            arrays["bias"] = np.asarray(layer.bias, dtype=np.int64)
        return arrays
    if isinstance(layer, (TtfsLayer, ReadoutLayer)):
        for i, p in enumerate(layer.projections):
            w = np.asarray(p.weight, dtype=np.int64)
            arrays[f"w{i}"] = w.astype(np.int16 if np.abs(w).max(initial=0) < 2 ** 15 else np.int32)
    if isinstance(layer, TtfsLayer):
        arrays["threshold"] = np.asarray(layer.threshold, dtype=np.int64)
        arrays["v_init"] = np.asarray(layer.v_init, dtype=np.int64)
    if isinstance(layer, ReadoutLayer):
        arrays["bias"] = np.asarray(layer.bias, dtype=np.int64)
    return arrays


def save_artifact(net: CompiledNetwork, path: str | Path, summary: dict[str, Any]) -> None:
    meta = {
        "genome": net.genome, "provenance": net.provenance, "profile": net.profile, "inputs": net.inputs,
        "options": net.options, "format": net.fmt.to_json(), "notes": net.notes, "headroom": net.headroom,
        "quantization_error": net.quantization_error, "summary": summary,
        "network": {"name": net.name, "steps": net.steps, "input_shape": list(net.input_shape),
                    "classes": list(net.classes), "windows": net.windows, "window_method": net.window_method,
                    "coding": net.coding, "run_steps": net.run_steps,
                    "layers": [_layer_json(layer) for layer in net.layers]},
    }
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=False) as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["tool_version"] = net.tool_version
            f.attrs["name"] = net.name
            g = f.create_group("meta")
            for key in sorted(meta):
                g.create_dataset(key, data=_dumps(meta[key]), dtype=h5py.string_dtype("utf-8"), track_times=False)
            arrays = f.create_group("arrays")
            for index, layer in enumerate(net.layers):
                tensors = _layer_arrays(layer)
                if tensors:
                    lg = arrays.create_group(f"{index:03d}_{layer.id}")
                    for name in sorted(tensors):
                        lg.create_dataset(name, data=tensors[name], track_times=False)


def load_artifact(path: str | Path) -> tuple[CompiledNetwork, dict[str, Any]]:
    """Read an artifact; returns the network and its stored summary."""
    path = Path(path)
    if not path.is_file():
        raise DeployError("artifact not found", path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DeployError(f"not a readable HDF5 file ({exc}); expected an artifact written by `tnas-deploy compile`",
                          path) from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise DeployError(f"not a tnas-deploy artifact (format attribute {f.attrs.get('format')!r})", path, "format")
        version = int(f.attrs.get("format_version", -1))
        if version != FORMAT_VERSION:
            raise DeployError(f"artifact format version {version}; this tnas-deploy reads {FORMAT_VERSION} "
                              "(recompile the genome)", path, "format_version")
        meta = {k: json.loads(f["meta"][k][()].decode("utf-8") if isinstance(f["meta"][k][()], bytes)
                              else f["meta"][k][()]) for k in f["meta"]}
        arrays = {name: {k: v[()] for k, v in grp.items()} for name, grp in f["arrays"].items()}
        tool_version = str(f.attrs["tool_version"])
    net_meta = meta["network"]
    layers = []
    for index, spec in enumerate(net_meta["layers"]):
        layers.append(_layer_from_json(spec, arrays.get(f"{index:03d}_{spec['id']}", {})))
    net = CompiledNetwork(
        name=net_meta["name"], steps=net_meta["steps"], layers=layers, fmt=NumericFormat(**meta["format"]),
        input_shape=tuple(net_meta["input_shape"]), classes=tuple(net_meta["classes"]), windows=net_meta["windows"],
        window_method=net_meta["window_method"], genome=meta["genome"], provenance=meta["provenance"],
        profile=meta["profile"], inputs=meta["inputs"], options=meta["options"], tool_version=tool_version,
        notes=meta["notes"], headroom=meta["headroom"], quantization_error=meta["quantization_error"],
        coding=net_meta.get("coding", "ttfs"), run_steps=net_meta.get("run_steps", 0))
    return net, meta["summary"]


def _rate_projections(spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> list[RateProjection]:
    from scipy import sparse
    out = []
    for i, p in enumerate(spec.get("projections", [])):
        if p["kind"] == "sparse":
            w = sparse.csr_matrix((arrays[f"w{i}_data"].astype(np.int64), arrays[f"w{i}_indices"],
                                   arrays[f"w{i}_indptr"]), shape=tuple(p["matrix_shape"]))
        else:
            w = arrays[f"w{i}"].astype(np.int64)
        out.append(RateProjection(p["source"], p["kind"], w, tuple(p["kernel"]), tuple(p["stride"]),
                                  tuple(p["padding"]), p["delay_windows"], delay=p["delay"], shift=p.get("shift")))
    return out


def _rate_layer_from_json(spec: dict[str, Any], arrays: dict[str, np.ndarray], common: dict[str, Any]) -> Layer:
    if spec["kind"] == "rate_input":
        return RateInputLayer(**common, values=spec["values"])
    projs = _rate_projections(spec, arrays)
    if spec["kind"] == "cuba":
        return CubaLayer(**common, projections=projs, bias=arrays["bias_float"],
                         threshold_float=float.fromhex(spec["threshold_float"]), leak=float.fromhex(spec["leak"]),
                         current_leak=float.fromhex(spec["current_leak"]), reset=spec["reset"], role=spec["role"],
                         shift=spec["shift"], du=spec["du"], dv=spec["dv"], threshold=spec["threshold"],
                         bias_q=arrays["bias"].astype(np.int64), scale=float.fromhex(spec["scale"]))
    bias = arrays["bias"].astype(np.int64) if "bias" in arrays else np.zeros(0, dtype=np.int64)
    return RateReadoutLayer(**common, mode=spec["mode"], source=spec["source"], projections=projs, bias=bias,
                            shift=spec["shift"], scale=float.fromhex(spec["scale"]))


def _layer_from_json(spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> Layer:
    common = dict(id=spec["id"], shape=tuple(spec["shape"]), window=spec["window"], nodes=tuple(spec["nodes"]))
    if spec["kind"] in RATE_LAYER_TYPES:
        return _rate_layer_from_json(spec, arrays, common)
    cls = LAYER_TYPES[spec["kind"]]
    if cls in (TtfsLayer, ReadoutLayer):
        projs = [Projection(p["source"], p["kind"], arrays[f"w{i}"].astype(np.int64), tuple(p["kernel"]),
                            tuple(p["stride"]), tuple(p["padding"]), p["delay_windows"])
                 for i, p in enumerate(spec["projections"])]
        if cls is TtfsLayer:
            return TtfsLayer(**common, projections=projs, bias=np.asarray(spec["bias_float"]), shift=spec["shift"],
                             ramp=spec["ramp"], threshold=arrays["threshold"].astype(np.int64),
                             v_init=arrays["v_init"].astype(np.int64))
        return ReadoutLayer(**common, projections=projs, bias=arrays["bias"].astype(np.int64), shift=spec["shift"],
                            scale=float.fromhex(spec["scale"]))
    if cls is MaxPoolLayer:
        return MaxPoolLayer(**common, source=spec["source"], kernel=tuple(spec["kernel"]), stride=tuple(spec["stride"]))
    if cls is FlattenLayer:
        return FlattenLayer(**common, source=spec["source"])
    if cls is ConcatLayer:
        return ConcatLayer(**common, sources=tuple(spec["sources"]), delay_windows=tuple(spec["delay_windows"]))
    return cls(**common)


__all__ = ["save_artifact", "load_artifact", "FORMAT", "FORMAT_VERSION", "__version__"]
