"""Event-camera input (tnas_deploy/events.py, docs/events.md): every layout reads to the same data, the TTFS and
rate encodings match hand computations, every user error names file and field, and `tnas-deploy run` accepts
an event file end to end. All event streams are built here."""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tnas_deploy.data import load_dataset
from tnas_deploy.errors import DeployError
from tnas_deploy.events import (EventSet, dataset_from_events, encode_rate, encode_ttfs, is_event_archive,
                                load_event_file)

ROOT = Path(__file__).resolve().parent.parent
DTYPE = [("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8"), ("sample", "<i8")]
SHAPE = (2, 2, 3)        # 2 polarities x 2 rows x 3 columns


def stream() -> np.ndarray:
    """Three samples on a 3 x 2 sensor; sample 1 is stored out of time order."""
    return np.array([
        (0, 0, 10, 1, 0), (2, 1, 30, 0, 0), (0, 0, 20, 1, 0), (1, 0, 90, 1, 0),
        (1, 1, 700, 1, 1), (1, 1, 500, 0, 1), (2, 0, 600, 1, 1),
        (0, 1, 5, -0, 2),
    ], dtype=DTYPE)


LABELS = np.array([2, 0, 1])


def save_npz(path: Path, **arrays) -> Path:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def save_h5(path: Path, events: dict | np.ndarray | None = None, *, group: str = "events", **top) -> Path:
    with h5py.File(path, "w") as f:
        if isinstance(events, dict):
            g = f.create_group(group)
            for k, v in events.items():
                g.create_dataset(k, data=v)
        elif events is not None:
            f.create_dataset(group, data=events)
        for k, v in top.items():
            f.create_dataset(k, data=v)
    return path


def columns(ev: np.ndarray, names=("x", "y", "t", "p", "sample")) -> dict:
    return {n: np.ascontiguousarray(ev[n]) for n in names}


def renamed(ev: np.ndarray, mapping: dict, keep=None) -> np.ndarray:
    """A new structured array with fields `keep` (default: all) of `ev`, renamed by `mapping`."""
    keep = keep or ev.dtype.names
    out = np.zeros(len(ev), dtype=[(mapping.get(n, n), ev.dtype[n]) for n in keep])
    for n in keep:
        out[mapping.get(n, n)] = ev[n]
    return out


def all_layouts(tmp_path: Path) -> dict[str, Path]:
    ev = stream()
    ev_pm = ev.copy()
    ev_pm["p"] = np.where(ev["p"] > 0, 1, -1)                  # {-1, 1} polarities
    sensor = np.array([3, 2])
    return {
        "npz-structured": save_npz(tmp_path / "a.npz", events=ev, labels=LABELS, sensor_size=sensor),
        "npz-structured-aliases-y": save_npz(tmp_path / "b.npz", events=renamed(ev_pm, {"t": "ts", "p": "polarity"}),
                                             y=LABELS, sensor_size=np.array([3, 2, 2])),
        "npz-structured-timestamp-top-sample": save_npz(
            tmp_path / "c.npz", events=renamed(ev, {"t": "timestamp"}, ("x", "y", "t", "p")),
            sample=ev["sample"], labels=LABELS),
        "npz-separate": save_npz(tmp_path / "d.npz", **columns(ev), labels=LABELS, sensor_size=sensor),
        "h5-structured": save_h5(tmp_path / "e.h5", ev, labels=LABELS, sensor_size=sensor),
        "h5-group": save_h5(tmp_path / "f.hdf5", columns(ev), y=LABELS),
        "h5-prophesee-cd": save_h5(tmp_path / "g.h5", ev, group="CD/events", labels=LABELS),
    }


# -- layouts -----------------------------------------------------------------------------------------

