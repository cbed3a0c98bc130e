"""Kaggle's Memorization-informed FID (MiFID), as the "I'm Something of a Painter Myself" scorer.

d = mean over generated images of the minimum cosine distance ``1 - |cos|`` to any real image's
features (the memorization distance; small means generated images copy real ones).
d_thr = d if d < epsilon (0.1) else 1, and MiFID = FID / d_thr, so MiFID equals FID unless the
generator memorizes, in which case it is multiplied by 1/d. Kaggle's code divides by
``d_thr + 1e-14`` and drops all-zero feature rows (which have no direction) before the
distance; both are kept here so scores match the leaderboard's definition.

Example:
    >>> gen = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> real = np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> round(memorization_distance(gen, real), 4)  # (0 + (1 - 1/sqrt(2))) / 2
    0.1464
    >>> round(mifid(fid=30.0, distance=0.05), 6)  # memorizing: 30 / 0.05
    600.0
"""

from __future__ import annotations

import numpy as np

KAGGLE_EPSILON = 0.1
_KAGGLE_DIVISION_EPS = 1e-14


def _unit_rows(features: np.ndarray) -> np.ndarray:
    feats = features.astype(np.float64, copy=False)
    feats = feats[np.abs(feats).sum(axis=1) != 0]
    return feats / np.linalg.norm(feats, axis=1, keepdims=True)


def memorization_distance(generated: np.ndarray, real: np.ndarray, chunk_size: int = 4096) -> float:
    """Mean over ``generated`` rows of the minimum cosine distance to any ``real`` row.

    Args:
        generated: [N, D] features of generated images.
        real: [M, D] features of real images.
        chunk_size: generated rows per matrix product (bounds memory for large N and M).

    Raises:
        ValueError: when either set has no non-zero feature row.
    """
    gen, ref = _unit_rows(generated), _unit_rows(real)
    if gen.shape[0] == 0 or ref.shape[0] == 0:
        raise ValueError("memorization distance needs at least one non-zero feature row per set.")
    minima = [
        (1.0 - np.abs(gen[i : i + chunk_size] @ ref.T)).min(axis=1)
        for i in range(0, gen.shape[0], chunk_size)
    ]
    return float(np.concatenate(minima).mean())


def mifid(fid: float, distance: float, epsilon: float = KAGGLE_EPSILON) -> float:
    """MiFID = FID / d_thr with d_thr = distance if distance < epsilon else 1."""
    thresholded = distance if distance < epsilon else 1.0
    return fid / (thresholded + _KAGGLE_DIVISION_EPS)
