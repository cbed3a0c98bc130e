"""The web app's work without the web page: same pixels and reasons as predict.py, downloads,
which checkpoints can be loaded, progress on tiled images."""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from PIL import Image

from cyclegan.app.service import StyleService, write_examples
from cyclegan.data.demo import demo_photographs
from cyclegan.inference.checkpoint import CheckpointError
from cyclegan.inference.cli import UsageError, run
from cyclegan.inference.tiling import window_starts
from tests.predict_helpers import CONF_DIR, compose_predict, encoded, photo, write_checkpoint


def compose_app(**overrides: object) -> DictConfig:
    """``conf/app.yaml`` with overrides, float32 (the CPUs here have no native bf16)."""
    items = [f"{key}={value}" for key, value in {"precision": 32, **overrides}.items()]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="app", overrides=items)


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "last.ckpt"
    write_checkpoint(path)
    return path


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.array(image)


@pytest.mark.parametrize("fmt", ["jpg", "png"])
def test_uploads_get_exactly_what_predict_py_writes(tmp_path: Path, ckpt: Path, fmt: str) -> None:
    rotated = Image.fromarray(photo(72, 40, 1))
    exif = rotated.getexif()
    exif[0x0112] = 6  # displayed rotated by 90 degrees: 40 wide, 72 high
    uploads = {
        "wide.png": encoded(photo(90, 50, 2), "PNG"),
        "rotated.jpg": encoded(rotated, "JPEG", exif=exif.tobytes()),
        "tiled.webp": encoded(photo(150, 100, 3), "WEBP", lossless=True),  # > tile_size
    }
    files = [_write(tmp_path / "in" / name, data) for name, data in uploads.items()]
    options = {"tile_size": 64, "tile_overlap": 16, "direction": "monet2photo", "format": fmt}
    service = StyleService(compose_app(ckpt=ckpt, **options), tmp_path / "work")

    result = service.stylize(files, str(ckpt), "monet2photo", fmt)

    cfg = compose_predict(
        ckpt=ckpt, input_dir=tmp_path / "in", output_dir=tmp_path / "cli", precision=32, **options
    )
    assert run(cfg) == 0
    assert result.failed == []
    assert [image.name for image in result.images] == list(uploads)
    for image in result.images:
        assert image.output.suffix == f".{fmt}"
        assert image.output.read_bytes() == (tmp_path / "cli" / image.output.name).read_bytes()
        assert _read(image.output).shape == (image.height, image.width, 3)
        assert image.seconds > 0
    sizes = {image.name: (image.width, image.height) for image in result.images}
    assert sizes == {"wide.png": (90, 50), "rotated.jpg": (40, 72), "tiled.webp": (150, 100)}


