"""The Lava backend: bit-exact against the reference simulator on the bundled models and random genomes,
`verify` and golden files catch any change of arithmetic, and Lava is always stopped (time-out, failed
worker, Ctrl-C) with no process left behind."""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tnas_deploy.artifact import save_artifact
from tnas_deploy.cli import main
from tnas_deploy.schemes import CompileOptions
from tnas_deploy.compilation import CompileInputs
from tnas_deploy.compiler import compile_files, compile_network
from tnas_deploy.dataset import Dataset
from tnas_deploy.data import load_dataset
from tnas_deploy.lava_runtime import loihi2_available
from tnas_deploy.schemes.ttfs.lava import models
from tnas_deploy.errors import BackendError
from tnas_deploy.runner import run_lava
from tnas_deploy.schemes.ttfs.lava.schedule import make_schedule
from tnas_deploy.profiles import load_profile
from tnas_deploy.random_genome import random_genome, random_inputs
from tnas_deploy.schemes.ttfs.refsim import simulate
from tnas_deploy.verify import compare, result_dict

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
GOLDEN = ROOT / "tests" / "golden" / "digits_ttfs.golden.npz"


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, object, np.ndarray]:
    net, summary = compile_files(MODELS / "digits_ttfs.json", calibration_path=MODELS / "digits_calib.npz")
    path = tmp_path_factory.mktemp("art") / "digits.tdart"
    save_artifact(net, path, summary)
    x = load_dataset(MODELS / "digits_test.npz", net.input_shape).x
    return path, net, x


def _assert_bit_exact(net, x) -> None:
    ref = simulate(net, x)
    lava, timing = run_lava(net, x)
    comparison = compare(result_dict(ref), result_dict(lava), [layer.id for layer in net.layers])
    assert comparison.bit_exact, comparison.first
    assert comparison.spikes_compared > 0
    assert not multiprocessing.active_children()


def test_digits_bit_exact_on_lava(digits) -> None:
    _, net, x = digits
    _assert_bit_exact(net, x[:24])


def test_eye_model_bit_exact_on_lava() -> None:
    """The TNAS-ER-sized network, with its residual add aligned by a spike delay, on Lava."""
    net, _ = compile_files(MODELS / "tnas_er_eye.json", calibration_path=MODELS / "eye_events_synthetic.npz")
    assert make_schedule(net).delays            # the residual path really goes through a SpikeDelay
    x = load_dataset(MODELS / "eye_events_synthetic.npz", net.input_shape).x
    _assert_bit_exact(net, x[:2])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1))
def test_random_genomes_bit_exact_on_lava(seed: int) -> None:
    genome, weights = random_genome(seed)
    x = random_inputs(genome, 6, seed)
    net = compile_network(CompileInputs(genome, weights, Path(__file__), load_profile("loihi2"),
                                        Dataset(x, None, None, None)), CompileOptions(saturate=True))
    _assert_bit_exact(net, x[:3])


def test_schedule_adds_one_step_per_synapse_hop(digits) -> None:
    _, net, _ = digits
    s = make_schedule(net)
    K = net.steps
    assert s.timing["conv1"].start == 1 and s.timing["conv1"].emit == 1 + K        # input -> Dense -> conv1
    assert s.timing["pool1"].start == s.timing["conv1"].emit + 1                    # fires on arrival
    assert s.timing["conv2"].start == s.timing["pool1"].emit + 1
    assert s.period == s.timing["out"].start + K


