"""×2 upsampling shared by the generators: resize-convolution (Odena et al. 2016), the option
to their transposed convolutions that leaves no checkerboard artefacts."""

import torch
from torch import nn

UPSAMPLE_MODES = ("transpose", "resize")


class NearestUpsample2x(nn.Module):
    """×2 nearest-neighbour upsampling as a broadcast and a reshape (the same values as
    ``nn.Upsample(scale_factor=2)``, which torch-xla makes read sizes back to the host)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        return x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)


def check_upsample(owner: str, mode: str) -> None:
    """Raise ``ValueError`` naming ``owner`` when ``mode`` is not one of ``UPSAMPLE_MODES``."""
    if mode not in UPSAMPLE_MODES:
        raise ValueError(f"{owner} upsample={mode!r}: choose one of {UPSAMPLE_MODES}")


def resize_conv(in_ch: int, out_ch: int, bias: bool = True) -> list[nn.Module]:
    """Nearest-neighbour ×2 resize, then a 3×3 convolution that keeps the size."""
    return [NearestUpsample2x(), nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=bias)]
