"""PatchGAN discriminator (70×70 receptive field with the defaults)."""

import torch
from torch import nn

from cyclegan.networks.init import init_weights


class PatchGANDiscriminator(nn.Module):
    """``n_layers`` stride-2 4×4 downsamples, then zero-pad, 4×4 conv, norm, LeakyReLU, zero-pad,
    4×4 conv to one channel of logits per patch (no sigmoid: the losses take logits).

    With the defaults a 256×256 input gives 30×30 logits, as in the Kaggle tutorial and the
    official 70×70 PatchGAN. Widths: ndf·min(2^i, 8).

    ``spectral_norm=True`` wraps every convolution in spectral normalisation (Miyato et al.
    2018): each layer's largest singular value is kept at 1 by a power iteration per training
    forward (SN-GAN; the weights are stored as ``parametrizations.weight.original``).

    Input constraint: after the downsamples the map must be at least 3×3, i.e. height and width
    at least ``3 * 2**n_layers`` (24 for the default); smaller inputs raise ``ValueError``.

    Example:
        >>> d = PatchGANDiscriminator(ndf=8)
        >>> d(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 1, 6, 6])
    """

    def __init__(
        self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, spectral_norm: bool = False
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"PatchGANDiscriminator needs n_layers >= 1, got {n_layers}")
        self.n_layers = n_layers
        layers: list[nn.Module] = []
        prev = in_channels
        for i in range(n_layers):
            out = ndf * min(2**i, 8)
            layers.append(nn.Conv2d(prev, out, 4, stride=2, padding=1, bias=i == 0))
            if i > 0:
                layers.append(nn.InstanceNorm2d(out, affine=True))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            prev = out
        out = ndf * min(2**n_layers, 8)
        layers += [
            nn.ZeroPad2d(1),
            nn.Conv2d(prev, out, 4, bias=False),
            nn.InstanceNorm2d(out, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
            nn.ZeroPad2d(1),
            nn.Conv2d(out, 1, 4),
        ]
        self.model = nn.Sequential(*layers)
        init_weights(self)
        if spectral_norm:
            for i, layer in enumerate(self.model):
                if isinstance(layer, nn.Conv2d):
                    self.model[i] = nn.utils.parametrizations.spectral_norm(layer)

    @property
    def min_size(self) -> int:
        """Smallest height/width accepted."""
        return 3 * 2**self.n_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if min(h, w) < self.min_size:
            raise ValueError(
                f"PatchGANDiscriminator with n_layers={self.n_layers} needs inputs of at least "
                f"{self.min_size}x{self.min_size}; got {h}x{w}."
            )
        return self.model(x)
