"""Reading the arrays of a user's `.npz` archive, with one clear error for a file that is not one.

An `.npz` is a zip archive of `.npy` files, read lazily by numpy: a damaged file fails when an array is read,
and with whatever the damaged layer raises (`zipfile.BadZipFile`, `zlib.error` for a corrupted compressed
member, `EOFError` for a truncated one, `tokenize.TokenError` or `SyntaxError` for a garbled array header,
`ValueError`, a `MemoryError` for a header that claims a huge shape, ...). Every input reader of tnas-deploy
(data and calibration files, event files, golden files) goes through `read_npz`, which reads every array at
once and turns any failure of numpy's reader into a `DeployError` naming the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DeployError


def read_npz(path: Path, expected: str, what: str = ".npz file") -> dict[str, np.ndarray]:
    """Every array of the archive at `path` by name. `expected` says what the file should hold (for the
    message); `what` names the accepted kinds of file (e.g. ".npz or HDF5 file")."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:   # noqa: BLE001 - anything numpy's reader raises means: not a readable archive
        raise DeployError(f"not a readable {what} ({_reason(exc)}); expected {expected}", path) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DeployError(f"is a single array (.npy); expected {expected}", path)
    with loaded as npz:
        arrays: dict[str, np.ndarray] = {}
        for name in npz.files:
            try:
                arrays[name] = npz[name]
            except Exception as exc:   # noqa: BLE001 - a damaged member, whatever layer notices it
                raise DeployError(f"not a readable {what}: array {name!r} is damaged ({_reason(exc)}); "
                                  f"expected {expected}", path) from None
    return arrays


def _reason(exc: Exception) -> str:
    """`zlib.error: Error -3 while decompressing data: ...`: the exception's (module and) name and text."""
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    text = str(exc).strip()
    return f"{name}: {text}" if text else name


__all__ = ["read_npz"]
