"""CPU kernels swapped into plain ``nn`` networks by :func:`cyclegan.accel.speed_up`.

Each class extends the ``nn`` layer it replaces, with the same parameters, buffers and
state-dict keys and the same function (tests compare them); only how the result is computed
differs. Networks never import them: they are swapped in where measured faster on the hardware
at hand (``cyclegan/accel/plan.py``).

- :class:`GemmConv2d` / :class:`GemmConvTranspose2d`: on the CPU, when the smaller of the
  input and output feature maps has at most ``gemm_max_positions`` positions, the convolution
  runs as one matrix product over its patches (im2col / col2im). oneDNN's weight gradient for a
  512- or 1024-channel 4x4 kernel on a 2x2...8x8 map costs 25-40 ms whatever the map size on a
  2-core AMX CPU, where the matrix product takes a few (``benchmarks/conv_layers.py``).
  :class:`GemmResizeConv2d` does the same for a resize-convolution's small resized maps.
- :class:`WinogradConv2d`: a :class:`GemmConv2d` that computes its 3x3 stride-1 convolution by
  Winograd's F(4x4, 3x3) (:mod:`cyclegan.accel.winograd`: 4x fewer multiplications) when both
  its channel counts reach ``winograd_min_channels`` and the output's sides are multiples of 4
  and the output has at least ``winograd_min_positions`` positions (the ResNet generator's
  residual blocks): about half the float32 time, forward plus backward, on a 2-core AVX2 CPU
  (``benchmarks/winograd.py``).
- :class:`DtypeReflectionPad2d`: pads in the input's dtype. Autocast runs ``reflection_pad2d``
  in float32, so a bf16 activation would be cast up before each convolution of a ResNet block
  and back down inside it, and its gradient the same way; padding copies values, so it is
  exact in any dtype.
- :class:`GroupInstanceNorm2d`: instance norm computed by ``group_norm`` (one group per
  channel), which has a channels-last kernel (inference).

Example:
    >>> conv = GemmConv2d(8, 16, 4, stride=2, padding=1)
    >>> x = torch.randn(2, 8, 8, 8)
    >>> torch.allclose(conv(x), nn.functional.conv2d(x, conv.weight, conv.bias, 2, 1), atol=1e-5)
    True
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from cyclegan.accel.winograd import conv3x3_winograd, winograd_fits
from cyclegan.networks.upsample import ResizeConv2d

WINOGRAD_MIN_POSITIONS = 64 * 64
"""Default output map size from which :class:`WinogradConv2d` uses Winograd (fewer tiles leave
its matrix products too small to win, ``benchmarks/winograd.py``)."""

GEMM_MAX_POSITIONS = 64
"""Default threshold of :class:`GemmConv2d` / :class:`GemmConvTranspose2d` (8x8 maps); the
thresholds used per CPU kind are in ``cyclegan/accel/plan.py``."""


def _gemm_eligible(layer: nn.Conv2d | nn.ConvTranspose2d, x: torch.Tensor) -> bool:
    """Whether ``layer`` supports the matrix-product form for ``x`` and the map is small."""
    return (
        x.device.type == "cpu"
        and x.dim() == 4
        and layer.groups == 1
        and layer.dilation == (1, 1)
        and layer.padding_mode == "zeros"
        and isinstance(layer.padding, tuple)
        # Exported and traced graphs keep PyTorch's convolution ops (portable, and their
        # branch on the map size would otherwise be frozen at the example input's size).
        and not torch.jit.is_scripting()
        and not torch.jit.is_tracing()
        and not torch.compiler.is_exporting()
        and not torch.onnx.is_in_onnx_export()
    )


Pair = tuple[int, int]


def _geometry(layer: nn.Conv2d | nn.ConvTranspose2d) -> tuple[Pair, Pair, Pair]:
    """Kernel size, stride and padding of an eligible layer (numeric padding)."""
    kh, kw = layer.kernel_size
    sh, sw = layer.stride
    ph, pw = cast(tuple[int, int], layer.padding)
    return (kh, kw), (sh, sw), (ph, pw)


def _like(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``y`` in the memory format of ``x`` (channels-last in, channels-last out)."""
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return y.contiguous(memory_format=torch.channels_last)
    return y.contiguous()