def test_bad_files_get_predict_py_s_reasons_and_the_good_ones_are_converted(
    tmp_path: Path, ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [
        _write(tmp_path / "in" / "good.jpg", encoded(photo(40, 30))),
        _write(tmp_path / "in" / "text.jpg", b"this is not an image\n" * 20),
        _write(tmp_path / "in" / "empty.png", b""),
        _write(tmp_path / "in" / "big.png", encoded(photo(300, 200), "PNG")),
        _write(tmp_path / "in" / "notes.txt", b"an image? no"),
    ]
    service = StyleService(compose_app(ckpt=ckpt, max_pixels=50000), tmp_path / "work")

    result = service.stylize(files, str(ckpt))

    assert [image.name for image in result.images] == ["good.jpg"]
    assert result.download == result.images[0].output  # one image: the image, not a zip
    reasons = dict(result.failed)
    assert set(reasons) == {"text.jpg", "empty.png", "big.png", "notes.txt"}
    cfg = compose_predict(
        ckpt=ckpt, input_dir=tmp_path / "in", output_dir=tmp_path / "cli", max_pixels=50000
    )
    run(cfg)
    printed = capsys.readouterr().out
    for name in ("text.jpg", "empty.png", "big.png"):
        assert f"{name}: {reasons[name]}" in printed  # word for word what predict.py prints
    assert "exceeds max_pixels=50,000" in reasons["big.png"]
    assert "not a folder, TFRecord file, zip archive or image file" in reasons["notes.txt"]
    report = result.report()
    assert "good.jpg`: 40×30 in" in report
    assert f"**failed** `big.png`: {reasons['big.png']}" in report


def test_several_outputs_download_as_one_zip_with_unique_names(tmp_path: Path, ckpt: Path) -> None:
    files = [
        _write(tmp_path / "one" / "photo.jpg", encoded(photo(40, 30, 1))),
        _write(tmp_path / "two" / "photo.png", encoded(photo(30, 50, 2), "PNG")),
        _write(tmp_path / "three.jpg", encoded(photo(35, 35, 3))),
    ]
    service = StyleService(compose_app(ckpt=ckpt), tmp_path / "work")

    result = service.stylize(files, str(ckpt), fmt="jpg")

    assert result.download is not None
    assert result.download.suffix == ".zip"
    with zipfile.ZipFile(result.download) as archive:
        assert archive.namelist() == ["photo.jpg", "photo-2.jpg", "three.jpg"]
        for image, member in zip(result.images, archive.namelist(), strict=True):
            assert archive.read(member) == image.output.read_bytes()


def test_shown_copies_are_upright_and_at_most_display_size(tmp_path: Path, ckpt: Path) -> None:
    rotated = Image.fromarray(photo(2000, 300))
    exif = rotated.getexif()
    exif[0x0112] = 6
    file = _write(tmp_path / "tall.jpg", encoded(rotated, "JPEG", exif=exif.tobytes()))
    service = StyleService(
        compose_app(ckpt=ckpt, tile_size=512, tile_overlap=32), tmp_path / "work"
    )

    (image,) = service.stylize([file], str(ckpt)).images

    assert (image.width, image.height) == (300, 2000)
    for shown in (image.shown_input, image.shown_output):
        with Image.open(shown) as picture:
            assert picture.size == (240, 1600)  # upright, longest side DISPLAY_SIDE


def test_progress_reaches_one_through_every_tile(tmp_path: Path, ckpt: Path) -> None:
    files = [
        _write(tmp_path / "small.jpg", encoded(photo(40, 30))),
        _write(tmp_path / "large.png", encoded(photo(150, 100), "PNG")),
    ]
    service = StyleService(compose_app(ckpt=ckpt, tile_size=64, tile_overlap=16), tmp_path / "w")
    seen: list[tuple[float, str]] = []

    service.stylize(files, str(ckpt), progress=lambda fraction, what: seen.append((fraction, what)))

    tiles = len(window_starts(100, 64, 16)) * len(window_starts(150, 64, 16))
    assert seen[0] == (0.0, "small.jpg (1/2)")
    assert seen[1] == (0.5, "large.png (2/2)")
    assert [what for _, what in seen[2:]] == [
        f"large.png: tile {i}/{tiles}" for i in range(1, tiles + 1)
    ]
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0


def test_only_offered_checkpoints_load_and_runs_dir_lists_newest_first(
    tmp_path: Path, ckpt: Path
) -> None:
    runs = tmp_path / "outputs"
    old = runs / "a" / "checkpoints" / "last.ckpt"
    new = runs / "b" / "checkpoints" / "epoch=4.ckpt"
    for path in (old, new):
        path.parent.mkdir(parents=True)
        write_checkpoint(path)
    os.utime(old, (time.time() - 100, time.time() - 100))
    _write(runs / "b" / "notes.txt", b"not a checkpoint")
    service = StyleService(compose_app(ckpt=ckpt, runs_dir=runs), tmp_path / "work")

    assert service.checkpoints() == [str(ckpt), str(new), str(old)]
    photo_file = _write(tmp_path / "p.jpg", encoded(photo(32, 32)))
    assert service.stylize([photo_file], str(new)).images
    with pytest.raises(UsageError, match="is not one this app offers"):
        service.stylize([photo_file], str(tmp_path / "elsewhere.ckpt"))
    with pytest.raises(UsageError, match="direction='sideways'"):
        service.model(str(ckpt), "sideways")
    with pytest.raises(UsageError, match="format='gif'"):
        service.stylize([photo_file], str(ckpt), fmt="gif")


def test_fast_style_checkpoints_are_used_like_cyclegan_ones(tmp_path: Path) -> None:
    # The fast style-transfer module's layout: one transformation network, gen_photo2monet.
    config = {
        "_target_": "cyclegan.networks.TransformNet",
        "_partial_": True,
        "ngf": 4,
        "n_blocks": 1,
    }
    torch.manual_seed(0)
    net = instantiate(config)()
    ckpt = tmp_path / "fast.ckpt"
    torch.save(
        {
            "state_dict": {f"gen_photo2monet.{k}": v for k, v in net.state_dict().items()},
            "hyper_parameters": {"generator": config, "image_size": 32},
        },
        ckpt,
    )
    file = _write(tmp_path / "in" / "p.png", encoded(photo(50, 40), "PNG"))
    service = StyleService(compose_app(ckpt=ckpt, format="png"), tmp_path / "work")

    (image,) = service.stylize([file], str(ckpt), fmt="png").images

    cfg = compose_predict(
        ckpt=ckpt, input_dir=file, output_dir=tmp_path / "cli", format="png", precision=32
    )
    assert run(cfg) == 0
    assert image.output.read_bytes() == (tmp_path / "cli" / "p.png").read_bytes()
    assert "TransformNet photo2monet, trained at 32 px" in service.describe(
        str(ckpt), "photo2monet"
    )
    with pytest.raises(CheckpointError, match="no gen_monet2photo"):
        service.model(str(ckpt), "monet2photo")


def test_missing_or_unusable_checkpoints_fail_with_the_loader_s_reason(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no checkpoint to offer: give ckpt="):
        StyleService(compose_app(), tmp_path / "work")
    with pytest.raises(UsageError, match="runs_dir=.*no such folder"):
        StyleService(compose_app(runs_dir=tmp_path / "nowhere"), tmp_path / "work")
    broken = _write(tmp_path / "broken.ckpt", b"PK\x03\x04 not really")
    service = StyleService(compose_app(ckpt=broken), tmp_path / "work")
    with pytest.raises(CheckpointError, match="broken.ckpt: not a readable PyTorch file"):
        service.model(str(broken), "photo2monet")


def test_examples_are_the_demo_photographs(tmp_path: Path) -> None:
    paths = write_examples(tmp_path / "examples")
    arrays = demo_photographs()
    assert [p.name for p in paths][:2] == ["astronaut.jpg", "coffee.jpg"]
    for path, array in zip(paths, arrays, strict=True):
        decoded = _read(path)
        assert decoded.shape == array.shape
        assert np.abs(decoded.astype(int) - array).mean() < 3  # JPEG quality 92
