"""What runs inside a Ray worker: one slice of the samples as one guarded Lava run (or netx runs).

A slice is a contiguous range of samples; `run_slice` hands it to the network's scheme (`Scheme.run_lava`, which
goes through `lava_runtime.session.run_guarded`) and returns the slice's `SimResult`. Two things make a Ray
worker a safe home for a Lava run:

- Lava forks ~15 worker processes from the Ray worker. If the Ray worker dies (killed, out of memory, cancelled
  by force when the command is stopped), nothing would stop them: Lava's workers wait for their parent forever.
  `kill_children_with_parent` makes every process forked from here carry the kernel's parent-death signal
  (`PR_SET_PDEATHSIG`, SIGKILL), so they end together with the Ray worker, however it ends.
- `scratch` (a folder of the local Ray cluster that tnas-deploy owns) becomes the temporary folder of the run:
  what a killed run leaves (its `tnas-lava-*` and multiprocessing's `pymp-*` folder) is removed with the cluster's
  folder.

Progress and which worker runs which slice are posted to a `SliceBoard` actor (`lava_shards`). Importing this
module imports neither Ray nor Lava.
"""
from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..result import SimResult
from ..schemes import scheme_for
from .cluster import SEGMENT_NOTES_SUFFIX

#: `prctl` option: the signal a process gets when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1

#: Seconds between two looks at the shared memory a slice's Lava run maps.
SEGMENT_NOTES_S = 0.5
#: How long a slice waits for the board to note which worker runs it.
BOARD_WAIT_S = 30.0
#: Whether this process has registered `kill_children_with_parent`'s fork hook already.
_hook_registered = False


def run_slice(index: int, net: Any, x: np.ndarray, timeout: float | None, hardware: bool, board: Any,
              scratch: str | None, netx_file: bytes | None = None) -> SimResult:
    """Run slice `index` (samples `x`) of `net` and return its result; the Ray task of `lava_shards`.

    `board` is the `SliceBoard` actor handle (or None) that receives this worker's identity and the samples done;
    `netx_file`, when given, is the content of a netx file to run with lava-dl instead of tnas-deploy's Lava
    network (`verify --backend netx`)."""
    kill_children_with_parent()
    if board is not None:     # waits for the board, so that the driver can name this worker if it dies
        _answer(board.started.remote(index, os.getpid(), socket.gethostname()))

    def progress(done: float) -> None:
        if board is not None:
            board.advance.remote(index, done)

    previous = tempfile.tempdir
    notes = None
    if scratch is not None and os.path.isdir(scratch):
        tempfile.tempdir = scratch      # not removed here: multiprocessing keeps its pymp-* folder for later runs
        notes = SegmentNotes(Path(scratch) / f"{os.getpid()}{SEGMENT_NOTES_SUFFIX}")
    try:
        if netx_file is not None:
            return _run_netx(net, x, netx_file, progress, timeout)
        result, _ = scheme_for(net).run_lava(net, x, progress=progress, timeout=timeout, hardware=hardware)
        return result
    finally:
        tempfile.tempdir = previous
        if notes is not None:
            notes.stop()


class SegmentNotes:
    """Notes, in a file, the names of the shared-memory segments this process maps (Lava's channels,
    `/dev/shm/psm_*`), every `SEGMENT_NOTES_S` while a slice runs: if the Ray worker is killed, nobody is left to
    unlink them, and the local cluster's owner does it from these files when it shuts down (`cluster`)."""

    def __init__(self, path: Path):
        self.path = path
        self._noted: set[str] = set()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="tnas-segment-notes")
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(SEGMENT_NOTES_S):
            self._note()

    def _note(self) -> None:
        try:
            maps = Path(f"/proc/{os.getpid()}/maps").read_text()
        except OSError:
            return
        names = set(re.findall(r"/dev/shm/(psm_[0-9a-f]+)", maps)) | self._noted
        if names != self._noted:
            self._noted = names
            self.path.write_text("".join(f"{name}\n" for name in sorted(names)))

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _answer(ref: Any) -> None:
    import ray   # in a Ray worker, Ray is imported already

    try:
        ray.get(ref, timeout=BOARD_WAIT_S)
    except Exception:  # noqa: BLE001 - the board is a courtesy: the slice runs without it
        pass


def _run_netx(net: Any, x: np.ndarray, content: bytes, progress, timeout: float | None) -> SimResult:
    with tempfile.TemporaryDirectory(prefix="tnas-netx-") as folder:
        path = Path(folder) / "network.net"
        path.write_bytes(content)
        return scheme_for(net).run_netx(net, x, path, progress=progress, timeout=timeout)


def kill_children_with_parent() -> None:
    """From now on every process forked from this one gets SIGKILL when this process dies (Linux; elsewhere
    nothing happens). Registered once per process; it also covers the processes they fork in turn only if
    those register it too, which Lava's workers do not need: they fork nothing."""
    global _hook_registered
    if _hook_registered or not hasattr(os, "register_at_fork"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return
    _hook_registered = True

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)

    os.register_at_fork(after_in_child=arm)


__all__ = ["PR_SET_PDEATHSIG", "SegmentNotes", "kill_children_with_parent", "run_slice"]
