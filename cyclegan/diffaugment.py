"""Differentiable augmentation (DiffAugment, Zhao et al., NeurIPS 2020).

The same random, differentiable transformations are applied to real and generated images before
every discriminator call, in the generator step and in the discriminator step, so that the
discriminator cannot memorise a small real set (300 Monets) while the generator still receives
gradients through the augmentation. Used as ``D(diff_augment(x, policy))``.

Every operation draws its parameters per image on ``x``'s device, keeps shapes static and never
reads a value back to the host, so it traces into one XLA graph.

Example:
    >>> x = torch.zeros(2, 3, 32, 32, requires_grad=True)
    >>> diff_augment(x, ("color", "translation", "cutout")).shape
    torch.Size([2, 3, 32, 32])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = ["POLICIES", "check_policy", "diff_augment"]


def _brightness(x: torch.Tensor) -> torch.Tensor:
    """Add a value in [-0.5, 0.5) per image (images in [-1, 1])."""
    return x + (torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)


def _saturation(x: torch.Tensor) -> torch.Tensor:
    """Scale each pixel's distance from its grey value by a factor in [0, 2)."""
    grey = x.mean(dim=1, keepdim=True)
    factor = torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) * 2
    return (x - grey) * factor + grey


def _contrast(x: torch.Tensor) -> torch.Tensor:
    """Scale the distance from the image's mean by a factor in [0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    factor = torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5
    return (x - mean) * factor + mean


def _color(x: torch.Tensor) -> torch.Tensor:
    return _contrast(_saturation(_brightness(x)))


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by whole pixels, up to ``ratio`` of its side each way; the uncovered
    border is zero (a gather from the zero-padded image: static shapes, no host sync)."""
    b, _, h, w = x.shape
    max_y, max_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    shift_y = torch.randint(-max_y, max_y + 1, (b, 1, 1), device=x.device)
    shift_x = torch.randint(-max_x, max_x + 1, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    # Index into the image padded by one zero pixel on each side: 0 and h+1 are the padding.
    rows = (rows + shift_y + 1).clamp(0, h + 1)
    cols = (cols + shift_x + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)  # [B, H+2, W+2, C]
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` of the side per image, centred anywhere in the image (it
    may hang over the border)."""
    b, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - size_y % 2), (b, 1, 1), device=x.device) - size_y // 2
    left = torch.randint(0, w + (1 - size_x % 2), (b, 1, 1), device=x.device) - size_x // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "color": _color,
    "translation": _translation,
    "cutout": _cutout,
}
"""The operations a policy may name, applied in the order the policy lists them."""


def check_policy(policy: Sequence[str]) -> tuple[str, ...]:
    """``policy`` as a tuple, or ``ValueError`` naming the unknown operation."""
    for name in policy:
        if name not in POLICIES:
            raise ValueError(
                f"DiffAugment policy names {name!r}; choose from {sorted(POLICIES)} "
                "(an empty list turns DiffAugment off)"
            )
    return tuple(policy)


def diff_augment(x: torch.Tensor, policy: Sequence[str]) -> torch.Tensor:
    """``x`` (``[B, C, H, W]``) with each operation of ``policy`` applied, independently drawn
    per image; ``x`` itself when ``policy`` is empty. Differentiable with respect to ``x``."""
    for name in policy:
        x = POLICIES[name](x)
    return x
