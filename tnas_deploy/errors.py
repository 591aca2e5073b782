"""User-facing errors. Every bad input becomes one `DeployError` naming file, field and expectation."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class DeployError(Exception):
    """A problem with the user's input or with what it asks for; the CLI prints it and exits with 2."""

    message: str
    file: str | Path | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.field:
            where.append(self.field)
        return ": ".join(where + [self.message])


class OverflowReport(DeployError):
    """A fixed-point quantity does not fit its format (raised at compile time, never wrapped silently)."""


class BackendError(DeployError):
    """The backend failed while running (time-out, crashed worker); the CLI exits with 3."""
