"""Tiny Kaggle-format datasets for tests.

:func:`write_tfrecord_dataset` writes ``ROOT/monet_tfrec/*.tfrec`` and ``ROOT/photo_tfrec/*.tfrec``
with the Kaggle schema (``image_name``, ``image`` JPEG bytes, ``target``). Every image is a flat
colour that encodes its index, so a test can tell which record a decoded (even resized or
flipped) image came from with :func:`image_id`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cyclegan.data.records import encode_example, write_tfrecord

__all__ = ["colour_of", "image_id", "jpeg_bytes", "write_tfrecord_dataset"]

_LEVELS = 8  # per channel: 8**3 = 512 distinct ids
_STEP = 32


def colour_of(index: int) -> tuple[int, int, int]:
    """The flat RGB colour that encodes ``index`` (0 <= index < 512)."""
    if not 0 <= index < _LEVELS**3:
        raise ValueError(f"index {index} out of range [0, {_LEVELS**3})")
    digits = (index % _LEVELS, (index // _LEVELS) % _LEVELS, index // _LEVELS**2)
    return tuple(_STEP // 2 + _STEP * digit for digit in digits)  # type: ignore[return-value]


def image_id(image: torch.Tensor) -> int:
    """The index encoded by :func:`colour_of` in a decoded image (uint8 or float in [-1, 1])."""
    if image.is_floating_point():
        image = (image + 1) * 127.5
    means = image.double().mean(dim=(-2, -1))
    digits = [int(round((float(value) - _STEP // 2) / _STEP)) for value in means]
    return digits[0] + _LEVELS * digits[1] + _LEVELS**2 * digits[2]


def jpeg_bytes(colour: tuple[int, int, int], size: int | tuple[int, int]) -> bytes:
    """A flat-colour JPEG of ``size`` (an int for a square, else ``(width, height)``)."""
    dims = (size, size) if isinstance(size, int) else size
    buffer = io.BytesIO()
    Image.new("RGB", dims, colour).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def write_tfrecord_dataset(
    root: str | Path, n_monet: int, n_photo: int, size: int = 32, shards: int = 2
) -> Path:
    """Write a tiny Kaggle-layout TFRecord dataset.

    Each domain is split into ``shards`` files of deliberately unequal length (weights
    1, 2, ..., ``shards``), named like Kaggle's (``monet00-4.tfrec``). Record ``k`` of a domain
    is named ``monet0000``-style and shows :func:`colour_of` ``(k)``.

    Args:
        root: Dataset root to create.
        n_monet: Number of Monet records.
        n_photo: Number of photo records.
        size: Side of the square JPEGs.
        shards: Files per domain (at most the number of records).

    Returns:
        ``root`` as a Path.
    """
    root = Path(root)
    for domain, count in (("monet", n_monet), ("photo", n_photo)):
        folder = root / f"{domain}_tfrec"
        folder.mkdir(parents=True, exist_ok=True)
        for shard, (start, stop) in enumerate(_uneven_split(count, shards)):
            payloads = [
                encode_example(
                    {
                        "image_name": f"{domain}{k:04d}".encode(),
                        "image": jpeg_bytes(colour_of(k), size),
                        "target": domain.encode(),
                    }
                )
                for k in range(start, stop)
            ]
            write_tfrecord(folder / f"{domain}{shard:02d}-{stop - start}.tfrec", payloads)
    return root


def _uneven_split(count: int, parts: int) -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` spans, sizes roughly proportional to 1..parts, none empty."""
    if count == 0:
        return []
    parts = max(1, min(parts, count))
    spare = count - parts
    weights = range(1, parts + 1)
    sizes = [1 + spare * weight // sum(weights) for weight in weights]
    sizes[-1] += count - sum(sizes)
    stops = np.cumsum(sizes).tolist()
    return list(zip([0, *stops[:-1]], stops, strict=True))
