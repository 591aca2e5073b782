"""Event-camera input: event streams (x, y, t, polarity) read as event-camera tools store them, checked,
and encoded as time-to-first-spike (TTFS) images (docs/events.md).

An event camera reports, per pixel, a stream of brightness-change events: column `x`, row `y`,
time `t` (microseconds, as Tonic, Prophesee Metavision and DSEC store it) and polarity `p` (ON: brighter,
OFF: darker). The first event of a pixel is the natural TTFS input: earlier event = larger value.

Accepted layouts (all read without pickling):

* `.npz` with a structured array `events` (fields `x`, `y`, `t`, `p`; `ts`/`timestamp` for `t`,
  `polarity` for `p`; optional field `sample`), as Tonic datasets yield them;
* `.npz` with separate 1-D arrays `x`, `y`, `t`, `p` (and optional `sample`). Here `y` is the event row,
  so class labels must be called `labels`;
* HDF5 (`.h5`/`.hdf5`) with a structured dataset `events` (or Prophesee's `CD/events`) or a group
  `events` holding datasets `x`, `y`, `t`, `p` (the DSEC layout).

Several samples in one file: an integer `sample` per event (0 .. N-1), and optionally one label per sample
in `labels` (or `y` where the coordinates live inside `events`). Optional `sensor_size` = (width, height)
or Tonic's (width, height, polarities).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from .dataset import Dataset
from .errors import DeployError
from .io_utils import sha256_file
from .npz_input import read_npz

#: canonical column -> accepted names, in order of preference
ALIASES: dict[str, tuple[str, ...]] = {
    "x": ("x",),
    "y": ("y",),
    "t": ("t", "ts", "timestamp"),
    "p": ("p", "polarity"),
}
HDF5_SUFFIXES = (".h5", ".hdf5")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_TOP_LEVEL = ("sample", "labels", "y", "sensor_size")     # HDF5 root datasets read besides the events
_LAYOUTS = ("an .npz with a structured array 'events' (fields x, y, t, p) or arrays 'x', 'y', 't', 'p'; "
            "or an HDF5 file with a dataset or group 'events' (docs/events.md)")


@dataclass(frozen=True)
class EventSet:
    """Events of one file, sorted by (sample, t); the order of events with equal times is kept."""

    x: np.ndarray                   # (n,) int64 column, 0 .. width-1
    y: np.ndarray                   # (n,) int64 row, 0 .. height-1
    t: np.ndarray                   # (n,) float64 microseconds, finite
    p: np.ndarray                   # (n,) int8: 1 = ON (p > 0 in the file), 0 = OFF (p <= 0)
    sample: np.ndarray              # (n,) int64 sample index, 0 .. n_samples-1
    n_samples: int
    labels: np.ndarray | None = None            # (n_samples,) int64, or None
    sensor_size: tuple[int, int] | None = None  # (width, height) from the file, or None
    path: Path | None = None
    names: dict[str, str] = field(default_factory=dict)  # canonical field -> its name in the file (messages)

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def field_name(self, key: str) -> str:
        return self.names.get(key, key)

    def sample_events(self, i: int) -> "EventSet":
        """The events of sample `i` (a one-sample EventSet, sample index 0, no labels)."""
        if not 0 <= i < self.n_samples:
            raise DeployError(f"expected a sample index in 0..{self.n_samples - 1}, got {i}", self.path,
                              self.field_name("sample"))
        lo, hi = np.searchsorted(self.sample, [i, i + 1])
        sl = slice(int(lo), int(hi))
        return EventSet(self.x[sl], self.y[sl], self.t[sl], self.p[sl], np.zeros(hi - lo, np.int64), 1,
                        None, self.sensor_size, self.path, self.names)


# -- reading -----------------------------------------------------------------------------------------

def is_hdf5_file(path: str | Path) -> bool:
    """An HDF5 file by name (.h5, .hdf5) or by its signature at offset 0."""
    path = Path(path)
    if path.suffix.lower() in HDF5_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == _HDF5_SIGNATURE
    except OSError:
        return False


def is_event_archive(arrays: Mapping[str, np.ndarray]) -> bool:
    """Whether the arrays of an .npz hold events rather than samples `x` of shape (N, *input_shape).

    Events: a structured array `events` (with no array `x` beside it), or a 1-D `x` together with a time array
    (`t`, `ts` or `timestamp`). A samples file always has an `x` of rank >= 2, so the two never collide.
    """
    if "events" in arrays and "x" not in arrays:
        return True
    x = arrays.get("x")
    return x is not None and np.ndim(x) == 1 and any(name in arrays for name in ALIASES["t"])


def load_event_file(path: str | Path) -> EventSet:
    """Read and check an event file (.npz or HDF5, layouts in the module docstring and docs/events.md)."""
    path = Path(path)
    if not path.is_file():
        raise DeployError("event file not found", path)
    if is_hdf5_file(path):
        return _from_hdf5(path)
    arrays = read_npz(path, _LAYOUTS, what=".npz or HDF5 file")
    return events_from_npz_arrays(arrays, path)


def events_from_npz_arrays(arrays: Mapping[str, np.ndarray], path: Path | None) -> EventSet:
    """The EventSet of an already-read .npz archive (see `load_event_file`)."""
    if "events" in arrays:
        ev = arrays["events"]
        if ev.dtype.names is None:
            raise DeployError(f"expected a structured array with fields x, y, t, p, got a plain {ev.dtype} array "
                              f"of shape {list(ev.shape)} (store the columns as separate arrays 'x', 'y', 't', 'p' "
                              "instead)", path, "events")
        columns = {name: ev[name] for name in ev.dtype.names}
        top = {k: v for k, v in arrays.items() if k != "events"}
        return _build(columns, "events.", top, path, labels_names=("labels", "y"))
    if "x" in arrays or any(a in arrays for a in ALIASES["t"]):
        columns = {k: v for k, v in arrays.items() if k in _column_names()}
        top = {k: v for k, v in arrays.items() if k not in _column_names()}
        return _build(columns, "", top, path, labels_names=("labels",))
    raise DeployError(f"no events; the file has {sorted(arrays)}, expected {_LAYOUTS}", path, "events")


def _column_names() -> set[str]:
    return {n for names in ALIASES.values() for n in names} | {"sample"}


def _from_hdf5(path: Path) -> EventSet:
    import h5py
    try:
        import hdf5plugin  # noqa: F401  (registers Blosc/ECF filters used by DSEC/Prophesee files, if installed)
    except ImportError:
        pass
    try:
        with h5py.File(path, "r") as f:
            top = {k: f[k][()] for k in _TOP_LEVEL if k in f and isinstance(f[k], h5py.Dataset)}
            if "sensor_size" not in top and "sensor_size" in f.attrs:
                top["sensor_size"] = np.asarray(f.attrs["sensor_size"])
            if "events" in f:
                node, prefix = f["events"], "events"
            elif "CD" in f and isinstance(f["CD"], h5py.Group) and "events" in f["CD"]:
                node, prefix = f["CD"]["events"], "CD/events"
            else:
                raise DeployError(f"no dataset or group 'events'; the file has {sorted(f.keys())}, expected "
                                  f"{_LAYOUTS}", path, "events")
            if "sensor_size" not in top and "sensor_size" in node.attrs:
                top["sensor_size"] = np.asarray(node.attrs["sensor_size"])
            if isinstance(node, h5py.Group):
                columns = {k: node[k][()] for k in node.keys() if isinstance(node[k], h5py.Dataset)}
                return _build(columns, prefix + "/", top, path, labels_names=("labels", "y"))
            data = node[()]
            if data.dtype.names is None:
                raise DeployError(f"expected a compound (structured) dataset with fields x, y, t, p, got "
                                  f"{data.dtype} of shape {list(data.shape)}; or store a group '{prefix}' with "
                                  "datasets x, y, t, p", path, prefix)
            columns = {name: data[name] for name in data.dtype.names}
            return _build(columns, prefix + ".", top, path, labels_names=("labels", "y"))
    except DeployError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        hint = " (compressed with a filter h5py lacks? `pip install hdf5plugin`)" if "filter" in str(exc) else ""
        raise DeployError(f"not a readable HDF5 event file ({exc}){hint}; expected {_LAYOUTS}", path) from None


def _pick(columns: Mapping[str, np.ndarray], key: str, prefix: str, path: Path | None) -> tuple[np.ndarray, str]:
    found = [n for n in ALIASES[key] if n in columns]
    if not found:
        names = " or ".join(f"'{n}'" for n in ALIASES[key])
        raise DeployError(f"missing field; the events have {sorted(columns)}, expected {names}", path,
                          prefix + ALIASES[key][0])
    if len(found) > 1:
        raise DeployError(f"ambiguous: both {found} are present; keep one", path, prefix + found[0])
    return columns[found[0]], prefix + found[0]


def _build(columns: Mapping[str, np.ndarray], prefix: str, top: Mapping[str, np.ndarray], path: Path | None,
           labels_names: tuple[str, ...]) -> EventSet:
    """Check the columns (field names in messages are `prefix` + name) and top-level arrays; sort by (sample, t)."""
    names: dict[str, str] = {}
    raw: dict[str, np.ndarray] = {}
    for key in ("x", "y", "t", "p"):
        raw[key], names[key] = _pick(columns, key, prefix, path)
    if "sample" in columns:
        raw["sample"], names["sample"] = columns["sample"], prefix + "sample"
    elif "sample" in top:
        raw["sample"], names["sample"] = top["sample"], "sample"
    n = None
    for key, arr in raw.items():
        arr = np.asarray(arr)
        if arr.ndim != 1:
            raise DeployError(f"expected one value per event (1-D), got shape {list(arr.shape)}", path, names[key])
        if n is None:
            n = arr.shape[0]
        elif arr.shape[0] != n:
            raise DeployError(f"has {arr.shape[0]} entries but {names['x']} has {n}; expected one per event",
                              path, names[key])
        raw[key] = arr
    if n == 0:
        raise DeployError("no events (0 entries); expected at least one", path, names["t"])

    coords = {}
    for key in ("x", "y"):
        arr = raw[key]
        if arr.dtype.kind not in "iu":
            raise DeployError(f"expected integer pixel coordinates, got dtype {arr.dtype}", path, names[key])
        lo = int(arr.min())
        if lo < 0:
            raise DeployError(f"has negative values (min {lo}); expected pixel coordinates >= 0", path, names[key])
        coords[key] = arr.astype(np.int64)

    t = raw["t"]
    if t.dtype.kind not in "iuf":
        raise DeployError(f"expected numeric times (microseconds), got dtype {t.dtype}", path, names["t"])
    t = t.astype(np.float64)
    bad = ~np.isfinite(t)
    if bad.any():
        k = int(bad.sum())
        raise DeployError(f"contains NaN or inf times ({k} event{'s' if k != 1 else ''}, the first at index "
                          f"{int(np.argmax(bad))}); expected finite times in microseconds", path, names["t"])

    p = raw["p"]
    if p.dtype.kind not in "biuf":
        raise DeployError(f"expected numeric polarities, got dtype {p.dtype}", path, names["p"])
    if p.dtype.kind == "f" and not np.all(np.isfinite(p)):
        raise DeployError("contains NaN or inf; expected polarities in {0, 1} or {-1, 1} (OFF, ON)", path, names["p"])
    values = set(np.unique(p).tolist())
    if not (values <= {0, 1} or values <= {-1, 1}):
        shown = sorted(values)[:6]
        raise DeployError(f"polarity values are {shown}; expected {{0, 1}} or {{-1, 1}} (OFF, ON)", path,
                          names["p"])
    p = (p > 0).astype(np.int8)

    if "sample" in raw:
        sample = raw["sample"]
        if sample.dtype.kind not in "iu":
            raise DeployError(f"expected integer sample indices, got dtype {sample.dtype}", path, names["sample"])
        if int(sample.min()) < 0:
            raise DeployError(f"has negative values (min {int(sample.min())}); expected sample indices 0..N-1",
                              path, names["sample"])
        sample = sample.astype(np.int64)
    else:
        sample = np.zeros(n, np.int64)

    labels = None
    label_keys = [k for k in labels_names if k in top]
    if len(label_keys) > 1:
        raise DeployError(f"ambiguous labels: both {label_keys} are present; keep one", path, label_keys[0])
    if label_keys:
        lname = label_keys[0]
        names["labels"] = lname
        labels = np.asarray(top[label_keys[0]])
        if labels.dtype.kind not in "iu" or labels.ndim != 1 or labels.shape[0] == 0:
            raise DeployError(f"expected one integer label per sample (1-D, at least one), got {labels.dtype} "
                              f"{list(labels.shape)}", path, lname)
        labels = labels.astype(np.int64)
        n_samples = labels.shape[0]
        if int(sample.max()) >= n_samples:
            raise DeployError(f"sample indices reach {int(sample.max())}, but {lname} has {n_samples} entries; "
                              f"expected indices 0..{n_samples - 1}, one label per sample", path,
                              names.get("sample", "sample"))
    else:
        n_samples = int(sample.max()) + 1
    counts = np.bincount(sample, minlength=n_samples)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        shown = empty[:8].tolist()
        raise DeployError(f"samples {shown}{' ...' if empty.size > 8 else ''} have no events; expected every sample "
                          f"0..{n_samples - 1} to have at least one event", path, names.get("sample", "sample"))

    sensor = None
    if "sensor_size" in top:
        sensor = _sensor_size(np.asarray(top["sensor_size"]), path, "sensor_size")
        for key, limit, what in (("x", sensor[0], "width"), ("y", sensor[1], "height")):
            hi = int(coords[key].max())
            if hi >= limit:
                raise DeployError(f"reaches {hi}, outside the sensor (sensor_size {what} {limit}, so 0..{limit - 1})",
                                  path, names[key])

    order = np.lexsort((t, sample))     # stable: events at equal times keep their file order
    return EventSet(coords["x"][order], coords["y"][order], t[order], p[order], sample[order], n_samples,
                    labels, sensor, path, names)


def _sensor_size(arr: np.ndarray, path: Path | None, name: str) -> tuple[int, int]:
    ok = arr.ndim == 1 and arr.shape[0] in (2, 3) and arr.dtype.kind in "iuf"
    if ok:
        ok = bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)) and np.all(arr[:2] >= 1))
    if not ok:
        raise DeployError(f"expected (width, height) or (width, height, polarities) as positive integers, got "
                          f"{arr.tolist() if arr.size <= 6 else list(arr.shape)}", path, name)
    return int(arr[0]), int(arr[1])


# -- encodings ---------------------------------------------------------------------------------------

def _columns(events: EventSet | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, t, channel) of an EventSet or a structured array with fields x, y, t, p (channel 1 = ON)."""
    if isinstance(events, EventSet):
        if events.n_samples > 1 and len(events) and events.sample[0] != events.sample[-1]:
            raise DeployError(f"holds {events.n_samples} samples; encode one at a time (events.sample_events(i))",
                              events.path, events.field_name("sample"))
        return events.x, events.y, events.t, events.p.astype(np.int64)
    arr = np.asarray(events)
    if arr.dtype.names is None:
        raise DeployError("expected an EventSet or a structured array with fields x, y, t, p", None, "events")
    cols = {}
    for key in ("x", "y", "t", "p"):
        found = [n for n in ALIASES[key] if n in arr.dtype.names]
        if not found:
            raise DeployError(f"missing field; the array has {list(arr.dtype.names)}", None, f"events.{key}")
        cols[key] = arr[found[0]]
    return (cols["x"].astype(np.int64), cols["y"].astype(np.int64), cols["t"].astype(np.float64),
            (cols["p"] > 0).astype(np.int64))


