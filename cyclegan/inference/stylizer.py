"""Run a generator on uint8 images: device, precision, memory format, padding and tiling.

Example:
    >>> from cyclegan.networks import ResnetGenerator
    >>> stylizer = Stylizer(ResnetGenerator(ngf=8, n_blocks=1), size_multiple=4)
    >>> stylizer.stylize(torch.zeros(3, 10, 13, dtype=torch.uint8)).shape
    torch.Size([3, 10, 13])
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from cyclegan.data.transforms import to_float, to_uint8
from cyclegan.inference.tiling import needs_tiling, reflect_pad, stylize_tiled

__all__ = ["PRECISIONS", "Stylizer", "resolve_device"]

PRECISIONS = {"bf16": torch.bfloat16, "32": torch.float32}
"""``bf16``: weights and activations in bfloat16 (AMX on recent Xeons, tensor cores on GPUs;
normalisation statistics still accumulate in float32); ``32``: float32."""


class ChannelsLastInstanceNorm(nn.Module):
    """Instance norm computed by ``group_norm`` with one group per channel: the same function,
    but PyTorch's instance norm reshapes its input to ``[1, B*C, H, W]``, which copies a
    channels-last tensor twice, while group norm has a channels-last kernel (on this CPU the
    ResNet-9 runs twice as fast in bf16)."""

    def __init__(self, norm: nn.InstanceNorm2d) -> None:
        super().__init__()
        self.num_features = norm.num_features
        self.eps = norm.eps
        self.weight = norm.weight
        self.bias = norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.num_features, self.weight, self.bias, self.eps)


def _swap_instance_norms(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.InstanceNorm2d) and not child.track_running_stats:
            setattr(module, name, ChannelsLastInstanceNorm(child))
        else:
            _swap_instance_norms(child)


def resolve_device(device: str) -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``; other names are checked and returned.

    Raises:
        ValueError: If ``cuda`` is asked for and not available, or the name is unknown.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in {"cpu", "cuda"} and not device.startswith("cuda:"):
        raise ValueError(f"device={device!r}: choose auto, cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device}: CUDA is not available on this machine")
    return torch.device(device)


class Stylizer:
    """Apply a generator to ``uint8`` RGB images and return ``uint8`` RGB images.

    Args:
        generator: Maps float ``[B, 3, H, W]`` in ``[-1, 1]`` to the same. It is copied, not
            changed: the copy is put in eval mode, cast and moved.
        size_multiple: Height and width the generator needs to be multiples of.
        device: Where to run it.
        precision: ``bf16`` or ``32`` (see :data:`PRECISIONS`).
        channels_last: Use the NHWC memory format (faster convolutions on CPU and GPU), and
            compute instance norms with :class:`ChannelsLastInstanceNorm`.
        tile_size: Images whose padded height or width exceeds this are processed in windows
            of this side (a multiple of ``size_multiple``); see :mod:`cyclegan.inference.tiling`.
        tile_overlap: Overlap of neighbouring windows, blended linearly.
    """

    def __init__(
        self,
        generator: nn.Module,
        size_multiple: int,
        device: torch.device | str = "cpu",
        precision: str = "bf16",
        channels_last: bool = True,
        tile_size: int = 1024,
        tile_overlap: int = 128,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r}: choose one of {list(PRECISIONS)}")
        if tile_size % size_multiple or tile_size < size_multiple:
            raise ValueError(
                f"tile_size={tile_size} must be a positive multiple of the generator's size "
                f"multiple {size_multiple}"
            )
        if not 0 <= tile_overlap < tile_size // 2:
            raise ValueError(f"tile_overlap={tile_overlap} must be in [0, {tile_size // 2})")
        self.device = torch.device(device)
        self.dtype = PRECISIONS[precision]
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.size_multiple = size_multiple
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.generator = copy.deepcopy(generator).eval()
        if channels_last:
            _swap_instance_norms(self.generator)
        self.generator.to(self.device, self.dtype).to(memory_format=self.memory_format)

    @torch.inference_mode()
    def forward_float(self, batch: torch.Tensor) -> torch.Tensor:
        """Generator output for a ``uint8`` batch ``[B, 3, H, W]`` (sizes already fitting).

        Returns:
            float32 ``[B, 3, H, W]`` in ``[-1, 1]``, on the CPU.
        """
        x = to_float(batch.to(self.device, non_blocking=True)).to(self.dtype)
        y = self.generator(x.contiguous(memory_format=self.memory_format))
        return y.float().cpu()

    def forward_uint8(self, batch: torch.Tensor) -> torch.Tensor:
        """Like :meth:`forward_float`, converted back to ``uint8`` ``[B, 3, H, W]``."""
        return to_uint8(self.forward_float(batch)).contiguous()

    def needs_tiling(self, height: int, width: int) -> bool:
        """Whether an image of this size is processed in windows."""
        return needs_tiling(height, width, self.size_multiple, self.tile_size)

    def stylize(
        self, image: torch.Tensor, on_window: Callable[[int, int], None] | None = None
    ) -> torch.Tensor:
        """Stylize one ``uint8`` ``[3, H, W]`` image of any size; same size out.

        ``on_window(done, total)`` is called after each window of a tiled image (progress).
        """
        height, width = image.shape[-2:]
        if self.needs_tiling(height, width):
            return stylize_tiled(
                image,
                self.forward_float,
                self.size_multiple,
                self.tile_size,
                self.tile_overlap,
                on_window,
            )
        padded, (top, left, h, w) = reflect_pad(image, self.size_multiple)
        out = self.forward_uint8(padded[None])[0]
        return out[:, top : top + h, left : left + w].contiguous()
