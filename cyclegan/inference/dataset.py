"""Steps 2 and 3 of prediction, inputs -> batches: decode the inputs in DataLoader workers
and hand the model ready-made batches.

Each worker walks the input (:func:`~cyclegan.inference.inputs.iter_inputs`) and takes every
``num_workers``-th item, so every input is handled exactly once. Per item it works out the
output path, skips it if that output already exists (unless ``overwrite``), checks the pixel
count from the header before decoding, decodes, and groups consecutive images of the same padded
size into a :class:`Batch` of up to ``batch_size`` reflect-padded ``uint8`` images. Images too
large for one window travel alone, still encoded, as :class:`LargeImage` and are decoded and
tiled by the main process.
Everything that gives no image is an :class:`Outcome` naming the input and the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

import torch
from torch.utils.data import IterableDataset, get_worker_info

from cyclegan.data.images import MAX_PIXELS, BadImageError, decode_image, image_header
from cyclegan.data.names import printable
from cyclegan.data.transforms import ImageTransform
from cyclegan.inference.inputs import InputProblem, iter_inputs
from cyclegan.inference.options import PredictOptions
from cyclegan.inference.outputs import UnsafeNameError, output_relpath, resolve_output
from cyclegan.inference.tiling import Box, needs_tiling, reflect_pad

__all__ = ["Batch", "LargeImage", "Outcome", "PredictDataset", "pass_through"]


@dataclass
class Outcome:
    """An input that produced no image in this run."""

    status: Literal["skipped", "failed", "ignored"]
    name: str
    reason: str
    output: PurePosixPath | None = None


@dataclass
class Batch:
    """Images of one padded size: ``images`` is ``uint8`` ``[B, 3, H, W]``."""

    names: list[str]
    outputs: list[PurePosixPath]
    boxes: list[Box]
    images: torch.Tensor


@dataclass
class LargeImage:
    """One image processed in windows. It travels encoded (``data``), to be decoded by the main
    process just before tiling, so that large images do not pile up decoded in the workers'
    queues; ``image`` (``uint8`` ``[3, H, W]``) is set instead when the header was unreadable
    and the size only known after decoding."""

    name: str
    output: PurePosixPath
    data: bytes | None = None
    image: torch.Tensor | None = None
    max_pixels: int = MAX_PIXELS

    def decode(self) -> torch.Tensor:
        """The image as ``uint8`` ``[3, H, W]``.

        Raises:
            BadImageError: If the bytes do not decode.
        """
        if self.image is not None:
            return self.image
        return decode_image(self.data or b"", self.name, self.max_pixels)


@dataclass
class _Pending:
    shape: tuple[int, ...] = ()
    names: list[str] = field(default_factory=list)
    outputs: list[PurePosixPath] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    images: list[torch.Tensor] = field(default_factory=list)

    def take(self) -> Batch:
        batch = Batch(self.names, self.outputs, self.boxes, torch.stack(self.images))
        self.names, self.outputs, self.boxes, self.images = [], [], [], []
        return batch


def pass_through(item: object) -> object:
    """DataLoader ``collate_fn`` for already-batched items (picklable, unlike a lambda)."""
    return item


class PredictDataset(IterableDataset):
    """Iterable of :class:`Batch`, :class:`LargeImage` and :class:`Outcome` for one input.

    Args:
        input_path: Folder, TFRecord file, zip or image.
        options: The run's options: ``output_dir`` and ``fmt`` (to skip inputs
            whose output exists unless ``overwrite``), ``batch_size`` (most images per
            :class:`Batch`), ``max_pixels`` (larger images are refused before decoding) and
            ``resize`` (every image resized to ``resize x resize`` first, or None).
        size_multiple: The model's size multiple (padding target).
        tile_size: Images whose padded side exceeds this become :class:`LargeImage`.
    """

    def __init__(
        self, input_path: Path, options: PredictOptions, size_multiple: int, tile_size: int
    ) -> None:
        super().__init__()
        self.input_path = input_path
        self.output_dir = options.output_dir
        self.fmt = options.fmt
        self.overwrite = options.overwrite
        self.size_multiple = size_multiple
        self.tile_size = tile_size
        self.batch_size = options.batch_size
        self.max_pixels = options.max_pixels
        resize = options.resize
        self.resize = ImageTransform(resize, resize, augment=False) if resize else None

    def __iter__(self) -> Iterator[Batch | LargeImage | Outcome]:
        worker = get_worker_info()
        rank, workers = (worker.id, worker.num_workers) if worker else (0, 1)
        pending = _Pending()
        for index, item in enumerate(iter_inputs(self.input_path)):
            if index % workers != rank:
                continue
            if isinstance(item, InputProblem):
                yield Outcome("ignored" if item.ignored else "failed", item.name, item.reason)
                continue
            result = self._prepare(item.name, item.data)
            if isinstance(result, Outcome | LargeImage):
                if isinstance(result, LargeImage) and pending.images:
                    yield pending.take()
                yield result
                continue
            relpath, image = result
            padded, box = reflect_pad(image, self.size_multiple)
            if pending.images and padded.shape != pending.shape:
                yield pending.take()
            pending.shape = padded.shape
            pending.names.append(item.name)
            pending.outputs.append(relpath)
            pending.boxes.append(box)
            pending.images.append(padded)
            if len(pending.images) >= self.batch_size:
                yield pending.take()
        if pending.images:
            yield pending.take()

    def _prepare(
        self, name: str, data: bytes
    ) -> Outcome | LargeImage | tuple[PurePosixPath, torch.Tensor]:
        try:
            relpath = output_relpath(name, self.fmt)
            target = resolve_output(self.output_dir, relpath)
            exists = target.exists()
        except UnsafeNameError as error:
            return Outcome("failed", name, str(error))
        except OSError as error:  # a name this filesystem refuses, a folder it cannot read
            return Outcome("failed", name, f"cannot use output {relpath}: {error.strerror}")
        if not self.overwrite and exists:
            return Outcome("skipped", name, f"output {relpath} exists (overwrite=false)", relpath)
        header = image_header(data)
        if header is not None and header.pixels > self.max_pixels:
            return Outcome(
                "failed",
                name,
                f"{header} exceeds max_pixels={self.max_pixels:,}; raise max_pixels to process "
                "it in tiles",
            )
        if (
            header is not None
            and header.width
            and self.resize is None
            and needs_tiling(header.height, header.width, self.size_multiple, self.tile_size)
        ):
            # Decoded by the main process, just before tiling.
            return LargeImage(name, relpath, data=data, max_pixels=self.max_pixels)
        try:
            image = decode_image(data, name, self.max_pixels)
        except BadImageError as error:
            return Outcome("failed", name, str(error).removeprefix(f"{printable(name)}: "))
        if self.resize is not None:
            image = self.resize(image)
        height, width = image.shape[-2:]
        if needs_tiling(height, width, self.size_multiple, self.tile_size):
            return LargeImage(name, relpath, image=image)
        return relpath, image
