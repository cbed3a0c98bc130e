"""Inference: load a generator, stylize any input safely and fast, export, Kaggle submission.

- :mod:`~cyclegan.inference.checkpoint` loads one generator from a checkpoint (weights_only).
- :mod:`~cyclegan.inference.trusted` is the allow-list of network classes a checkpoint may build.
- :func:`~cyclegan.inference.cli.run` is what ``python predict.py`` calls: the pipeline config
  (:mod:`~cyclegan.inference.options`) -> inputs (:mod:`~cyclegan.inference.inputs`) -> batches
  (:mod:`~cyclegan.inference.dataset`) -> stylizer (:mod:`~cyclegan.inference.stylizer`) ->
  outputs and preview (:mod:`~cyclegan.inference.runner`) -> report
  (:mod:`~cyclegan.inference.report`).
- :mod:`~cyclegan.inference.export` writes ONNX/TorchScript/weights.
"""

from cyclegan.inference.checkpoint import CheckpointError, LoadedGenerator, load_generator
from cyclegan.inference.options import PredictOptions
from cyclegan.inference.report import report
from cyclegan.inference.runner import PredictSummary, predict
from cyclegan.inference.stylizer import Stylizer

__all__ = [
    "CheckpointError",
    "LoadedGenerator",
    "PredictOptions",
    "PredictSummary",
    "Stylizer",
    "load_generator",
    "predict",
    "report",
]