def _channels_last_only(t: torch.Tensor) -> bool:
    return (
        t.dim() == 4
        and not t.is_contiguous()
        and t.is_contiguous(memory_format=torch.channels_last)
    )


def conv2d_gemm(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> torch.Tensor:
    """``F.conv2d`` (zero padding, no dilation or groups) as one matrix product over patches.

    Patches are taken in the weight's memory order, so neither the weight nor its gradient is
    copied: for a channels-last weight from the NHWC view of ``x`` in (kh, kw, C) order, for a
    contiguous one by ``F.unfold`` in (C, kh, kw) order.
    """
    if not _channels_last_only(weight):
        return _conv2d_gemm_nchw(x, weight, bias, stride, padding)
    n, c, _, _ = x.shape
    out_c, _, kh, kw = weight.shape
    nhwc = F.pad(x.permute(0, 2, 3, 1), (0, 0, padding[1], padding[1], padding[0], padding[0]))
    patches = nhwc.unfold(1, kh, stride[0]).unfold(2, kw, stride[1])  # N, Ho, Wo, C, kh, kw
    ho, wo = patches.shape[1], patches.shape[2]
    cols = patches.permute(0, 1, 2, 4, 5, 3).reshape(n * ho * wo, kh * kw * c)
    out = cols @ weight.permute(0, 2, 3, 1).reshape(out_c, kh * kw * c).t()
    if bias is not None:
        out = out + bias.to(out.dtype)  # autocast casts a convolution's bias too
    return out.view(n, ho, wo, out_c).permute(0, 3, 1, 2)


def _conv2d_gemm_nchw(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> torch.Tensor:
    n, _, h, w = x.shape
    out_c, _, kh, kw = weight.shape
    ho = (h + 2 * padding[0] - kh) // stride[0] + 1
    wo = (w + 2 * padding[1] - kw) // stride[1] + 1
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # N, C*kh*kw, Ho*Wo
    # (N, L, K) @ (K, out) is one matrix product over all N*L patches; the weight @ cols form
    # would broadcast the weight into N copies (and sum N weight gradients).
    out = cols.transpose(1, 2) @ weight.reshape(out_c, -1).t()  # N, Ho*Wo, out
    if bias is not None:
        out = out + bias.to(out.dtype)
    return out.transpose(1, 2).reshape(n, out_c, ho, wo)


def conv_transpose2d_gemm(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    output_size: tuple[int, int],
) -> torch.Tensor:
    """``F.conv_transpose2d`` (no dilation or groups) as one matrix product and a col2im, in
    the weight's memory order (no copy of the weight or its gradient)."""
    if not _channels_last_only(weight):
        return _conv_transpose2d_gemm_nchw(x, weight, bias, stride, padding, output_size)
    n, c, h, w = x.shape
    _, out_c, kh, kw = weight.shape
    cols = x.permute(0, 2, 3, 1).reshape(n * h * w, c) @ weight.permute(0, 2, 3, 1).reshape(
        c, kh * kw * out_c
    )
    cols = cols.view(n, h * w, kh, kw, out_c).permute(0, 4, 2, 3, 1).reshape(n, -1, h * w)
    # Autocast runs col2im in float32: the overlapping sums accumulate in float32 and are
    # rounded once, as a convolution kernel does.
    out = F.fold(cols, output_size, (kh, kw), stride=stride, padding=padding).to(cols.dtype)
    if bias is not None:
        out = out + bias.to(out.dtype).view(1, -1, 1, 1)
    return out


def _conv_transpose2d_gemm_nchw(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    output_size: tuple[int, int],
) -> torch.Tensor:
    n, c, h, w = x.shape
    _, out_c, kh, kw = weight.shape
    # (N, HW, C) @ (C, out*kh*kw): one matrix product over all N*HW positions (see above).
    cols = x.reshape(n, c, h * w).transpose(1, 2) @ weight.reshape(c, out_c * kh * kw)
    cols = cols.transpose(1, 2)  # N, out*kh*kw, HW: col2im's layout
    out = F.fold(cols, output_size, (kh, kw), stride=stride, padding=padding).to(cols.dtype)
    if bias is not None:
        out = out + bias.to(out.dtype).view(1, -1, 1, 1)
    return out


class _SmallMapGemm:
    """Holds the ``gemm_max_positions`` threshold and passes every other argument to the ``nn``
    layer; :meth:`swap` turns an existing ``nn`` layer into this class in place."""

    gemm_max_positions: int

    def __init__(self, *args, gemm_max_positions: int = GEMM_MAX_POSITIONS, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gemm_max_positions = gemm_max_positions

    @classmethod
    def swap(cls, layer: nn.Module, gemm_max_positions: int) -> None:
        """Make ``layer`` (an instance of the ``nn`` class this one extends) use this class's
        ``forward``: same object, same parameters, hooks and state-dict keys."""
        layer.__class__ = cls  # type: ignore[assignment]
        cast(_SmallMapGemm, layer).gemm_max_positions = gemm_max_positions


class GemmConv2d(_SmallMapGemm, nn.Conv2d):
    """``nn.Conv2d`` that computes small maps on the CPU as a matrix product (module docstring).

    Args:
        *args: as ``nn.Conv2d``.
        gemm_max_positions: use the matrix-product form when the output map has at most this
            many positions (0: never).
        **kwargs: as ``nn.Conv2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gemm_max_positions and _gemm_eligible(self, x):
            (kh, kw), stride, padding = _geometry(self)
            ho = (x.shape[-2] + 2 * padding[0] - kh) // stride[0] + 1
            wo = (x.shape[-1] + 2 * padding[1] - kw) // stride[1] + 1
            if ho * wo <= self.gemm_max_positions:
                return _like(conv2d_gemm(x, self.weight, self.bias, stride, padding), x)
        return super().forward(x)


class GemmConvTranspose2d(_SmallMapGemm, nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` that computes small maps on the CPU as a matrix product and a
    col2im (module docstring). Calls with an ``output_size`` take PyTorch's kernel.

    Args:
        *args: as ``nn.ConvTranspose2d``.
        gemm_max_positions: use the matrix-product form when the input map has at most this
            many positions (0: never).
        **kwargs: as ``nn.ConvTranspose2d``.
    """

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if (
            self.gemm_max_positions
            and output_size is None
            and _gemm_eligible(self, x)
            and x.shape[-2] * x.shape[-1] <= self.gemm_max_positions
        ):
            kernel, stride, padding = _geometry(self)
            extra = self.output_padding
            size = (
                (x.shape[-2] - 1) * stride[0] - 2 * padding[0] + kernel[0] + extra[0],
                (x.shape[-1] - 1) * stride[1] - 2 * padding[1] + kernel[1] + extra[1],
            )
            y = conv_transpose2d_gemm(x, self.weight, self.bias, stride, padding, size)
            return _like(y, x)
        return super().forward(x, output_size)


class GemmResizeConv2d(ResizeConv2d, GemmConv2d):
    """:class:`~cyclegan.networks.upsample.ResizeConv2d` whose small inputs, resized and then
    convolved, take :class:`GemmConv2d`'s matrix product when the resized map has at most
    ``gemm_max_positions`` positions (the U-Net's innermost upsampling layers, 1x1 to 4x4
    inputs). Larger inputs run as the 4x4 transposed convolution, as in ``ResizeConv2d``:
    ``ResizeConv2d.forward`` hands small maps to ``super().forward``, which this class's method
    resolution order makes ``GemmConv2d.forward``."""


def _winograd_shape(layer: nn.Conv2d, min_channels: int) -> bool:
    """3x3, stride 1, no dilation or groups, zero padding, both channel counts at least
    ``min_channels`` (> 0)."""
    return (
        min_channels > 0
        and layer.kernel_size == (3, 3)
        and layer.stride == (1, 1)
        and layer.dilation == (1, 1)
        and layer.groups == 1
        and layer.padding_mode == "zeros"
        and isinstance(layer.padding, tuple)
        and min(layer.in_channels, layer.out_channels) >= min_channels
    )


class WinogradConv2d(GemmConv2d):
    """``nn.Conv2d`` that computes wide 3x3 stride-1 convolutions on the CPU by Winograd's
    F(4x4, 3x3), and small maps as a matrix product like :class:`GemmConv2d` (module docstring).

    Args:
        *args: as ``nn.Conv2d``.
        winograd_min_channels: use Winograd when the input and output channels are both at least
            this (0: never); float32 or float64 only, not under autocast.
        winograd_min_positions: ... and the output map has at least this many positions.
        gemm_max_positions: as :class:`GemmConv2d`.
        **kwargs: as ``nn.Conv2d``.
    """

    winograd_min_channels: int
    winograd_min_positions: int

    def __init__(
        self,
        *args,
        winograd_min_channels: int = 0,
        winograd_min_positions: int = WINOGRAD_MIN_POSITIONS,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.winograd_min_channels = winograd_min_channels
        self.winograd_min_positions = winograd_min_positions

    @staticmethod
    def takes(layer: nn.Module, min_channels: int) -> bool:
        """Whether ``layer`` is a plain ``nn.Conv2d`` of the shape Winograd computes (3x3, stride
        1, no dilation or groups, zero padding, both channel counts at least ``min_channels``)."""
        return type(layer) is nn.Conv2d and _winograd_shape(layer, min_channels)

    @classmethod
    def swap_winograd(
        cls,
        layer: nn.Module,
        winograd_min_channels: int,
        gemm_max_positions: int,
        winograd_min_positions: int = WINOGRAD_MIN_POSITIONS,
    ) -> None:
        """Make ``layer`` (an ``nn.Conv2d``) this class in place, as :meth:`GemmConv2d.swap`."""
        cls.swap(layer, gemm_max_positions)
        layer = cast(WinogradConv2d, layer)
        layer.winograd_min_channels = winograd_min_channels
        layer.winograd_min_positions = winograd_min_positions

    def _winograd_eligible(self, x: torch.Tensor) -> bool:
        device = x.device.type
        padding = _geometry(self)[2]
        out_h, out_w = x.shape[-2] + 2 * padding[0] - 2, x.shape[-1] + 2 * padding[1] - 2
        return (
            _winograd_shape(self, self.winograd_min_channels)
            and x.dtype in (torch.float32, torch.float64)
            and x.dtype == self.weight.dtype
            and not torch.is_autocast_enabled(device)
            and _gemm_eligible(self, x)
            and out_h * out_w >= self.winograd_min_positions
            and winograd_fits(x.shape[-2], x.shape[-1], padding)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._winograd_eligible(x):
            y = conv3x3_winograd(x, self.weight, self.bias, _geometry(self)[2])
            return _like(y, x)
        return super().forward(x)


class DtypeReflectionPad2d(nn.ReflectionPad2d):
    """``nn.ReflectionPad2d`` that keeps the input's dtype under autocast (module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device = x.device.type
        if device in ("cpu", "cuda") and torch.is_autocast_enabled(device):
            with torch.autocast(device, enabled=False):
                return super().forward(x)
        return super().forward(x)


class GroupInstanceNorm2d(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` (affine, no running statistics) computed by ``group_norm`` with one
    group per channel: the same function, but PyTorch's instance norm reshapes its input to
    ``[1, B*C, H, W]``, which copies a channels-last tensor twice, while group norm has a
    channels-last kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.num_features, self.weight, self.bias, self.eps)