def test_every_layout_loads_the_same(tmp_path):
    paths = all_layouts(tmp_path)
    ref = load_dataset(paths["npz-structured"], SHAPE, 3)
    assert ref.x.shape == (3, *SHAPE) and ref.x.dtype == np.float64
    np.testing.assert_array_equal(ref.y, LABELS)
    for name, path in paths.items():
        d = load_dataset(path, SHAPE, 3)
        np.testing.assert_array_equal(d.x, ref.x, err_msg=name)
        np.testing.assert_array_equal(d.y, LABELS, err_msg=name)
        assert d.path == path and len(d.sha256) == 64
        d2 = dataset_from_events(path, SHAPE, 3)
        np.testing.assert_array_equal(d2.x, ref.x, err_msg=name)
        es = load_event_file(path)
        assert es.n_samples == 3 and len(es) == 8, name
        np.testing.assert_array_equal(es.t, [10, 20, 30, 90, 500, 600, 700, 5], err_msg=name)   # sorted per sample


def test_values_of_the_reference_file(tmp_path):
    d = load_dataset(all_layouts(tmp_path)["npz-structured"], SHAPE, 3)
    # sample 0: window [10, 91): ON (0,0) first at 10 (the later 20 ignored), ON (0,1) at 90, OFF (1,2) at 30
    want0 = np.zeros(SHAPE)
    want0[1, 0, 0] = 1.0
    want0[1, 0, 1] = 1 / 81
    want0[0, 1, 2] = 61 / 81
    np.testing.assert_allclose(d.x[0], want0, rtol=0, atol=1e-15)
    # sample 1: window [500, 701): OFF (1,1) at 500, ON (0,2) at 600, ON (1,1) at 700
    want1 = np.zeros(SHAPE)
    want1[0, 1, 1] = 1.0
    want1[1, 0, 2] = 101 / 201
    want1[1, 1, 1] = 1 / 201
    np.testing.assert_allclose(d.x[1], want1, rtol=0, atol=1e-15)
    # sample 2: a single event has the window [5, 6) and the value 1
    want2 = np.zeros(SHAPE)
    want2[0, 1, 0] = 1.0
    np.testing.assert_array_equal(d.x[2], want2)


def test_window_us(tmp_path):
    path = all_layouts(tmp_path)["npz-structured"]
    d = load_dataset(path, SHAPE, 3, window_us=50)
    # sample 0: window [10, 60): the event at 90 is outside
    assert d.x[0, 1, 0, 1] == 0.0 and d.x[0, 1, 0, 0] == 1.0
    assert d.x[0, 0, 1, 2] == pytest.approx(1 - 20 / 50)
    # sample 1: window [500, 550): only the OFF event at 500
    assert np.count_nonzero(d.x[1]) == 1 and d.x[1, 0, 1, 1] == 1.0
    d = dataset_from_events(path, SHAPE, 3, window_us=1000)
    assert d.x[1, 1, 1, 1] == pytest.approx(1 - 200 / 1000)


def test_single_sample_without_labels_and_unsorted(tmp_path):
    ev = np.array([(2, 1, 300, 1), (0, 0, 100, 0), (2, 1, 200, 1)],
                  dtype=[("x", "u2"), ("y", "u2"), ("t", "f8"), ("p", "?")])
    d = load_dataset(save_npz(tmp_path / "e.npz", events=ev), SHAPE, 3)
    assert d.y is None and d.x.shape == (1, *SHAPE)
    assert d.x[0, 0, 0, 0] == 1.0                              # OFF first event at t0
    assert d.x[0, 1, 1, 2] == pytest.approx(101 / 201)        # first ON at 200, not 300; window [100, 301)


