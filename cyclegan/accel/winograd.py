"""3×3 convolutions by Winograd's minimal filtering F(4×4, 3×3) (Lavin & Gray, CVPR 2016).

A stride-1 3×3 convolution costs ``2·9·C·K`` floating-point operations per output position.
Winograd's algorithm computes each 4×4 output tile from a 6×6 input tile with 36 products per
input/output channel pair instead of 144: the input tiles and the filters are transformed
(``Bᵀ d B``, ``G g Gᵀ``), multiplied elementwise and summed over input channels, which for all
tiles at once is 36 independent matrix products of ``(K × C) @ (C × tiles)``, and transformed
back (``Aᵀ m A``). The matrix products do 4× fewer operations than the direct convolution; the
transforms are small fixed matrix products too, so autograd derives the backward pass (input
and weight gradients in the same transformed form) from the forward one.

On a CPU in float32 this takes about half the time of PyTorch's convolution, forward plus
backward, for the 256-channel 64×64 convolutions of the ResNet generator's residual blocks,
and loses on narrow layers, where the transforms dominate (``benchmarks/winograd.py``).
Float32 results differ from the direct convolution by a relative 1e-6 (the transforms'
rounding); the same algorithm is what cuDNN and oneDNN offer for these layers.

Example:
    >>> x, w = torch.randn(1, 8, 10, 10), torch.randn(4, 8, 3, 3)
    >>> y = conv3x3_winograd(x, w, None, (0, 0))
    >>> y.shape, torch.allclose(y, torch.nn.functional.conv2d(x, w), atol=1e-4)
    (torch.Size([1, 4, 8, 8]), True)
"""

from __future__ import annotations

import functools

import torch
from torch.nn import functional as F

TILE = 4
"""Output tile side: the output's height and width must be multiples of it."""

_INPUT = 6  # input tile side: TILE + 3 - 1

# Lavin & Gray's F(4, 3) matrices (interpolation points 0, ±1, ±2, ∞).
_BT: list[list[float]] = [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
]
_G: list[list[float]] = [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
]
_AT: list[list[float]] = [
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 0],
    [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1],
]


@functools.cache
def _transforms(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The 2-D transforms as matrices on flattened tiles (Kronecker products, row-major):
    input 36×36, filter 36×9, output 16×36; built in float64, then cast once."""

    def kron(m: list[list[float]]) -> torch.Tensor:
        t = torch.tensor(m, dtype=torch.float64)
        return torch.kron(t, t).to(dtype=dtype, device=device)

    return kron(_BT), kron(_G), kron(_AT)


def winograd_fits(height: int, width: int, padding: tuple[int, int]) -> bool:
    """Whether a 3×3 stride-1 convolution of an ``height × width`` input with ``padding`` has
    an output whose sides are positive multiples of :data:`TILE`."""
    out_h, out_w = height + 2 * padding[0] - 2, width + 2 * padding[1] - 2
    return out_h > 0 and out_w > 0 and out_h % TILE == 0 and out_w % TILE == 0


def conv3x3_winograd(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    padding: tuple[int, int],
) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride=1, padding=padding)`` for a 3×3 ``weight``, by F(4, 3).

    Args:
        x: ``(N, C, H, W)``; the output sides ``H + 2p - 2`` must be multiples of :data:`TILE`
            (:func:`winograd_fits`).
        weight: ``(K, C, 3, 3)``.
        bias: ``(K,)`` or ``None``.
        padding: Zero padding (rows, columns).

    Returns:
        ``(N, K, H + 2p - 2, W + 2p - 2)``, contiguous.

    Raises:
        ValueError: If the shapes do not fit.
    """
    n, c, h, w = x.shape
    k = weight.shape[0]
    if weight.shape[1:] != (c, 3, 3):
        raise ValueError(
            f"conv3x3_winograd needs a (K, {c}, 3, 3) weight, got {tuple(weight.shape)}"
        )
    if not winograd_fits(h, w, padding):
        raise ValueError(
            f"conv3x3_winograd: output of {h}x{w} with padding {padding} is not a multiple of "
            f"{TILE} on each side"
        )
    if padding != (0, 0):
        x = F.pad(x, (padding[1], padding[1], padding[0], padding[0]))
    kb, kg, ka = _transforms(x.dtype, x.device)
    th, tw = (x.shape[-2] - 2) // TILE, (x.shape[-1] - 2) // TILE
    tiles = n * th * tw
    a2 = _INPUT * _INPUT
    # Overlapping 6×6 input tiles at stride 4 (im2col, whose backward is col2im), laid out as
    # (tile element, channel, tile) for the transforms and the 36 matrix products.
    cols = F.unfold(x, _INPUT, stride=TILE).view(n, c, a2, th * tw)
    d = cols.permute(2, 1, 0, 3).reshape(a2, c * tiles)
    v = (kb @ d).view(a2, c, tiles)
    u = (kg @ weight.reshape(k * c, 9).t()).view(a2, k, c)
    m = torch.bmm(u, v)  # (36, K, tiles): the sum over input channels
    y = (ka @ m.view(a2, k * tiles)).view(TILE, TILE, k, n, th, tw)
    y = y.permute(3, 2, 4, 0, 5, 1).reshape(n, k, th * TILE, tw * TILE)
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    return y
