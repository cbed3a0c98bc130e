"""What the web app does, without the web page: offer checkpoints, stylize uploaded files.

Every uploaded file goes through ``predict.py``'s pipeline (:mod:`cyclegan.inference.cli`):
the :class:`~cyclegan.inference.PredictOptions` read from the same config, the generator from
:func:`~cyclegan.inference.load_generator`, the :class:`~cyclegan.inference.Stylizer` those
options ask for and :func:`cyclegan.inference.predict`: the same decoding, pixel limit, padding,
tiling and precision, and a bad file is answered with the reason ``predict.py`` prints. Only
the checkpoints :meth:`StyleService.checkpoints` offers can be loaded, whatever a client sends.

Example:
    >>> service = StyleService(cfg, Path("/tmp/app"))  # doctest: +SKIP
    >>> result = service.stylize([Path("beach.jpg")], service.checkpoints()[0])  # doctest: +SKIP
    >>> result.images[0].output  # doctest: +SKIP
    PosixPath('/tmp/app/results/.../0/beach.jpg')
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig
from PIL import Image

from cyclegan.data.demo import DEMO_PHOTO_NAMES, demo_photographs
from cyclegan.data.images import BadImageError, load_image
from cyclegan.inference.checkpoint import DIRECTIONS, LoadedGenerator, load_generator
from cyclegan.inference.options import PredictOptions, UsageError
from cyclegan.inference.outputs import FORMATS
from cyclegan.inference.runner import predict
from cyclegan.inference.stylizer import Stylizer

__all__ = ["CHECKPOINT_SUFFIXES", "Stylized", "StyleResult", "StyleService", "write_examples"]

CHECKPOINT_SUFFIXES = (".ckpt", ".pt")
"""Files offered from ``runs_dir``: Lightning checkpoints and exported generator weights."""

DISPLAY_SIDE = 1600
"""Longest side of the copies shown on the page; downloads keep the full size."""

KEEP_RESULTS = 4
"""Result folders of earlier requests kept on disk (the page has copies of what it shows)."""

Progress = Callable[[float, str], None]
"""``progress(fraction done, what is being done)``."""


@dataclass(frozen=True)
class Stylized:
    """One converted upload.

    Attributes:
        name: The uploaded file's name.
        output: The full-size result (JPEG or PNG), same size and orientation as the input.
        shown_input: The input as decoded (EXIF orientation applied), for display.
        shown_output: The result, for display (at most :data:`DISPLAY_SIDE` pixels a side).
        width: Output width.
        height: Output height.
        seconds: Decoding, stylizing and writing this image.
    """

    name: str
    output: Path
    shown_input: Path
    shown_output: Path
    width: int
    height: int
    seconds: float


@dataclass
class StyleResult:
    """The answer to one request: every upload is in ``images`` or in ``failed``."""

    model: str
    images: list[Stylized] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    download: Path | None = None

    def report(self) -> str:
        """Markdown: the model line, one line per image (size, time), then each failure."""
        lines = [self.model, ""]
        lines += [
            f"- `{image.name}`: {image.width}×{image.height} in {image.seconds:.2f} s"
            for image in self.images
        ]
        lines += [f"- **failed** `{name}`: {reason}" for name, reason in self.failed]
        return "\n".join(lines)


class StyleService:
    """Loads the chosen generator (one at a time) and stylizes uploaded files.

    Args:
        cfg: The composed ``conf/app.yaml`` (``predict.yaml``'s options plus the app's own).
        work_dir: Where results are written (a temporary folder of the app).

    Raises:
        UsageError: If neither ``ckpt`` nor a ``runs_dir`` holding checkpoints is given, or an
            option is wrong.
    """

    def __init__(self, cfg: DictConfig, work_dir: Path) -> None:
        self.cfg = cfg
        self.options = PredictOptions.from_config(cfg)  # each upload replaces its input, output
        self.work_dir = work_dir
        self._lock = threading.Lock()
        self._loaded: tuple[tuple[str, str], LoadedGenerator, Stylizer] | None = None
        self._offered = self._find_checkpoints()
        if not self._offered:
            where = (
                f" and runs_dir={cfg.runs_dir} holds no *.ckpt or *.pt file" if cfg.runs_dir else ""
            )
            raise UsageError(
                f"no checkpoint to offer: give ckpt=path/to/last.ckpt{where} "
                "(make demo writes demo_out/train/checkpoints/last.ckpt)"
            )

    def checkpoints(self) -> list[str]:
        """The checkpoints offered: ``ckpt`` first, then ``runs_dir``'s, newest first."""
        return list(self._offered)

    def _find_checkpoints(self) -> list[str]:
        found = [str(self.cfg.ckpt)] if self.cfg.ckpt else []
        if self.cfg.runs_dir:
            root = Path(self.cfg.runs_dir)
            if not root.is_dir():
                raise UsageError(f"runs_dir={root}: no such folder")
            files = [p for p in root.rglob("*") if p.suffix in CHECKPOINT_SUFFIXES and p.is_file()]
            files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
            found += [str(p) for p in files[: self.cfg.max_checkpoints]]
        return list(dict.fromkeys(found))

    def model(self, ckpt: str, direction: str) -> tuple[LoadedGenerator, Stylizer]:
        """The generator and stylizer for a checkpoint offered by :meth:`checkpoints`.

        The last one is kept: choosing another checkpoint or direction loads it (through the
        allow-listed :func:`~cyclegan.inference.load_generator`) and drops the previous one.

        Raises:
            UsageError: If ``ckpt`` is not offered or the options are wrong.
            CheckpointError: If the checkpoint cannot give a generator.
        """
        if ckpt not in self._offered:
            raise UsageError(f"checkpoint {ckpt!r} is not one this app offers")
        if direction not in DIRECTIONS:
            raise UsageError(f"direction={direction!r}: choose one of {list(DIRECTIONS)}")
        with self._lock:
            if self._loaded is None or self._loaded[0] != (ckpt, direction):
                self._loaded = None  # free the previous model before building the next
                generator = load_generator(ckpt, direction)
                stylizer = Stylizer.for_generator(generator, self.options)
                self._loaded = ((ckpt, direction), generator, stylizer)
            return self._loaded[1], self._loaded[2]

    def describe(self, ckpt: str, direction: str) -> str:
        """Markdown naming the checkpoint, generator, direction, device and precision, then
        the hardware line ``predict.py`` prints."""
        generator, stylizer = self.model(ckpt, direction)
        target = str(generator.config.get("_target_", "?")).rsplit(".", 1)[-1]
        trained = f", trained at {generator.image_size} px" if generator.image_size else ""
        precision = str(stylizer.dtype).removeprefix("torch.")
        return (
            f"**{generator.source}**: {target} {direction}{trained} · device "
            f"**{stylizer.device}** · precision **{precision}**  \n{stylizer.describe()}"
        )

    def stylize(
        self,
        files: Sequence[Path],
        ckpt: str,
        direction: str = "photo2monet",
        fmt: str = "jpg",
        progress: Progress | None = None,
    ) -> StyleResult:
        """Stylize each file as ``predict.py`` would; one result folder per request.

        Args:
            files: Uploaded image files (their names are kept for the outputs).
            ckpt: One of :meth:`checkpoints`.
            direction: ``photo2monet`` or ``monet2photo``.
            fmt: ``jpg`` or ``png``.
            progress: Told the fraction done before each image and after each tile.

        Returns:
            The converted images, the failures with their reasons, and the download: the
            single output, or a zip of all outputs when there are several.

        Raises:
            UsageError: For an unknown format, or a checkpoint not offered.
            CheckpointError: If the checkpoint cannot give a generator.
        """
        if fmt not in FORMATS:
            raise UsageError(f"format={fmt!r}: choose one of {list(FORMATS)}")
        _, stylizer = self.model(ckpt, direction)
        request = self._new_request_dir()
        result = StyleResult(self.describe(ckpt, direction))
        for index, file in enumerate(files):
            name = Path(file).name
            if progress is not None:
                progress(index / len(files), f"{name} ({index + 1}/{len(files)})")

            def on_tile(
                _: str, done: int, total: int, index: int = index, name: str = name
            ) -> None:
                if progress is not None:
                    fraction = (index + done / total) / len(files)
                    progress(fraction, f"{name}: tile {done}/{total}")

            converted = self._stylize_one(stylizer, Path(file), request, index, fmt, on_tile)
            if isinstance(converted, Stylized):
                result.images.append(converted)
            else:
                result.failed.append((name, converted))
        result.download = _download(result.images, request, fmt)
        return result

    def _stylize_one(
        self,
        stylizer: Stylizer,
        file: Path,
        request: Path,
        index: int,
        fmt: str,
        on_tile: Callable[[str, int, int], None],
    ) -> Stylized | str:
        """The converted image, or the reason it failed (the words ``predict.py`` prints)."""
        output_dir = request / "out" / str(index)  # one folder per upload: names may repeat
        options = dataclasses.replace(
            self.options,
            input_path=file,
            output_dir=output_dir,
            fmt=fmt,
            overwrite=True,
            batch_size=1,
            num_workers=0,
            resize=None,
            progress=False,
            writer_threads=0,
            preview=0,
            preview_path=None,
            submission_zip=None,
            on_tile=on_tile,
        )
        try:
            summary = predict(stylizer, options)
        except (FileNotFoundError, ValueError) as error:  # not an image file, by its kind
            return str(error)
        if summary.failed:
            return summary.failed[0][1]
        if summary.ignored:
            return summary.ignored[0][1]
        if not summary.outputs:
            return "no image found in the file"
        output = output_dir / summary.outputs[0]
        shown = request / "shown"
        shown.mkdir(exist_ok=True)
        try:
            shown_input = _display_copy(load_image(file), shown / f"{index}-input.jpg")
        except (BadImageError, OSError) as error:  # decoded once already: not expected
            return f"cannot show the input: {error}"
        with Image.open(output) as picture:
            width, height = picture.size
            shown_output = _display_copy(picture, shown / f"{index}-output{output.suffix}")
        return Stylized(
            file.name, output, shown_input, shown_output, width, height, summary.seconds
        )

    def _new_request_dir(self) -> Path:
        results = self.work_dir / "results"
        results.mkdir(parents=True, exist_ok=True)
        earlier = sorted(results.iterdir(), key=lambda p: p.stat().st_mtime)
        for old in earlier[: max(0, len(earlier) - KEEP_RESULTS + 1)]:
            shutil.rmtree(old, ignore_errors=True)
        request = results / uuid.uuid4().hex[:12]
        request.mkdir()
        return request


