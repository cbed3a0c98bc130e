"""Step 4 of prediction, the stylizer: run a generator on uint8 images (device, precision,
memory format, padding and tiling).

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

from cyclegan.accel import describe_hardware, inference_precision, plan_for, speed_up
from cyclegan.data.transforms import to_float, to_uint8
from cyclegan.inference.checkpoint import LoadedGenerator
from cyclegan.inference.options import PredictOptions, UsageError, resolve_device
from cyclegan.inference.tiling import needs_tiling, reflect_pad, stylize_tiled

__all__ = ["PRECISIONS", "Stylizer"]

PRECISIONS = {"bf16": torch.bfloat16, "32": torch.float32}
"""``bf16``: weights and activations in bfloat16 (AMX on recent Xeons, tensor cores on GPUs;
normalisation statistics still accumulate in float32); ``32``: float32. ``auto`` picks one for
the device (:func:`cyclegan.accel.inference_precision`: bf16 only where it is native)."""


class Stylizer:
    """Apply a generator to ``uint8`` RGB images and return ``uint8`` RGB images.

    Args:
        generator: Maps float ``[B, 3, H, W]`` in ``[-1, 1]`` to the same. It is copied, not
            changed: the copy is put in eval mode, cast and moved.
        size_multiple: Height and width the generator needs to be multiples of.
        device: Where to run it.
        precision: ``auto``, ``bf16`` or ``32`` (see :data:`PRECISIONS`).
        channels_last: ``auto`` (the speed plan measured for this hardware, see
            :func:`cyclegan.accel.plan_for`) or a forced choice: the NHWC memory format, with
            instance norms computed by ``group_norm``'s channels-last kernel.
        tile_size: Images whose padded height or width exceeds this are processed in windows
            of this side (a multiple of ``size_multiple``); see :mod:`cyclegan.inference.tiling`.
        tile_overlap: Overlap of neighbouring windows, blended linearly.
    """

    def __init__(
        self,
        generator: nn.Module,
        size_multiple: int,
        device: torch.device | str = "cpu",
        precision: str = "auto",
        channels_last: bool | str = "auto",
        tile_size: int = 1024,
        tile_overlap: int = 128,
    ) -> None:
        self.device = torch.device(device)
        if precision not in {*PRECISIONS, "auto", "fp32"}:
            raise ValueError(f"precision={precision!r}: choose auto or one of {list(PRECISIONS)}")
        if channels_last not in (True, False, "auto"):
            raise ValueError(f"channels_last={channels_last!r}: choose auto, true or false")
        self.precision = inference_precision(precision, self.device)
        if tile_size % size_multiple or tile_size < size_multiple:
            raise ValueError(
                f"tile_size={tile_size} must be a positive multiple of the generator's size "
                f"multiple {size_multiple}"
            )
        if not 0 <= tile_overlap < tile_size // 2:
            raise ValueError(f"tile_overlap={tile_overlap} must be in [0, {tile_size // 2})")
        self.dtype = PRECISIONS[self.precision]
        self.plan = plan_for(
            self.device, self.precision, options={"channels_last": channels_last}, inference=True
        )
        self.memory_format = self.plan.memory_format
        self.size_multiple = size_multiple
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.generator = copy.deepcopy(generator).eval()
        speed_up(self.generator, self.plan, inference=True)
        self.generator.to(self.device, self.dtype).to(memory_format=self.memory_format)

    @classmethod
    def for_generator(cls, generator: LoadedGenerator, options: PredictOptions) -> Stylizer:
        """The stylizer ``options`` ask for (device, precision, memory format, tiling).

        Raises:
            UsageError: If an option does not fit (unknown precision, CUDA not available,
                ``tile_size`` not a multiple of the generator's size multiple, ...).
        """
        try:
            return cls(
                generator.module,
                generator.size_multiple,
                device=resolve_device(options.device),
                precision=options.precision,
                channels_last=options.channels_last,
                tile_size=options.tile_size,
                tile_overlap=options.tile_overlap,
            )
        except ValueError as error:
            raise UsageError(str(error)) from error

    def describe(self) -> str:
        """One line: device, CPU model and capability, precision."""
        return describe_hardware(self.device, self.precision)

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