def test_ordinary_files_are_not_events(tmp_path):
    x = np.random.default_rng(0).uniform(0, 1, (4, *SHAPE))
    p = save_npz(tmp_path / "d.npz", x=x, y=np.arange(4) % 3, events=np.zeros(3), t=np.zeros(4))
    d = load_dataset(p, SHAPE, 3)                               # extra arrays are ignored, as before
    np.testing.assert_array_equal(d.x, x)
    assert not is_event_archive({"x": x, "t": np.zeros(4)})
    assert is_event_archive({"x": np.zeros(4, int), "t": np.zeros(4)})
    assert is_event_archive({"events": stream()})
    with pytest.raises(DeployError) as info:                    # a 1-D x without times: the old message
        load_dataset(save_npz(tmp_path / "v.npz", x=np.zeros(5)), SHAPE, 3)
    assert ": x:" in str(info.value) and "expected shape [samples, 2, 2, 3]" in str(info.value)


# -- encodings by hand -------------------------------------------------------------------------------

def test_ttfs_by_hand_on_2x3():
    ev = np.array([
        (0, 0, 100, 1),     # ON  row 0 col 0 at t0: 1
        (0, 0, 150, 1),     # same pixel and polarity later: ignored
        (0, 0, 120, 0),     # OFF at the same pixel: its own channel, 1 - 20/200
        (2, 1, 250, 0),     # OFF row 1 col 2: 1 - 150/200
        (1, 1, 299, 1),     # ON  row 1 col 1: 1 - 199/200
        (1, 0, 300, 1),     # at t1: outside [t0, t1)
        (2, 0, 99, 0),      # before t0: outside
    ], dtype=[("x", int), ("y", int), ("t", int), ("p", int)])
    got = encode_ttfs(ev, 2, 3, t0=100, t1=300)
    want = np.array([[[0.9, 0, 0], [0, 0, 0.25]],
                     [[1.0, 0, 0], [0, 0.005, 0]]])
    assert got.shape == (2, 2, 3) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    # the order of events does not matter
    np.testing.assert_array_equal(encode_ttfs(ev[::-1], 2, 3, 100, 300), got)
    # {-1, 1} polarities: p <= 0 is OFF
    ev2 = ev.copy()
    ev2["p"] = np.where(ev["p"] > 0, 1, -1)
    np.testing.assert_array_equal(encode_ttfs(ev2, 2, 3, 100, 300), got)
    # no event: all zeros
    np.testing.assert_array_equal(encode_ttfs(ev[:0], 2, 3, 0, 1), np.zeros((2, 2, 3)))


def test_rate_by_hand():
    ev = np.array([
        (0, 0, 0, 1), (0, 0, 10, 1), (0, 0, 60, 1),     # ON (0,0): bins 0, 0, 1
        (2, 1, 99, 0), (2, 1, 50, 0),                    # OFF (1,2): bins 1, 1
        (1, 0, 100, 1),                                  # at t1: outside
    ], dtype=[("x", int), ("y", int), ("t", float), ("p", int)])
    counts = encode_rate(ev, 2, 3, t0=0, t1=100, bins=2)
    assert counts.shape == (2, 2, 2, 3) and counts.dtype == np.int64
    want = np.zeros((2, 2, 2, 3), np.int64)
    want[0, 1, 0, 0] = 2
    want[1, 1, 0, 0] = 1
    want[1, 0, 1, 2] = 2
    np.testing.assert_array_equal(counts, want)
    norm = encode_rate(ev, 2, 3, 0, 100, 2, normalize=True)
    np.testing.assert_array_equal(norm, want / 2)
    assert encode_rate(ev, 2, 3, 0, 100, 1).sum() == 5
    np.testing.assert_array_equal(encode_rate(ev[:0], 2, 3, 0, 1, 3, normalize=True), np.zeros((3, 2, 2, 3)))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(DeployError) as info:
            encode_rate(ev, 2, 3, 0, 100, bad)
        assert "bins" in str(info.value)


def test_encode_rejects_bad_window_and_coordinates():
    ev = np.array([(3, 0, 0, 1)], dtype=[("x", int), ("y", int), ("t", int), ("p", int)])
    with pytest.raises(DeployError) as info:
        encode_ttfs(ev, 2, 3, 0, 10)
    assert "x:" in str(info.value) and "0..2" in str(info.value)
    with pytest.raises(DeployError) as info:
        encode_ttfs(ev, 2, 4, 10, 10)
    assert "t1" in str(info.value)


