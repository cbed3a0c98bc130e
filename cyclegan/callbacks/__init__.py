"""Lightning callbacks."""

from cyclegan.callbacks.images import ImageGridLogger, StyleGridLogger
from cyclegan.callbacks.mifid import MiFIDCallback

__all__ = ["ImageGridLogger", "MiFIDCallback", "StyleGridLogger"]
