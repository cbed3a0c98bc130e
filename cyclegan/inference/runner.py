"""Steps 2 to 5 of prediction: inputs -> batches -> stylizer -> outputs and preview.

:func:`predict` reads top to bottom as those steps. The input is walked, decoded and grouped
into batches by :class:`~cyclegan.inference.dataset.PredictDataset` in DataLoader worker
processes; :func:`_stylize` runs the model on each batch in the main process (or on one large
image, in windows); :class:`_Outputs` writes each result (JPEG/PNG encoding and the atomic
writes in a small thread pool: Pillow releases the GIL while encoding, so reading, computing and
writing overlap), adds it to the contact sheet and accounts for every input: converted,
skipped, failed or ignored. Step 1 is :class:`~cyclegan.inference.options.PredictOptions`, step
6 :func:`cyclegan.inference.report.report`.

Example:
    >>> summary = predict(stylizer, PredictOptions(Path("photos"), Path("out")))  # doctest: +SKIP
    >>> print(summary.line())  # doctest: +SKIP
    500 converted, 0 skipped, 0 failed in 15.1 s (0.030 s/img) -> out
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, Protocol, TypeVar

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from cyclegan.data.images import BadImageError
from cyclegan.data.names import printable
from cyclegan.inference.dataset import Batch, LargeImage, Outcome, PredictDataset, pass_through
from cyclegan.inference.inputs import check_input
from cyclegan.inference.options import PredictOptions
from cyclegan.inference.outputs import write_image
from cyclegan.inference.preview import ContactSheet

__all__ = ["ImageModel", "PredictSummary", "predict"]

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


def predict(model: ImageModel, options: PredictOptions) -> PredictSummary:
    """Stylize every image under ``options.input_path`` into ``options.output_dir``.

    Args:
        model: The generator wrapper (:class:`~cyclegan.inference.stylizer.Stylizer`) or
            another :class:`ImageModel`.
        options: Input, output and how.

    Returns:
        The account of the run: every input is converted, skipped, failed or ignored.

    Raises:
        UsageError: If no input was given.
        FileNotFoundError, ValueError: If the input does not exist or is of an unsupported
            kind (before any work).
    """
    input_path = options.require_input()
    check_input(input_path)  # its errors before any worker starts
    options.output_dir.mkdir(parents=True, exist_ok=True)
    batches = DataLoader(
        PredictDataset(input_path, options, model.size_multiple, model.tile_size),
        batch_size=None,
        collate_fn=pass_through,
        num_workers=options.num_workers,
        prefetch_factor=2 if options.num_workers else None,
    )
    start = time.perf_counter()
    with _Outputs(options) as outputs:
        for item in batches:  # inputs -> batches
            for result in _stylize(model, item, outputs.claim, options.on_tile):  # -> stylizer
                outputs.take(result)  # -> outputs and preview
    outputs.summary.seconds = time.perf_counter() - start
    return outputs.summary


@dataclass
class _Converted:
    """One input's result, ``uint8`` ``[3, H, W]``, and the input as decoded (for the preview)."""

    name: str
    output: PurePosixPath
    source: torch.Tensor
    result: torch.Tensor


def _stylize(
    model: ImageModel,
    item: Batch | LargeImage | Outcome,
    claim: Callable[[str, PurePosixPath], bool],
    on_tile: Callable[[str, int, int], None] | None,
) -> Iterator[_Converted | Outcome]:
    """The model's results for one item of the DataLoader, and the inputs it failed on.

    Only inputs whose output ``claim`` grants are computed; an :class:`Outcome` passes through.
    """
    if isinstance(item, Outcome):
        yield item
    elif isinstance(item, LargeImage):
        if claim(item.name, item.output):
            yield _stylize_large(model, item, on_tile)
    else:
        keep = [
            i for i, pair in enumerate(zip(item.names, item.outputs, strict=True)) if claim(*pair)
        ]
        for index, result in _forward(model, item, keep):
            if isinstance(result, Outcome):
                yield result
                continue
            top, left, height, width = item.boxes[index]
            yield _Converted(
                item.names[index],
                item.outputs[index],
                item.images[index, :, top : top + height, left : left + width],
                result[:, top : top + height, left : left + width].contiguous(),
            )


