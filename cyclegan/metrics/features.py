"""The feature-extractor interface and streaming extraction (features kept, images dropped)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np
from torch import Tensor


class FeatureExtractor(Protocol):
    """Maps a batch of uint8 RGB images [B, 3, H, W] to float features [B, D].

    ``fingerprint`` names the weights and preprocessing, so cached features of one extractor are
    never reused for another. :class:`~cyclegan.metrics.inception.InceptionFeatureExtractor` is
    the one FID/KID/MiFID use; tests pass small stand-ins.
    """

    @property
    def fingerprint(self) -> str: ...

    def __call__(self, images: Tensor) -> Tensor: ...


def extract_features(batches: Iterable[Tensor], extractor: FeatureExtractor) -> np.ndarray:
    """Features [N, D] (float32) of a stream of uint8 image batches, one batch in memory at a time.

    Args:
        batches: uint8 [B, 3, H, W] tensors (sizes may differ between batches).
        extractor: the feature extractor.

    Returns:
        The features of every image, in order; shape [0, 0] when ``batches`` is empty.
    """
    chunks = [extractor(batch).detach().float().cpu().numpy() for batch in batches]
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(chunks, axis=0)
