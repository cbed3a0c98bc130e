"""Fréchet Inception Distance between two Gaussians fitted to feature sets.

FID = ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)). The trace of the matrix square root is
computed from symmetric eigendecompositions: (S1 S2)^(1/2) is similar to
(S1^(1/2) S2 S1^(1/2))^(1/2), which is symmetric positive semi-definite, so its trace is the sum
of the square roots of real, non-negative eigenvalues. Unlike ``scipy.linalg.sqrtm`` of the
non-symmetric product, this needs no "discard the imaginary part" or "add eps to the diagonal"
fix when S1 is singular (fewer samples than 2048 features, e.g. the 300 Monet paintings).

When one set has N < D rows, S1 = A A^T with A = (X - mu1)^T / sqrt(N - 1) of shape [D, N], and
the non-zero eigenvalues of S1^(1/2) S2 S1^(1/2) are those of the N x N matrix A^T S2 A, so the
trace costs O(N D^2) instead of O(D^3) (about 1 s instead of 15 s for 300 Monets at D = 2048).

Example:
    >>> rng = np.random.default_rng(0)
    >>> stats = FeatureStats.from_features(rng.normal(size=(500, 8)))
    >>> round(frechet_distance(stats, stats), 6)
    0.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FeatureStats:
    """Mean [D] and covariance [D, D] (float64) of a feature set, as FID uses them."""

    mu: np.ndarray
    sigma: np.ndarray

    @classmethod
    def from_features(cls, features: np.ndarray) -> FeatureStats:
        """Fit mean and unbiased covariance (``np.cov``, ddof=1, as the reference code does).

        Raises:
            ValueError: with fewer than two feature rows (no covariance).
        """
        if features.ndim != 2 or features.shape[0] < 2:
            raise ValueError(
                f"need a [N, D] feature array with N >= 2 to fit a covariance, got shape "
                f"{features.shape}."
            )
        feats = features.astype(np.float64, copy=False)
        return cls(mu=feats.mean(axis=0), sigma=np.cov(feats, rowvar=False))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (negative rounding noise clipped to 0)."""
    eigvals, eigvecs = np.linalg.eigh(matrix)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((sigma1 sigma2)^(1/2)) for symmetric PSD ``sigma1``, ``sigma2``."""
    root1 = _psd_sqrt(sigma1)
    inner = root1 @ sigma2 @ root1
    eigvals = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    return float(np.sqrt(np.clip(eigvals, 0.0, None)).sum())


def trace_sqrt_product_low_rank(features1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((sigma1 sigma2)^(1/2)) where sigma1 is the covariance of ``features1`` [N, D], N < D."""
    feats = features1.astype(np.float64, copy=False)
    factor = (feats - feats.mean(axis=0)).T / np.sqrt(feats.shape[0] - 1)  # sigma1 = A A^T
    inner = factor.T @ sigma2 @ factor
    eigvals = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    return float(np.sqrt(np.clip(eigvals, 0.0, None)).sum())


@dataclass(frozen=True)
class FrechetTerms:
    """The two terms of the Fréchet distance: where two feature sets differ.

    ``mean`` = ||mu1 - mu2||^2 (the sets' average looks differ), ``covariance`` =
    tr(S1 + S2 - 2 (S1 S2)^(1/2)) (their spread and its directions differ).
    """

    mean: float
    covariance: float

    @property
    def total(self) -> float:
        """The Fréchet distance (rounding can leave about -1e-9 for identical sets: clipped)."""
        return max(self.mean + self.covariance, 0.0)


def frechet_terms(
    stats1: FeatureStats, stats2: FeatureStats, features1: np.ndarray | None = None
) -> FrechetTerms:
    """The mean and covariance terms of the Fréchet distance; arguments as ``frechet_distance``.

    Raises:
        ValueError: when the two feature dimensions differ.
    """
    if stats1.mu.shape != stats2.mu.shape:
        raise ValueError(f"feature dimensions differ: {stats1.mu.shape} vs {stats2.mu.shape}.")
    diff = stats1.mu - stats2.mu
    trace = np.trace(stats1.sigma) + np.trace(stats2.sigma)
    if features1 is not None and features1.shape[0] < features1.shape[1]:
        cross = trace_sqrt_product_low_rank(features1, stats2.sigma)
    else:
        cross = trace_sqrt_product(stats1.sigma, stats2.sigma)
    return FrechetTerms(mean=float(diff @ diff), covariance=float(trace - 2.0 * cross))


def frechet_distance(
    stats1: FeatureStats, stats2: FeatureStats, features1: np.ndarray | None = None
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        stats1: mean and covariance of the first set.
        stats2: mean and covariance of the second set.
        features1: the rows ``stats1`` was fitted on, if at hand; with fewer rows than
            dimensions they give the same result much faster.

    Raises:
        ValueError: when the two feature dimensions differ.
    """
    return frechet_terms(stats1, stats2, features1).total
