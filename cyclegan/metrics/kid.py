"""Kernel Inception Distance: unbiased MMD^2 with the cubic polynomial kernel, over subsets.

k(x, y) = (x . y / D + 1)^3 (Bińkowski et al., 2018, as in their code, torch-fidelity and
clean-fid). Each of ``num_subsets`` rounds draws ``subset_size`` rows of each set without
replacement and computes the unbiased estimate; KID is the mean over rounds, reported with the
standard deviation over rounds.

The estimate is unbiased for independent samples. Scoring a set against itself gives a small
negative value instead of 0, because the two subsets of a round share rows (about
``subset_size / N`` of them) and k(x, x) exceeds k(x, y).

Example:
    >>> rng = np.random.default_rng(0)
    >>> feats = rng.normal(size=(200, 16))
    >>> mean, std = kernel_inception_distance(feats, feats, num_subsets=10, subset_size=100)
    >>> abs(mean) < 0.05
    True
"""

from __future__ import annotations

import numpy as np


def polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between samples ``x`` [m, D] and ``y`` [n, D], cubic polynomial kernel.

    Raises:
        ValueError: with fewer than two rows in either set.
    """
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError(f"KID needs at least 2 rows per set, got {m} and {n}.")
    dim = x.shape[1]
    k_xx = (x @ x.T / dim + 1.0) ** 3
    k_yy = (y @ y.T / dim + 1.0) ** 3
    k_xy = (x @ y.T / dim + 1.0) ** 3
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kernel_inception_distance(
    features1: np.ndarray,
    features2: np.ndarray,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """KID mean and standard deviation over random subsets.

    Args:
        features1: [N1, D] features of one set (e.g. generated images).
        features2: [N2, D] features of the other (e.g. real images).
        num_subsets: rounds of subsampling.
        subset_size: rows drawn from each set per round; capped at the smaller set's size.
        seed: seed of the subsampling, so a report is reproducible.

    Returns:
        (mean, std) of the unbiased MMD^2 estimates.
    """
    size = min(subset_size, features1.shape[0], features2.shape[0])
    rng = np.random.default_rng(seed)
    f1 = features1.astype(np.float64, copy=False)
    f2 = features2.astype(np.float64, copy=False)
    estimates = np.array(
        [
            polynomial_mmd2_unbiased(
                f1[rng.choice(f1.shape[0], size, replace=False)],
                f2[rng.choice(f2.shape[0], size, replace=False)],
            )
            for _ in range(num_subsets)
        ]
    )
    return float(estimates.mean()), float(estimates.std())
