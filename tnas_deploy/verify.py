"""Bit-exact comparison of two runs, and golden spike-timing files for users' CI.

A comparison looks at every spike time (per layer, neuron and sample), every readout value and every
prediction. The first mismatch reported is in the earliest layer (in network order) that differs,
then the lowest sample, then the lowest neuron: the earliest place an arithmetic change shows up.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import DeployError
from .io_utils import npz_image, sha256_file, write_bytes_atomic
from .npz_input import read_npz
from .result import SimResult

GOLDEN_FORMAT = "tnas-golden"
GOLDEN_VERSION = 1


@dataclass
class Mismatch:
    layer: str
    what: str                 # "spike time" | "spike at step t" (rate) | "payload at step t" (sigma-delta) |
                              # "readout" | "prediction"
    sample: int
    neuron: tuple[int, ...]
    expected: int
    got: int

    def describe(self, expected_name: str, got_name: str) -> str:
        where = f"layer {self.layer}, neuron {self.neuron if len(self.neuron) > 1 else self.neuron[0]}" \
            if self.neuron else f"layer {self.layer}"
        return (f"first mismatch: {self.what} at {where}, sample {self.sample}: "
                f"{expected_name} {self.expected}, {got_name} {self.got}")


@dataclass
class Comparison:
    samples: int
    identical_samples: int
    spikes_compared: int
    first: Mismatch | None

    @property
    def bit_exact(self) -> bool:
        return self.first is None and self.identical_samples == self.samples

    def summary_line(self) -> str:
        return f"bit-exact: {self.identical_samples}/{self.samples} samples, {self.spikes_compared} spikes compared"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bit_exact": self.bit_exact, "samples": self.samples,
                               "identical_samples": self.identical_samples, "spikes_compared": self.spikes_compared}
        if self.first is not None:
            out["first_mismatch"] = {"layer": self.first.layer, "what": self.first.what, "sample": self.first.sample,
                                     "neuron": list(self.first.neuron), "expected": self.first.expected,
                                     "got": self.first.got}
        return out


def compare(expected: dict[str, Any], got: dict[str, Any], layer_order: list[str]) -> Comparison:
    """Compare two result dicts: `spike_times` {layer: (N, *shape)} (TTFS spike times) or {layer: (N, steps,
    *shape)} (rate spike rasters, boolean), `readout` (N, C), `predictions` (N,)."""
    n = int(np.asarray(expected["predictions"]).shape[0])
    if int(np.asarray(got["predictions"]).shape[0]) != n:
        raise DeployError(f"the runs cover different numbers of samples ({n} vs {len(got['predictions'])})")
    same = np.ones(n, dtype=bool)
    spikes = 0
    first: Mismatch | None = None
    for layer in layer_order:
        if layer not in expected["spike_times"]:
            continue
        if layer not in got["spike_times"]:
            raise DeployError(f"layer {layer!r} is missing from one of the runs (different artifacts?)")
        a = np.asarray(expected["spike_times"][layer])
        b = np.asarray(got["spike_times"][layer])
        if a.shape != b.shape:
            raise DeployError(f"layer {layer!r} has shape {list(a.shape)} in one run and {list(b.shape)} in the other")
        raster = a.dtype == bool          # rate networks: (N, steps, *shape) spike rasters
        graded = a.dtype == np.int32      # sigma-delta networks: (N, steps, *shape) graded payloads, 0 = none
        if raster:
            spikes += int((a | b).sum())
        elif graded:
            spikes += int(((a != 0) | (b != 0)).sum())
        else:
            spikes += int(((a >= 0) | (b >= 0)).sum())
        diff = (a != b).reshape(n, -1)
        same &= ~diff.any(axis=1)
        if first is None and diff.any():
            sample, flat = np.argwhere(diff)[0]
            index = tuple(int(i) for i in np.unravel_index(flat, a.shape[1:]))
            what, neuron = (f"spike at step {index[0]}", index[1:]) if raster else ("spike time", index)
            if graded:
                what, neuron = f"payload at step {index[0]}", index[1:]
            first = Mismatch(layer, what, int(sample), neuron,
                             int(a.reshape(n, -1)[sample, flat]), int(b.reshape(n, -1)[sample, flat]))
    for what, key in (("readout", "readout"), ("prediction", "predictions")):
        a = np.asarray(expected[key]).reshape(n, -1)
        b = np.asarray(got[key]).reshape(n, -1)
        diff = a != b
        same &= ~diff.any(axis=1)
        if first is None and diff.any():
            sample, idx = np.argwhere(diff)[0]
            first = Mismatch("readout", what, int(sample), (int(idx),) if what == "readout" else (),
                             int(a[sample, idx]), int(b[sample, idx]))
    return Comparison(samples=n, identical_samples=int(same.sum()), spikes_compared=spikes, first=first)


def result_dict(result: SimResult) -> dict[str, Any]:
    return {"spike_times": result.spike_times, "readout": result.readout, "predictions": result.predictions}


def save_golden(path: str | Path, artifact: str | Path, x: np.ndarray, result: SimResult, backend: str,
                input_sha256: str | None) -> None:
    """Golden file (.npz): inputs, every spike time, readout values, predictions, artifact hash, tool version."""
    arrays: dict[str, np.ndarray] = {f"spike_times/{k}": v for k, v in result.spike_times.items()}
    arrays.update(x=np.asarray(x), readout=result.readout, predictions=result.predictions,
                  format=np.array(GOLDEN_FORMAT), format_version=np.array(GOLDEN_VERSION),
                  artifact_sha256=np.array(sha256_file(artifact)), tool_version=np.array(__version__),
                  backend=np.array(backend), input_sha256=np.array(input_sha256 or ""))
    write_bytes_atomic(path, npz_image(arrays))


def load_golden(path: str | Path) -> dict[str, Any]:
    """A golden file's inputs, spike times, readout, predictions and provenance (`DeployError` if it is none)."""
    path = Path(path)
    if not path.is_file():
        raise DeployError("golden file not found", path)
    data = read_npz(path, "a golden file written by `tnas-deploy golden`")
    if str(data.get("format", "")) != GOLDEN_FORMAT:
        raise DeployError(f"not a tnas-deploy golden file (expected format {GOLDEN_FORMAT!r}; "
                          "write one with `tnas-deploy golden`)", path, "format")
    for name in ("format_version", "x", "readout", "predictions", "artifact_sha256", "tool_version", "backend"):
        if name not in data:
            raise DeployError("missing array; a golden file written by `tnas-deploy golden` has it", path, name)
    version = data["format_version"]
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != GOLDEN_VERSION:
        raise DeployError(f"golden format version {version.tolist()!r}; this tnas-deploy reads {GOLDEN_VERSION}",
                          path, "format_version")
    spike_times = {k.split("/", 1)[1]: v for k, v in data.items() if k.startswith("spike_times/")}
    return {"x": data["x"], "spike_times": spike_times, "readout": data["readout"], "predictions": data["predictions"],
            "artifact_sha256": str(data["artifact_sha256"]), "tool_version": str(data["tool_version"]),
            "backend": str(data["backend"])}


