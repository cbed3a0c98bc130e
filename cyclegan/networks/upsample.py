"""×2 upsampling shared by the generators: resize-convolution (Odena et al. 2016), the option
to their transposed convolutions that leaves no checkerboard artefacts."""

import torch
import torch.nn.functional as F
from torch import nn

UPSAMPLE_MODES = ("transpose", "resize")


def nearest_upsample2x(x: torch.Tensor) -> torch.Tensor:
    """``x`` (N, C, H, W) resized ×2 by nearest neighbour, as a broadcast and a reshape (the
    same values as ``nn.Upsample(scale_factor=2)``, which torch-xla makes read sizes back to
    the host), in ``x``'s memory format (a channels-last input gives a channels-last map)."""
    b, c, h, w = x.shape
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        nhwc = x.permute(0, 2, 3, 1)[:, :, None, :, None, :].expand(b, h, 2, w, 2, c)
        return nhwc.reshape(b, 2 * h, 2 * w, c).permute(0, 3, 1, 2)
    return x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2).reshape(b, c, 2 * h, 2 * w)


TRANSPOSED_MIN_POSITIONS = 32 * 32
"""Input map size from which :class:`ResizeConv2d` runs as a transposed convolution, unless the
layer's ``transposed_min_positions`` says otherwise (the CPU training plans of
``cyclegan/accel/plan.py`` set it): below it, oneDNN's transposed convolution is slower than
resize-then-convolve (``benchmarks/resize_conv.py``, forward passes at batch 1: on 1×1 to 16×16
maps of 512 to 1024 channels, 3 to 34 times slower; from 32×32 up, 2 to 26 times faster, AMX
Xeon, bf16)."""


def check_upsample(owner: str, mode: str) -> None:
    """Raise ``ValueError`` naming ``owner`` when ``mode`` is not one of ``UPSAMPLE_MODES``."""
    if mode not in UPSAMPLE_MODES:
        raise ValueError(f"{owner} upsample={mode!r}: choose one of {UPSAMPLE_MODES}")


def _phase_taps(w: torch.Tensor, dim: int) -> torch.Tensor:
    """The 3 taps of a 3×3 kernel along ``dim`` as the 4 taps of a stride-2 transposed conv.

    After a ×2 nearest resize, an even output row ``2i`` sees input rows ``i - 1`` (tap 0) and
    ``i`` (taps 1 + 2); an odd row ``2i + 1`` sees ``i`` (taps 0 + 1) and ``i + 1`` (tap 2). A
    transposed conv with stride 2, padding 1 reads kernel row ``k = 2(m - i) + 1 + parity``, so
    its rows 0..3 are: tap 2, taps 1 + 2, taps 0 + 1, tap 0.
    """
    t0, t1, t2 = w.unbind(dim)
    return torch.stack([t2, t1 + t2, t0 + t1, t0], dim)


class ResizeConv2d(nn.Conv2d):
    """A ×2 nearest-neighbour resize then this 3×3 convolution (padding 1), computed as one 4×4
    stride-2 transposed convolution of the unresized input whose kernel sums the 3×3 taps each
    output phase reads. The outputs are the resize-then-convolve ones (equal up to float
    rounding), at 16 multiplies per 2×2 output block instead of 36, and the ×4 map is never
    built. Inputs smaller than ``TRANSPOSED_MIN_POSITIONS`` are resized and convolved as they
    are. The parameters are the 3×3 convolution's (``weight`` is ``(out, in, 3, 3)``)."""

    transposed_min_positions: int | None = None
    """Input map size from which this layer runs as a transposed convolution (``None``:
    :data:`TRANSPOSED_MIN_POSITIONS`)."""

    def __init__(self, in_ch: int, out_ch: int, bias: bool = True) -> None:
        super().__init__(in_ch, out_ch, 3, 1, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        limit = self.transposed_min_positions
        if x.shape[-2] * x.shape[-1] < (TRANSPOSED_MIN_POSITIONS if limit is None else limit):
            return super().forward(nearest_upsample2x(x))
        kernel = _phase_taps(_phase_taps(self.weight, 2), 3).transpose(0, 1)  # (in, out, 4, 4)
        return F.conv_transpose2d(x, kernel, self.bias, stride=2, padding=1)


def resize_conv(in_ch: int, out_ch: int, bias: bool = True) -> list[nn.Module]:
    """Nearest-neighbour ×2 resize, then a 3×3 convolution that keeps the size (one
    :class:`ResizeConv2d`). The leading ``nn.Identity`` keeps the parameter names
    (``….1.weight``) of checkpoints from when the resize was a module of its own."""
    return [nn.Identity(), ResizeConv2d(in_ch, out_ch, bias=bias)]
