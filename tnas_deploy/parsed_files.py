"""Parsed input files remembered by content, for inputs read again and again (an architecture search reads the
same hardware profiles and calibration tables for every candidate).

The key is the path as given plus the SHA-256 of the file's bytes, so an edited file is a miss even when its size
and timestamps do not change. A file that changes while it is parsed is not remembered, and a file that cannot
be read is parsed directly (its parser says why). The cache returns what it holds: callers hand out copies.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class ParsedFiles(Generic[T]):
    """At most `size` parsed files, the least recently used dropped first; safe to share between threads."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._parsed: OrderedDict[tuple[str, str], T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, parse: Callable[[Path], T]) -> T:
        """`parse(path)`, or what it gave for the same content before."""
        digest = _digest(path)
        if digest is None:                    # unreadable: parsing says why
            return parse(path)
        key = (str(path), digest)
        with self._lock:
            cached = self._parsed.get(key)
            if cached is not None:
                self._parsed.move_to_end(key)
                return cached
        value = parse(path)
        if _digest(path) != digest:           # the file changed while it was read: keep nothing
            return value
        with self._lock:
            self._parsed[key] = value
            if len(self._parsed) > self.size:
                self._parsed.popitem(last=False)
        return value
