"""Lightning callbacks."""

from cyclegan.callbacks.images import ImageGridLogger

__all__ = ["ImageGridLogger"]