def test_verify_cli_reports_bit_exact(digits, capsys) -> None:
    path, _, _ = digits
    code = main(["verify", str(path), "--input", str(MODELS / "digits_test.npz"), "--samples", "6", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("bit-exact: 6/6 samples, ") and "spikes compared" in out


def test_verify_finds_a_changed_fire_rule(digits, capsys, monkeypatch) -> None:
    """An arithmetic change in one backend (>= instead of > at the threshold) makes verify fail, naming
    the first differing layer, neuron, sample and both values. Lava's workers are forked, so they inherit
    the patched rule."""
    path, _, _ = digits

    def fire_at_or_above(v, fired, ramp, threshold, state_bits):
        from tnas_deploy.fixed_point import saturate
        active = ~fired
        v_new = saturate(np.where(active, v + ramp, v), state_bits)
        spikes = active & (v_new >= threshold - 2 * ramp)     # fires two steps early
        return v_new, spikes, fired | spikes, 0

    monkeypatch.setattr(models, "ttfs_fire_step", fire_at_or_above)
    code = main(["verify", str(path), "--input", str(MODELS / "digits_test.npz"), "--samples", "3", "--no-progress"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[0].startswith("bit-exact: 0/3 samples")
    assert out[1].startswith("first mismatch: spike time at layer conv1, neuron (")
    assert "reference" in out[1] and "lava" in out[1]


def test_stored_golden_file_still_matches(digits, capsys) -> None:
    """tests/golden/digits_ttfs.golden.npz pins the digits model's spike timing: any change of arithmetic in
    either backend (or in quantization) fails here. Regenerate it only for an intended change:
    tnas-deploy golden ARTIFACT --input models/digits_test.npz --samples 100 -o tests/golden/digits_ttfs.golden.npz"""
    path, _, _ = digits
    # (a note says so when the artifact's bytes differ from the recorded one, e.g. after a profile gained
    # numbers; the spike timing is what is compared)
    assert main(["verify", str(path), "--golden", str(GOLDEN), "--no-progress"]) == 0
    assert "bit-exact: 100/100 samples" in capsys.readouterr().out.splitlines()[-1]
    assert main(["verify", str(path), "--golden", str(GOLDEN), "--backend", "lava", "--samples", "8",
                 "--no-progress"]) == 0
    assert "bit-exact: 8/8 samples" in capsys.readouterr().out.splitlines()[-1]


def test_golden_round_trip_and_mismatch(digits, tmp_path, capsys) -> None:
    path, _, _ = digits
    golden = tmp_path / "g.npz"
    assert main(["golden", str(path), "--input", str(MODELS / "digits_test.npz"), "--samples", "5", "-o", str(golden),
                 "--no-progress"]) == 0
    capsys.readouterr()
    data = dict(np.load(golden))
    data["spike_times/fc1"] = data["spike_times/fc1"].copy()
    data["spike_times/fc1"][2, 7] += 1
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **data)
    assert main(["verify", str(path), "--golden", str(tampered), "--json", "--no-progress"]) == 1
    import json
    report = json.loads(capsys.readouterr().out)
    assert report["identical_samples"] == 4
    assert report["first_mismatch"]["layer"] == "fc1" and report["first_mismatch"]["sample"] == 2
    assert report["first_mismatch"]["neuron"] == [7]


def test_timeout_stops_lava_and_leaves_no_process(digits) -> None:
    _, net, x = digits
    start = time.monotonic()
    with pytest.raises(BackendError, match="time-out of 1 s"):
        run_lava(net, x[:200], timeout=1.0)
    assert time.monotonic() - start < 10
    assert not multiprocessing.active_children()


def test_failed_worker_is_reported_and_stopped(digits, monkeypatch) -> None:
    _, net, x = digits
    original = models.PyTtfsNeuronModel.run_spk

    def explode(self):
        if self.time_step == 30:
            raise RuntimeError("injected failure")
        original(self)

    monkeypatch.setattr(models.PyTtfsNeuronModel, "run_spk", explode)
    start = time.monotonic()
    with pytest.raises(BackendError, match="failed at step") as info:
        run_lava(net, x[:50])                         # no time-out: the failure alone must end the run
    assert "injected failure" in str(info.value)
    assert time.monotonic() - start < 30
    assert not multiprocessing.active_children()


def _processes_in_group(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                found.append(int(entry))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to list a process group")
def test_ctrl_c_stops_lava_and_leaves_no_process(digits) -> None:
    path, _, _ = digits
    proc = subprocess.Popen([sys.executable, "-m", "tnas_deploy.cli", "run", str(path), "--input",
                             str(MODELS / "digits_test.npz"), "--backend", "lava", "--no-progress"],
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_processes_in_group(proc.pid)) < 5 and time.monotonic() < deadline:  # Lava's workers are up
        time.sleep(0.2)
    assert len(_processes_in_group(proc.pid)) >= 5, "Lava did not start"
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)                # what a terminal's Ctrl-C does: the whole group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "interrupted" in err
    deadline = time.monotonic() + 10
    while _processes_in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_in_group(proc.pid) == []


@pytest.mark.skipif(loihi2_available(), reason="this machine has Intel's lava-loihi; the message is for others")
def test_loihi2_backend_fails_at_once_without_lava_loihi(digits, capsys) -> None:
    path, _, _ = digits
    start = time.monotonic()
    code = main(["run", str(path), "--input", str(MODELS / "digits_test.npz"), "--backend", "loihi2", "--no-progress"])
    assert code == 2 and time.monotonic() - start < 5
    err = capsys.readouterr().err
    assert "lava-loihi" in err and "--backend lava" in err


def test_run_on_lava_writes_results(digits, tmp_path, capsys) -> None:
    path, _, _ = digits
    out = tmp_path / "r.npz"
    assert main(["run", str(path), "--input", str(MODELS / "digits_test.npz"), "--backend", "lava", "--samples", "4",
                 "-o", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "4 samples on the lava backend" in text and "accuracy:" in text
    data = np.load(out)
    assert data["predictions"].shape == (4,) and data["spike_times/conv1"].shape == (4, 16, 8, 8)
