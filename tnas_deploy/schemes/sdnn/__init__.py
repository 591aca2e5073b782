"""The sigma-delta coding scheme (SDNN): Loihi 2's graded-spike neurons, lowered from a genome's ReLU ANN."""
from .scheme import SdnnScheme

__all__ = ["SdnnScheme"]
