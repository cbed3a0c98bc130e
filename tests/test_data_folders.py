"""Folder datasets: Kaggle JPEG and CycleGAN layouts; any size, mode and EXIF orientation."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from data_helpers import colour_of, image_id, jpeg_bytes
from PIL import Image

from cyclegan.data.datamodule import CycleGANDataModule
from cyclegan.data.records import BadRecordError


def save(image: Image.Image, path: Path, fmt: str, **options: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    path.write_bytes(buffer.getvalue())


def rotated_jpeg(path: Path) -> None:
    """Stored 64 wide x 32 high, red left / blue right, EXIF orientation 6 (rotate 90 CW):
    displayed 32 wide x 64 high, red on top, blue below."""
    image = Image.new("RGB", (64, 32), (220, 0, 0))
    image.paste((0, 0, 220), (32, 0, 64, 32))
    exif = image.getexif()
    exif[0x0112] = 6
    save(image, path, "JPEG", exif=exif.tobytes(), quality=95)


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """CycleGAN layout, trainA = Monet, trainB = photos, of every kind a user may have."""
    root = tmp_path / "monet2photo"
    photos = root / "trainB"
    save(Image.new("RGB", (40, 30), colour_of(1)), photos / "a_rgb.jpg", "JPEG", quality=95)
    save(Image.new("L", (50, 50), 128), photos / "b_gray.png", "PNG")
    save(Image.new("RGBA", (20, 36), (0, 0, 0, 0)), photos / "c_rgba.PNG", "PNG")
    save(Image.new("RGB", (33, 33), colour_of(2)).convert("CMYK"), photos / "d_cmyk.jpg", "JPEG")
    rotated_jpeg(photos / "e_rotated.jpeg")
    deep = Image.fromarray(np.full((24, 24), 257 * 60, dtype=np.uint16))
    save(deep, photos / "nested" / "f_16bit.png", "PNG")
    (photos / "notes.txt").write_text("ignored")
    for k in range(3):
        save(Image.new("RGB", (64, 48), colour_of(k)), root / "trainA" / f"m{k}.jpg", "JPEG")
    return root


def test_mixed_modes_sizes_and_exif_become_rgb_batches(mixed: Path) -> None:
    dm = CycleGANDataModule(str(mixed), image_size=32, num_workers=0, batch_size=3)
    assert dm.num_records("photo") == 6
    assert dm.num_records("monet") == 3
    batch = next(iter(dm.train_dataloader()))
    assert batch["photo"].shape == batch["monet"].shape == (3, 3, 32, 32)
    images = [x for b in dm.eval_dataloader("photo", batch_size=6) for x in b]
    rgb, gray, rgba, cmyk, rotated, deep = images
    assert image_id(rgb) == 1
    assert (gray == 128).all()
    assert (rgba == 255).all()  # transparent -> white
    assert image_id(cmyk) == 2
    top, bottom = rotated[:, :12].float().mean((1, 2)), rotated[:, 20:].float().mean((1, 2))
    assert top.tolist() == pytest.approx([220, 0, 0], abs=40)  # red on top: EXIF applied
    assert bottom.tolist() == pytest.approx([0, 0, 220], abs=40)
    assert (deep == 60).all()


def test_kaggle_jpeg_layout_is_found(tmp_path: Path) -> None:
    for domain, count in (("photo_jpg", 4), ("monet_jpg", 2)):
        for k in range(count):
            path = tmp_path / domain / f"{k:03d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(jpeg_bytes(colour_of(k), 16))
    dm = CycleGANDataModule(str(tmp_path), image_size=16, num_workers=0)
    assert (dm.num_records("photo"), dm.num_records("monet"), dm.steps_per_epoch) == (4, 2, 2)


def test_explicit_domain_folders(mixed: Path) -> None:
    dm = CycleGANDataModule(
        str(mixed), photo_dir="trainA", monet_dir="trainB", image_size=16, num_workers=0
    )
    assert (dm.num_records("photo"), dm.num_records("monet")) == (3, 6)


def test_corrupt_image_file_is_named_or_skipped(mixed: Path) -> None:
    broken = mixed / "trainB" / "z_broken.jpg"
    broken.write_bytes(jpeg_bytes((1, 2, 3), 64)[:200])
    with pytest.raises(BadRecordError, match=r"z_broken\.jpg.*not a decodable image"):
        CycleGANDataModule(str(mixed), image_size=16, num_workers=0).setup()
    dm = CycleGANDataModule(str(mixed), image_size=16, num_workers=0, on_bad_record="skip")
    dm.setup()
    assert [b.path for b in dm.skipped["photo"]] == [str(broken)]
    assert dm.num_records("photo") == 6


def test_folder_index_is_cached_and_notices_changes(mixed: Path) -> None:
    CycleGANDataModule(str(mixed), image_size=16, num_workers=0).setup()
    assert (mixed / "trainB" / ".cyclegan-images.json").is_file()
    save(Image.new("RGB", (8, 8), colour_of(9)), mixed / "trainA" / "m9.png", "PNG")
    dm = CycleGANDataModule(str(mixed), image_size=16, num_workers=0)
    assert dm.num_records("monet") == 4
    last = torch.stack(list(dm.eval_dataloader("monet", batch_size=4)))[0, -1]
    assert image_id(last) == 9