def _window_events(events, height: int, width: int, t0: float, t1: float):
    if not (np.isfinite(t0) and np.isfinite(t1) and t1 > t0):
        raise DeployError(f"expected a time window t0 < t1 (finite), got [{t0}, {t1})", None, "t1")
    x, y, t, c = _columns(events)
    for arr, limit, key, what in ((x, width, "x", "width"), (y, height, "y", "height")):
        if arr.size and (arr.min() < 0 or arr.max() >= limit):
            raise DeployError(f"spans [{arr.min()}, {arr.max()}], outside 0..{limit - 1} (the image {what})", None, key)
    inside = (t >= t0) & (t < t1)
    return x[inside], y[inside], t[inside], c[inside]


def encode_ttfs(events: EventSet | np.ndarray, height: int, width: int, t0: float, t1: float) -> np.ndarray:
    """TTFS image (2, height, width), float64 in [0, 1], of one sample's events in the window [t0, t1).

    Per pixel and polarity (channel 0 = OFF, p <= 0; channel 1 = ON, p > 0), with t_first the time of its
    first event in the window:  value = 1 - (t_first - t0) / (t1 - t0)  (computed as (t1 - t_first) / (t1 - t0),
    which is the same number and never rounds an event inside the window to 0); 0 where there is none.
    Events may come in any order.
    """
    x, y, t, c = _window_events(events, height, width, t0, t1)
    order = np.argsort(t, kind="stable")
    pixel = ((c * height + y) * width + x)[order]
    cells, first = np.unique(pixel, return_index=True)     # the earliest event of every pixel and polarity
    out = np.zeros(2 * height * width)
    out[cells] = (t1 - t[order][first]) / (t1 - t0)
    return np.clip(out, 0.0, 1.0).reshape(2, height, width)


