"""What ``python predict.py`` does with its composed config (``conf/predict.yaml``).

:func:`run` is the whole pipeline, one step a line: config -> inputs -> batches -> stylizer ->
outputs and preview -> report. Each step lives in one module:

1. config: :meth:`PredictOptions.from_config <cyclegan.inference.options.PredictOptions>`
   reads and checks every option into one object (``options.py``);
2. inputs and 3. batches: :class:`~cyclegan.inference.dataset.PredictDataset` walks the input
   (``inputs.py``) and decodes and pads it into batches in DataLoader workers (``dataset.py``);
4. stylizer: :class:`~cyclegan.inference.stylizer.Stylizer` runs the generator on them
   (``stylizer.py``, ``tiling.py``);
5. outputs and preview: :func:`~cyclegan.inference.runner.predict` drives steps 2 to 5 and
   writes each result (``runner.py``, ``outputs.py``, ``preview.py``);
6. report: :func:`~cyclegan.inference.report.report` prints the account and writes the contact
   sheet and the submission (``report.py``, ``submission.py``).

``stylize.py`` (:mod:`cyclegan.style.cli`) and the web app (:mod:`cyclegan.app.service`) reuse
steps 1 to 6 with another model or other options. Kept apart from ``predict.py`` so tests call
:func:`run` with a config composed by Hydra's compose API, without a subprocess.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from cyclegan.inference.checkpoint import load_generator
from cyclegan.inference.export import export_generator
from cyclegan.inference.options import PredictOptions, UsageError
from cyclegan.inference.report import report
from cyclegan.inference.runner import predict
from cyclegan.inference.stylizer import Stylizer

__all__ = ["UsageError", "run"]


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
    if cfg.export not in (None, "none"):
        path = export_generator(generator, cfg.export, Path(cfg.output_dir))
        print(f"exported {generator.direction} generator ({cfg.export}) -> {path}")
        return 0
    options = PredictOptions.from_config(cfg)  # 1. config
    options.require_input()
    stylizer = Stylizer.for_generator(generator, options)  # 4. stylizer
    print(stylizer.describe())
    print(
        f"{generator.source} ({generator.config.get('_target_')}, {cfg.direction}, "
        f"{generator.weights} weights) on "
        f"{stylizer.device}, precision {stylizer.precision}: {options.input_path} -> "
        f"{options.output_dir}"
    )
    summary = predict(stylizer, options)  # 2. inputs -> 3. batches -> 4. -> 5. outputs, preview
    return report(summary, options)  # 6. report
