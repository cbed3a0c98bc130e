"""A small built-in dataset in the Kaggle TFRecord layout, made in seconds without a download.

Photos: random crops (varied position, scale and mirroring) of the colour photographs shipped in
scikit-image (astronaut, coffee, chelsea the cat, rocket, the stereo motorcycle pair).
Paintings: *other* crops of the same photographs rendered in a deterministic painterly style
(smoothed, colour-quantised to a small palette, softened towards pastel, with oriented
brush-stroke texture and canvas grain), a style a CycleGAN can learn to add and remove.

The layout and schema are Kaggle's: ``ROOT/photo_tfrec/*.tfrec`` and ``ROOT/monet_tfrec/*.tfrec``
with ``image_name``, ``image`` (JPEG) and ``target`` features.

Example:
    >>> build_demo_dataset(Path("data/demo"))  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage
from scipy.cluster.vq import kmeans2

from cyclegan.data.records import encode_example, write_tfrecord

__all__ = ["DEMO_PHOTO_NAMES", "build_demo_dataset", "demo_photographs"]

log = logging.getLogger(__name__)

DEMO_VERSION = 1
STAMP_NAME = ".demo.json"
RECORDS_PER_SHARD = 30


DEMO_PHOTO_NAMES = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "motorcycle-left",
    "motorcycle-right",
)
"""Names of the :func:`demo_photographs`, in their order."""


def demo_photographs() -> list[np.ndarray]:
    """The colour photographs shipped inside scikit-image, as ``uint8`` ``[H, W, 3]`` arrays."""
    from skimage import data

    left, right, _ = data.stereo_motorcycle()
    photos = [
        data.astronaut(),
        data.coffee(),
        data.chelsea(),
        data.rocket(),
        left,
        right,
    ]
    return [np.ascontiguousarray(p[:, :, :3]) for p in photos]


def build_demo_dataset(
    root: Path | str, n_photo: int = 120, n_monet: int = 60, size: int = 256, seed: int = 0
) -> None:
    """Write the demo dataset under ``root`` (skipped if already built with these parameters).

    Args:
        root: Dataset folder; ``photo_tfrec/`` and ``monet_tfrec/`` are written in it.
        n_photo: Number of photos.
        n_monet: Number of paintings.
        size: Side of the square images.
        seed: Seed of the crops and brush strokes.
    """
    root = Path(root)
    params = {"version": DEMO_VERSION, "n_photo": n_photo, "n_monet": n_monet, "size": size}
    params["seed"] = seed
    stamp = root / STAMP_NAME
    if stamp.is_file() and json.loads(stamp.read_text()) == params:
        log.info("demo dataset already at %s", root)
        return
    photos = demo_photographs()
    rng = np.random.default_rng(seed)
    crops = [_random_crop(photos, size, rng) for _ in range(n_photo + n_monet)]
    _write_domain(root / "photo_tfrec", "photo", crops[:n_photo], lambda image: image)
    painter = _Painter(np.random.default_rng([seed, 1]))
    _write_domain(root / "monet_tfrec", "monet", crops[n_photo:], painter)
    stamp.write_text(json.dumps(params))
    log.info("built demo dataset: %d photos, %d paintings in %s", n_photo, n_monet, root)


def _random_crop(photos: list[np.ndarray], size: int, rng: np.random.Generator) -> np.ndarray:
    photo = photos[int(rng.integers(len(photos)))]
    height, width = photo.shape[:2]
    side = int(min(height, width) * rng.uniform(0.4, 1.0))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    crop = Image.fromarray(photo[top : top + side, left : left + side])
    crop = crop.resize((size, size), Image.Resampling.BICUBIC)
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(crop)


class _Painter:
    """Deterministic painterly rendering of a photo crop."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def __call__(self, image: np.ndarray) -> np.ndarray:
        size = image.shape[0]
        half = Image.fromarray(image).resize((size // 2, size // 2), Image.Resampling.BILINEAR)
        smooth = np.asarray(half.filter(ImageFilter.MedianFilter(5)), dtype=np.float32)
        pixels = smooth.reshape(-1, 3)
        sample = pixels[self.rng.choice(len(pixels), min(1500, len(pixels)), replace=False)]
        palette, _ = kmeans2(sample, 10, seed=self.rng, minit="++")
        labels = np.argmin(((pixels[:, None, :] - palette[None]) ** 2).sum(-1), axis=1)
        flat = palette[labels].reshape(smooth.shape).clip(0, 255).astype(np.uint8)
        painted = np.asarray(
            Image.fromarray(flat).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32
        )
        pastel = 0.75 * painted + 0.25 * np.array([235.0, 225.0, 200.0])  # warm, soft light
        strokes = self._strokes(size)
        grain = self.rng.normal(0.0, 3.0, (size, size, 1))
        return np.clip(pastel * (1.0 + 0.12 * strokes) + grain, 0, 255).astype(np.uint8)

    def _strokes(self, size: int) -> np.ndarray:
        """Short oriented dabs: noise smeared along one random direction per image."""
        angle = self.rng.uniform(0, np.pi)
        length = 9
        kernel = np.zeros((length, length))
        centre = length // 2
        for t in np.linspace(-centre, centre, 4 * length):
            kernel[
                int(round(centre + t * np.sin(angle))), int(round(centre + t * np.cos(angle)))
            ] = 1
        noise = self.rng.standard_normal((size, size))
        smeared = ndimage.convolve(noise, kernel / kernel.sum(), mode="wrap")
        return (smeared / (smeared.std() + 1e-8))[:, :, None].clip(-2.5, 2.5) / 2.5


def _write_domain(
    folder: Path, domain: str, images: list[np.ndarray], render: Callable[[np.ndarray], np.ndarray]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.tfrec"):
        old.unlink()
    for shard, start in enumerate(range(0, len(images), RECORDS_PER_SHARD)):
        chunk = images[start : start + RECORDS_PER_SHARD]
        payloads = [
            encode_example(
                {
                    "image_name": f"demo_{domain}_{start + k:04d}".encode(),
                    "image": _jpeg(render(image)),
                    "target": domain.encode(),
                }
            )
            for k, image in enumerate(chunk)
        ]
        write_tfrecord(folder / f"{domain}{shard:02d}-{len(chunk)}.tfrec", payloads)


def _jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()
