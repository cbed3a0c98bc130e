"""FID, KID and MiFID against closed forms, brute force and their defining cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import Tensor

from cyclegan.metrics import (
    CachedFeatures,
    FeatureCache,
    FeatureStats,
    compute_scores,
    content_key,
    extract_features,
    frechet_distance,
    frechet_terms,
    kernel_inception_distance,
    memorization_distance,
    mifid,
)
from cyclegan.metrics.kid import polynomial_mmd2_unbiased


class PixelFeatures:
    """Stub extractor: the features of a 1x1 image are its three pixel values."""

    fingerprint = "pixels"

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []

    def __call__(self, images: Tensor) -> Tensor:
        self.batch_sizes.append(images.shape[0])
        return images.float().flatten(1)


def _stats(mu: list[float], sigma: list[list[float]]) -> FeatureStats:
    return FeatureStats(mu=np.array(mu, dtype=np.float64), sigma=np.array(sigma, dtype=np.float64))


def _random_spd(rng: np.random.Generator, dim: int) -> np.ndarray:
    a = rng.normal(size=(dim, dim))
    return a @ a.T / dim + 0.1 * np.eye(dim)


# ---------------------------------------------------------------------------------------- FID


def test_fid_of_a_set_with_itself_is_zero() -> None:
    feats = np.random.default_rng(0).normal(size=(500, 64))
    stats = FeatureStats.from_features(feats)
    assert frechet_distance(stats, stats) == pytest.approx(0.0, abs=1e-8)


def test_fid_of_a_set_with_itself_is_zero_when_covariance_is_singular() -> None:
    # 40 samples in 256 dimensions: rank-deficient covariance, as 300 Monets in 2048-d.
    feats = np.random.default_rng(1).gamma(2.0, size=(40, 256))
    stats = FeatureStats.from_features(feats)
    assert frechet_distance(stats, stats) < 1e-7 * np.trace(stats.sigma)


def test_fid_diagonal_gaussians_closed_form() -> None:
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    s1 = _stats([0.0, 1.0, 2.0], np.diag(a).tolist())
    s2 = _stats([3.0, 1.0, -2.0], np.diag(b).tolist())
    expected = 9.0 + 0.0 + 16.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)  # = 25 + 1 + 1 + 6.25
    assert frechet_distance(s1, s2) == pytest.approx(expected, rel=1e-12)
    assert frechet_distance(s2, s1) == pytest.approx(expected, rel=1e-12)


def test_fid_terms_split_the_distance_into_the_mean_shift_and_the_rest() -> None:
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    s1 = _stats([0.0, 1.0, 2.0], np.diag(a).tolist())
    s2 = _stats([3.0, 1.0, -2.0], np.diag(b).tolist())
    terms = frechet_terms(s1, s2)
    assert terms.mean == pytest.approx(25.0, rel=1e-12)  # ||(-3, 0, 4)||^2
    assert terms.covariance == pytest.approx(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2), rel=1e-12)
    assert terms.total == frechet_distance(s1, s2)
    # The same covariance shifted: only the mean term; the same mean rescaled: only the other.
    assert frechet_terms(s1, _stats([1.0, 1.0, 2.0], np.diag(a).tolist())).covariance == (
        pytest.approx(0.0, abs=1e-12)
    )
    assert frechet_terms(s1, _stats([0.0, 1.0, 2.0], np.diag(4 * a).tolist())).mean == 0.0


def test_fid_non_commuting_2x2_closed_form() -> None:
    # For 2x2 PSD A, B: tr sqrt(AB) = sqrt(tr(AB) + 2 sqrt(det(AB))).
    sigma1 = np.array([[2.0, 0.8], [0.8, 1.0]])
    sigma2 = np.array([[1.0, -0.5], [-0.5, 3.0]])
    product = sigma1 @ sigma2
    tr_sqrt = math.sqrt(np.trace(product) + 2.0 * math.sqrt(np.linalg.det(product)))
    expected = 0.5**2 + 2.0**2 + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_sqrt
    got = frechet_distance(_stats([0.5, 0.0], sigma1.tolist()), _stats([0.0, 2.0], sigma2.tolist()))
    assert got == pytest.approx(expected, rel=1e-12)


def test_fid_matches_scipy_sqrtm_on_full_rank_covariances() -> None:
    rng = np.random.default_rng(2)
    s1 = FeatureStats(mu=rng.normal(size=32), sigma=_random_spd(rng, 32))
    s2 = FeatureStats(mu=rng.normal(size=32), sigma=_random_spd(rng, 32))
    covmean = scipy.linalg.sqrtm(s1.sigma @ s2.sigma).real
    diff = s1.mu - s2.mu
    reference = diff @ diff + np.trace(s1.sigma + s2.sigma - 2.0 * covmean)
    assert frechet_distance(s1, s2) == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("rows", [5, 40])
def test_fid_low_rank_path_equals_full_eigendecomposition(rows: int) -> None:
    rng = np.random.default_rng(11)
    small = rng.gamma(2.0, size=(rows, 64))
    large = FeatureStats.from_features(rng.gamma(2.2, size=(500, 64)))
    small_stats = FeatureStats.from_features(small)
    full = frechet_distance(small_stats, large)
    # The full path takes square roots of rounding-noise eigenvalues of the singular sigma1,
    # which costs it about 1e-8 relative; the low-rank path has no zero eigenvalues.
    assert frechet_distance(small_stats, large, features1=small) == pytest.approx(full, rel=1e-6)
    assert frechet_distance(small_stats, small_stats, features1=small) < 1e-9 * full
    scores = compute_scores(small, rng.gamma(2.2, size=(500, 64)), kid_subsets=2)
    assert scores.fid == pytest.approx(full, rel=0.3)  # another sample of the same law


def test_fid_through_a_stub_extractor_matches_two_gaussians_closed_form() -> None:
    """Samples of two known 3-d Gaussians, stored as 1x1 uint8 images, scored end to end."""
    rng = np.random.default_rng(3)
    mu1, mu2 = np.array([100.0, 120.0, 140.0]), np.array([110.0, 115.0, 140.0])
    sigma1 = np.array([[100.0, 30.0, 0.0], [30.0, 80.0, 10.0], [0.0, 10.0, 60.0]])
    sigma2 = np.array([[50.0, -10.0, 5.0], [-10.0, 120.0, 0.0], [5.0, 0.0, 90.0]])
    n = 40_000

    def images(mu: np.ndarray, sigma: np.ndarray) -> Tensor:
        samples = rng.multivariate_normal(mu, sigma, size=n).round().clip(0, 255)
        return torch.from_numpy(samples.astype(np.uint8)).reshape(n, 3, 1, 1)

    extractor = PixelFeatures()
    gen = extract_features(images(mu1, sigma1).split(999), extractor)
    real = extract_features(images(mu2, sigma2).split(4096), extractor)
    assert gen.shape == (n, 3)
    assert max(extractor.batch_sizes) == 4096

    # Rounding to integers adds independent uniform noise of variance 1/12 to each pixel.
    quantized = [_stats(mu1.tolist(), (sigma1 + np.eye(3) / 12).tolist()),
                 _stats(mu2.tolist(), (sigma2 + np.eye(3) / 12).tolist())]  # fmt: skip
    expected = frechet_distance(*quantized)  # (by the closed-form-checked function above)
    fid = frechet_distance(FeatureStats.from_features(gen), FeatureStats.from_features(real))
    assert expected > 100.0
    assert fid == pytest.approx(expected, rel=0.02)


def test_feature_stats_needs_two_rows() -> None:
    with pytest.raises(ValueError, match="N >= 2"):
        FeatureStats.from_features(np.ones((1, 8)))


# ---------------------------------------------------------------------------------------- KID


def test_polynomial_mmd_matches_brute_force() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(5, 3)), rng.normal(loc=0.5, size=(4, 3))

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return float((a @ b / 3 + 1) ** 3)

    xx = sum(k(x[i], x[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    yy = sum(k(y[i], y[j]) for i in range(4) for j in range(4) if i != j) / (4 * 3)
    xy = sum(k(x[i], y[j]) for i in range(5) for j in range(4)) / (5 * 4)
    assert polynomial_mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_of_identical_sets_is_near_zero_and_far_below_a_shifted_set() -> None:
    rng = np.random.default_rng(5)
    feats = rng.gamma(2.0, 0.2, size=(1000, 256))  # non-negative, like pool3 features
    other = rng.gamma(2.0, 0.2, size=(1000, 256))  # an independent sample of the same law
    same_mean, same_std = kernel_inception_distance(feats, feats, num_subsets=50, subset_size=100)
    twin_mean, _ = kernel_inception_distance(feats, other, num_subsets=50, subset_size=100)
    scaled_mean, _ = kernel_inception_distance(feats, other * 1.1, num_subsets=50, subset_size=100)
    assert scaled_mean > 0.005
    # Identical sets: only the small negative bias of overlapping subsets (see kid.py).
    assert abs(same_mean) < 0.15 * scaled_mean
    assert abs(same_mean) < 2 * same_std
    # Independent samples of one distribution: the estimator is unbiased.
    assert abs(twin_mean) < 0.05 * scaled_mean


def test_kid_is_reproducible_by_seed_and_caps_subset_size() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(30, 8)), rng.normal(size=(300, 8))
    first = kernel_inception_distance(a, b, num_subsets=10, subset_size=1000, seed=1)
    assert first == kernel_inception_distance(a, b, num_subsets=10, subset_size=1000, seed=1)
    assert first != kernel_inception_distance(a, b, num_subsets=10, subset_size=1000, seed=2)


# -------------------------------------------------------------------------------------- MiFID


def _brute_force_memorization(gen: np.ndarray, real: np.ndarray) -> float:
    minima = []
    for g in gen:
        cosines = [abs(g @ r) / (np.linalg.norm(g) * np.linalg.norm(r)) for r in real]
        minima.append(min(1.0 - c for c in cosines))
    return float(np.mean(minima))


def test_mifid_equals_fid_when_generated_images_are_far_from_real_ones() -> None:
    rng = np.random.default_rng(7)
    real = np.zeros((50, 20))
    real[:, :10] = rng.gamma(2.0, size=(50, 10))
    gen = np.zeros((60, 20))
    gen[:, 10:] = rng.gamma(2.0, size=(60, 10))  # orthogonal to every real feature
    scores = compute_scores(gen, real, kid_subsets=5)
    assert scores.memorization == pytest.approx(1.0)
    assert scores.memorization == pytest.approx(_brute_force_memorization(gen, real))
    assert scores.mifid == pytest.approx(scores.fid, rel=1e-12)


def test_mifid_divides_fid_by_distance_when_generated_images_copy_real_ones() -> None:
    rng = np.random.default_rng(8)
    real = rng.gamma(2.0, size=(50, 20))
    gen = real[:40] * 1.5 + rng.normal(scale=0.2, size=(40, 20))  # scaled, noisy copies
    scores = compute_scores(gen, real, kid_subsets=5)
    d = _brute_force_memorization(gen, real)
    assert 0.0 < d < 0.1
    assert scores.memorization == pytest.approx(d, rel=1e-9)
    assert scores.mifid == pytest.approx(scores.fid / d, rel=1e-9)
    assert scores.mifid > 10 * scores.fid


def test_mifid_threshold_is_strict() -> None:
    assert mifid(20.0, 0.1) == pytest.approx(20.0)
    assert mifid(20.0, 0.0999) == pytest.approx(20.0 / 0.0999)
    assert mifid(20.0, 0.5, epsilon=0.6) == pytest.approx(40.0)


def test_memorization_ignores_all_zero_rows_like_kaggle() -> None:
    real = np.array([[1.0, 0.0], [0.0, 0.0]])
    gen = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert memorization_distance(gen, real) == pytest.approx(1.0 - 1.0 / math.sqrt(2.0))
    with pytest.raises(ValueError, match="non-zero"):
        memorization_distance(np.zeros((3, 2)), real)


def test_memorization_chunking_does_not_change_the_result() -> None:
    rng = np.random.default_rng(9)
    gen, real = rng.gamma(2.0, size=(103, 16)), rng.gamma(2.0, size=(37, 16))
    assert memorization_distance(gen, real, chunk_size=10) == pytest.approx(
        memorization_distance(gen, real, chunk_size=4096), rel=1e-12
    )


# -------------------------------------------------------------------------------------- cache


def test_content_key_depends_on_fingerprint_bytes_and_boundaries() -> None:
    key = content_key("inception-fp32", [b"ab", b"c"])
    assert key == content_key("inception-fp32", [b"ab", b"c"])
    assert key != content_key("inception-bf16", [b"ab", b"c"])
    assert key != content_key("inception-fp32", [b"a", b"bc"])
    assert key != content_key("inception-fp32", [b"c", b"ab"])


def test_feature_cache_round_trip(tmp_path) -> None:
    feats = np.random.default_rng(10).normal(size=(12, 4)).astype(np.float32)
    entry = CachedFeatures(feats, FeatureStats.from_features(feats), [("x.jpg", "truncated")])
    cache = FeatureCache(tmp_path / "cache")
    assert cache.load("k") is None
    cache.save("k", entry)
    loaded = cache.load("k")
    assert loaded is not None
    np.testing.assert_array_equal(loaded.features, feats)
    np.testing.assert_array_equal(loaded.stats.sigma, entry.stats.sigma)
    assert loaded.bad == [("x.jpg", "truncated")]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["k.npz"]  # no temp file left
