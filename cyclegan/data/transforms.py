"""Image transforms: ``uint8`` in, ``uint8`` out, until :func:`to_float` at the very end.

Images stay ``uint8`` through decoding, resizing, cropping, flipping, batching and the transfer to
the accelerator (4x less memory traffic than float32); the model's input range ``[-1, 1]`` is
produced on the device by :func:`to_float`. Randomness comes from an explicit
:class:`torch.Generator`, never from global state.

Memory layout: decoders write pixels interleaved (H, W, 3); a decoded image is a ``[3, H, W]``
view of that memory and keeps it through the transforms and batching (batches are
channels-last ``[B, 3, H, W]``), because reordering to planar (3, H, W) memory costs about as
much as a third of the JPEG decoding. The LightningModule puts its input into the memory format
its networks use.

Example:
    >>> image = torch.full((3, 300, 200), 255, dtype=torch.uint8)
    >>> prepare = ImageTransform(image_size=64, load_size=72, augment=True)
    >>> out = prepare(image, torch.Generator().manual_seed(0))
    >>> out.shape, out.dtype
    (torch.Size([3, 64, 64]), torch.uint8)
    >>> to_float(out).max().item()
    1.0
"""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import functional as F

__all__ = ["ImageTransform", "interleaved", "to_float", "to_uint8"]

_SCALE = 1.0 / 127.5


def to_float(images: torch.Tensor) -> torch.Tensor:
    """Map ``uint8`` images to ``float32`` in ``[-1, 1]`` (``x / 127.5 - 1``), on their device.

    Args:
        images: ``uint8`` tensor of any shape.

    Returns:
        A new ``float32`` tensor of the same shape.
    """
    if images.dtype != torch.uint8:
        raise TypeError(f"to_float expects uint8 images, got {images.dtype}")
    return images.to(torch.float32).mul_(_SCALE).sub_(1.0)


def interleaved(image: torch.Tensor) -> torch.Tensor:
    """``image`` ``[3, H, W]`` with its pixels stored interleaved (H, W, 3) and dense: itself
    when it already is, else a copy."""
    return image.permute(1, 2, 0).contiguous().permute(2, 0, 1)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_float`: ``round((x + 1) * 127.5)`` clamped to ``[0, 255]``, uint8,
    computed in float32 whatever the input's dtype (bf16 generator outputs included)."""
    return images.to(torch.float32).add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


class ImageTransform:
    """Bring a decoded image to the training size, optionally with CycleGAN's augmentation.

    Without augmentation the image is resized to ``image_size x image_size`` (bilinear,
    antialiased) unless it already has that size. With augmentation (the paper's recipe) it is
    resized to ``load_size x load_size``, randomly cropped to ``image_size`` and flipped
    horizontally with probability 0.5; with ``rot90`` it is then rotated by a random multiple
    of 90° (what the tuned Kaggle notebooks add: paintings have no fixed "up" for texture).

    Args:
        image_size: Side of the square output.
        load_size: Side before the random crop (only with ``augment``); at least ``image_size``.
        augment: Apply resize-crop-flip augmentation.
        rot90: Also rotate by 0, 90, 180 or 270 degrees at random (needs ``augment``).
    """

    def __init__(self, image_size: int, load_size: int, augment: bool, rot90: bool = False) -> None:
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        if augment and load_size < image_size:
            raise ValueError(
                f"load_size ({load_size}) must be at least image_size ({image_size}) "
                "when augment is on"
            )
        self.image_size = image_size
        self.load_size = load_size
        if rot90 and not augment:
            raise ValueError("rot90 is part of the augmentation: it needs augment on")
        self.augment = augment
        self.rot90 = rot90

    def __call__(
        self, image: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Transform one ``uint8`` ``[3, H, W]`` image.

        Args:
            image: The decoded image.
            generator: Source of randomness for augmentation (required when ``augment``).

        Returns:
            ``uint8`` ``[3, image_size, image_size]``.
        """
        if not self.augment:
            return _resize(image, self.image_size)
        if generator is None:
            raise ValueError("augmentation needs a torch.Generator")
        image = _resize(image, self.load_size)
        span = self.load_size - self.image_size + 1
        top, left = torch.randint(0, span, (2,), generator=generator).tolist()
        flip = bool(torch.randint(0, 2, (1,), generator=generator))
        image = image[:, top : top + self.image_size, left : left + self.image_size]
        if flip:
            image = image.flip(-1)
        if self.rot90:
            turns = int(torch.randint(0, 4, (1,), generator=generator))
            image = torch.rot90(image, turns, dims=(-2, -1))
        return interleaved(image)


def _resize(image: torch.Tensor, size: int) -> torch.Tensor:
    if image.shape[-2:] == (size, size):
        return image
    return F.resize(image, [size, size], antialias=True)