def _display_copy(image: Image.Image | torch.Tensor, path: Path) -> Path:
    """A copy of a PIL image or ``uint8`` ``[3, H, W]`` tensor, at most
    :data:`DISPLAY_SIDE` pixels a side."""
    picture = (
        image.copy()
        if isinstance(image, Image.Image)
        else Image.fromarray(image.permute(1, 2, 0).numpy())
    )
    picture.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.LANCZOS)
    picture.convert("RGB").save(path, quality=90)
    return path


def _download(images: list[Stylized], request: Path, fmt: str) -> Path | None:
    """The one output, or ``stylized.zip`` holding all outputs (names made unique)."""
    if len(images) <= 1:
        return images[0].output if images else None
    archive = request / "stylized.zip"
    used: set[str] = set()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:  # JPEG/PNG: compressed
        for image in images:
            name, stem, number = image.output.name, image.output.stem, 1
            while name in used:
                number += 1
                name = f"{stem}-{number}{FORMATS[fmt]}"
            used.add(name)
            zf.write(image.output, name)
    return archive


def write_examples(folder: Path) -> list[Path]:
    """The photographs behind the demo data (:mod:`cyclegan.data.demo`) as JPEG files."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, array in zip(DEMO_PHOTO_NAMES, demo_photographs(), strict=True):
        path = folder / f"{name}.jpg"
        if not path.exists():
            Image.fromarray(array).save(path, quality=92)
        paths.append(path)
    return paths
