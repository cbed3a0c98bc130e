"""Johnson et al.'s image transformation network for fast style transfer."""

import torch
from torch import nn

from cyclegan.networks.init import init_weights


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    """Reflection-padded convolution, instance norm (affine), ReLU."""
    return [
        nn.ReflectionPad2d(kernel // 2),
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride),
        nn.InstanceNorm2d(out_ch, affine=True),
        nn.ReLU(inplace=True),
    ]


class TransformResidualBlock(nn.Module):
    """Two reflection-padded 3×3 convolutions with instance norm, plus the identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv(channels, channels, 3),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformNet(nn.Module):
    """c9s1-32, d64, d128, ``n_blocks`` × R128, u64, u32, c9s1-3, tanh (Johnson et al., 2016,
    with ``ngf=32, n_blocks=5``).

    Differences from the paper, as in later work: instance norm instead of batch norm (Ulyanov
    et al., 2016: the output of one image does not depend on the others in its batch), reflection
    padding instead of zero padding, and upsampling by nearest-neighbour ×2 followed by a 3×3
    convolution instead of transposed convolutions (no checkerboard artefacts, Odena et al.,
    2016). Inputs and outputs are in ``[-1, 1]``, like the CycleGAN generators'.

    Input constraint: height and width must be multiples of 4 (two stride-2 downsamples) and at
    least 8; other sizes raise ``ValueError``.

    Example:
        >>> net = TransformNet(ngf=4, n_blocks=1)
        >>> net(torch.zeros(1, 3, 32, 36)).shape
        torch.Size([1, 3, 32, 36])
    """

    size_multiple = 4
    per_image = True  # instance norm: no image depends on the others in its batch

    def __init__(
        self, in_channels: int = 3, out_channels: int = 3, ngf: int = 32, n_blocks: int = 5
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            *_conv(in_channels, ngf, 9),
            *_conv(ngf, ngf * 2, 3, stride=2),
            *_conv(ngf * 2, ngf * 4, 3, stride=2),
        ]
        layers += [TransformResidualBlock(ngf * 4) for _ in range(n_blocks)]
        for ch in (ngf * 4, ngf * 2):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), *_conv(ch, ch // 2, 3)]
        layers += [nn.ReflectionPad2d(4), nn.Conv2d(ngf, out_channels, 9), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % 4 or w % 4 or min(h, w) < 8:
            raise ValueError(
                f"TransformNet needs height and width that are multiples of 4 (at least 8); "
                f"got {h}x{w}. Resize, pad or crop the input first."
            )
        return self.model(x)
