"""Inference: load a generator, stylize any input safely and fast, export, Kaggle submission.

- :mod:`~cyclegan.inference.checkpoint` loads one generator from a checkpoint (weights_only).
- :mod:`~cyclegan.inference.trusted` is the allow-list of network classes a checkpoint may build.
- :mod:`~cyclegan.inference.stylizer` runs it on uint8 images (precision, padding, tiling).
- :mod:`~cyclegan.inference.runner` stylizes a whole input and accounts for every file.
- :mod:`~cyclegan.inference.export`, :mod:`~cyclegan.inference.submission` and
  :mod:`~cyclegan.inference.preview` write ONNX/TorchScript, ``images.zip`` and contact sheets.
- :func:`~cyclegan.inference.cli.run` is what ``python predict.py`` calls.
"""

from cyclegan.inference.checkpoint import CheckpointError, LoadedGenerator, load_generator
from cyclegan.inference.runner import PredictOptions, PredictSummary, predict
from cyclegan.inference.stylizer import Stylizer

__all__ = [
    "CheckpointError",
    "LoadedGenerator",
    "PredictOptions",
    "PredictSummary",
    "Stylizer",
    "load_generator",
    "predict",
]
