"""File output: the one atomic writer every output of tnas-deploy goes through, and in-memory encoders.

An output is first produced as bytes in memory (`hdf5_image`, `npz_image`, text, PNG, ONNX), then written
by `write_files_atomic` with plain `os.write` to a temporary file beside the target, flushed with `fsync`
and renamed over the target. So:

- the target is always either the complete new file or untouched, and no `.tmp` file stays behind on an
  error (a killed process is the only exception);
- an operating-system failure (full disk, read-only location, permission denied, a folder that cannot be
  created, a target that is a folder) is a `DeployError` naming the path and the reason, e.g.
  "build/x.tdart: cannot write: No space left on device", never a traceback;
- no C library writes to the disk: HDF5 files are built in memory, because libhdf5 can crash the process
  (segmentation fault) when the disk fills while it writes.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DeployError

#: Distinct names for the in-memory HDF5 files (libhdf5 tells open files apart by name).
_image_numbers = itertools.count()


# -- encoders: outputs as bytes ----------------------------------------------------------------------
def hdf5_image(fill: Callable[[Any], None], **file_options: Any) -> bytes:
    """The bytes of a new HDF5 file that `fill(h5py.File)` populates, built in memory.

    libhdf5's "core" driver without a backing store lays the file out as its default (sec2) driver does,
    so the bytes are the same as writing to a path; nothing touches the disk."""
    import h5py

    name = f"tnas-deploy-image-{os.getpid()}-{next(_image_numbers)}.h5"
    with h5py.File(name, "w", driver="core", backing_store=False, **file_options) as f:
        fill(f)
        f.flush()
        return f.id.get_file_image()


def npz_image(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The bytes `numpy.savez_compressed` writes for `arrays` (deterministic: zip entries carry no date)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


# -- the atomic writer -------------------------------------------------------------------------------
def write_files_atomic(files: Mapping[str | Path, bytes]) -> None:
    """Write several files as one: every file is written completely to its temporary file before the first
    is renamed into place, so a full disk or another write error leaves none of them changed (and removes
    the folders it created for them)."""
    staged: list[tuple[Path, Path]] = []
    created: list[Path] = []
    try:
        for target, data in files.items():
            target = Path(target)
            staged.append((_stage(target, data, created), target))
        for tmp, target in staged:
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise cannot_write(target, exc) from None
    except BaseException:                  # Ctrl-C included: no temporary file stays behind
        for tmp, _ in staged:
            _remove_quietly(tmp)
        for folder in reversed(created):   # deepest first; one that holds a renamed file stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically; an OS failure is a `DeployError` naming `path` and the reason."""
    write_files_atomic({path: data})


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` as UTF-8 to `path` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def cannot_write(path: str | Path, exc: OSError) -> DeployError:
    """The user error for an OS failure while writing `path`: "PATH: cannot write: REASON"."""
    return DeployError(f"cannot write: {exc.strerror or exc}", path)


def _stage(target: Path, data: bytes, created: list[Path]) -> Path:
    """Write `data` to a new temporary file beside `target` (flushed to disk, usual mode); return its path.
    Folders it creates for `target` are appended to `created`."""
    kind = _existing_kind(target)
    if kind is not None:
        raise DeployError(f"cannot write: it is {kind}; expected a file path for the output", target)
    _make_folder(target, created)
    # the temporary name stays within the usual 255-byte limit even for a long target name
    prefix = "." + target.name.encode("utf-8")[:200].decode("utf-8", "ignore") + "."
    try:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise cannot_write(target, exc) from None
    tmp = Path(name)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            os.fchmod(fd, 0o666 & ~_umask())   # mkstemp makes 0600; give the file the user's usual mode
        finally:
            os.close(fd)
    except OSError as exc:
        _remove_quietly(tmp)
        raise cannot_write(target, exc) from None
    except BaseException:
        _remove_quietly(tmp)
        raise
    return tmp


def _make_folder(target: Path, created: list[Path]) -> None:
    """Create the target's folder if needed, appending the folders it creates (outermost first) to `created`;
    a file in the way or an OS refusal is a `DeployError`."""
    folder = target.parent
    missing = []
    for parent in (folder, *folder.parents):
        if _exists(parent):
            if not _is_folder(parent):
                raise DeployError(f"cannot write: {parent} is a file, not a folder", target)
            break
        missing.append(parent)
    try:
        for parent in reversed(missing):
            parent.mkdir(exist_ok=True)
            created.append(parent)
    except OSError as exc:
        raise DeployError(f"cannot write: cannot create the folder {folder} ({exc.strerror or exc})", target) from None


def _existing_kind(target: Path) -> str | None:
    """What exists at `target` if it is not a regular file: renaming over a device such as /dev/null would
    replace the device itself, so those are refused like folders."""
    try:
        mode = target.stat().st_mode
    except OSError:          # nothing there (or not reachable: the write itself will say why)
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    return None if stat.S_ISREG(mode) else "a device, pipe or socket, not a regular file"


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:          # e.g. permission denied on a parent: the write itself will report it
        return False


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def _remove_quietly(tmp: Path) -> None:
    with contextlib.suppress(OSError):     # e.g. the file system went read-only meanwhile: nothing more to do
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- reading -----------------------------------------------------------------------------------------
def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
