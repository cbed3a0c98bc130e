"""Fit images of any size to a generator: reflect padding, and tiling with blended overlaps.

Padding: a generator accepts heights and widths that are multiples of ``multiple`` (256 for the
U-Net-256, 4 for the ResNet). :func:`reflect_pad` pads each side symmetrically by mirroring the
image (reflecting again as often as needed, so even a 1x1 image reaches 256x256), to at least
16 pixels, and the output is cropped back to the input's size.

Tiling (:func:`stylize_tiled`): an axis whose padded length exceeds ``tile`` is cut into windows
of ``tile`` pixels that overlap by at least ``overlap``; the outputs are blended with weights
that ramp linearly over ``overlap`` pixels from each window edge, so every output pixel is a
weighted mean of the windows that cover it and there is no hard edge anywhere. Windows are
processed one at a time, one row of windows after another, and only one row is accumulated in
float32: besides the uint8 input and output, extra memory is ``16 * tile * width`` bytes plus
one window's forward pass.

Example:
    >>> image = torch.zeros(3, 5, 7, dtype=torch.uint8)
    >>> padded, box = reflect_pad(image, 4)
    >>> padded.shape, box
    (torch.Size([3, 8, 8]), (1, 0, 5, 7))
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from cyclegan.data.transforms import to_uint8

__all__ = ["needs_tiling", "padded_length", "reflect_pad", "stylize_tiled", "window_starts"]

Box = tuple[int, int, int, int]
"""``(top, left, height, width)`` of the original image inside a padded one."""


MIN_SIDE = 16
"""Smaller sides are padded further: generators downsample, and instance norm needs more than
one value per channel (a 4x4 input of the ResNet would reach its residual blocks as 1x1)."""


def padded_length(length: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is at least ``length`` and :data:`MIN_SIDE`."""
    return math.ceil(max(length, MIN_SIDE) / multiple) * multiple


def reflect_index(length: int, before: int, after: int) -> torch.Tensor:
    """Indices into ``range(length)`` that mirror it ``before`` and ``after`` (no edge repeat).

    A length-1 axis is repeated, since there is nothing to mirror.
    """
    index = torch.arange(-before, length + after)
    if length == 1:
        return torch.zeros_like(index)
    period = 2 * (length - 1)
    index = index.remainder(period)
    return torch.where(index >= length, period - index, index)


def reflect_pad(image: torch.Tensor, multiple: int) -> tuple[torch.Tensor, Box]:
    """Mirror-pad the last two axes to multiples of ``multiple``, centred.

    Args:
        image: ``[..., H, W]`` tensor of any dtype.
        multiple: Target multiple for height and width.

    Returns:
        The padded tensor and the ``(top, left, height, width)`` box of the original in it.
    """
    height, width = image.shape[-2:]
    pad_h = padded_length(height, multiple) - height
    pad_w = padded_length(width, multiple) - width
    if pad_h == 0 and pad_w == 0:
        return image, (0, 0, height, width)
    top, left = pad_h // 2, pad_w // 2
    rows = reflect_index(height, top, pad_h - top)
    cols = reflect_index(width, left, pad_w - left)
    padded = image.index_select(-2, rows).index_select(-1, cols)
    return padded, (top, left, height, width)


def needs_tiling(height: int, width: int, multiple: int, tile: int) -> bool:
    """Whether an image is processed in windows rather than whole."""
    return max(padded_length(height, multiple), padded_length(width, multiple)) > tile


def window_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spaced window starts covering ``[0, length)`` with windows of ``tile``.

    Consecutive windows overlap by at least ``overlap``; the first starts at 0, the last ends at
    ``length``. Requires ``length >= tile > overlap >= 0``.
    """
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    count = max(count, 2)
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _ramp(size: int, overlap: int) -> torch.Tensor:
    """Blending weight along one window axis: linear over ``overlap`` pixels at each end, > 0."""
    position = torch.arange(size, dtype=torch.float32) + 0.5
    if overlap == 0:
        return torch.ones(size)
    return torch.minimum(position, size - position).div(overlap).clamp(max=1.0)


def stylize_tiled(
    image: torch.Tensor,
    forward: Callable[[torch.Tensor], torch.Tensor],
    multiple: int,
    tile: int,
    overlap: int,
    on_window: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Run ``forward`` over an image of any size in overlapping, blended windows.

    Args:
        image: ``uint8`` ``[3, H, W]``.
        forward: Maps ``uint8`` ``[1, 3, h, w]`` (``h``, ``w`` multiples of ``multiple``) to a
            float ``[1, 3, h, w]`` in ``[-1, 1]``.
        multiple: Size multiple of the generator.
        tile: Window side, a multiple of ``multiple``.
        overlap: Minimum overlap of neighbouring windows, below ``tile / 2``.
        on_window: Called after each window with ``(windows done, windows in all)``, for a
            progress display.

    Returns:
        ``uint8`` ``[3, H, W]``.
    """
    if tile % multiple or tile < multiple:
        raise ValueError(f"tile_size={tile} must be a positive multiple of {multiple}")
    if not 0 <= overlap < tile // 2:
        raise ValueError(f"tile_overlap={overlap} must be in [0, tile_size / 2 = {tile // 2})")
    # Axes that fit in one window are padded to a multiple and cropped at the end; longer axes
    # are windowed inside the image, so windows never need padding.
    _, height, width = image.shape
    tiled_h = padded_length(height, multiple) > tile
    tiled_w = padded_length(width, multiple) > tile
    padded, (top, left, _, _) = (
        reflect_pad(image, multiple)
        if not (tiled_h and tiled_w)
        else (image, (0, 0, height, width))
    )
    if tiled_h:
        padded, top = padded[:, top : top + height], 0
    if tiled_w:
        padded, left = padded[:, :, left : left + width], 0
    full_h, full_w = padded.shape[-2:]
    win_h, win_w = (tile if tiled_h else full_h), (tile if tiled_w else full_w)
    rows = window_starts(full_h, win_h, overlap)
    cols = window_starts(full_w, win_w, overlap)
    weight = _ramp(win_h, overlap if tiled_h else 0)[:, None] * _ramp(
        win_w, overlap if tiled_w else 0
    )

    out = torch.empty(3, full_h, full_w, dtype=torch.uint8)
    acc = torch.zeros(3, win_h, full_w)
    acc_weight = torch.zeros(win_h, full_w)
    for i, y in enumerate(rows):
        for j, x in enumerate(cols):
            result = forward(padded[None, :, y : y + win_h, x : x + win_w])[0]
            acc[:, :, x : x + win_w].addcmul_(result.float().cpu(), weight)
            acc_weight[:, x : x + win_w].add_(weight)
            if on_window is not None:
                on_window(i * len(cols) + j + 1, len(rows) * len(cols))
        # Rows above the next window row receive nothing more: finish them, slide the rest up.
        done = (rows[i + 1] if i + 1 < len(rows) else y + win_h) - y
        out[:, y : y + done] = to_uint8(acc[:, :done] / acc_weight[:done])
        acc = torch.cat([acc[:, done:], torch.zeros(3, done, full_w)], dim=1)
        acc_weight = torch.cat([acc_weight[done:], torch.zeros(done, full_w)], dim=0)
    return out[:, top : top + height, left : left + width].contiguous()
