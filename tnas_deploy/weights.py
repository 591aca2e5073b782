"""Weights of a genome: an HDF5 file with one group per node id (PyTorch tensor names and layouts),
or a PyTorch `state_dict` of the ANN counterpart. Both are checked against the genome's shapes."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from .errors import DeployError
from .genome import Genome
from .io_utils import hdf5_image, write_bytes_atomic

Weights = dict[str, dict[str, np.ndarray]]

STATE_DICT_SUFFIXES = (".pt", ".pth")


def expected_shapes(genome: Genome) -> dict[str, dict[str, tuple[int, ...]]]:
    out = {}
    for node in genome.nodes:
        if node.has_weights:
            out[node.id] = node.weight_shapes(genome.shapes[node.forward_inputs[0]])
    return out


def check_weights(genome: Genome, weights: Weights, where: str | Path) -> Weights:
    """Every tensor the genome needs is present, float, finite and of the right shape; returns float64 copies."""
    checked: Weights = {}
    for node_id, shapes in expected_shapes(genome).items():
        if node_id not in weights:
            raise DeployError(f"missing weights for node {node_id!r} (expected tensors {sorted(shapes)})", where, node_id)
        checked[node_id] = {}
        for name, shape in shapes.items():
            field = f"{node_id}/{name}"
            if name not in weights[node_id]:
                raise DeployError(f"missing tensor; expected shape {list(shape)}", where, field)
            arr = np.asarray(weights[node_id][name])
            if arr.dtype.kind not in "fiu":
                raise DeployError(f"expected a numeric tensor, got dtype {arr.dtype}", where, field)
            if tuple(arr.shape) != tuple(shape):
                raise DeployError(f"expected shape {list(shape)}, got {list(arr.shape)}", where, field)
            if not np.all(np.isfinite(arr)):
                bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
                raise DeployError(f"{bad} non-finite value(s) (NaN or inf); weights must be finite", where, field)
            if name == "running_var" and np.any(arr < 0):
                raise DeployError("running variance must be >= 0", where, field)
            checked[node_id][name] = arr.astype(np.float64)
    return checked


def load_weights(genome: Genome, path: str | Path | None = None) -> Weights:
    """Load and check weights from `path` (HDF5 or state_dict) or the genome's own `weights` entry."""
    if path is None:
        path = genome.weights_path()
        if path is None:
            raise DeployError("the genome names no weights file and none was given (use --weights)",
                              genome.source or "<genome>", "weights")
    path = Path(path)
    if not path.exists():
        recipe = genome.provenance.get("weights_recipe") if isinstance(genome.provenance, dict) else None
        hint = f"; the genome's provenance says how to write it: {recipe}" if isinstance(recipe, str) else ""
        raise DeployError("weights file not found" + hint, path)
    if path.suffix in STATE_DICT_SUFFIXES:
        raw = _read_state_dict(genome, path)
    else:
        raw = _read_hdf5(path)
    return check_weights(genome, raw, path)


def _read_hdf5(path: Path) -> Weights:
    try:
        with h5py.File(path, "r") as f:
            out: Weights = {}
            for node_id, group in f.items():
                if isinstance(group, h5py.Group):
                    out[node_id] = {k: v[()] for k, v in group.items() if isinstance(v, h5py.Dataset)}
            return out
    except OSError as exc:
        raise DeployError(f"not a readable HDF5 file ({exc})", path) from None


def _read_state_dict(genome: Genome, path: Path) -> Weights:
    import torch  # deferred: costs ~2 s and only this path needs it

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise DeployError(f"not a readable PyTorch state_dict ({type(exc).__name__}: {exc})", path) from None
    if not isinstance(state, dict):
        raise DeployError(f"expected a state_dict (a mapping of tensor names), got {type(state).__name__}", path)
    return weights_from_state_dict(genome, {k: v.detach().cpu().numpy() for k, v in state.items()
                                            if hasattr(v, "detach")})


def weights_from_state_dict(genome: Genome, state: dict[str, np.ndarray]) -> Weights:
    """Map `<prefix><node id>.<tensor>` keys (as `tnas_deploy.ann.AnnCounterpart` names them) to groups.

    A common prefix such as `module.` or `layers.` is accepted; BatchNorm's `num_batches_tracked` is ignored.
    """
    ids = {n.id for n in genome.nodes if n.has_weights}
    out: Weights = {}
    for key, value in state.items():
        parts = key.split(".")
        if len(parts) < 2 or parts[-1] == "num_batches_tracked":
            continue
        node_id, name = parts[-2], parts[-1]
        if node_id in ids:
            out.setdefault(node_id, {})[name] = np.asarray(value)
    return out


def save_weights(weights: Weights, path: str | Path) -> None:
    """Write weights as HDF5 (one group per node id), atomically and byte-reproducibly."""
    write_bytes_atomic(path, weights_image(weights))


def weights_image(weights: Weights) -> bytes:
    """The bytes of the weights file `save_weights` writes (float32 tensors, one group per node id)."""
    def fill(f: h5py.File) -> None:
        for node_id in sorted(weights):
            group = f.create_group(node_id)
            for name in sorted(weights[node_id]):
                group.create_dataset(name, data=np.asarray(weights[node_id][name], dtype=np.float32),
                                     track_times=False)

    return hdf5_image(fill, track_order=False)
