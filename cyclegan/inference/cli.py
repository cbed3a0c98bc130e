"""What ``python predict.py`` does with its composed config (``conf/predict.yaml``).

Kept apart from ``predict.py`` so tests call :func:`run` with a config composed by Hydra's
compose API, without a subprocess.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from cyclegan.data.names import printable
from cyclegan.inference.checkpoint import LoadedGenerator, load_generator
from cyclegan.inference.export import export_generator
from cyclegan.inference.outputs import FORMATS, write_image
from cyclegan.inference.runner import PredictOptions, PredictSummary, predict
from cyclegan.inference.stylizer import Stylizer, resolve_device
from cyclegan.inference.submission import SUBMISSION_SIZE, validate_submission, write_submission

__all__ = [
    "UsageError",
    "auto_workers",
    "finish",
    "make_options",
    "make_stylizer",
    "preview_path",
    "run",
]

PREVIEW_SUFFIX = "-preview.png"


class UsageError(ValueError):
    """A wrong option value; the message names the option."""


def run(cfg: DictConfig) -> int:
    """Export the generator, or stylize ``cfg.input_dir``; print the summary.

    Args:
        cfg: The composed ``conf/predict.yaml``.

    Returns:
        The exit status: 0 when every input was converted or skipped (and the submission, if
        asked for, is valid), 1 when anything failed.

    Raises:
        UsageError: For a missing or invalid option.
        CheckpointError: If the checkpoint cannot give a generator.
        FileNotFoundError: If the input does not exist.
    """
    if cfg.ckpt is None:
        raise UsageError("ckpt is required: ckpt=path/to/last.ckpt (or exported weights .pt)")
    generator = load_generator(cfg.ckpt, cfg.direction, ema=cfg.ema)
    output_dir = Path(cfg.output_dir)
    if cfg.export not in (None, "none"):
        path = export_generator(generator, cfg.export, output_dir)
        print(f"exported {generator.direction} generator ({cfg.export}) -> {path}")
        return 0
    if cfg.input_dir is None:
        raise UsageError("input_dir is required: input_dir=path/to/photos (or .tfrec, .zip)")
    options = make_options(cfg, output_dir)
    if cfg.preview > 0:
        preview_path(cfg, output_dir)  # a sheet among the outputs is refused before any work
    stylizer = make_stylizer(cfg, generator)
    print(stylizer.describe())
    print(
        f"{generator.source} ({generator.config.get('_target_')}, {cfg.direction}, "
        f"{generator.weights} weights) on "
        f"{stylizer.device}, precision {stylizer.precision}: {options.input_path} -> {output_dir}"
    )
    summary = predict(stylizer, options)
    return finish(cfg, summary, output_dir)


def finish(cfg: DictConfig, summary: PredictSummary, output_dir: Path) -> int:
    """Print the account of a run, write the preview and the submission a config asks for.

    Returns:
        The exit status: 0 when every input was converted or skipped (and the submission, if
        asked for, is valid), 1 otherwise.
    """
    status = _report(summary, output_dir)
    if cfg.preview > 0:
        status = max(status, _write_preview(summary, preview_path(cfg, output_dir)))
    if cfg.submission:
        status = max(status, _submission(cfg, summary, output_dir))
    return status


def make_options(cfg: DictConfig, output_dir: Path) -> PredictOptions:
    """The :class:`PredictOptions` a config asks for."""
    fmt = "jpg" if cfg.submission else cfg.format
    if fmt not in FORMATS:
        raise UsageError(f"format={fmt!r}: choose one of {list(FORMATS)}")
    workers = auto_workers(cfg.device) if cfg.num_workers == "auto" else cfg.num_workers
    return PredictOptions(
        input_path=Path(cfg.input_dir),
        output_dir=output_dir,
        fmt=fmt,
        overwrite=cfg.overwrite,
        batch_size=cfg.batch_size,
        num_workers=int(workers),
        max_pixels=int(cfg.max_pixels),
        jpeg_quality=cfg.jpeg_quality,
        resize=SUBMISSION_SIZE if cfg.submission else None,
        preview=cfg.preview,
        progress=cfg.progress,
        writer_threads=cfg.writer_threads,
    )


def preview_path(cfg: DictConfig, output_dir: Path) -> Path:
    """Where the contact sheet goes: ``cfg.preview_path``, by default ``<output_dir>-preview.png``
    beside the output folder. Never inside it, where it would be taken for an output (by
    ``evaluate.py``, by a zip for Kaggle) or replace one.

    Raises:
        UsageError: If ``preview_path`` is inside ``output_dir``.
    """
    root = output_dir.resolve()
    chosen = cfg.get("preview_path")
    path = Path(chosen) if chosen else root.parent / f"{root.name}{PREVIEW_SUFFIX}"
    if path.resolve().is_relative_to(root):
        raise UsageError(
            f"preview_path={path} is inside output_dir={output_dir}, where the sheet would be "
            "counted as an output; choose a path outside it (default: beside it)"
        )
    return path


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


def make_stylizer(cfg: DictConfig, generator: LoadedGenerator) -> Stylizer:
    """The :class:`Stylizer` a config asks for."""
    try:
        return Stylizer(
            generator.module,
            generator.size_multiple,
            device=resolve_device(cfg.device),
            precision=str(cfg.precision),
            channels_last=cfg.channels_last,
            tile_size=cfg.tile_size,
            tile_overlap=cfg.tile_overlap,
        )
    except ValueError as error:
        raise UsageError(str(error)) from error


def _report(summary: PredictSummary, output_dir: Path) -> int:
    if summary.ignored:
        examples = "; ".join(
            f"{printable(name)} ({printable(reason)})" for name, reason in summary.ignored[:5]
        )
        more = "; ..." if len(summary.ignored) > 5 else ""
        print(f"ignored {len(summary.ignored)}: {examples}{more}")
    if summary.skipped:
        print(f"skipped {len(summary.skipped)} inputs whose output exists (overwrite=true redoes)")
    if summary.failed:
        print(f"{len(summary.failed)} failed:")
        for name, reason in sorted(summary.failed):
            print(f"  {printable(name)}: {printable(reason)}")
    print(summary.line(output_dir))
    if not summary.converted and not summary.skipped and not summary.failed:
        print("no images found in the input", file=sys.stderr)
        return 1
    return 1 if summary.failed else 0


def _write_preview(summary: PredictSummary, path: Path) -> int:
    if summary.preview is None or not summary.preview.pairs:
        print("preview: no image was converted in this run, no contact sheet written")
        return 0
    write_image(np.asarray(summary.preview.render()), path, overwrite=True)
    print(f"preview: {len(summary.preview.pairs)} inputs beside their outputs -> {path}")
    return 0


def _submission(cfg: DictConfig, summary: PredictSummary, output_dir: Path) -> int:
    zip_path = Path(cfg.submission_zip)
    files = [output_dir / relpath for relpath in sorted(summary.outputs)]
    write_submission(files, zip_path)
    report = validate_submission(zip_path, cfg.submission_min_images, cfg.submission_max_images)
    for problem in report.problems[:20]:
        print(f"  {printable(problem)}")
    if len(report.problems) > 20:
        print(f"  ... and {len(report.problems) - 20} more problems")
    print(f"{report.line()} -> {zip_path}")
    return 0 if report.ok else 1
