"""Time-to-first-spike (TTFS) coding: the exact ReLU -> TTFS mapping, its quantization, reference simulator,
Lava processes, activity counts and NIR export (docs/ttfs.md)."""
from .scheme import TtfsScheme

__all__ = ["TtfsScheme"]
