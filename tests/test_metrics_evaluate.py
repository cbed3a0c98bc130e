"""evaluate(): inputs of every kind, bad images reported, real-set cache; evaluate.py end to end."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from data_helpers import write_tfrecord_dataset
from PIL import Image
from torch import Tensor

from cyclegan.data.images import decode_image
from cyclegan.data.sources import ImageRecord
from cyclegan.metrics import compute_scores
from cyclegan.metrics.evaluation import evaluate, format_report, image_batches

REPO = Path(__file__).resolve().parents[1]


class ColourFeatures:
    """Stub extractor: per-channel mean, std and corner pixel (9-d); counts images seen."""

    fingerprint = "colour-stats"

    def __init__(self) -> None:
        self.images_seen = 0

    def __call__(self, images: Tensor) -> Tensor:
        self.images_seen += images.shape[0]
        x = images.float() / 255
        return torch.cat([x.mean((2, 3)), x.std((2, 3)), x[:, :, 0, 0]], dim=1)


def _jpeg(seed: int, size: tuple[int, int] = (32, 32), brightness: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256 - brightness, size=(size[1], size[0], 3)) + brightness
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _folder(path: Path, count: int, seed: int, brightness: int = 0) -> Path:
    path.mkdir(parents=True)
    for i in range(count):
        (path / f"img{i:02d}.jpg").write_bytes(_jpeg(seed + i, brightness=brightness))
    return path


def _features_of(folder: Path) -> np.ndarray:
    images = [decode_image(p.read_bytes(), p.name) for p in sorted(folder.glob("*.jpg"))]
    return ColourFeatures()(torch.stack(images)).numpy()


def test_folder_against_folder_equals_scores_of_the_decoded_images(tmp_path: Path) -> None:
    generated = _folder(tmp_path / "gen", 7, seed=0)
    real = _folder(tmp_path / "real", 9, seed=100, brightness=60)
    result = evaluate(generated, real, ColourFeatures(), batch_size=3, kid_subsets=5)
    expected = compute_scores(_features_of(generated), _features_of(real), kid_subsets=5)
    assert result.scores == expected
    assert (result.generated.bad, result.real.bad) == ([], [])
    report = format_report(result)
    assert f"FID                    {expected.fid:.4f}" in report
    assert f"KID                    {expected.kid_mean:.5f} ± {expected.kid_std:.5f}" in report
    assert f"MiFID                  {expected.mifid:.4f}" in report
    assert "memorization distance" in report


def test_kaggle_images_zip_and_tfrecords_are_read(tmp_path: Path) -> None:
    generated = _folder(tmp_path / "gen", 6, seed=0)
    with zipfile.ZipFile(tmp_path / "images.zip", "w") as archive:
        for path in sorted(generated.iterdir()):
            archive.write(path, path.name)
    root = write_tfrecord_dataset(tmp_path / "kaggle", n_monet=5, n_photo=3)
    from_zip = evaluate(tmp_path / "images.zip", root / "monet_tfrec", ColourFeatures())
    from_folder = evaluate(generated, root / "monet_tfrec", ColourFeatures())
    assert from_zip.scores == from_folder.scores
    assert (from_zip.scores.num_generated, from_zip.scores.num_real) == (6, 5)


def test_bad_images_are_counted_named_and_reported(tmp_path: Path) -> None:
    generated = _folder(tmp_path / "gen", 5, seed=0)
    (generated / "empty.jpg").write_bytes(b"")
    (generated / "text.png").write_bytes(b"not a png")
    (generated / "truncated.jpg").write_bytes(_jpeg(99)[:200])
    real = _folder(tmp_path / "real", 5, seed=50)
    result = evaluate(generated, real, ColourFeatures())
    assert result.scores.num_generated == 5
    origins = [origin for origin, _ in result.generated.bad]
    assert origins == [str(generated / n) for n in ("empty.jpg", "text.png", "truncated.jpg")]
    report = format_report(result)
    assert "3 bad generated image(s) skipped:" in report
    assert f"{generated / 'empty.jpg'}: cannot decode image: no data (0 bytes)" in report


def test_missing_empty_and_undecodable_inputs_name_the_path(tmp_path: Path) -> None:
    real = _folder(tmp_path / "real", 3, seed=0)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        evaluate(tmp_path / "nowhere", real, ColourFeatures())
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: need at least 2 .* found no images"):
        evaluate(real, tmp_path / "empty", ColourFeatures())
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (broken / "b.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"broken: .* found 0 \(2 could not be decoded"):
        evaluate(broken, real, ColourFeatures())


def test_real_features_are_cached_by_content(tmp_path: Path) -> None:
    generated = _folder(tmp_path / "gen", 4, seed=0)
    real = _folder(tmp_path / "real", 6, seed=10)
    (real / "bad.jpg").write_bytes(b"")
    cache_dir = tmp_path / "cache"
    extractor = ColourFeatures()
    first = evaluate(generated, real, extractor, cache_dir=cache_dir, kid_subsets=3)
    assert extractor.images_seen == 4 + 6
    assert not first.real.from_cache
    second = evaluate(generated, real, extractor, cache_dir=cache_dir, kid_subsets=3)
    assert extractor.images_seen == 4 + 6 + 4  # real set not extracted again
    assert second.real.from_cache
    assert second.scores == first.scores
    assert (
        second.real.bad
        == first.real.bad
        == [(str(real / "bad.jpg"), "cannot decode image: no data (0 bytes)")]
    )

    (real / "img00.jpg").write_bytes(_jpeg(1234))  # one image changed: cache miss
    third = evaluate(generated, real, extractor, cache_dir=cache_dir, kid_subsets=3)
    assert not third.real.from_cache
    assert third.scores != first.scores
    assert len(list(cache_dir.glob("*.npz"))) == 2


def test_batches_follow_image_size_changes() -> None:
    sizes = [(32, 32), (32, 32), (40, 24), (32, 32), (32, 32), (32, 32)]
    records = [ImageRecord(f"{i}.jpg", _jpeg(i, size), f"{i}.jpg") for i, size in enumerate(sizes)]
    bad: list[tuple[str, str]] = []
    shapes = [tuple(batch.shape) for batch in image_batches(records, 2, bad)]
    assert shapes == [(2, 3, 32, 32), (1, 3, 24, 40), (2, 3, 32, 32), (1, 3, 32, 32)]
    assert bad == []


def _run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    cwd.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, str(REPO / "evaluate.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.mark.slow
def test_cli_scores_a_zip_with_the_fid_inception(tmp_path: Path) -> None:
    generated = _folder(tmp_path / "gen", 3, seed=0)
    with zipfile.ZipFile(tmp_path / "images.zip", "w") as archive:
        for path in sorted(generated.iterdir()):
            archive.write(path, path.name)
    real = _folder(tmp_path / "real", 3, seed=7, brightness=80)
    (real / "broken.jpg").write_bytes(b"\xff\xd8\xff oops")
    done = _run_cli(
        tmp_path / "cwd",
        f"generated={tmp_path / 'images.zip'}",
        f"real={real}",
        f"cache_dir={tmp_path / 'cache'}",
        "progress=false",
        "kid_subsets=10",
        f"json={tmp_path / 'scores' / 'scores.json'}",
    )
    assert done.returncode == 1, done.stderr  # scored, but one real image was skipped
    lines = done.stdout.splitlines()
    assert lines[0] == f"generated: {tmp_path / 'images.zip'} (3 images)"
    assert "1 bad real image(s) skipped:" in lines
    values = {line[:22].strip(): line[23:].split()[0] for line in lines[-4:]}
    assert set(values) == {"FID", "KID", "memorization distance", "MiFID"}
    assert float(values["FID"]) > 1.0
    assert float(values["MiFID"]) >= float(values["FID"])
    report = json.loads((tmp_path / "scores" / "scores.json").read_text())
    assert f"{report['fid']:.4f}" == values["FID"]
    assert (report["num_generated"], report["num_real"]) == (3, 3)
    assert [origin.endswith("broken.jpg") for origin, _ in report["bad"]] == [True]
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    assert list((tmp_path / "cwd").iterdir()) == []  # no outputs/, .hydra/ or log file


@pytest.mark.slow
def test_cli_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    done = _run_cli(tmp_path / "cwd", f"generated={tmp_path / 'missing'}", f"real={tmp_path}")
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {tmp_path / 'missing'}: no such file or folder"
    done = _run_cli(tmp_path / "cwd", f"real={tmp_path}")
    assert done.returncode == 2
    assert "generated=PATH is required" in done.stderr
