"""Rate-coded networks (genome version 2, `coding.scheme = "rate"`): lowering, quantization, float and integer
simulators, Lava processes, activity counts, NIR and netx export, the trainable torch model (docs/rate.md)."""
from .scheme import RateScheme

__all__ = ["RateScheme"]
