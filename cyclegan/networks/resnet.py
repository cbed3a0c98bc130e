"""ResNet generator of the CycleGAN paper (Johnson et al. style, reflection padding)."""

import torch
from torch import nn

from cyclegan.networks.init import init_weights
from cyclegan.networks.upsample import check_upsample, resize_conv


class ResidualBlock(nn.Module):
    """Two 3×3 convs with reflection padding and instance norm, plus the identity."""

    def __init__(self, channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=True),
            nn.InstanceNorm2d(channels),
            nn.ReLU(inplace=True),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=True),
            nn.InstanceNorm2d(channels),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """c7s1-64, d128, d256, ``n_blocks`` × R256, u128, u64, c7s1-3 (CycleGAN paper, appendix).

    ``n_blocks=9`` for 256×256 images and 6 for 128×128 in the paper. Instance norm without
    affine parameters, as the official implementation uses. ``upsample="resize"`` replaces the
    two 3×3 stride-2 transposed convs with nearest ×2 resize and a 3×3 conv (resize-convolution,
    Odena et al. 2016), as the U-Net's option of the same name does.

    Input constraint: height and width must be multiples of 4 (two stride-2 downsamples) and
    larger than 3 (reflection padding of 3); other sizes raise ``ValueError``.

    Example:
        >>> g = ResnetGenerator(ngf=8, n_blocks=2)
        >>> g(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 3, 32, 32])
    """

    size_multiple = 4
    per_image = True  # instance norm: no image depends on the others in its batch

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        dropout: float = 0.0,
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        check_upsample("ResnetGenerator", upsample)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(inplace=True),
        ]
        ch = ngf
        for _ in range(2):
            layers += [
                nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1),
                nn.InstanceNorm2d(ch * 2),
                nn.ReLU(inplace=True),
            ]
            ch *= 2
        layers += [ResidualBlock(ch, dropout) for _ in range(n_blocks)]
        for _ in range(2):
            if upsample == "transpose":
                layers.append(
                    nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1)
                )
            else:
                layers += resize_conv(ch, ch // 2)
            layers += [
                nn.InstanceNorm2d(ch // 2),
                nn.ReLU(inplace=True),
            ]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % 4 or w % 4 or min(h, w) < 4:
            raise ValueError(
                f"ResnetGenerator needs height and width that are multiples of 4 (at least 4); "
                f"got {h}x{w}. Resize, pad or crop the input first."
            )
        return self.model(x)
