"""The Ray actor that follows a sharded run: which worker runs each slice, and how many samples each has done.

Kept apart from everything heavy (it imports nothing of tnas-deploy) so that Ray starts the actor's process quickly:
the slices announce themselves to it before their Lava run starts (`slice_task`).
"""
from __future__ import annotations


class SliceBoard:
    """A Ray actor: which worker runs each slice, and how many samples each slice has done."""

    def __init__(self) -> None:
        self.done: dict[int, float] = {}
        self.worker: dict[int, tuple[int, str]] = {}

    def started(self, index: int, pid: int, host: str) -> None:
        self.worker[index] = (pid, host)

    def advance(self, index: int, samples: float) -> None:
        self.done[index] = self.done.get(index, 0.0) + samples

    def restart(self, index: int) -> None:
        self.done[index] = 0.0
        self.worker.pop(index, None)

    def snapshot(self) -> tuple[dict[int, float], dict[int, tuple[int, str]]]:
        return dict(self.done), dict(self.worker)


__all__ = ["SliceBoard"]
