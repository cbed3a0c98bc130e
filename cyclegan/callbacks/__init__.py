"""Lightning callbacks."""

from cyclegan.callbacks.checkpoint import SafeModelCheckpoint
from cyclegan.callbacks.images import ImageGridLogger, StyleGridLogger
from cyclegan.callbacks.mifid import MiFIDCallback

__all__ = ["ImageGridLogger", "MiFIDCallback", "SafeModelCheckpoint", "StyleGridLogger"]
