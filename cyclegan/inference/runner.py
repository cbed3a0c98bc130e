"""Stylize every image of an input and account for each one: converted, skipped or failed.

Decoding runs in DataLoader worker processes, the generator in the main process on whole
batches, and JPEG/PNG encoding plus the atomic writes in a small thread pool (Pillow releases
the GIL while encoding), so reading, computing and writing overlap.

Example:
    >>> summary = predict(stylizer, PredictOptions(Path("photos"), Path("out")))  # doctest: +SKIP
    >>> print(summary.line())  # doctest: +SKIP
    500 converted, 0 skipped, 0 failed in 15.1 s (0.030 s/img) -> out
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, TypeVar

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from cyclegan.data.images import MAX_PIXELS, BadImageError
from cyclegan.data.names import printable
from cyclegan.inference.dataset import Batch, LargeImage, Outcome, PredictDataset, pass_through
from cyclegan.inference.inputs import check_input
from cyclegan.inference.outputs import write_image
from cyclegan.inference.preview import ContactSheet

__all__ = ["ImageModel", "PredictOptions", "PredictSummary", "predict"]

_MAX_PENDING_WRITES = 64
T = TypeVar("T")


class ImageModel(Protocol):
    """What :func:`predict` drives: a :class:`~cyclegan.inference.stylizer.Stylizer`, or Gatys
    style transfer (:class:`cyclegan.style.gatys.Gatys`)."""

    size_multiple: int
    tile_size: int

    def forward_uint8(self, batch: torch.Tensor) -> torch.Tensor:
        """``uint8`` ``[B, 3, H, W]`` (sizes fitting ``size_multiple``) -> the same shape."""
        ...

    def stylize(
        self, image: torch.Tensor, on_window: Callable[[int, int], None] | None = None
    ) -> torch.Tensor:
        """One ``uint8`` ``[3, H, W]`` image of any size -> the same shape; ``on_window(done,
        total)`` after each window when the image is processed in windows."""
        ...


@dataclass
class PredictOptions:
    """What to stylize and how (see ``conf/predict.yaml`` for each option's meaning)."""

    input_path: Path
    output_dir: Path
    fmt: str = "jpg"
    overwrite: bool = False
    batch_size: int = 8
    num_workers: int = 2
    max_pixels: int = MAX_PIXELS
    jpeg_quality: int = 95
    resize: int | None = None
    preview: int = 0
    progress: bool = True
    writer_threads: int = 2
    on_tile: Callable[[str, int, int], None] | None = None
    """Called as ``on_tile(name, windows done, windows in all)`` while a large image is tiled
    (the web app's progress bar)."""


@dataclass
class PredictSummary:
    """The account of one run.

    Attributes:
        converted: Outputs written in this run.
        skipped: ``(name, reason)`` of inputs left alone (their output exists).
        failed: ``(name, reason)`` of inputs that could not be converted.
        ignored: ``(name, reason)`` of files that are not images by their extension.
        outputs: Output paths (relative to the output folder) of converted and skipped inputs.
        seconds: Wall time.
        preview: The contact sheet, when one was asked for.
    """

    converted: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    outputs: list[PurePosixPath] = field(default_factory=list)
    seconds: float = 0.0
    preview: ContactSheet | None = None

    def line(self, output_dir: Path | None = None) -> str:
        """``N converted, N skipped, N failed, N ignored in T s (X s/img) -> DIR``."""
        rate = f" ({self.seconds / self.converted:.3f} s/img)" if self.converted else ""
        where = f" -> {output_dir}" if output_dir is not None else ""
        ignored = f", {len(self.ignored)} ignored" if self.ignored else ""
        return (
            f"{self.converted} converted, {len(self.skipped)} skipped, {len(self.failed)} failed"
            f"{ignored} in {self.seconds:.1f} s{rate}{where}"
        )


class _InlineExecutor(Executor):
    """Runs each task at once in the calling thread (``writer_threads=0``)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # delivered through the future, like a thread pool does
            future.set_exception(error)
        return future


class _Run:
    """State of one prediction run: the accounting, pending writes and the progress bar."""

    def __init__(self, options: PredictOptions, bar: tqdm) -> None:
        self.options = options
        self.root = options.output_dir.resolve()
        self.bar = bar
        self.summary = PredictSummary()
        if options.preview > 0:
            self.summary.preview = ContactSheet(options.preview)
        self.claimed: dict[PurePosixPath, str] = {}
        self.writes: deque[tuple[str, PurePosixPath, Future[None]]] = deque()

    def claim(self, name: str, output: PurePosixPath) -> bool:
        """Reserve an output path; a second input mapping to it fails instead of clobbering."""
        first = self.claimed.setdefault(output, name)
        if first != name:
            self.fail(name, f"its output {output} is already the output of {first}")
            return False
        return True

    def fail(self, name: str, reason: str) -> None:
        self.summary.failed.append((name, reason))
        if self.options.progress:  # the full list is printed at the end in any case
            self.bar.write(f"failed: {printable(name)}: {printable(reason)}", file=sys.stderr)
        self.bar.set_postfix(failed=len(self.summary.failed), refresh=False)
        self.bar.update(1)

    def outcome(self, item: Outcome) -> None:
        if item.status == "failed":
            self.fail(item.name, item.reason)
            return
        if item.status == "ignored":
            self.summary.ignored.append((item.name, item.reason))
            return  # not an input: not counted by the bar
        if item.output is not None and self.claim(item.name, item.output):
            self.summary.skipped.append((item.name, item.reason))
            self.summary.outputs.append(item.output)
            self.bar.update(1)

    def write(self, pool: Executor, name: str, output: PurePosixPath, image: torch.Tensor) -> None:
        future = pool.submit(
            write_image,
            image,
            self.root / output,
            self.options.overwrite,
            self.options.jpeg_quality,
        )
        self.writes.append((name, output, future))
        while self.writes and (len(self.writes) > _MAX_PENDING_WRITES or self.writes[0][2].done()):
            self.finish_write()

    def finish_write(self) -> None:
        name, output, future = self.writes.popleft()
        try:
            future.result()
        except OSError as error:
            self.fail(name, f"cannot write {output}: {error}")
            return
        self.summary.converted += 1
        self.summary.outputs.append(output)
        self.bar.update(1)


def predict(stylizer: ImageModel, options: PredictOptions) -> PredictSummary:
    """Stylize every image under ``options.input_path`` into ``options.output_dir``.

    Args:
        stylizer: The generator wrapper (or another :class:`ImageModel`).
        options: Input, output and how.

    Returns:
        The account of the run: every input is converted, skipped, failed or ignored.
    """
    if options.batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {options.batch_size}")
    if options.num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {options.num_workers}")
    check_input(options.input_path)
    options.output_dir.mkdir(parents=True, exist_ok=True)
    dataset = PredictDataset(
        options.input_path,
        options.output_dir,
        options.fmt,
        options.overwrite,
        stylizer.size_multiple,
        stylizer.tile_size,
        options.batch_size,
        options.max_pixels,
        options.resize,
    )
    loader = DataLoader(
        dataset,
        batch_size=None,
        collate_fn=pass_through,
        num_workers=options.num_workers,
        prefetch_factor=2 if options.num_workers else None,
    )
    start = time.perf_counter()
    bar = tqdm(desc="stylizing", unit="img", disable=not options.progress, dynamic_ncols=True)
    run = _Run(options, bar)
    pool: Executor = (
        ThreadPoolExecutor(options.writer_threads, thread_name_prefix="write")
        if options.writer_threads > 0
        else _InlineExecutor()
    )
    with bar, pool:
        try:
            for item in loader:
                if isinstance(item, Outcome):
                    run.outcome(item)
                elif isinstance(item, LargeImage):
                    _stylize_large(run, pool, stylizer, item)
                else:
                    _stylize_batch(run, pool, stylizer, item)
        finally:
            while run.writes:
                run.finish_write()
    run.summary.seconds = time.perf_counter() - start
    return run.summary


def _stylize_batch(run: _Run, pool: Executor, stylizer: ImageModel, batch: Batch) -> None:
    keep = [
        i for i, pair in enumerate(zip(batch.names, batch.outputs, strict=True)) if run.claim(*pair)
    ]
    for index, result in _forward(run, stylizer, batch, keep):
        top, left, height, width = batch.boxes[index]
        crop = result[:, top : top + height, left : left + width].contiguous()
        source = batch.images[index, :, top : top + height, left : left + width]
        _add_preview(run.summary, source, crop)
        run.write(pool, batch.names[index], batch.outputs[index], crop)


def _forward(
    run: _Run, stylizer: ImageModel, batch: Batch, keep: list[int]
) -> list[tuple[int, torch.Tensor]]:
    """Outputs for the images ``keep`` of a batch. If the batch fails as a whole (out of
    memory, say), each image is retried alone and only those that fail alone are failed."""
    if not keep:
        return []
    try:
        return list(zip(keep, stylizer.forward_uint8(batch.images[keep]), strict=True))
    except (RuntimeError, ValueError) as error:
        if len(keep) > 1:
            return [pair for index in keep for pair in _forward(run, stylizer, batch, [index])]
        run.fail(batch.names[keep[0]], f"generator failed: {error}")
        return []


def _stylize_large(run: _Run, pool: Executor, stylizer: ImageModel, item: LargeImage) -> None:
    if not run.claim(item.name, item.output):
        return
    try:
        image = item.decode()
    except BadImageError as error:
        run.fail(item.name, str(error).removeprefix(f"{printable(item.name)}: "))
        return
    on_tile = run.options.on_tile
    try:
        result = stylizer.stylize(image, None if on_tile is None else partial(on_tile, item.name))
    except (RuntimeError, ValueError) as error:
        run.fail(item.name, f"generator failed: {error}")
        return
    _add_preview(run.summary, image, result)
    run.write(pool, item.name, item.output, result)


def _add_preview(summary: PredictSummary, source: torch.Tensor, result: torch.Tensor) -> None:
    if summary.preview is not None and not summary.preview.full:
        summary.preview.add(source, result)
