"""Decoding: every format and mode a user's folder may hold ends up as uint8 RGB [3, H, W]."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from cyclegan.data.images import BadImageError, decode_image, is_image_file, load_image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def gradient(width: int = 48, height: int = 32) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    array = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=2)
    return Image.fromarray(array.astype(np.uint8), "RGB")


def noise(width: int = 48, height: int = 32) -> Image.Image:
    array = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(array, "RGB")


def as_hwc(tensor: torch.Tensor) -> np.ndarray:
    assert tensor.dtype == torch.uint8
    assert tensor.ndim == 3
    assert tensor.shape[0] == 3
    return tensor.permute(1, 2, 0).numpy().astype(int)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF"])
def test_formats_decode_to_rgb_matching_pillow(fmt: str) -> None:
    data = encode(gradient(), fmt)
    expected = np.array(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    decoded = as_hwc(decode_image(data, f"x.{fmt.lower()}"))
    assert decoded.shape == (32, 48, 3)
    assert np.abs(decoded - expected).max() <= 1


@pytest.mark.parametrize(("mode", "fmt"), [("L", "PNG"), ("L", "JPEG"), ("1", "PNG")])
def test_grayscale_becomes_three_equal_channels(mode: str, fmt: str) -> None:
    decoded = as_hwc(decode_image(encode(gradient().convert(mode), fmt), "gray"))
    assert decoded.shape == (32, 48, 3)
    assert (decoded[:, :, 0] == decoded[:, :, 1]).all()
    assert (decoded[:, :, 1] == decoded[:, :, 2]).all()


def test_cmyk_jpeg_converted_like_pillow() -> None:
    data = encode(gradient().convert("CMYK"), "JPEG", quality=95)
    expected = np.array(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    assert np.abs(as_hwc(decode_image(data, "cmyk.jpg")) - expected).max() <= 2


def test_rgba_is_composited_on_white() -> None:
    array = np.zeros((8, 8, 4), dtype=np.uint8)
    array[:, :4] = (200, 10, 10, 255)  # opaque red on the left
    array[:, 4:] = (0, 0, 255, 0)  # fully transparent blue on the right
    decoded = as_hwc(decode_image(encode(Image.fromarray(array, "RGBA"), "PNG"), "rgba.png"))
    assert (decoded[:, :4] == (200, 10, 10)).all()
    assert (decoded[:, 4:] == 255).all()


def test_palette_with_transparency_is_composited_on_white() -> None:
    image = Image.new("P", (6, 6), 0)
    image.putpalette([10, 20, 30] + [0, 200, 0] * 255)
    image.putpixel((0, 0), 1)
    data = encode(image, "PNG", transparency=0)
    decoded = as_hwc(decode_image(data, "palette.png"))
    assert tuple(decoded[0, 0]) == (0, 200, 0)
    assert (decoded[1:, 1:] == 255).all()


def test_sixteen_bit_grayscale_is_scaled_to_eight_bits() -> None:
    array = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(array), "PNG")
    decoded = as_hwc(decode_image(data, "deep.png"))
    assert decoded[0, :, 0].tolist() == [0, 100, 255]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(fmt: str, orientation: int) -> None:
    image = Image.new("RGB", (48, 32), (0, 0, 0))
    image.paste((255, 0, 0), (0, 0, 12, 8))  # red block in the stored top-left corner
    exif = image.getexif()
    exif[0x0112] = orientation
    data = encode(image, fmt, exif=exif.tobytes())
    expected = np.array(ImageOps.exif_transpose(Image.open(io.BytesIO(data)))).astype(int)
    decoded = as_hwc(decode_image(data, "rotated"))
    assert decoded.shape == expected.shape
    assert decoded.shape[:2] == ((32, 48) if orientation == 3 else (48, 32))
    assert np.abs(decoded - expected).max() <= 40  # JPEG ringing at the block's edge
    assert (np.abs(decoded - expected) > 40).sum() == 0


def test_load_image_honours_exif_on_the_jpeg_path(tmp_path: Path) -> None:
    image = gradient()
    exif = image.getexif()
    exif[0x0112] = 6
    path = tmp_path / "PHOTO.JPG"
    path.write_bytes(encode(image, "JPEG", exif=exif.tobytes()))
    assert load_image(path).shape == (3, 48, 32)
    assert load_image(str(path)).shape == (3, 48, 32)


def test_is_image_file_is_case_insensitive() -> None:
    assert is_image_file("a/B.JPG")
    assert is_image_file("x.TiFf")
    assert is_image_file("x.webp")
    assert not is_image_file("x.txt")
    assert not is_image_file("x.tfrec")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no data"),
        (b"hello, not an image", "not a recognised image format"),
        (encode(noise(), "JPEG")[:300], "(?i)truncated"),
        (encode(noise(128, 128), "JPEG")[:-2000], "(?i)truncated"),
        (encode(noise(128, 128), "PNG")[:-2000], "(?i)truncated"),
    ],
    ids=["empty", "text", "truncated-jpeg-header", "truncated-jpeg-data", "truncated-png"],
)
def test_undecodable_bytes_raise_bad_image_error_naming_the_image(data: bytes, reason: str) -> None:
    with pytest.raises(BadImageError, match=reason) as caught:
        decode_image(data, "photos/broken.jpg")
    assert "photos/broken.jpg" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_load_image_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_image(tmp_path / "missing.png")
