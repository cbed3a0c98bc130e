"""U-Net generator of the Kaggle CycleGAN tutorial (pix2pix U-Net-256)."""

import torch
from torch import nn

from cyclegan.networks.init import init_weights
from cyclegan.networks.upsample import check_upsample, resize_conv


def _down(in_ch: int, out_ch: int, norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.InstanceNorm2d(out_ch, affine=True))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def _upsample(in_ch: int, out_ch: int, mode: str, bias: bool) -> list[nn.Module]:
    """×2 upsampling: a 4×4 stride-2 transposed conv (the tutorial), or nearest-neighbour resize
    then a 3×3 conv ("resize-convolution", Odena et al. 2016: no checkerboard artefacts)."""
    if mode == "transpose":
        return [nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=bias)]
    return resize_conv(in_ch, out_ch, bias=bias)


NORMS = ("instance", "pixel")


class PixelNorm2d(nn.Module):
    """Normalise each position's feature vector over the channels (the pixelwise feature-vector
    norm of Karras et al. 2018), then a learned per-channel gain and bias, like an affine
    instance norm's. No statistic spans positions, so no single position can steer the whole
    map: the "droplet" spikes that instance norm invites (Karras et al. 2020) buy nothing here.

    Example:
        >>> n = PixelNorm2d(4)
        >>> torch.allclose(n(torch.randn(2, 4, 8, 8)).pow(2).mean(1), torch.ones(2, 8, 8))
        True
    """

    def __init__(self, channels: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The mean of squares in float32: under bf16 autocast x arrives in bf16.
        scale = torch.rsqrt(x.float().pow(2).mean(1, keepdim=True) + self.eps).to(x.dtype)
        return x * scale * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "pixel":
        return PixelNorm2d(channels)
    return nn.InstanceNorm2d(channels, affine=True)


def _up(in_ch: int, out_ch: int, dropout: float, mode: str, norm: str) -> nn.Sequential:
    layers: list[nn.Module] = [
        *_upsample(in_ch, out_ch, mode, bias=False),
        _norm(norm, out_ch),
    ]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNetGenerator(nn.Module):
    """U-Net: ``num_downs`` stride-2 4×4 conv downsamples, mirrored transposed-conv upsamples.

    With the defaults (``ngf=64, num_downs=8``) the widths are 64, 128, 256, 512, 512, 512, 512,
    512 down and 512, 512, 512, 512, 256, 128, 64 up, as in the Kaggle tutorial. The first
    downsample has no normalisation, nor has the 1×1 bottleneck (a constant map there, and
    PyTorch's instance norm rejects it). Downsamples use LeakyReLU(0.2), upsamples ReLU with
    dropout on the first ``num_dropout`` of them, each followed by a skip concatenation; a final
    transposed conv maps to ``out_channels`` with tanh. ``upsample="resize"`` replaces every
    transposed conv by nearest-neighbour ×2 resizing and a 3×3 conv (same widths).
    ``drop_skips=k`` removes the ``k`` highest-resolution skip connections: those upsamples see
    only the decoder's features, so fine detail has to be redrawn rather than copied from the
    input (``num_downs - 1`` removes all of them: a plain encoder-decoder). ``skip_dropout=p``
    keeps every skip but, in training only, zeroes the highest-resolution kept skip of each image
    with probability ``p`` (not rescaled: the skip is there or it is not), so the decoder learns
    to draw the output without it too; in eval mode every skip is always there.
    ``decoder_norm="pixel"`` normalises the upsamples per position over channels
    (:class:`PixelNorm2d`) instead of per channel over the image (instance norm, the default;
    the encoder keeps instance norm either way).

    Input constraint: height and width must be multiples of ``2**num_downs`` (256 by default),
    so that every skip connection lines up; other sizes raise ``ValueError``.

    Example:
        >>> g = UNetGenerator(ngf=8, num_downs=5)
        >>> g(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 3, 32, 32])
    """

    per_image = True  # instance norm: no image depends on the others in its batch

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        num_downs: int = 8,
        dropout: float = 0.5,
        num_dropout: int = 3,
        upsample: str = "transpose",
        drop_skips: int = 0,
        skip_dropout: float = 0.0,
        decoder_norm: str = "instance",
    ) -> None:
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"UNetGenerator needs num_downs >= 2, got {num_downs}")
        if not 0 <= drop_skips <= num_downs - 1:
            raise ValueError(
                f"UNetGenerator drop_skips must be in 0..{num_downs - 1} (num_downs - 1) "
                f"for num_downs={num_downs}, got {drop_skips}"
            )
        if not 0.0 <= skip_dropout <= 1.0:
            raise ValueError(f"UNetGenerator skip_dropout must be in [0, 1], got {skip_dropout}")
        if skip_dropout > 0 and drop_skips == num_downs - 1:
            raise ValueError("UNetGenerator skip_dropout needs a kept skip; drop_skips removed all")
        if decoder_norm not in NORMS:
            allowed = ", ".join(NORMS)
            raise ValueError(
                f"UNetGenerator decoder_norm must be one of {allowed}, got {decoder_norm!r}"
            )
        check_upsample("UNetGenerator", upsample)
        widths = [ngf * min(2**i, 8) for i in range(num_downs)]
        self.num_downs = num_downs
        # Up i (innermost first) concatenates its skip when it is one of the kept ones.
        self.kept_skips = num_downs - 1 - drop_skips
        self.skip_dropout = skip_dropout
        self.downs = nn.ModuleList()
        prev = in_channels
        for i, w in enumerate(widths):
            # No norm on the first layer (tutorial) nor on the 1x1 bottleneck (pix2pix).
            self.downs.append(_down(prev, w, norm=0 < i < num_downs - 1))
            prev = w
        self.ups = nn.ModuleList()
        skips = widths[:-1][::-1]
        for i, w in enumerate(skips):
            self.ups.append(
                _up(prev, w, dropout if i < num_dropout else 0.0, upsample, decoder_norm)
            )
            prev = 2 * w if i < self.kept_skips else w  # after concatenation with the skip
        self.head = nn.Sequential(*_upsample(prev, out_channels, upsample, bias=True), nn.Tanh())
        init_weights(self)

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this."""
        return 2**self.num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.size_multiple
        if h % m or w % m:
            raise ValueError(
                f"UNetGenerator with num_downs={self.num_downs} needs height and width that are "
                f"multiples of {m}; got {h}x{w}. Resize, pad or crop the input first."
            )
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        for i, (up, skip) in enumerate(zip(self.ups, skips[-2::-1], strict=True)):
            if i == self.kept_skips - 1 and self.training and self.skip_dropout > 0:
                skip = skip * self._skip_mask(skip)
            x = torch.cat([up(x), skip], dim=1) if i < self.kept_skips else up(x)
        return self.head(x)

    def _skip_mask(self, skip: torch.Tensor) -> torch.Tensor:
        """Per image 0 (with probability ``skip_dropout``) or 1, shaped to broadcast over ``skip``:
        a static shape and no host read, so it traces once on XLA."""
        keep = torch.rand(skip.shape[0], 1, 1, 1, device=skip.device) >= self.skip_dropout
        return keep.to(skip.dtype)