def test_event_set_of_many_samples_is_refused_by_encoders(tmp_path):
    es = load_event_file(all_layouts(tmp_path)["npz-structured"])
    with pytest.raises(DeployError) as info:
        encode_ttfs(es, 2, 3, 0, 1000)
    assert "sample_events" in str(info.value)
    one = es.sample_events(1)
    assert isinstance(one, EventSet) and len(one) == 3 and one.n_samples == 1
    assert encode_ttfs(one, 2, 3, 500, 701)[0, 1, 1] == 1.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1), st.integers(0, 10**9), st.sampled_from([0, 1])),
                max_size=30),
       st.integers(0, 10**9), st.integers(1, 10**9))
def test_ttfs_property(events, t0, length):
    """Values lie in [0, 1]; a pixel/polarity is non-zero iff it has an event in [t0, t1); the earliest one sets it."""
    ev = np.array(events, dtype=[("x", int), ("y", int), ("t", int), ("p", int)])
    t1 = t0 + length
    img = encode_ttfs(ev, 2, 3, t0, t1)
    assert img.shape == (2, 2, 3) and np.all(img >= 0) and np.all(img <= 1)
    for c in range(2):
        for r in range(2):
            for col in range(3):
                ts = [t for (x, y, t, p) in events if x == col and y == r and p == c and t0 <= t < t1]
                assert (img[c, r, col] > 0) == bool(ts)
                if ts:
                    assert img[c, r, col] == pytest.approx(1 - (min(ts) - t0) / (t1 - t0), rel=1e-12, abs=1e-15)


# -- every user error names the file and the field ---------------------------------------------------

def _bad(name: str, index: int, value) -> np.ndarray:
    ev = stream()
    ev[name][index] = value
    return ev


def _float_events():
    ev = np.array(stream().tolist(), dtype=[("x", "<i8"), ("y", "<i8"), ("t", "<f8"), ("p", "<i8"), ("sample", "<i8")])
    ev["t"][3] = np.nan
    return ev


