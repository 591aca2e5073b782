"""Stopping a Lava run from outside: `tnas-deploy run --backend lava` runs as a subprocess in its own session
and TMPDIR; once Lava's workers are stepping it gets SIGTERM (`kill PID`, a CI runner's time-out) or SIGHUP
(a closed terminal), or one Lava worker gets SIGKILL. Each time, within 5 s: the documented exit code, one
line on stderr (no traceback, no multiprocessing leak warning), no process of the session left, none of the
run's shared-memory segments (/dev/shm/psm_*) left, and no tnas-lava-*/pymp-* folder in its TMPDIR."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tnas_deploy.cli import main
from tnas_deploy.lava_runtime import lava_available

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
#: From the signal (or the killed worker) until tnas-deploy and every process of its run are gone: the
#: promise of docs/lava.md, "Stopping a run" (measured there: about 1 s at most, even on a loaded machine).
STOP_BUDGET_S = 5.0
#: Importing, compiling the Lava network and forking its workers, on a busy 2-core machine.
START_BUDGET_S = 90.0

pytestmark = [pytest.mark.skipif(not lava_available(), reason="needs lava-nc"),
              pytest.mark.skipif(not Path("/proc/self/maps").exists() or not Path("/dev/shm").is_dir(),
                                 reason="reads /proc and /dev/shm (Linux)")]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("art") / "digits.tdart"
    assert main(["compile", str(MODELS / "digits_ttfs.json"), "--calibration", str(MODELS / "digits_calib.npz"),
                 "-o", str(path), "--json"]) == 0
    return path


@dataclass
class ProcInfo:
    pid: int
    ppid: int
    state: str


def _session(sid: int) -> list[ProcInfo]:
    """Live processes of session `sid` (zombies are dead already: only their exit status waits to be read)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(ProcInfo(int(entry), int(fields[1]), fields[0]))
    return found


def _shm_mapped_by(pid: int) -> set[str]:
    """Names of the /dev/shm segments process `pid` maps (Lava's channels: psm_<8 hex>)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return set()
    return set(re.findall(r"/dev/shm/(psm_[0-9a-f]+)", maps))


@dataclass
class LavaRun:
    """`tnas-deploy run ARTIFACT --backend lava` on all 360 digits test samples (minutes of work), started in
    its own session with a private TMPDIR. Its output goes to files, not pipes: an orphaned worker would hold
    a pipe open and hide when tnas-deploy itself exited."""

    proc: subprocess.Popen
    tmpdir: Path
    stderr: Path
    segments: set[str] = field(default_factory=set)

    def wait_until_stepping(self) -> None:
        """Until the input process has counted steps (all workers are up), then note the run's segments."""
        deadline = time.monotonic() + START_BUDGET_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            for progress in self.tmpdir.glob("tnas-lava-*/progress"):
                try:
                    if np.fromfile(progress, dtype=np.int64, count=1)[0] > 0:
                        self.segments = _shm_mapped_by(self.proc.pid)
                        assert self.segments, "the Lava run maps no /dev/shm/psm_* segment: Lava changed?"
                        return
                except (OSError, IndexError):
                    pass
            time.sleep(0.1)
        pytest.fail(f"the Lava run did not start stepping within {START_BUDGET_S:g} s: {self.stderr.read_text()}")

    def workers(self) -> list[int]:
        """Lava's worker processes: children that inherited the channels' shared memory (not multiprocessing's
        shared-memory server or resource tracker, which map none)."""
        return sorted(p.pid for p in _session(self.proc.pid)
                      if p.ppid == self.proc.pid and _shm_mapped_by(p.pid) & self.segments)

    def finish(self, sent_at: float) -> tuple[int, str, float]:
        """Exit code, stderr, and seconds from `sent_at` until the process and its whole session are gone."""
        try:
            self.proc.wait(timeout=max(0.1, sent_at + STOP_BUDGET_S - time.monotonic()))
        except subprocess.TimeoutExpired:
            pytest.fail(f"tnas-deploy still running {STOP_BUDGET_S:g} s after the signal")
        while _session(self.proc.pid) and time.monotonic() < sent_at + STOP_BUDGET_S:
            time.sleep(0.05)
        return self.proc.returncode, self.stderr.read_text(), time.monotonic() - sent_at

    def assert_nothing_left(self) -> None:
        left = _session(self.proc.pid)
        assert left == [], f"processes of the run survive: {left}"
        assert [name for name in sorted(self.segments) if (Path("/dev/shm") / name).exists()] == []
        assert sorted(p.name for p in self.tmpdir.iterdir() if p.name.startswith(("tnas-lava-", "pymp-"))) == []


@pytest.fixture()
def lava_run(artifact, tmp_path) -> Iterator[LavaRun]:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    stderr = tmp_path / "stderr.txt"
    with open(tmp_path / "stdout.txt", "w") as out, open(stderr, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "tnas_deploy.cli", "run", str(artifact), "--input",
                                 str(MODELS / "digits_test.npz"), "--backend", "lava", "--no-progress"],
                                start_new_session=True, stdout=out, stderr=err, cwd=tmp_path,
                                env=dict(os.environ, TMPDIR=str(tmpdir)))
    run = LavaRun(proc, tmpdir, stderr)
    try:
        yield run
    finally:       # whatever the test found, leave nothing running and no segment behind
        for p in _session(proc.pid):
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        for name in run.segments:
            (Path("/dev/shm") / name).unlink(missing_ok=True)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)],
                         ids=["SIGTERM", "SIGHUP"])
def test_signal_stops_the_run_and_cleans_up(lava_run: LavaRun, signum: int, code: int) -> None:
    lava_run.wait_until_stepping()
    sent_at = time.monotonic()
    os.kill(lava_run.proc.pid, signum)           # `kill PID`: the process, not its group
    returncode, err, seconds = lava_run.finish(sent_at)
    lava_run.assert_nothing_left()
    assert err.splitlines() == [f"tnas-deploy: stopped by {signal.Signals(signum).name}; "
                                "the Lava run was stopped and cleaned up"]
    assert returncode == code
    assert seconds < STOP_BUDGET_S


def test_killed_worker_fails_the_run_and_cleans_up(lava_run: LavaRun) -> None:
    lava_run.wait_until_stepping()
    workers = lava_run.workers()
    assert len(workers) >= 5, workers            # the digits network has more than 10 Lava processes
    victim = workers[len(workers) // 2]
    sent_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    returncode, err, seconds = lava_run.finish(sent_at)
    lava_run.assert_nothing_left()
    assert re.fullmatch(rf"tnas-deploy: error: a Lava process failed at step \d+ of \d+: its worker process "
                        rf"{victim} \(\w+\) was killed by SIGKILL; the run was stopped\n", err), err
    assert returncode == 3
    assert seconds < STOP_BUDGET_S
