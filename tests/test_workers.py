"""Lava runs sharded over Ray workers (`tnas_deploy.distributed`, `--workers N`).

- 2 workers give results bit-identical to one Lava run (every field of the `SimResult`), for the digits TTFS model
  and a small rate network; run in this process on one shared local Ray cluster of 2 CPUs (started once).
- A Ray worker killed while it runs a slice is reported (slice and worker process named), its slice runs again
  and the result is still bit-identical; the Lava workers it had forked die with it. Killed twice: a BackendError
  naming the slice.
- `tnas-deploy run --workers 2` as a subprocess in its own session and a private TMPDIR: after a normal end, after
  SIGTERM to it and after SIGINT to its process group (Ctrl-C), no process of its session (Ray's GCS, raylet,
  workers, Lava's workers) survives, none of the Lava runs' shared-memory segments, and nothing in its TMPDIR.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.cli import main
from tnas_deploy.compilation import CompileInputs
from tnas_deploy.compiler import compile_network
from tnas_deploy.dataset import Dataset
from tnas_deploy.distributed.cluster import descendants, ray_cluster
from tnas_deploy.distributed.lava_shards import run_sharded, split_samples
from tnas_deploy.errors import BackendError
from tnas_deploy.genome import genome_from_json
from tnas_deploy.lava_runtime import lava_available
from tnas_deploy.profiles import load_profile
from tnas_deploy.random_genome import random_weights
from tnas_deploy.result import SimResult
from tnas_deploy.runner import run_lava
from tnas_deploy.schemes import CompileOptions, scheme_for

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
#: Ray's start, importing Lava in the workers and forking the Lava runs, on a busy 2-core machine.
START_BUDGET_S = 120.0
#: From a stop signal until the command and every process of its session are gone.
STOP_BUDGET_S = 10.0

pytestmark = [pytest.mark.skipif(not lava_available(), reason="needs lava-nc"),
              pytest.mark.skipif(not Path("/proc/self/stat").exists() or not Path("/dev/shm").is_dir(),
                                 reason="reads /proc and /dev/shm (Linux)")]


# -- fixtures ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("art") / "digits.tdart"
    assert main(["compile", str(MODELS / "digits_ttfs.json"), "--calibration", str(MODELS / "digits_calib.npz"),
                 "-o", str(path), "--json"]) == 0
    return path


@pytest.fixture(scope="module")
def digits(artifact) -> tuple:
    """The digits network, 6 test samples and their result from one Lava run in this process (one worker)."""
    from tnas_deploy.artifact import load_artifact
    net, _ = load_artifact(artifact)
    x = scheme_for(net).load_data(MODELS / "digits_test.npz", net).head(6).x
    one, _ = run_lava(net, x)
    assert one.spike_total() > 1000                   # the network really spikes
    return net, x, one


@pytest.fixture(scope="module")
def cluster() -> Iterator:
    """One local Ray cluster of 2 CPUs for the in-process tests of this module (run_sharded uses it)."""
    with ray_cluster(2) as started:
        yield started


def _rate_network():
    genome = genome_from_json({
        "format": "tnas-genome", "version": 2, "name": "rate-workers",
        "coding": {"scheme": "rate", "steps": 6, "input": "intensity"},
        "task": {"input_shape": [6], "classes": ["a", "b", "c"]},
        "nodes": [{"id": "x", "type": "input"},
                  {"id": "h", "type": "dense", "inputs": ["x"], "units": 8,
                   "neuron": {"model": "lif", "tau": 2.0, "threshold": 0.5, "reset": "zero"}},
                  {"id": "o", "type": "dense", "inputs": ["h"], "units": 3},
                  {"id": "out", "type": "readout", "inputs": ["o"]}]})
    weights = random_weights(genome, 0)
    for tensors in weights.values():
        if "weight" in tensors:
            tensors["weight"] = tensors["weight"] * 3.0
    x = np.random.default_rng(1).random((5, 6))
    net = compile_network(CompileInputs(genome, weights, Path(__file__), load_profile("loihi2"),
                                        Dataset(x, None, None, None)), CompileOptions(saturate=True))
    return net, x


def _assert_identical(got: SimResult, expected: SimResult) -> None:
    """Every field of the result, bit for bit (not only what `verify` compares)."""
    assert got.spike_format == expected.spike_format
    assert got.spike_times.keys() == expected.spike_times.keys()
    for layer, spikes in expected.spike_times.items():
        assert got.spike_times[layer].dtype == spikes.dtype, layer
        np.testing.assert_array_equal(got.spike_times[layer], spikes, err_msg=layer)
    for name in ("readout", "logits", "predictions"):
        assert getattr(got, name).dtype == getattr(expected, name).dtype, name
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
    assert got.counts.keys() == expected.counts.keys()
    for layer, counts in expected.counts.items():
        for name, values in counts.items():
            np.testing.assert_array_equal(got.counts[layer][name], values, err_msg=f"{layer}/{name}")
    assert got.saturated == expected.saturated and got.peaks == expected.peaks


# -- slices --------------------------------------------------------------------------------------------------

def test_samples_split_into_contiguous_slices() -> None:
    assert [(s.start, s.stop) for s in split_samples(7, 3)] == [(0, 2), (2, 4), (4, 7)]
    assert [(s.start, s.stop) for s in split_samples(2, 5)] == [(0, 1), (1, 2)]    # no empty slice
    assert split_samples(40, 2)[1].describe() == "slice 2 (samples 20-39)"


# -- bit-identical results -----------------------------------------------------------------------------------

def test_two_workers_match_one_on_digits_ttfs(cluster, digits) -> None:
    net, x, one = digits
    done: list[float] = []
    two = run_sharded(net, x, 2, progress=done.append)
    _assert_identical(two, one)
    assert sum(done) == len(x)                        # progress from both workers adds up to every sample


def test_two_workers_match_one_on_a_rate_network(cluster) -> None:
    net, x = _rate_network()
    one, _ = run_lava(net, x)
    _assert_identical(run_sharded(net, x, 2), one)
    assert one.spike_total() > 0 and len(np.unique(one.readout, axis=0)) > 1


def test_verify_backend_netx_on_two_workers(cluster, tmp_path, capsys) -> None:
    """`verify --backend netx --workers 2`: lava-dl's netx runs the artifact's own netx export in slices on the
    Ray workers (the file's content travels with the task), bit-exact with the reference on every sample."""
    pytest.importorskip("lava.lib.dl.netx")
    from tnas_deploy.artifact import save_artifact
    from tnas_deploy.compiler import load_inputs
    from tnas_deploy.schemes.rate.netx import compile_for_netx
    from tnas_deploy.summary import summarize
    from tnas_deploy.weights import expected_shapes, save_weights

    genome = {"format": "tnas-genome", "version": 2, "name": "mlp", "weights": "w.h5",
              "task": {"input_shape": [12], "classes": ["a", "b", "c"]}, "coding": {"scheme": "rate", "steps": 6},
              "nodes": [{"id": "x", "type": "input"},
                        {"id": "d1", "type": "dense", "inputs": ["x"], "units": 10,
                         "neuron": {"model": "if", "threshold": 1.0}},
                        {"id": "o", "type": "dense", "inputs": ["d1"], "units": 3},
                        {"id": "out", "type": "readout", "inputs": ["o"]}]}
    (tmp_path / "mlp.json").write_text(json.dumps(genome))
    rng = np.random.default_rng(1)
    save_weights({k: {n: rng.normal(0.3, 0.6, shape) for n, shape in v.items()}
                  for k, v in expected_shapes(genome_from_json(genome)).items()}, tmp_path / "w.h5")
    net = compile_for_netx(load_inputs(tmp_path / "mlp.json", None, "loihi2", None))
    save_artifact(net, tmp_path / "mlp.tdart", summarize(net))
    np.savez(tmp_path / "x.npz", x=rng.uniform(0, 1, (3, 12)))
    assert main(["verify", str(tmp_path / "mlp.tdart"), "--backend", "netx", "--input", str(tmp_path / "x.npz"),
                 "--workers", "2", "--json"]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{"):])     # lava-dl's import may print a warning first (not ours)
    assert report["bit_exact"] and report["samples"] == 3 and report["spikes_compared"] > 0, report


# -- a Ray worker that dies ----------------------------------------------------------------------------------

def _slice_workers() -> dict[int, list[int]]:
    """This process's Ray workers running a slice (process title `ray::run_slice`), each with the processes it
    forked (its Lava run; they inherit the title)."""
    titles = {}
    for pid in descendants(os.getpid()):
        try:
            titles[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        titles[pid] = (titles[pid], parent)
    running = {pid: parent for pid, (title, parent) in titles.items() if title.startswith(b"ray::run_slice")}
    return {pid: [child for child, parent in running.items() if parent == pid]
            for pid, parent in running.items() if parent not in running}


def _kill_a_slice_worker(avoid: set[int]) -> tuple[int, list[int]]:
    """SIGKILL a Ray worker (not in `avoid`) once its Lava run has forked its workers; its pid and theirs."""
    deadline = time.monotonic() + START_BUDGET_S
    while time.monotonic() < deadline:
        for pid, lava in _slice_workers().items():
            if pid not in avoid and len(lava) >= 5:
                time.sleep(0.3)
                os.kill(pid, signal.SIGKILL)
                return pid, lava
        time.sleep(0.05)
    pytest.fail("no Ray worker started a Lava run")


def _in_background(target) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = target()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _gone(pids: list[int], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()
                 and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
        if not alive:
            return True
        time.sleep(0.05)
    return False


def test_killed_ray_worker_is_reported_and_its_slice_runs_again(cluster, digits) -> None:
    net, x, one = digits
    notes: list[str] = []
    thread, outcome = _in_background(lambda: run_sharded(net, x, 2, notify=notes.append))
    victim, its_lava = _kill_a_slice_worker(set())
    thread.join(START_BUDGET_S)
    assert "error" not in outcome, outcome.get("error")
    _assert_identical(outcome["result"], one)
    assert len(notes) == 1 and re.fullmatch(
        rf"slice [12] \(samples [0-5]-[0-5]\): its Ray worker \(process {victim} on \S+\) died \(.+\); "
        r"running the slice again", notes[0]), notes
    assert _gone(its_lava), "the killed worker's Lava processes survive it"


def test_a_slice_whose_worker_dies_twice_fails_naming_it(cluster, digits) -> None:
    net, x, _ = digits
    notes: list[str] = []
    thread, outcome = _in_background(lambda: run_sharded(net, x[:3], 1, notify=notes.append))   # one slice
    first, lava = _kill_a_slice_worker(set())
    second, lava2 = _kill_a_slice_worker({first})      # the same slice, run again by another Ray worker
    thread.join(START_BUDGET_S)
    assert len(notes) == 1 and notes[0].startswith(f"slice 1 (samples 0-2): its Ray worker (process {first} on ")
    error = outcome.get("error")
    assert isinstance(error, BackendError), outcome
    assert str(error).startswith(f"--workers: slice 1 (samples 0-2) failed twice: its Ray worker (process {second} "
                                 f"on "), str(error)
    assert str(error).endswith("; the run was stopped")
    assert _gone(lava + lava2)


# -- the command: nothing survives it ------------------------------------------------------------------------

def _session(sid: int) -> list[tuple[int, str]]:
    """Live processes of session `sid` and their names (zombies are dead already)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            name, fields = Path(f"/proc/{entry}/stat").read_text().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = fields.split()
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append((int(entry), name))
    return found


def _segments(pids: list[int]) -> set[str]:
    names: set[str] = set()
    for pid in pids:
        try:
            names |= set(re.findall(r"/dev/shm/(psm_[0-9a-f]+)", Path(f"/proc/{pid}/maps").read_text()))
        except OSError:
            pass
    return names


@pytest.fixture()
def short_tmpdir() -> Iterator[Path]:
    """A private TMPDIR short enough for Ray's socket paths (so its `tnas-ray-*` folder goes there too)."""
    folder = Path(tempfile.mkdtemp(prefix="tw-", dir="/tmp"))
    yield folder
    import shutil
    shutil.rmtree(folder, ignore_errors=True)
    for suffix in (".out", ".err"):          # the command's output files (`_start`), if a check failed
        (folder.parent / f"{folder.name}{suffix}").unlink(missing_ok=True)


def _start(artifact: Path, tmpdir: Path, samples: int, *extra: str) -> subprocess.Popen:
    """`tnas-deploy run --backend lava --workers 2` in its own session, output to files (an orphan holding a pipe
    would hide when the command ended)."""
    with open(tmpdir.parent / f"{tmpdir.name}.out", "w") as out, open(tmpdir.parent / f"{tmpdir.name}.err", "w") as err:
        return subprocess.Popen([sys.executable, "-m", "tnas_deploy.cli", "run", str(artifact), "--input",
                                 str(MODELS / "digits_test.npz"), "--samples", str(samples), "--backend", "lava",
                                 "--workers", "2", "--no-progress", *extra],
                                start_new_session=True, stdout=out, stderr=err,
                                env=dict(os.environ, TMPDIR=str(tmpdir), TNAS_DEPLOY_PROGRESS_INTERVAL="0"))


def _outputs(tmpdir: Path) -> tuple[str, str]:
    return ((tmpdir.parent / f"{tmpdir.name}.out").read_text(), (tmpdir.parent / f"{tmpdir.name}.err").read_text())


def _finish(proc: subprocess.Popen, tmpdir: Path, segments: set[str], within: float) -> tuple[str, str]:
    """Wait for the command, then check that nothing of it is left: processes, segments, files in TMPDIR.
    Returns its stdout and stderr."""
    sent = time.monotonic()
    try:
        proc.wait(timeout=within)
        while _session(proc.pid) and time.monotonic() < sent + within:
            time.sleep(0.05)
        left = _session(proc.pid)
        assert left == [], f"processes of the command survive: {left}"
        assert sorted(name for name in segments if (Path("/dev/shm") / name).exists()) == []
        assert sorted(p.name for p in tmpdir.iterdir()) == []
    finally:
        for pid, _ in _session(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        for name in segments:
            (Path("/dev/shm") / name).unlink(missing_ok=True)
    return _outputs(tmpdir)


def _wait_until_both_slices_step(proc: subprocess.Popen, tmpdir: Path) -> set[str]:
    """Until both slices' Lava runs count steps; then the shared-memory segments their processes map."""
    deadline = time.monotonic() + START_BUDGET_S
    while time.monotonic() < deadline and proc.poll() is None:
        stepping = 0
        for progress in tmpdir.glob("tnas-ray-*/scratch/tnas-lava-*/progress"):
            try:
                stepping += int(np.fromfile(progress, dtype=np.int64, count=1)[0] > 0)
            except (OSError, IndexError):
                pass
        if stepping >= 2:
            segments = _segments([pid for pid, _ in _session(proc.pid)])
            assert segments, "the Lava runs map no /dev/shm/psm_* segment: Lava changed?"
            return segments
        time.sleep(0.1)
    pytest.fail(f"the slices did not start stepping within {START_BUDGET_S:g} s: {_outputs(tmpdir)}")


def test_command_with_two_workers_leaves_nothing(artifact, short_tmpdir) -> None:
    proc = _start(artifact, short_tmpdir, 4, "--json")
    out, err = _finish(proc, short_tmpdir, set(), START_BUDGET_S)
    assert proc.returncode == 0, err
    report = json.loads(out)                # stdout is the report alone: nothing of Ray's
    assert report["samples"] == 4 and report["accuracy"] == 1.0
    assert err == ""


@pytest.mark.parametrize(("signum", "group", "code", "line"), [
    (signal.SIGTERM, False, 143, "tnas-deploy: stopped by SIGTERM; the Ray workers and their Lava runs were stopped "
                                 "and cleaned up"),
    (signal.SIGINT, True, 130, "tnas-deploy: interrupted by SIGINT (Ctrl-C); the Ray workers and their Lava runs "
                               "were stopped and cleaned up")], ids=["SIGTERM", "SIGINT-to-group"])
def test_stop_signal_mid_run_leaves_nothing(artifact, short_tmpdir, signum, group, code, line) -> None:
    proc = _start(artifact, short_tmpdir, 40)
    segments = _wait_until_both_slices_step(proc, short_tmpdir)
    if group:
        os.killpg(proc.pid, signum)         # a terminal's Ctrl-C: the whole foreground process group
    else:
        os.kill(proc.pid, signum)           # `kill PID`
    _, err = _finish(proc, short_tmpdir, segments, STOP_BUDGET_S)
    assert err.splitlines() == [line]
    assert proc.returncode == code


def test_workers_are_refused_where_they_do_not_apply(artifact, capsys) -> None:
    base = ["run", str(artifact), "--input", str(MODELS / "digits_test.npz"), "--samples", "2"]
    assert main(base + ["--workers", "0", "--backend", "lava"]) == 2
    assert main(base + ["--workers", "2"]) == 2          # the reference backend
    err = capsys.readouterr().err.splitlines()
    refusal = ("tnas-deploy: error: --workers: the reference backend runs in one process; --workers and "
               "--ray-address split --backend lava runs")
    assert err == ["tnas-deploy: error: --workers: expected a number of workers >= 1, got 0", refusal]
    golden = artifact.parent / "workers.golden.npz"
    assert main(["golden", *base[1:], "-o", str(golden), "--no-progress"]) == 0
    capsys.readouterr()
    # verify against a golden file runs the reference unless --backend lava: --workers would do nothing
    assert main(["verify", str(artifact), "--golden", str(golden), "--workers", "2"]) == 2
    assert capsys.readouterr().err.splitlines() == [refusal]
    with socket.socket() as closed:                       # a port where nothing listens
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    # in a process of its own: this one has joined the module's cluster, which run_sharded would use
    done = subprocess.run([sys.executable, "-m", "tnas_deploy.cli", *base, "--backend", "lava", "--ray-address",
                           f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr == (f"tnas-deploy: error: --ray-address: could not connect to a Ray "
                                                    f"cluster at '127.0.0.1:{port}': Connection refused\n"), done


def test_ray_is_not_imported_by_the_package_or_the_cli(artifact) -> None:
    code = ("import sys, tnas_deploy, tnas_deploy.cli, tnas_deploy.runner, tnas_deploy.distributed.lava_shards; "
            "from tnas_deploy.cli import main; main(['run', sys.argv[1], '--input', sys.argv[2], '--samples', '2']); "
            "assert 'ray' not in sys.modules, 'ray imported'")
    done = subprocess.run([sys.executable, "-c", code, str(artifact), str(MODELS / "digits_test.npz")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