ERROR_CASES = {
    # name: (arrays for np.savez, load_dataset kwargs, field, words in the message)
    "missing p": (dict(events=renamed(stream(), {}, ("x", "y", "t", "sample"))), {}, "events.p", "'polarity'"),
    "missing p (separate)": (dict(x=np.zeros(3, int), y=np.zeros(3, int), ts=np.zeros(3), pp=np.zeros(3)), {},
                             "p", "'p' or 'polarity'"),
    "missing t (separate)": (dict(x=np.zeros(3, int), y=np.zeros(3, int), p=np.zeros(3, int)), {},
                             "t", "'t' or 'ts' or 'timestamp'"),
    "length mismatch": (dict(x=np.zeros(3, int), y=np.zeros(3, int), t=np.zeros(2), p=np.zeros(3, int)), {},
                        "t", "one per event"),
    "no events": (dict(events=stream()[:0]), {}, "events.t", "no events"),
    "negative x": (dict(events=_bad("x", 2, -1)), {}, "events.x", "negative"),
    "negative y (separate)": (dict(**columns(_bad("y", 0, -3))), {}, "y", "negative"),
    "float x": (dict(x=np.zeros(3), y=np.zeros(3, int), t=np.zeros(3), p=np.zeros(3, int)), {}, "x", "integer"),
    "x beyond the sensor": (dict(events=stream(), sensor_size=np.array([2, 2])), {}, "events.x", "sensor_size width 2"),
    "y beyond the network": (dict(events=_bad("y", 1, 2)), {}, "events.y", "input height 2"),
    "x beyond the network": (dict(**columns(_bad("x", 1, 7))), {}, "x", "crop or downsample"),
    "sensor larger than the network": (dict(events=stream(), sensor_size=np.array([346, 260])), {}, "sensor_size",
                                       "crop or downsample"),
    "bad sensor_size": (dict(events=stream(), sensor_size=np.array([3.5, 2])), {}, "sensor_size", "width, height"),
    "NaN time": (dict(events=_float_events()), {}, "events.t", "NaN"),
    "polarity 0/1/2": (dict(events=_bad("p", 0, 2)), {}, "events.p", "{0, 1} or {-1, 1}"),
    "polarity -1/0/1": (dict(events=_bad("p", 0, -1)), {}, "events.p", "[-1, 0, 1]"),
    "negative sample": (dict(events=_bad("sample", 0, -1)), {}, "events.sample", "negative"),
    "sample without events": (dict(events=_bad("sample", 7, 3)), {}, "events.sample", "[2] have no events"),
    "sample beyond labels": (dict(events=stream(), labels=np.array([0, 1])), {}, "events.sample", "labels has 2"),
    "label out of range": (dict(events=stream(), labels=np.array([0, 1, 5])), {}, "labels", "0..2"),
    "float labels": (dict(events=stream(), y=np.array([0.0, 1.0, 2.0])), {}, "y", "integer label"),
    "labels and y": (dict(events=stream(), y=LABELS, labels=LABELS), {}, "labels", "ambiguous"),
    "t and ts": (dict(x=np.zeros(2, int), y=np.zeros(2, int), t=np.zeros(2), ts=np.zeros(2), p=np.zeros(2, int)), {},
                 "t", "ambiguous"),
    "plain events array": (dict(events=np.zeros((5, 4))), {}, "events", "structured"),
    "window_us zero": (dict(events=stream()), dict(window_us=0), "window_us", "positive"),
    "window_us on a samples file": (dict(x=np.zeros((2, *SHAPE))), dict(window_us=100), "window_us", "event files"),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_error_names_file_and_field(tmp_path, case):
    arrays, kwargs, field, words = ERROR_CASES[case]
    path = save_npz(tmp_path / "ev.npz", **arrays)
    with pytest.raises(DeployError) as info:
        if case == "missing t (separate)":       # no time array: load_dataset sees a samples file; read it directly
            load_event_file(path)
        else:
            load_dataset(path, SHAPE, 3, **kwargs)
    msg = str(info.value)
    assert info.value.file == path and info.value.field == field, msg
    assert msg.startswith(f"{path}: {field}: "), msg
    assert words in msg, msg


@pytest.mark.parametrize("shape", [(1, 2, 3), (2, 6), (4, 2, 2, 3)])
def test_wrong_input_shape(tmp_path, shape):
    path = all_layouts(tmp_path)["npz-structured"]
    with pytest.raises(DeployError) as info:
        load_dataset(path, shape, 3)
    assert str(info.value).startswith(f"{path}: events: ") and "[2, height, width]" in str(info.value)
    assert str(list(shape)) in str(info.value)


def test_hdf5_errors(tmp_path):
    cases = [
        (save_h5(tmp_path / "none.h5", None, weights=np.zeros(3)), "events", "no dataset or group 'events'"),
        (save_h5(tmp_path / "plain.h5", np.zeros((4, 4))), "events", "compound"),
        (save_h5(tmp_path / "grp.h5", {k: v for k, v in columns(stream()).items() if k != "p"}), "events/p",
         "missing field"),
        (save_h5(tmp_path / "neg.h5", columns(_bad("x", 0, -2))), "events/x", "negative"),
        (save_h5(tmp_path / "lab.h5", stream(), labels=np.array([0, 1, 9])), "labels", "0..2"),
    ]
    for path, field, words in cases:
        with pytest.raises(DeployError) as info:
            load_dataset(path, SHAPE, 3)
        assert str(info.value).startswith(f"{path}: {field}: ") and words in str(info.value), str(info.value)
    notreally = tmp_path / "garbage.h5"
    notreally.write_bytes(b"not hdf5 at all")
    with pytest.raises(DeployError) as info:
        load_dataset(notreally, SHAPE, 3)
    assert str(notreally) in str(info.value) and "HDF5" in str(info.value)
    with pytest.raises(DeployError) as info:
        load_dataset(tmp_path / "missing.h5", SHAPE, 3, role="--calibration")
    assert "--calibration" in str(info.value)


# -- the command line, end to end --------------------------------------------------------------------

def tiny_genome() -> dict:
    ttfs = {"model": "ttfs"}
    return {
        "format": "tnas-genome", "version": 1, "name": "events-test",
        "task": {"input_shape": [2, 4, 4], "classes": ["a", "b", "c"]},
        "coding": {"scheme": "ttfs"},
        "time": {"steps_per_window": 8},
        "weights": "w.h5",
        "nodes": [
            {"id": "x", "type": "input"},
            {"id": "c1", "type": "conv2d", "inputs": ["x"], "out_channels": 3, "kernel": 3, "padding": 1,
             "neuron": ttfs},
            {"id": "f", "type": "flatten", "inputs": ["c1"]},
            {"id": "d1", "type": "dense", "inputs": ["f"], "units": 6, "neuron": ttfs},
            {"id": "d2", "type": "dense", "inputs": ["d1"], "units": 3},
            {"id": "out", "type": "readout", "inputs": ["d2"]},
        ],
    }


def random_stream(rng, samples: int, per: int) -> np.ndarray:
    n = samples * per
    ev = np.zeros(n, dtype=DTYPE)
    ev["x"] = rng.integers(0, 4, n)
    ev["y"] = rng.integers(0, 4, n)
    ev["t"] = rng.integers(0, 20_000, n)
    ev["p"] = rng.integers(0, 2, n)
    ev["sample"] = np.repeat(np.arange(samples), per)
    return ev


def test_cli_run_on_event_files(tmp_path, monkeypatch, capsys):
    import torch
    from tnas_deploy.ann import build_ann
    from tnas_deploy.artifact import load_artifact
    from tnas_deploy.cli import main
    from tnas_deploy.genome import genome_from_json
    from tnas_deploy.runner import simulate
    from tnas_deploy.weights import save_weights

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TNAS_DEPLOY_PROFILES", raising=False)
    obj = tiny_genome()
    (tmp_path / "g.json").write_text(json.dumps(obj), encoding="utf-8")
    torch.manual_seed(0)
    save_weights(build_ann(genome_from_json(obj)).export_weights(), tmp_path / "w.h5")
    rng = np.random.default_rng(3)
    cal = save_npz(tmp_path / "cal_events.npz", events=random_stream(rng, 12, 25), sensor_size=np.array([4, 4, 2]))
    test_ev = random_stream(rng, 9, 20)
    labels = rng.integers(0, 3, 9)
    test_npz = save_npz(tmp_path / "test_events.npz", events=test_ev, labels=labels)
    test_h5 = save_h5(tmp_path / "test_events.h5", columns(test_ev), labels=labels)

    art = tmp_path / "net.tdart"
    assert main(["compile", str(tmp_path / "g.json"), "--calibration", str(cal), "-o", str(art)]) == 0
    capsys.readouterr()
    result = tmp_path / "r.npz"
    assert main(["run", str(art), "--input", str(test_npz), "-o", str(result), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 9 and "accuracy" in report

    net, _ = load_artifact(art)
    data = load_dataset(test_npz, (2, 4, 4), 3)
    assert np.count_nonzero(data.x) > 0
    want = simulate(net, data.x).predictions
    with np.load(result) as r:
        np.testing.assert_array_equal(r["predictions"], want)
        np.testing.assert_array_equal(r["labels"], labels)
    assert report["accuracy"] == pytest.approx(float((want == labels).mean()))

    assert main(["run", str(art), "--input", str(test_h5), "--json"]) == 0       # the DSEC layout gives the same
    assert json.loads(capsys.readouterr().out)["accuracy"] == report["accuracy"]

    # a user error in an event file: one line naming file and field, exit 2
    bad = save_npz(tmp_path / "bad.npz", events=test_ev, labels=labels, sensor_size=np.array([8, 8]))
    assert main(["run", str(art), "--input", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"tnas-deploy: error: {bad}: sensor_size: "), err


# -- the worked example of docs/events.md --------------------------------------------------------------

def test_docs_worked_example(tmp_path, monkeypatch):
    """Runs the Python block of docs/events.md; every printed line must match the comment that shows it."""
    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], "docs/events.md", "exec"), {})
    shown = [line.split("#", 1)[1].strip() for line in blocks[0].splitlines() if "#" in line]
    printed = [line.strip() for line in out.getvalue().splitlines() if line.strip()]
    assert printed
    i = 0
    for line in printed:        # each printed line appears, in order, at the start of a comment
        while i < len(shown) and not shown[i].startswith(line):
            i += 1
        assert i < len(shown), f"printed {line!r} is not shown in docs/events.md"
        i += 1


def test_cli_feeds_event_counts_per_bin_to_rate_networks(tmp_path, monkeypatch, capsys):
    """A rate artifact reads an event file as counts per time bin: bin t is sent at step t."""
    from tnas_deploy.artifact import load_artifact
    from tnas_deploy.cli import main
    from tnas_deploy.genome import genome_from_json
    from tnas_deploy.weights import expected_shapes, save_weights

    monkeypatch.chdir(tmp_path)
    obj = {"format": "tnas-genome", "version": 2, "name": "ev_rate",
           "coding": {"scheme": "rate", "steps": 2, "input": "counts"},
           "task": {"input_shape": list(SHAPE), "classes": ["a", "b", "c"]},
           "nodes": [{"id": "x", "type": "input"}, {"id": "f", "type": "flatten", "inputs": ["x"]},
                     {"id": "h", "type": "dense", "inputs": ["f"], "units": 4, "neuron": {"model": "if"}},
                     {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
                     {"id": "out", "type": "readout", "inputs": ["o"]}]}
    (tmp_path / "g.json").write_text(json.dumps(obj), encoding="utf-8")
    rng = np.random.default_rng(0)
    save_weights({k: {n: rng.normal(0, 1, s) for n, s in v.items()}
                  for k, v in expected_shapes(genome_from_json(obj)).items()}, tmp_path / "w.h5")
    events = save_npz(tmp_path / "ev.npz", events=stream(), labels=LABELS)
    art = tmp_path / "net.tdart"
    assert main(["compile", "g.json", "--weights", "w.h5", "--calibration", str(events), "-o", str(art)]) == 0
    assert main(["run", str(art), "--input", str(events), "-o", "r.npz", "--json"]) == 0
    capsys.readouterr()
    net, _ = load_artifact(art)
    with np.load(tmp_path / "r.npz") as r:
        raster = r["spike_times/x"]                 # (samples, steps, 2, 2, 3): non-zero payloads
    assert raster.shape == (3, net.run_steps) + SHAPE
    # sample 0: events at t = 10, 20 (ON, pixel (0,0)), 30 (OFF, (1,2)), 90 (ON, (0,1)) in window [10, 91):
    # two bins of 40.5 us, so (0,0) ON and (1,2) OFF are in bin 0, (0,1) ON in bin 1
    assert raster[0, 0, 1, 0, 0] and raster[0, 0, 0, 1, 2] and not raster[0, 0, 1, 0, 1]
    assert raster[0, 1, 1, 0, 1] and not raster[0, 1, 1, 0, 0]
    assert not raster[:, 2:].any()                   # silent after the T = 2 input steps
