"""Ending a Lava run that cannot stop the normal way, without leaving anything behind.

Lava's `stop()` asks every worker to finish and then shuts its shared memory down. It cannot when a worker
is gone (killed, crashed: the runtime service waits for it forever) or when it does not return in time.
What a run allocates, from lava-nc 0.10.0's source (`lava/magma/runtime/message_infrastructure/`):

- one forked `SystemProcess` per process model plus one per runtime service (`MultiProcessing.actors`);
- a `multiprocessing.managers.SharedMemoryManager` (Lava's `SharedMemoryManager` wraps it): a forked server
  process that listens on a socket in its own `pymp-*` folder under TMPDIR; the parent creates every channel
  buffer as a `SharedMemory` segment (`/dev/shm/psm_<8 hex>`), registers it with multiprocessing's resource
  tracker and has the server track its name. The server's shutdown unlinks the segments and removes its
  folder; a server that is killed does neither, and the resource tracker then unlinks the segments when the
  program exits, warning of "leaked shared_memory objects".

`abort_run` therefore kills the workers first, never the server: it ends the parent's channel threads and
asks the server to shut down (killing it only if it does not). `record_shared_memory`, taken before any stop,
and `remove_leftovers` then do the server's work for whatever is left (a server someone else killed).
`describe_dead_workers` words what happened to workers that ended on their own. Does not import Lava.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
from dataclasses import dataclass
from multiprocessing import shared_memory
from pathlib import Path

#: How long to wait for a killed process to be reaped.
REAP_S = 2.0


def lava_workers(root) -> list:
    """Lava's worker processes of the run that `root` started (empty if it never started)."""
    return list(getattr(_infrastructure(root), "actors", []))


def ended(workers: list) -> list:
    """The workers that are no longer running."""
    return [worker for worker in workers if not _alive(worker)]


def describe_dead_workers(root, dead: list) -> str:
    """What happened to workers that ended during the run, to follow "a Lava process failed at step s of n":
    a model's traceback, or how the process ended (killed by a signal, exit code)."""
    for worker in dead:
        exc = getattr(worker, "exception", None)
        if exc:
            _, trace = exc
            return f"; the run was stopped:\n{trace}".rstrip()
    if not dead:
        return "; the run was stopped"
    worker = dead[0]
    code = worker.exitcode
    how = f"was killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exited with code {code}"
    return f": its worker process {worker.pid} ({_worker_label(root, worker)}) {how}; the run was stopped"


@dataclass
class SharedMemoryRecord:
    """What a run's shared memory leaves on disk if its server cannot clean up: the segment names
    (`/dev/shm/<name>`) and the server's `pymp-*` folder."""

    segments: list[str]
    folder: Path | None


def record_shared_memory(root) -> SharedMemoryRecord:
    """The run's shared memory, noted before stopping (Lava forgets it while it stops)."""
    lava_smm = getattr(_infrastructure(root), "smm", None)
    segments = [handle.name for handle in getattr(lava_smm, "_shared_memory_handles", [])]
    address = getattr(getattr(lava_smm, "_manager", None), "address", None)
    folder = Path(address).parent if isinstance(address, str) else None
    return SharedMemoryRecord(segments, folder if folder is not None and folder.name.startswith("pymp-") else None)


def remove_leftovers(record: SharedMemoryRecord) -> list[str]:
    """Unlink the segments that still exist and remove the server's folder (its work, when it was killed);
    returns what could not be removed."""
    problems = [f"shared memory /dev/shm/{name} could not be removed" for name in record.segments
                if not _unlink_segment(name)]
    if record.folder is not None and record.folder.exists():
        shutil.rmtree(record.folder, ignore_errors=True)
        if record.folder.exists():
            problems.append(f"{record.folder} could not be removed")
    return problems


def abort_run(root, children_before: set) -> list[str]:
    """End every process of the run `root` started and shut its shared-memory server down; returns the
    processes that could not be ended. `children_before` are the multiprocessing children that existed before
    the run: they are not the run's and are left alone. Follow with `remove_leftovers`."""
    runtime = getattr(root, "runtime", None)
    workers = lava_workers(root)
    _kill_and_reap(workers)
    if runtime is not None:
        try:
            runtime.join()          # releases the parent's channel threads, which wait on the dead workers
        except Exception:  # noqa: BLE001 - half-built runtime: nothing left to release
            pass
        # Runtime.__del__ calls stop() on a started runtime, which would wait for the dead workers forever
        runtime._is_started = runtime._is_running = False
        try:
            runtime._watchdog_manager.stop()
        except Exception:  # noqa: BLE001 - no watchdog was started
            pass
    _shut_down_server(getattr(_infrastructure(root), "smm", None))
    strays = [child for child in multiprocessing.active_children() if child not in children_before]
    _kill_and_reap(strays)
    alive = [p.pid for p in workers + strays if _alive(p)]
    return [f"processes {alive} did not end"] if alive else []


def _infrastructure(root):
    return getattr(getattr(root, "runtime", None), "_messaging_infrastructure", None)


def _worker_label(root, worker) -> str:
    """The class of the Lava process (or runtime service) a worker runs. Lava starts one worker per process
    builder, in the executable's order, then one per runtime service (`Runtime._build_processes`)."""
    executable = getattr(getattr(root, "runtime", None), "_executable", None)
    labels = [type(proc).__name__ for proc, builder in getattr(executable, "proc_builders", {}).items()
              if hasattr(builder, "proc_model")]
    labels += [getattr(builder.rs_class, "__name__", "runtime service")
               for builder in getattr(executable, "runtime_service_builders", {}).values()]
    workers = lava_workers(root)
    return labels[workers.index(worker)] if len(labels) == len(workers) else "a Lava process"


def _alive(process) -> bool:
    try:
        return process.is_alive()
    except ValueError:            # already closed by Lava's join: it has ended
        return False


def _kill_and_reap(processes: list) -> None:
    for process in processes:
        if _alive(process):
            try:
                os.kill(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for process in processes:
        try:
            multiprocessing.Process.join(process, REAP_S)   # Lava's SystemProcess.join takes no time-out
        except (ValueError, AssertionError):                # closed, or not our child
            pass


def _shut_down_server(lava_smm) -> None:
    """What Lava's `SharedMemoryManager.shutdown` does, but carrying on where it would stop: close the parent's
    views of the segments (a view a channel array still uses cannot be closed: unlinking is what matters), ask
    the server to unlink the segments, remove its folder and exit; kill it if it does not."""
    manager = getattr(lava_smm, "_manager", None)
    if manager is None:
        return
    for handle in getattr(lava_smm, "_shared_memory_handles", []):
        try:
            handle.close()
        except (BufferError, OSError):
            pass
    lava_smm._shared_memory_handles.clear()
    try:
        manager.shutdown()        # multiprocessing's finalizer: a message, 1 s to exit, then terminate()
    except Exception:  # noqa: BLE001 - a server that is already gone
        pass
    lava_smm._manager = None
    server = getattr(manager, "_process", None)
    if server is not None:
        _kill_and_reap([server])  # it ignores terminate(): it inherited the guard's handler


def _unlink_segment(name: str) -> bool:
    """Remove one segment if it still exists (also from the resource tracker's list); False if it stays."""
    try:
        segment = shared_memory.SharedMemory(name=name)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        segment.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        return False
    finally:
        segment.close()
    return True
