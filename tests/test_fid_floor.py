"""benchmarks/fid_floor.py: the photos it draws and the sampling bias it measures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmark_helpers import load_benchmark
from data_helpers import colour_of, write_tfrecord_dataset
from torch import Tensor

fid_floor = load_benchmark("fid_floor")


class MeanColour:
    """Stub extractor: each image's mean colour (3-d, 0-255)."""

    fingerprint = "mean-colour"

    def __call__(self, images: Tensor) -> Tensor:
        return images.float().mean((2, 3))


def test_other_photos_are_the_first_ones_outside_the_scoring_set(tmp_path: Path) -> None:
    root = write_tfrecord_dataset(tmp_path / "data", n_monet=2, n_photo=10, shards=3)
    scoring = {"photo0001", "photo0003", "photo0004"}
    features = fid_floor.other_photos(root / "photo_tfrec", scoring, 5, 2, MeanColour())
    expected = np.array([colour_of(k) for k in (0, 2, 5, 6, 7)], dtype=np.float32)
    np.testing.assert_allclose(features, expected, atol=2.0)  # JPEG rounding of a flat colour


def test_split_fid_of_one_distribution_is_a_bias_that_shrinks_with_the_sample() -> None:
    features = np.random.default_rng(0).normal(size=(2000, 16))
    rng = np.random.default_rng(1)
    small = np.mean(fid_floor.split_fids(features, (40, 40), 5, rng))
    large = np.mean(fid_floor.split_fids(features, (800, 800), 5, rng))
    assert large > 0  # two draws of one distribution never score 0 ...
    assert small > 4 * large  # ... and the bias is larger the fewer the images
    shifted = np.concatenate([features[:1000], features[1000:] + 1.0])
    # random (not first and second) halves of two distributions show no shift between them
    assert np.mean(fid_floor.split_fids(shifted, (800, 800), 5, rng)) < 2 * large


def test_split_fids_refuses_more_images_than_it_has() -> None:
    with pytest.raises(SystemExit, match="need 301 images, have 300"):
        fid_floor.split_fids(np.zeros((300, 4)), (150, 151), 1, np.random.default_rng(0))


def test_fid_of_a_shifted_copy_is_the_squared_shift() -> None:
    # One covariance, means 3 apart in one dimension: FID = 3² exactly.
    a = np.random.default_rng(0).normal(size=(500, 4))
    b = a + np.array([3.0, 0.0, 0.0, 0.0])
    assert fid_floor.fid(a, b) == pytest.approx(9.0, abs=1e-6)
    assert fid_floor.fid(a, a[::-1]) == pytest.approx(0.0, abs=1e-6)
