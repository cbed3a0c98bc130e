"""Step 1 of prediction, the config: every option of a run in one object, checked once.

``predict.py``, ``stylize.py`` and the web app read their composed config with
:meth:`PredictOptions.from_config`; every later step (:mod:`~cyclegan.inference.dataset`,
:class:`~cyclegan.inference.stylizer.Stylizer`, :mod:`~cyclegan.inference.runner`,
:mod:`~cyclegan.inference.report`) takes this object and nothing else from the config.

Example:
    >>> options = PredictOptions(Path("photos"), Path("out"), fmt="png", batch_size=4)
    >>> options.batch_size
    4
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from cyclegan.data.images import MAX_PIXELS
from cyclegan.inference.outputs import FORMATS
from cyclegan.inference.submission import SUBMISSION_SIZE

__all__ = ["PREVIEW_SUFFIX", "PredictOptions", "UsageError", "auto_workers", "resolve_device"]

PREVIEW_SUFFIX = "-preview.png"
"""The contact sheet's default name: ``<output_dir>-preview.png``, beside the output folder."""


class UsageError(ValueError):
    """A wrong option value; the message names the option."""


@dataclass
class PredictOptions:
    """What to stylize and how (see ``conf/predict.yaml`` for each option's meaning).

    Raises:
        ValueError: If ``batch_size < 1`` or ``num_workers < 0``.
    """

    input_path: Path | None
    """The input (``input_dir``): a folder, TFRecord file, zip or image; None: not given."""
    output_dir: Path
    fmt: str = "jpg"
    overwrite: bool = False
    batch_size: int = 8
    num_workers: int = 2
    max_pixels: int = MAX_PIXELS
    jpeg_quality: int = 95
    resize: int | None = None
    """Resize every input to ``resize x resize`` first (Kaggle submission)."""
    progress: bool = True
    writer_threads: int = 2
    # The generator's run (Stylizer).
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool | str = "auto"
    tile_size: int = 1024
    tile_overlap: int = 128
    # What is written besides the outputs (report).
    preview: int = 0
    """Number of inputs shown beside their outputs on the contact sheet; 0: no sheet."""
    preview_path: Path | None = None
    """Where the contact sheet goes (set by :meth:`from_config` when ``preview > 0``)."""
    submission_zip: Path | None = None
    """Where the Kaggle ``images.zip`` goes; None: no submission."""
    submission_min_images: int = 7000
    submission_max_images: int = 10000
    on_tile: Callable[[str, int, int], None] | None = None
    """Called as ``on_tile(name, windows done, windows in all)`` while a large image is tiled
    (the web app's progress bar)."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")

    def require_input(self) -> Path:
        """``input_path``, which a run needs.

        Raises:
            UsageError: If no input was given.
        """
        if self.input_path is None:
            raise UsageError("input_dir is required: input_dir=path/to/photos (or .tfrec, .zip)")
        return self.input_path

    @classmethod
    def from_config(cls, cfg: DictConfig, **overrides: Any) -> PredictOptions:
        """The options a composed ``conf/predict.yaml`` (or ``stylize.yaml``, ``app.yaml``)
        asks for; ``overrides`` replace fields after reading.

        A submission forces JPEG and 256x256 outputs. Keys a config does not have (the
        stylizer's, in ``stylize.yaml``) keep their defaults.

        Raises:
            UsageError: If ``format`` is unknown or ``preview_path`` is inside ``output_dir``.
        """
        output_dir = Path(cfg.output_dir)
        fmt = "jpg" if cfg.submission else cfg.format
        if fmt not in FORMATS:
            raise UsageError(f"format={fmt!r}: choose one of {list(FORMATS)}")
        workers = auto_workers(cfg.device) if cfg.num_workers == "auto" else cfg.num_workers
        stylizer: dict[str, Any] = {
            key: cfg[key]
            for key in ("precision", "channels_last", "tile_size", "tile_overlap")
            if key in cfg
        }
        if "precision" in stylizer:  # precision=32 on the command line is a number
            stylizer["precision"] = str(stylizer["precision"])
        options = cls(
            input_path=None if cfg.input_dir is None else Path(cfg.input_dir),
            output_dir=output_dir,
            fmt=fmt,
            overwrite=cfg.overwrite,
            batch_size=cfg.batch_size,
            num_workers=int(workers),
            max_pixels=int(cfg.max_pixels),
            jpeg_quality=cfg.jpeg_quality,
            resize=SUBMISSION_SIZE if cfg.submission else None,
            progress=cfg.progress,
            writer_threads=cfg.writer_threads,
            device=str(cfg.device),
            **stylizer,
            preview=cfg.preview,
            preview_path=(
                _preview_path(cfg.get("preview_path"), output_dir) if cfg.preview > 0 else None
            ),
            submission_zip=Path(cfg.submission_zip) if cfg.submission else None,
            submission_min_images=cfg.submission_min_images,
            submission_max_images=cfg.submission_max_images,
        )
        return dataclasses.replace(options, **overrides) if overrides else options


def _preview_path(chosen: str | None, output_dir: Path) -> Path:
    """Where the contact sheet goes: ``chosen``, by default ``<output_dir>-preview.png`` beside
    the output folder. Never inside it, where it would be taken for an output (by
    ``evaluate.py``, by a zip for Kaggle) or replace one.

    Raises:
        UsageError: If the path is inside ``output_dir``.
    """
    root = output_dir.resolve()
    path = Path(chosen) if chosen else root.parent / f"{root.name}{PREVIEW_SUFFIX}"
    if path.resolve().is_relative_to(root):
        raise UsageError(
            f"preview_path={path} is inside output_dir={output_dir}, where the sheet would be "
            "counted as an output; choose a path outside it (default: beside it)"
        )
    return path


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


def auto_workers(device: str) -> int:
    """Decoding processes for ``num_workers=auto``.

    On the CPU the generator already uses every core, and a worker process takes cycles from
    it: on a 2-core machine decoding in the main process was 25% faster end to end than in 2
    workers (benchmarks/predict_throughput.py). So: none up to 4 CPUs, then one per 4 CPUs, at
    most 4. With CUDA the CPU only decodes: every CPU but one, at most 8.
    """
    cpus = os.cpu_count() or 1
    if resolve_device(device).type == "cuda":
        return min(8, cpus - 1)
    return 0 if cpus <= 4 else min(4, cpus // 4)
