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

Every decode path (training, ``python -m cyclegan.data inspect`` and ``pack``, ``evaluate.py``,
``predict.py``) reads the image size from the header first and refuses an image of more than
:data:`MAX_PIXELS` pixels before any memory is spent on its pixels: a few hundred bytes can
declare a 65000 x 65000 image (12.7 GB decoded).

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
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torchvision.io.image import ImageReadMode  # also loads torchvision's image kernels

from cyclegan.data.names import printable

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "BadImageError",
    "Header",
    "decode_image",
    "image_header",
    "is_image_file",
    "load_image",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
)
"""Lower-case suffixes of the files read as images (compared case-insensitively)."""

_JPEG_MAGIC = b"\xff\xd8\xff"

MAX_PIXELS = 80_000_000
"""Largest image (width x height) decoded anywhere: 240 MB as RGB ``uint8``. ``predict.py``'s
``max_pixels`` defaults to it and may raise it for one run."""


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
    """Image bytes that cannot be decoded; the message names the image (escaped with
    :func:`~cyclegan.data.names.printable`) and the reason."""


def is_image_file(path: str | Path) -> bool:
    """Whether ``path`` has one of the :data:`IMAGE_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Header:
    """Image size read from the header (``width`` and ``height`` are 0 when only the pixel
    count is known)."""

    width: int
    height: int
    pixels: int

    def __str__(self) -> str:
        size = f"{self.width}x{self.height} = " if self.width else ""
        return f"{size}{self.pixels / 1e6:.1f} megapixels"


def image_header(data: bytes | bytearray | memoryview) -> Header | None:
    """The image size read from its header, without decoding; ``None`` if unreadable.

    Pillow's decompression-bomb warning is not raised here: callers compare the size with their
    own limit and refuse the image with a message naming it. Beyond twice Pillow's limit only
    the pixel count is known.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError as error:
        pixels = _pixels_from_message(str(error)) or 2 * (Image.MAX_IMAGE_PIXELS or 0) + 1
        return Header(0, 0, pixels)
    except Exception:  # unreadable header: the decoder names the fault
        return None
    return Header(width, height, width * height)


def _pixels_from_message(message: str) -> int | None:
    # Pillow: "Image size (N pixels) exceeds limit of M pixels, could be decompression bomb DOS"
    digits = message.split("(", 1)[-1].split(" ", 1)[0]
    return int(digits) if digits.isdigit() else None


def decode_image(
    data: bytes | bytearray | memoryview, name: str, max_pixels: int = MAX_PIXELS
) -> torch.Tensor:
    """Decode encoded image bytes to an RGB tensor.

    Args:
        data: The encoded image (JPEG, PNG, WebP, BMP, TIFF, ...).
        name: How to name the image in error messages (file name, record name).
        max_pixels: Refuse images whose header declares more pixels, before decoding.

    Returns:
        A ``uint8`` tensor ``[3, H, W]``, EXIF orientation applied.

    Raises:
        BadImageError: If the bytes are empty, truncated, not an image, or declare more than
            ``max_pixels`` pixels.
    """
    if len(data) == 0:
        raise BadImageError(f"{printable(name)}: cannot decode image: no data (0 bytes)")
    header = image_header(data)
    if header is None:  # no decoder gets bytes whose size is unknown: Pillow names the fault
        return _decode_with_pillow(data, name)
    if header.pixels > max_pixels:
        raise BadImageError(
            f"{printable(name)}: image of {header} exceeds the limit of {max_pixels:,} pixels "
            "(refused before decoding)"
        )
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
            f"{printable(name)}: cannot decode image: not a recognised image format "
            f"({len(data)} bytes starting with {head})"
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
        raise BadImageError(f"{printable(name)}: cannot decode image: {error}") from error
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
