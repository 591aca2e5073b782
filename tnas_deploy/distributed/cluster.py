"""The Ray runtime under tnas-deploy: a local cluster started on demand, or an existing one joined with an address,
and the guarantee that nothing we started outlives the command.

`ray_cluster(cpus, address)` is a context manager:

- without an address it starts a private local cluster: `num_cpus` = the number of workers, no dashboard, Ray's
  own logs kept out of the terminal (errors only), usage statistics off, and a temporary folder of its own
  (`tnas-ray-*` under TMPDIR, or under /tmp when TMPDIR is too long for Ray's socket paths) that also holds the
  runs' scratch files (`RayCluster.scratch`). On exit, whatever ended the `with` (the end, an exception, a stop
  signal), Ray is shut down, every process started since (GCS, raylet, Ray workers and the Lava workers they
  forked) that is still alive is killed, the shared memory of Lava runs whose Ray worker was killed is unlinked
  (`remove_noted_segments`), and the folder is removed;
- with an address (`--ray-address`) it joins that cluster and only disconnects on exit: Ray ends the workers
  of our job when its driver leaves; the cluster itself is not ours to stop;
- if this process has joined Ray already (a program or test that manages Ray itself), that connection is used
  as it is and left open.

Ray is imported here, lazily: never at `import tnas_deploy`, only when a command asks for workers. `ray.init`
installs its own SIGTERM handler; the handlers in place before (those of `lava_runtime.signals`' guard) are put
back right after it, so SIGINT, SIGTERM and SIGHUP keep ending the command through the guarded path. Note that
Ray's driver prints the cluster's error messages (such as a worker that died) on stdout while it is connected.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BackendError, DeployError
from ..lava_runtime.signals import STOP_SIGNALS, StoppedBySignal
from ..lava_runtime.teardown import SharedMemoryRecord, remove_leftovers

#: Ray's socket paths (<temp>/session_<date>_<pid>/sockets/plasma_store) must stay under 107 bytes.
MAX_TEMP_ROOT_CHARS = 30
#: The files in the scratch folder that list the shared-memory segments of a slice's Lava run (`slice_task`).
SEGMENT_NOTES_SUFFIX = ".segments"
#: How long a cluster's address may take to accept a connection.
CONNECT_TIMEOUT_S = 10.0
#: How long killed processes get to disappear from the process table.
REAP_S = 5.0


@dataclass
class RayCluster:
    """The Ray module, connected, and what the command may use: `cpus` the cluster's CPUs, `scratch` a folder
    of ours for temporary files of the runs (None on a cluster we joined: its nodes have their own disks)."""

    ray: Any
    cpus: int
    scratch: str | None
    started_here: bool


def import_ray() -> Any:
    """Ray, imported on first use; a clear error when it is not installed."""
    try:
        import ray
    except ImportError as exc:
        raise DeployError(f"running on several workers needs Ray (pip install 'ray>=2.40'): {exc}", None,
                          "--workers") from None
    return ray


@contextmanager
def ray_cluster(cpus: int, address: str | None = None) -> Iterator[RayCluster]:
    """A connected Ray: a private local cluster of `cpus` CPUs, or the cluster at `address` (module doc)."""
    ray = import_ray()
    if ray.is_initialized():
        yield RayCluster(ray, _cluster_cpus(ray), None, False)
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    before = descendants(os.getpid())
    folder = None if address else Path(tempfile.mkdtemp(prefix="tnas-ray-", dir=_temp_root()))
    try:
        _init(ray, cpus, address, folder)
        scratch = None
        if folder is not None:
            (folder / "scratch").mkdir()
            scratch = str(folder / "scratch")
        yield RayCluster(ray, _cluster_cpus(ray) if address else cpus, scratch, address is None)
    finally:
        problems = shut_down(ray, before, folder)
        if problems:
            raise BackendError("the Ray cluster could not be cleaned up: " + "; ".join(problems))


def _init(ray: Any, cpus: int, address: str | None, folder: Path | None) -> None:
    handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    quiet = dict(logging_level=logging.ERROR, log_to_driver=False, include_dashboard=False)
    try:
        if address is None:
            ray.init(num_cpus=cpus, _temp_dir=str(folder), **quiet)
        else:
            _require_listening(address)
            ray.init(address=address, **quiet)
    except SystemExit as exc:      # Ray's own SIGTERM handler, during init: the request stands
        raise StoppedBySignal(signal.SIGTERM, "the Ray cluster was stopped while it started") from exc
    except (ConnectionError, TimeoutError, ValueError, RuntimeError) as exc:
        if address is not None:
            raise DeployError(f"could not connect to a Ray cluster at {address!r}: {_first_line(exc)}", None,
                              "--ray-address") from None
        raise BackendError(f"could not start a local Ray cluster: {_first_line(exc)}", None, "--workers") from None
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def _require_listening(address: str) -> None:
    """Refuse at once an address (host:port) where nothing listens: Ray would try to reach it for ever."""
    host, _, port = address.strip().rpartition(":")
    if address.strip() == "auto" or "://" in address or not port.isdigit():
        return               # 'auto', or a form Ray checks itself
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise DeployError(f"could not connect to a Ray cluster at {address!r}: {exc.strerror or exc}", None,
                          "--ray-address") from None


def shut_down(ray: Any, before: set[int], folder: Path | None) -> list[str]:
    """Disconnect from Ray (stopping the local cluster we started), kill every process started since `before` that
    is still alive, remove `folder`; returns what could not be ended or removed."""
    try:
        ray.shutdown()
    except Exception:  # noqa: BLE001 - a cluster that is half gone: the processes are ended below
        pass
    left = descendants(os.getpid()) - before
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + REAP_S
    while left and time.monotonic() < deadline:
        _reap(left)
        left &= descendants(os.getpid())
        if left:
            time.sleep(0.02)
    problems = [f"processes {sorted(left)} did not end"] if left else []
    if folder is not None:
        problems += remove_noted_segments(folder / "scratch")
        shutil.rmtree(folder, ignore_errors=True)
        if folder.exists():
            problems.append(f"{folder} could not be removed")
    return problems


def remove_noted_segments(scratch: Path) -> list[str]:
    """Unlink the shared-memory segments that killed slices left (`slice_task.SegmentNotes` listed them); a
    segment already gone is fine. Returns what could not be removed."""
    names: set[str] = set()
    for notes in sorted(scratch.glob(f"*{SEGMENT_NOTES_SUFFIX}")) if scratch.is_dir() else []:
        try:
            names |= {line for line in notes.read_text().split() if re.fullmatch(r"psm_[0-9a-f]+", line)}
        except OSError:
            continue
    return remove_leftovers(SharedMemoryRecord(sorted(names), None)) if names else []


def descendants(pid: int) -> set[int]:
    """The live (not zombie) processes below `pid`, from /proc (an empty set where there is no /proc)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return set()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _reap(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:      # not our direct child: its own parent reaps it
            pass


def _cluster_cpus(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _temp_root() -> str:
    root = tempfile.gettempdir()
    return root if len(root) <= MAX_TEMP_ROOT_CHARS else "/tmp"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["SEGMENT_NOTES_SUFFIX", "RayCluster", "descendants", "import_ray", "ray_cluster", "remove_noted_segments",
           "shut_down"]