def encode_rate(events: EventSet | np.ndarray, height: int, width: int, t0: float, t1: float, bins: int,
                normalize: bool = False) -> np.ndarray:
    """Event counts (bins, 2, height, width) of one sample's events in [t0, t1), split into `bins` equal bins.

    An event at time t goes to bin floor((t - t0) / (t1 - t0) * bins). Returns int64 counts; with
    `normalize=True`, float64 counts divided by the largest count of the whole tensor (all zeros stay 0),
    so values lie in [0, 1]. Rate-coded networks get the raw counts (`load_dataset(..., rate_steps=T)`).
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise DeployError(f"expected a number of time bins >= 1, got {bins!r}", None, "bins")
    x, y, t, c = _window_events(events, height, width, t0, t1)
    b = np.floor((t - t0) / (t1 - t0) * bins).astype(np.int64)
    b = np.clip(b, 0, bins - 1)     # rounding can put t just below t1 at `bins`
    size = bins * 2 * height * width
    counts = np.bincount(((b * 2 + c) * height + y) * width + x, minlength=size).astype(np.int64)
    counts = counts.reshape(bins, 2, height, width)
    if not normalize:
        return counts
    peak = counts.max()
    return counts / peak if peak > 0 else counts.astype(np.float64)


# -- datasets ----------------------------------------------------------------------------------------

def sample_window(events: EventSet, window_us: float | None = None) -> tuple[float, float]:
    """The window [t0, t1) of one sample: t0 = its first event time; t1 = t0 + window_us if given, otherwise
    last event time + 1 us, so the last event lies inside (and t1 - t0 >= 1 us)."""
    t0 = float(events.t.min())
    if window_us is None:
        return t0, float(events.t.max()) + 1.0
    return t0, t0 + float(window_us)


def dataset_from_events(path: str | Path, input_shape: tuple[int, ...], n_classes: int | None = None,
                        window_us: float | None = None, *, role: str = "--input", rate_steps: int | None = None
                        ) -> Dataset:
    """An event file as a Dataset of TTFS images, one sample per `sample` index, x of shape (N, 2, H, W); or,
    with `rate_steps` = T, of event counts in T equal bins of each sample's window, x of shape (N, T, 2, H, W)."""
    path = Path(path)
    if not path.is_file():
        raise DeployError("data file not found", path, role)
    return dataset_from_event_set(load_event_file(path), input_shape, n_classes, window_us, rate_steps=rate_steps)


