"""Decode image bytes into ``uint8`` RGB tensors of shape ``[3, H, W]``.

JPEG takes the fast path: libjpeg-turbo through torchvision's decoding kernel, EXIF orientation
applied, grayscale and CMYK JPEGs converted to RGB by the decoder. Every other format (PNG, WebP,
BMP, TIFF) and any JPEG the kernel refuses goes through Pillow, which also honours EXIF
orientation and converts every mode to RGB:

- grayscale, bilevel, CMYK, YCbCr and palette images are converted to RGB;
- images with transparency (RGBA, LA, palette with a transparent colour) are composited on a
  white background, so transparent areas become white;
- 16-bit images are scaled to 8 bits (``value / 257``, rounded); 32-bit float images are
  clipped to ``[0, 255]``.

Bytes that no decoder accepts raise :class:`BadImageError` naming the image and the reason.

Example:
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.new("L", (5, 4), color=200).save(buffer, format="PNG")
    >>> decode_image(buffer.getvalue(), "tiny.png").shape
    torch.Size([3, 4, 5])
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.io.image import ImageReadMode  # also loads torchvision's image kernels

__all__ = ["IMAGE_EXTENSIONS", "BadImageError", "decode_image", "is_image_file", "load_image"]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
)
"""Lower-case suffixes of the files read as images (compared case-insensitively)."""

_JPEG_MAGIC = b"\xff\xd8\xff"


def _torchvision_jpeg_kernel() -> bool:
    """Whether torchvision's libjpeg-turbo kernel is registered (public check, any release)."""
    try:
        torch.ops.image.decode_jpeg  # noqa: B018  (attribute lookup is the check)
    except (AttributeError, RuntimeError):
        return False
    return True


_TRANSPARENT_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# torchvision.io.decode_jpeg wraps this kernel with a per-call DeprecationWarning announcing the
# move of image decoding to TorchCodec. The kernel itself is unchanged; when a torchvision
# release drops it, every image takes the Pillow path below (slower, same results).
_TORCHVISION_JPEG = _torchvision_jpeg_kernel()


class BadImageError(ValueError):
    """Image bytes that cannot be decoded; the message names the image and the reason."""


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` has one of the :data:`IMAGE_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def decode_image(data: bytes | bytearray | memoryview, name: str) -> torch.Tensor:
    """Decode encoded image bytes to an RGB tensor.

    Args:
        data: The encoded image (JPEG, PNG, WebP, BMP, TIFF, ...).
        name: How to name the image in error messages (file name, record name).

    Returns:
        A ``uint8`` tensor ``[3, H, W]``, EXIF orientation applied.

    Raises:
        BadImageError: If the bytes are empty, truncated or not an image.
    """
    if len(data) == 0:
        raise BadImageError(f"{name}: cannot decode image: no data (0 bytes)")
    if _TORCHVISION_JPEG and bytes(data[:3]) == _JPEG_MAGIC:
        # torch.frombuffer needs a writable buffer; bytes are copied once (cheap next to decoding).
        buffer = data if isinstance(data, bytearray) else bytearray(data)
        encoded = torch.frombuffer(buffer, dtype=torch.uint8)
        try:
            return torch.ops.image.decode_jpeg(encoded, ImageReadMode.RGB.value, True)
        except RuntimeError:
            pass  # Pillow decodes the few JPEG variants libjpeg-turbo refuses, or names the fault.
    return _decode_with_pillow(data, name)


def load_image(path: str | Path) -> torch.Tensor:
    """Read and decode an image file (EXIF orientation honoured).

    Args:
        path: Path of the image file.

    Returns:
        A ``uint8`` tensor ``[3, H, W]``.

    Raises:
        FileNotFoundError: If the file does not exist.
        BadImageError: If the file is not a decodable image.
    """
    path = Path(path)
    return decode_image(path.read_bytes(), str(path))


def _decode_with_pillow(data: bytes | bytearray | memoryview, name: str) -> torch.Tensor:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            array = _to_rgb_array(ImageOps.exif_transpose(image))
    except UnidentifiedImageError:
        head = bytes(data[:8]).hex(" ")
        raise BadImageError(
            f"{name}: cannot decode image: not a recognised image format "
            f"({len(data)} bytes starting with {head})"
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
        raise BadImageError(f"{name}: cannot decode image: {error}") from error
    return torch.from_numpy(array).permute(2, 0, 1)  # [3, H, W] view of HWC memory, as JPEGs


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    """An ``[H, W, 3]`` uint8 array of ``image`` in RGB, following the module's conversion rules."""
    mode = image.mode
    if mode == "RGB":
        return np.array(image)
    if mode in _TRANSPARENT_MODES or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.array(Image.alpha_composite(white, rgba).convert("RGB"))
    if mode.startswith("I;16") or mode == "I":
        gray = np.rint(np.array(image, dtype=np.float64) / 257.0).clip(0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        gray = np.array(image, dtype=np.float64).clip(0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.array(image.convert("RGB"))
