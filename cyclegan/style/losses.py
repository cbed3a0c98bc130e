"""Perceptual losses shared by Gatys style transfer and fast style transfer.

Notation (Gatys et al., 2016): a layer ``l`` has ``N`` feature maps of ``M = H·W`` positions,
``F`` is its ``N×M`` feature matrix for the generated image, ``P`` for the content image; the Gram
matrix ``G = F Fᵀ`` (``A`` for the style image) holds the correlations between feature maps.

- :func:`gram_matrix`: ``G / (N·M)``, the *normalised* Gram matrix. Normalising makes Gram
  matrices of images of different sizes comparable, so a set of paintings can be averaged.
- :func:`style_loss`: ``E_l = Σ (G − A)² / (4·N²·M²)``, Gatys' per-layer style loss, which is
  ``¼ Σ (gram_matrix(F) − gram_matrix(S))²`` (Johnson et al.'s style reconstruction loss is the
  same squared Frobenius distance of normalised Gram matrices without the ¼).
- :func:`content_loss`: ``mean (F − P)²``, Johnson et al.'s feature reconstruction loss (Gatys'
  ``½ Σ (F − P)²`` is ``N·M / 2`` times it; the size-independent form keeps one
  ``content_weight`` meaningful at any image size).
- :func:`tv_loss`: mean squared difference of neighbouring pixels (total variation).
- :class:`VGGFeatures`: a VGG feature stack that returns the activations of named layers.

All losses are computed in float32 whatever the dtype of their inputs, averaged over the batch.

Example:
    >>> f = torch.tensor([[[[1.0, 2.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]])  # 1x2x2x2
    >>> gram_matrix(f) * 2 * 4  # N·M = 8: F Fᵀ = [[6, 2], [2, 2]]
    tensor([[[6., 2.],
             [2., 2.]]])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

__all__ = [
    "VGGFeatures",
    "content_loss",
    "gram_matrix",
    "style_loss",
    "tv_loss",
    "vgg_layer_names",
    "weighted_style_loss",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Normalised Gram matrices ``F Fᵀ / (N·M)`` of a batch of feature maps.

    Args:
        features: ``[B, N, H, W]``.

    Returns:
        float32 ``[B, N, N]``.
    """
    batch, channels, height, width = features.shape
    flat = features.float().reshape(batch, channels, height * width)
    return torch.bmm(flat, flat.transpose(1, 2)) / (channels * height * width)


def style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Gatys' style loss of one layer, ``Σ (G − A)² / (4·N²·M²)``, averaged over the batch.

    Args:
        features: ``[B, N, H, W]`` activations of the generated images.
        target_gram: Normalised Gram matrix of the style, ``[N, N]`` (one for the whole batch,
            e.g. the mean over a set of paintings) or ``[B, N, N]``.

    Returns:
        A float32 scalar.
    """
    diff = gram_matrix(features) - target_gram.float()
    return 0.25 * diff.square().sum(dim=(1, 2)).mean()


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Feature reconstruction loss: mean squared difference of two activations (float32)."""
    return (features.float() - target.float()).square().mean()


def tv_loss(images: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared vertical plus mean squared horizontal pixel difference.

    Args:
        images: ``[B, C, H, W]`` with ``H, W >= 2``.

    Returns:
        A float32 scalar.
    """
    x = images.float()
    vertical = (x[..., 1:, :] - x[..., :-1, :]).square().mean()
    horizontal = (x[..., :, 1:] - x[..., :, :-1]).square().mean()
    return vertical + horizontal


def vgg_layer_names(stack: Iterable[nn.Module]) -> list[str]:
    """Names of the layers of a VGG ``features`` stack in order: ``conv{block}_{i}``,
    ``relu{block}_{i}``, ``pool{block}`` (the names the papers use: ``relu4_2`` is the ReLU after
    the second convolution of the fourth block)."""
    names: list[str] = []
    block, index = 1, 0
    for layer in stack:
        if isinstance(layer, nn.Conv2d):
            index += 1
            names.append(f"conv{block}_{index}")
        elif isinstance(layer, nn.ReLU):
            names.append(f"relu{block}_{index}")
        elif isinstance(layer, nn.MaxPool2d | nn.AvgPool2d):
            names.append(f"pool{block}")
            block, index = block + 1, 0
        else:
            raise ValueError(f"unexpected layer in a VGG feature stack: {layer}")
    return names


class VGGFeatures(nn.Module):
    """A frozen VGG ``features`` stack that returns the activations of the ``taps`` layers.

    Inputs are images in ``[-1, 1]`` (the generators' range); they are mapped to ``[0, 1]`` and
    normalised with the ImageNet mean and standard deviation, as the VGG weights expect. The
    stack is cut after the deepest tap and its parameters are frozen (it has no layer that
    behaves differently in training).

    Args:
        stack: The ``features`` part of a VGG (convolutions, ReLUs, max pools).
        taps: Layer names (see :func:`vgg_layer_names`) whose activations are returned.

    Raises:
        ValueError: If a tap is not a layer of the stack.

    Example:
        >>> stack = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        ...                       nn.Conv2d(4, 8, 3, padding=1), nn.ReLU())
        >>> out = VGGFeatures(stack, ["relu1_1", "relu2_1"])(torch.zeros(1, 3, 8, 8))
        >>> {name: tuple(t.shape) for name, t in out.items()}
        {'relu1_1': (1, 4, 8, 8), 'relu2_1': (1, 8, 4, 4)}
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, stack: nn.Sequential, taps: Iterable[str]) -> None:
        super().__init__()
        names = vgg_layer_names(stack)
        self.taps = list(dict.fromkeys(taps))
        unknown = [tap for tap in self.taps if tap not in names]
        if unknown or not self.taps:
            raise ValueError(f"VGG layers {unknown or '(none)'} asked for; it has {names}")
        depth = max(names.index(tap) for tap in self.taps) + 1
        self.names = names[:depth]
        self.layers = nn.Sequential(*list(stack)[:depth])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)
        self.requires_grad_(False)

    def channels(self, tap: str) -> int:
        """Number of feature maps ``N`` at layer ``tap``."""
        index = self.names.index(tap)
        convs = [m for m in list(self.layers)[: index + 1] if isinstance(m, nn.Conv2d)]
        return convs[-1].out_channels

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = ((images + 1) / 2 - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        wanted = set(self.taps)
        for name, layer in zip(self.names, self.layers, strict=True):
            x = layer(x)
            if name in wanted:
                out[name] = x
        return out


def weighted_style_loss(
    features: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    layer_weights: Mapping[str, float],
) -> torch.Tensor:
    """``Σ_l w_l · E_l`` over the style layers (Gatys' ``L_style``)."""
    terms = [
        w * style_loss(features[name], target_grams[name]) for name, w in layer_weights.items()
    ]
    return torch.stack(terms).sum()
