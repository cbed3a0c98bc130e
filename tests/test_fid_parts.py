"""benchmarks/fid_parts.py: FID split into the mean and covariance terms, and what it reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmark_helpers import load_benchmark
from data_helpers import jpeg_bytes
from torch import Tensor

fid_parts = load_benchmark("fid_parts")


class MeanColour:
    """Stub extractor: each image's mean colour (3-d, 0-255)."""

    fingerprint = "mean-colour"

    def __init__(self, precision: str = "fp32") -> None:
        self.precision = precision

    def __call__(self, images: Tensor) -> Tensor:
        return images.float().mean((2, 3))


def test_the_mean_terms_bias_is_what_two_draws_of_one_distribution_score() -> None:
    rng = np.random.default_rng(0)
    scale = np.array([1.0, 2.0, 3.0, 0.5])
    draws = [
        fid_parts.parts(rng.normal(size=(50, 4)) * scale, rng.normal(size=(30, 4)) * scale)
        for _ in range(400)
    ]
    # E ||x̄ - ȳ||^2 = tr(S) / 50 + tr(S) / 30 for one distribution (tr(S) = 14.25).
    expected = 14.25 * (1 / 50 + 1 / 30)
    assert np.mean([d["mean"] for d in draws]) == pytest.approx(expected, rel=0.1)
    assert np.mean([d["mean_bias"] for d in draws]) == pytest.approx(expected, rel=0.05)


def test_parts_add_up_to_fid_and_read_a_shift_and_a_spread_apart() -> None:
    rng = np.random.default_rng(1)
    real = rng.normal(size=(3000, 4))
    shifted = fid_parts.parts(rng.normal(size=(3000, 4)) + np.array([3.0, 0, 0, 4.0]), real)
    assert shifted["mean"] - shifted["mean_bias"] == pytest.approx(25.0, rel=0.02)
    assert shifted["covariance"] == pytest.approx(0.0, abs=0.05)
    assert shifted["fid"] == pytest.approx(shifted["mean"] + shifted["covariance"])
    narrow = fid_parts.parts(rng.normal(size=(3000, 4)) * 0.5, real)
    assert narrow["spread"] == pytest.approx(0.25, rel=0.05)
    assert narrow["mean"] == pytest.approx(narrow["mean_bias"], abs=0.01)
    assert narrow["covariance"] == pytest.approx(4 * 0.5**2, rel=0.05)  # 4 x (1 - 0.5)^2


def test_main_scores_each_folder_and_counts_images_it_cannot_decode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real, generated = tmp_path / "real", tmp_path / "generated"
    for folder, colours in (
        (real, [(200, 20, 20), (180, 40, 40), (220, 0, 0)]),
        (generated, [(20, 20, 200), (40, 40, 180), (0, 0, 220)]),
    ):
        folder.mkdir()
        for k, colour in enumerate(colours):
            (folder / f"{k}.jpg").write_bytes(jpeg_bytes(colour, 8))
    (generated / "broken.jpg").write_bytes(b"not a jpeg")
    monkeypatch.setattr(fid_parts, "InceptionFeatureExtractor", MeanColour)
    argv = ["fid_parts.py", str(generated), "--real", str(real), "--cache", str(tmp_path / "c")]
    monkeypatch.setattr("sys.argv", argv)
    fid_parts.main()
    row = next(line for line in capsys.readouterr().out.splitlines() if str(generated) in line)
    assert row.split()[0] == "3"  # three images scored ...
    assert "(1 image not decoded and not scored; first: " in row  # ... and the fourth named
    assert str(generated / "broken.jpg") in row
    fid = float(row.split()[1])
    # Mean colours (200, 20, 20) and (20, 20, 200): the mean term, 2 x 180^2, is nearly all of it.
    assert fid == pytest.approx(2 * 180**2, rel=0.03)