def require_golden_inputs_fit(golden: dict[str, Any], sample_shapes: set[tuple[int, ...]], input_shape: tuple[int, ...],
                              golden_path: str | Path, artifact_path: str | Path) -> None:
    """Before running: the golden file's inputs must be samples the artifact takes."""
    x = np.asarray(golden["x"])
    if x.ndim < 1 or tuple(x.shape[1:]) not in sample_shapes:
        raise DeployError(f"was recorded from another network than {artifact_path}: its inputs have shape "
                          f"{list(x.shape[1:])} per sample, the artifact takes {list(input_shape)}", golden_path, "x")


def require_same_network(golden: dict[str, Any], got: dict[str, Any], golden_path: str | Path,
                         artifact_path: str | Path) -> None:
    """Before comparing: a golden file of another network differs in its layers, their shapes or the readout,
    and comparing it spike by spike would say nothing. Name both files and what differs."""
    differences: list[str] = []
    recorded, produced = set(golden["spike_times"]), set(got["spike_times"])
    if recorded != produced:
        parts = []
        if recorded - produced:
            parts.append(f"layers {sorted(recorded - produced)} are only in the golden file")
        if produced - recorded:
            parts.append(f"layers {sorted(produced - recorded)} only in the artifact")
        differences.append(" and ".join(parts))
    for layer in sorted(recorded & produced):
        a, b = np.shape(golden["spike_times"][layer])[1:], np.shape(got["spike_times"][layer])[1:]
        if a != b:
            differences.append(f"layer {layer!r} has shape {list(a)} per sample in the golden file and {list(b)} in "
                               "the artifact")
    a, b = np.shape(golden["readout"])[1:], np.shape(got["readout"])[1:]
    if a != b:
        differences.append(f"the readout has shape {list(a)} per sample in the golden file and {list(b)} in the "
                           "artifact")
    if differences:
        shown = differences[:3] + ([f"{len(differences) - 3} more difference(s)"] if len(differences) > 3 else [])
        raise DeployError(f"was recorded from another network than {artifact_path}: " + "; ".join(shown)
                          + "; record a golden file from this artifact with `tnas-deploy golden`", golden_path)
