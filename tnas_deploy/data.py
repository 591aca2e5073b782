"""Input and calibration data: `.npz` files with `x` (samples x input shape, float in [0, 1]) and optional
`y` (integer class labels, or real-valued targets of a regression readout). Every reader checks the layout and
names what is wrong (docs/data.md)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import Dataset
from .errors import DeployError
from .io_utils import npz_image, sha256_file, write_bytes_atomic
from .npz_input import read_npz


def load_dataset(path: str | Path, input_shape: tuple[int, ...], n_classes: int | None = None,
                 role: str = "--input", *, window_us: float | None = None, rate_steps: int | None = None,
                 rate_values: str = "intensity", real_outputs: int | None = None) -> Dataset:
    """Samples from an `.npz` with `x` (and `y`), or encoded samples from an event file (docs/events.md: an HDF5
    file, or an `.npz` with `events` or 1-D `x`, `y`, `t`, `p` arrays); `window_us` applies to event files only.

    TTFS networks (`rate_steps` None): `x` (N, *input_shape) in [0, 1]; event files become TTFS images.
    Rate networks (`rate_steps` = T, `rate_values` = the genome's `coding.input`): "intensity" takes `x` in
    [0, 1] of shape (N, *input_shape) or (N, T, *input_shape); "counts" takes event files (binned into T
    counts per pixel and polarity) or `x` of non-negative integer counts (N, T, *input_shape).
    `real_outputs` = k: a regression readout's k real-valued outputs; then `y` holds real targets (N,) or (N, k)."""
    path = Path(path)
    if not path.is_file():
        raise DeployError("data file not found", path, role)
    from . import events
    if events.is_hdf5_file(path):
        _events_fit(rate_steps, rate_values, path, role, real_outputs)
        return events.dataset_from_events(path, input_shape, n_classes, window_us, role=role, rate_steps=rate_steps)
    arrays = read_npz(path, "an .npz archive with arrays 'x' and optionally 'y' (np.savez(path, x=..., y=...))")
    if events.is_event_archive(arrays):
        _events_fit(rate_steps, rate_values, path, role, real_outputs)
        return events.dataset_from_event_set(events.events_from_npz_arrays(arrays, path), input_shape, n_classes,
                                             window_us, rate_steps=rate_steps)
    if window_us is not None:
        raise DeployError("applies to event files only (docs/events.md); this file holds samples 'x'", path,
                          "window_us")
    if "x" not in arrays:
        raise DeployError(f"missing array; the file has {sorted(arrays)}, expected 'x' (samples x {list(input_shape)})",
                          path, "x")
    x = arrays["x"]
    if x.dtype.kind not in "fiu":
        raise DeployError(f"expected a numeric array, got dtype {x.dtype}", path, "x")
    if x.ndim >= 1 and x.shape[0] == 0:
        raise DeployError("expected at least one sample, got 0", path, "x")
    if rate_steps is not None and rate_values == "counts":
        if tuple(x.shape[1:]) != (rate_steps, *input_shape):
            raise DeployError(f"this rate-coded network takes event counts per time bin (coding.input \"counts\"): "
                              f"expected shape [samples, {rate_steps}, {', '.join(map(str, input_shape))}], got "
                              f"{list(x.shape)}", path, "x")
        return _event_counts(x, arrays, path, n_classes, real_outputs)
    if rate_steps is not None and tuple(x.shape[1:]) == (rate_steps, *input_shape):
        x = x.reshape((x.shape[0] * rate_steps, *input_shape))     # one frame of intensities per step
        frames = load_checked_intensities(x, path)
        return Dataset(frames.reshape((-1, rate_steps, *input_shape)),
                       _labels(arrays, frames.shape[0] // rate_steps, path, n_classes, real_outputs), path,
                       sha256_file(path))
    if tuple(x.shape[1:]) != tuple(input_shape) or x.ndim != len(input_shape) + 1:
        raise DeployError(f"expected shape [samples, {', '.join(map(str, input_shape))}] (the genome's "
                          f"task.input_shape), got {list(x.shape)}", path, "x")
    x = load_checked_intensities(x, path)
    return Dataset(x, _labels(arrays, x.shape[0], path, n_classes, real_outputs), path, sha256_file(path))


def load_checked_intensities(x: np.ndarray, path: Path) -> np.ndarray:
    """float64 values, all finite and in [0, 1]."""
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise DeployError("contains NaN or inf; expected values in [0, 1]", path, "x")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise DeployError(f"values span [{lo:.4g}, {hi:.4g}]; expected values in [0, 1] (scale your data)", path, "x")
    return x


def _events_fit(rate_steps: int | None, rate_values: str, path: Path, role: str, real_outputs: int | None) -> None:
    """Event files give TTFS images or event counts; a rate network that takes intensities cannot use them, and
    their labels are classes (a regression readout needs an .npz with real-valued targets `y`)."""
    if real_outputs is not None:
        raise DeployError("event files carry class labels, and this network has a regression readout (real-valued "
                          "outputs); bin the events into an .npz with x and real-valued targets y (docs/data.md)",
                          path, role)
    if rate_steps is not None and rate_values == "intensity":
        raise DeployError("this rate-coded network takes intensities in [0, 1] (coding.input \"intensity\"), and an "
                          "event file gives event counts; use a genome with \"input\": \"counts\" in its coding, or "
                          "bin and scale the events yourself (docs/events.md)", path, role)


def _event_counts(x: np.ndarray, arrays: dict[str, np.ndarray], path: Path, n_classes: int | None,
                  real_outputs: int | None) -> Dataset:
    """Pre-binned input of a rate-coded network: x (N, T, *input_shape) of non-negative integer counts."""
    xf = x.astype(np.float64)
    if not np.all(np.isfinite(xf)) or xf.min() < 0 or not np.array_equal(xf, np.floor(xf)):
        raise DeployError("time-binned input (samples x steps x input shape) must hold non-negative integer event "
                          "counts", path, "x")
    return Dataset(xf, _labels(arrays, x.shape[0], path, n_classes, real_outputs), path, sha256_file(path))


def _labels(arrays: dict[str, np.ndarray], n: int, path: Path, n_classes: int | None,
            real_outputs: int | None = None) -> np.ndarray | None:
    """The optional labels `y`: integers, one per sample, inside the task's classes; or, for a regression readout
    of k outputs (`real_outputs`), finite real targets (N,) or (N, k), returned as float64 (N, k)."""
    y = arrays.get("y")
    if y is None:
        return None
    if real_outputs is not None:
        return _real_targets(y, n, real_outputs, path)
    if y.dtype.kind not in "iu" or y.shape != (n,):
        raise DeployError(f"expected integer labels of shape [{n}], got {y.dtype} {list(y.shape)}", path, "y")
    y = y.astype(np.int64)
    if n_classes is not None and (y.min() < 0 or y.max() >= n_classes):
        raise DeployError(f"labels span [{y.min()}, {y.max()}]; expected 0..{n_classes - 1} (task.classes)", path, "y")
    return y


def _real_targets(y: np.ndarray, n: int, k: int, path: Path) -> np.ndarray:
    """A regression readout's targets: finite numbers, (N,) for one output or (N, k)."""
    shapes = [[n, k]] + ([[n]] if k == 1 else [])
    if y.dtype.kind not in "fiu" or list(y.shape) not in shapes:
        raise DeployError(f"expected real-valued targets of shape {' or '.join(map(str, shapes))} (a regression "
                          f"readout of {k} output(s)), got {y.dtype} {list(y.shape)}", path, "y")
    y = y.astype(np.float64).reshape(n, k)
    if not np.all(np.isfinite(y)):
        raise DeployError("contains NaN or inf; expected finite targets", path, "y")
    return y


def save_dataset(path: str | Path, x: np.ndarray, y: np.ndarray | None = None) -> None:
    write_bytes_atomic(path, npz_image({"x": x} if y is None else {"x": x, "y": y}))
