"""A PNG contact sheet: each input beside its output, for people who would rather look.

Pairs are laid out in a near-square grid; each image is shrunk (aspect kept) to fit a
``cell x cell`` square, centred on a grey background.

Example:
    >>> sheet = ContactSheet(limit=2, cell=32)
    >>> image = torch.zeros(3, 40, 20, dtype=torch.uint8)
    >>> sheet.add(image, image)
    >>> sheet.render().size
    (68, 36)
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

__all__ = ["ContactSheet"]

_GAP = 4
_BACKGROUND = (128, 128, 128)


class ContactSheet:
    """Collects up to ``limit`` (input, output) thumbnails and renders them as one image.

    Args:
        limit: Number of pairs to keep (the first ones added).
        cell: Side of the square each image is fitted into.
    """

    def __init__(self, limit: int, cell: int = 192) -> None:
        self.limit = limit
        self.cell = cell
        self.pairs: list[tuple[Image.Image, Image.Image]] = []

    @property
    def full(self) -> bool:
        """Whether ``limit`` pairs have been collected."""
        return len(self.pairs) >= self.limit

    def add(self, source: torch.Tensor, result: torch.Tensor) -> None:
        """Add one pair of ``uint8`` ``[3, H, W]`` images (ignored once full)."""
        if not self.full:
            self.pairs.append((self._thumbnail(source), self._thumbnail(result)))

    def _thumbnail(self, image: torch.Tensor) -> Image.Image:
        picture = Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).numpy()))
        picture.thumbnail((self.cell, self.cell), Image.Resampling.LANCZOS)
        return picture

    def render(self) -> Image.Image:
        """The sheet: ``ceil(sqrt(n))`` pairs per row, input left, output right."""
        if not self.pairs:
            raise ValueError("no images were added to the contact sheet")
        per_row = math.ceil(math.sqrt(len(self.pairs)))
        rows = math.ceil(len(self.pairs) / per_row)
        pair_w = 2 * self.cell + _GAP
        width = per_row * pair_w + (per_row + 1) * _GAP
        height = rows * self.cell + (rows + 1) * _GAP
        sheet = Image.new("RGB", (width, height), _BACKGROUND)
        for index, pair in enumerate(self.pairs):
            row, col = divmod(index, per_row)
            top = _GAP + row * (self.cell + _GAP)
            for side, picture in enumerate(pair):
                left = _GAP + col * (pair_w + _GAP) + side * (self.cell + _GAP)
                offset = ((self.cell - picture.width) // 2, (self.cell - picture.height) // 2)
                sheet.paste(picture, (left + offset[0], top + offset[1]))
        return sheet