def dataset_from_event_set(events: EventSet, input_shape: tuple[int, ...], n_classes: int | None = None,
                           window_us: float | None = None, *, rate_steps: int | None = None) -> Dataset:
    path = events.path
    _check_shape(input_shape, path)
    _, height, width = (int(v) for v in input_shape)
    if window_us is not None:
        if isinstance(window_us, bool) or not isinstance(window_us, (int, float, np.integer, np.floating)) \
                or not np.isfinite(window_us) or window_us <= 0:
            raise DeployError(f"expected a positive window length in microseconds, got {window_us!r}", path,
                              "window_us")
    shape_txt = f"task.input_shape {list(input_shape)}"
    if events.sensor_size is not None:
        sw, sh = events.sensor_size
        if sw > width or sh > height:
            raise DeployError(f"the sensor is {sw}x{sh} (width x height) but the network's input is {width}x{height} "
                              f"({shape_txt}); crop or downsample the events to {width}x{height} first "
                              "(tnas-deploy does not resize)", path, events.field_name("sensor_size"))
    for key, arr, limit, what in (("x", events.x, width, "width"), ("y", events.y, height, "height")):
        hi = int(arr.max())
        if hi >= limit:
            raise DeployError(f"reaches {hi}, outside the network's input {what} {limit} ({shape_txt}, so "
                              f"0..{limit - 1}); crop or downsample the events first (tnas-deploy does not resize)",
                              path, events.field_name(key))
    if events.labels is not None and n_classes is not None:
        lo, hi = int(events.labels.min()), int(events.labels.max())
        if lo < 0 or hi >= n_classes:
            raise DeployError(f"labels span [{lo}, {hi}]; expected 0..{n_classes - 1} (task.classes)", path,
                              events.field_name("labels"))
    per_sample = (2, height, width) if rate_steps is None else (rate_steps, 2, height, width)
    x = np.zeros((events.n_samples,) + per_sample)
    for i in range(events.n_samples):
        one = events.sample_events(i)
        t0, t1 = sample_window(one, window_us)
        x[i] = (encode_ttfs(one, height, width, t0, t1) if rate_steps is None
                else encode_rate(one, height, width, t0, t1, rate_steps))
    return Dataset(x, events.labels, path, sha256_file(path) if path is not None else None)


def _check_shape(input_shape: tuple[int, ...], path: Path | None) -> None:
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or shape[0] != 2:
        raise DeployError(f"event files are encoded as time-to-first-spike images of shape [2, height, width] "
                          f"(channel 0 OFF, 1 ON), but the network's task.input_shape is {list(shape)}; use a "
                          "genome with input_shape [2, H, W], or encode the events yourself and pass an .npz "
                          "with 'x' (docs/data.md)", path, "events")

