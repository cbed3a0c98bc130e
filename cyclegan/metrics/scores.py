"""All scores of one generated set against one real set, from their features."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cyclegan.metrics.fid import FeatureStats, frechet_distance
from cyclegan.metrics.kid import kernel_inception_distance
from cyclegan.metrics.mifid import KAGGLE_EPSILON, memorization_distance, mifid


@dataclass(frozen=True)
class Scores:
    """FID, KID (mean and std over subsets of ``kid_subset_size`` rows per set), memorization
    distance and MiFID."""

    fid: float
    kid_mean: float
    kid_std: float
    kid_subset_size: int
    memorization: float
    mifid: float
    num_generated: int
    num_real: int

    def as_dict(self) -> dict[str, float]:
        """Plain dict, e.g. for logging or JSON."""
        return {key: float(value) for key, value in asdict(self).items()}


def compute_scores(
    generated: np.ndarray,
    real: np.ndarray,
    real_stats: FeatureStats | None = None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
    epsilon: float = KAGGLE_EPSILON,
) -> Scores:
    """Score generated features [N, D] against real features [M, D].

    Args:
        generated: features of the generated images.
        real: features of the real images.
        real_stats: mean/covariance of ``real`` if already known (e.g. cached).
        kid_subsets: KID subsampling rounds.
        kid_subset_size: KID subset size (capped at the smaller set).
        seed: KID subsampling seed.
        epsilon: MiFID memorization threshold (Kaggle: 0.1).

    Returns:
        The :class:`Scores`.
    """
    real_stats = real_stats if real_stats is not None else FeatureStats.from_features(real)
    gen_stats = FeatureStats.from_features(generated)
    if generated.shape[0] <= real.shape[0]:  # the smaller set gives the cheaper trace term
        fid = frechet_distance(gen_stats, real_stats, features1=generated)
    else:
        fid = frechet_distance(real_stats, gen_stats, features1=real)
    kid_mean, kid_std = kernel_inception_distance(
        generated, real, num_subsets=kid_subsets, subset_size=kid_subset_size, seed=seed
    )
    distance = memorization_distance(generated, real)
    return Scores(
        fid=fid,
        kid_mean=kid_mean,
        kid_std=kid_std,
        kid_subset_size=min(kid_subset_size, generated.shape[0], real.shape[0]),
        memorization=distance,
        mifid=mifid(fid, distance, epsilon),
        num_generated=int(generated.shape[0]),
        num_real=int(real.shape[0]),
    )