def _forward(
    model: ImageModel, batch: Batch, keep: list[int]
) -> Iterator[tuple[int, torch.Tensor | Outcome]]:
    """Outputs for the images ``keep`` of a batch. If the batch fails as a whole (out of
    memory, say), each image is retried alone and only those that fail alone are failed."""
    if not keep:
        return
    try:
        results = model.forward_uint8(batch.images[keep])
    except (RuntimeError, ValueError) as error:
        if len(keep) > 1:
            for index in keep:
                yield from _forward(model, batch, [index])
            return
        yield keep[0], Outcome("failed", batch.names[keep[0]], f"generator failed: {error}")
        return
    yield from zip(keep, results, strict=True)


def _stylize_large(
    model: ImageModel, item: LargeImage, on_tile: Callable[[str, int, int], None] | None
) -> _Converted | Outcome:
    try:
        image = item.decode()
    except BadImageError as error:
        return Outcome("failed", item.name, str(error).removeprefix(f"{printable(item.name)}: "))
    try:
        result = model.stylize(image, None if on_tile is None else partial(on_tile, item.name))
    except (RuntimeError, ValueError) as error:
        return Outcome("failed", item.name, f"generator failed: {error}")
    return _Converted(item.name, item.output, image, result)


class _Outputs:
    """Step 5: writes the results, fills the contact sheet, accounts for every input and shows
    the progress bar. A context manager: leaving it waits for every pending write."""

    def __init__(self, options: PredictOptions) -> None:
        self.options = options
        self.root = options.output_dir.resolve()
        self.summary = PredictSummary()
        if options.preview > 0:
            self.summary.preview = ContactSheet(options.preview)
        self.claimed: dict[PurePosixPath, str] = {}
        self.writes: deque[tuple[str, PurePosixPath, Future[None]]] = deque()
        self.bar = tqdm(
            desc="stylizing", unit="img", disable=not options.progress, dynamic_ncols=True
        )
        self.pool: Executor = (
            ThreadPoolExecutor(options.writer_threads, thread_name_prefix="write")
            if options.writer_threads > 0
            else _InlineExecutor()
        )

    def __enter__(self) -> _Outputs:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self.bar, self.pool:  # closed after the pending writes, even on an error
            while self.writes:
                self._finish_write()

    def claim(self, name: str, output: PurePosixPath) -> bool:
        """Reserve an output path; a second input mapping to it fails instead of clobbering."""
        first = self.claimed.setdefault(output, name)
        if first != name:
            self._fail(name, f"its output {output} is already the output of {first}")
            return False
        return True

    def take(self, item: _Converted | Outcome) -> None:
        """Write a result (and show it on the contact sheet), or account for an input that
        gave none."""
        if isinstance(item, _Converted):
            preview = self.summary.preview
            if preview is not None and not preview.full:
                preview.add(item.source, item.result)
            self._write(item.name, item.output, item.result)
        elif item.status == "failed":
            self._fail(item.name, item.reason)
        elif item.status == "ignored":
            self.summary.ignored.append((item.name, item.reason))  # not an input: no bar tick
        elif item.output is not None and self.claim(item.name, item.output):
            self.summary.skipped.append((item.name, item.reason))
            self.summary.outputs.append(item.output)
            self.bar.update(1)

    def _fail(self, name: str, reason: str) -> None:
        self.summary.failed.append((name, reason))
        if self.options.progress:  # the full list is printed at the end in any case
            self.bar.write(f"failed: {printable(name)}: {printable(reason)}", file=sys.stderr)
        self.bar.set_postfix(failed=len(self.summary.failed), refresh=False)
        self.bar.update(1)

    def _write(self, name: str, output: PurePosixPath, image: torch.Tensor) -> None:
        future = self.pool.submit(
            write_image,
            image,
            self.root / output,
            self.options.overwrite,
            self.options.jpeg_quality,
        )
        self.writes.append((name, output, future))
        while self.writes and (len(self.writes) > _MAX_PENDING_WRITES or self.writes[0][2].done()):
            self._finish_write()

    def _finish_write(self) -> None:
        name, output, future = self.writes.popleft()
        try:
            future.result()
        except OSError as error:
            self._fail(name, f"cannot write {output}: {error}")
            return
        self.summary.converted += 1
        self.summary.outputs.append(output)
        self.bar.update(1)


class _InlineExecutor(Executor):
    """Runs each task at once in the calling thread (``writer_threads=0``)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:  # delivered through the future, like a thread pool does
            future.set_exception(error)
        return future
