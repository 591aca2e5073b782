"""The resumable result file of a population batch: `results.jsonl`, one JSON row a genome, append-only.

Each row is appended with one `write` of the whole line on a file opened for appending, then flushed to disk,
so a batch stopped at any point leaves whole rows behind (a line torn by a crash or a full disk, the only
partial line there can be, is the last one: it is cut off when the file is opened again). On restart, a
genome whose row is already there, with the same content hash and the same settings key, is skipped; a
changed genome file (or weights file), other settings, or a row that failed because its worker died is
evaluated again, and its new row appended. The last matching row of a genome is the one that counts.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import DeployError
from ..io_utils import cannot_write
from .evaluate import ROW_VERSION
from .listing import PopulationEntry

#: The file name of the result rows in a batch's output folder.
RESULTS_FILE = "results.jsonl"


class ResultFile:
    """The rows of `path` so far, and appending new ones (module doc)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = self._read()
        self._by_genome: dict[str, list[dict[str, Any]]] = {}
        for row in self.rows:
            self._by_genome.setdefault(row["genome"], []).append(row)

    def done(self, entry: PopulationEntry, settings_key: str) -> dict[str, Any] | None:
        """The last row that makes evaluating `entry` again unnecessary, or None."""
        for row in reversed(self._by_genome.get(entry.shown, [])):
            if (row.get("sha256") == entry.sha256 and row.get("settings") == settings_key
                    and row.get("version") == ROW_VERSION and not row.get("transient")):
                return row
        return None

    def append(self, row: dict[str, Any]) -> None:
        """Add one row to the file and to `rows`: one write of the whole line, then fsync."""
        line = (json.dumps(row, sort_keys=True, allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(28, "short write")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise cannot_write(self.path, exc) from None
        self.rows.append(row)
        self._by_genome.setdefault(row["genome"], []).append(row)

    def _read(self) -> list[dict[str, Any]]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise DeployError(f"cannot read earlier results ({exc.strerror})", self.path) from None
        if data and not data.endswith(b"\n"):        # a row torn by a crash: cut it off, its genome runs again
            data = data[:data.rfind(b"\n") + 1]
            try:
                os.truncate(self.path, len(data))
            except OSError as exc:
                raise cannot_write(self.path, exc) from None
        rows = []
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict) or not isinstance(row.get("genome"), str):
                raise DeployError(f"line {number} is not a result row of tnas-deploy bench --population; "
                                  "remove the line (that genome is evaluated again) or choose another -o",
                                  self.path)
            rows.append(row)
        return rows
