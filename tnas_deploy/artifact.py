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
from .layers import LAYER_KINDS, Layer
from .schemes import SCHEMES  # noqa: F401 - importing the schemes registers their layer kinds

FORMAT = "tnas-artifact"
FORMAT_VERSION = 1


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, indent=1, allow_nan=False)


def _layer_json(layer: Layer) -> dict[str, Any]:
    return {"id": layer.id, "kind": layer.kind, "shape": list(layer.shape), "window": layer.window,
            "nodes": list(layer.nodes), **layer.to_json()}


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
                tensors = layer.arrays()
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


def _layer_from_json(spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> Layer:
    common = dict(id=spec["id"], shape=tuple(spec["shape"]), window=spec["window"], nodes=tuple(spec["nodes"]))
    cls = LAYER_KINDS.get(spec["kind"])
    if cls is None:
        raise DeployError(f"unknown layer kind {spec['kind']!r} (layer {spec['id']!r}); this tnas-deploy knows "
                          f"{sorted(LAYER_KINDS)}: recompile the genome", None, "network.layers")
    return cls.from_json(common, spec, arrays)


__all__ = ["save_artifact", "load_artifact", "FORMAT", "FORMAT_VERSION", "__version__"]
