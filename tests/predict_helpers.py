"""Tiny checkpoints, images and configs for the prediction and export tests."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from PIL import Image

__all__ = [
    "CONF_DIR",
    "REAL_DATA",
    "TINY_RESNET",
    "TINY_TRANSFORM",
    "TINY_UNET",
    "compose_predict",
    "encoded",
    "photo",
    "write_checkpoint",
]

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "conf"
REAL_DATA = REPO.parent / "shared" / "data" / "gan-getting-started"

# Size multiples 32, 4 and 4: tests use 32-64 px images.
TINY_UNET: dict[str, Any] = {
    "_target_": "cyclegan.networks.UNetGenerator",
    "_partial_": True,
    "ngf": 4,
    "num_downs": 5,
}
TINY_RESNET: dict[str, Any] = {
    "_target_": "cyclegan.networks.ResnetGenerator",
    "_partial_": True,
    "ngf": 4,
    "n_blocks": 1,
}

TINY_TRANSFORM: dict[str, Any] = {
    "_target_": "cyclegan.networks.TransformNet",
    "_partial_": True,
    "ngf": 4,
    "n_blocks": 1,
}


def write_checkpoint(
    path: Path, generator: dict[str, Any] | None = None, seed: int = 0
) -> dict[str, torch.nn.Module]:
    """Write a checkpoint with the LightningModule's layout; return the two generators.

    The two generators get different random weights, so a test can tell which one ran.
    """
    config = dict(generator or TINY_UNET)
    torch.manual_seed(seed)
    generators = {name: instantiate(config)().eval() for name in ("photo2monet", "monet2photo")}
    state = {
        f"gen_{name}.{key}": value
        for name, module in generators.items()
        for key, value in module.state_dict().items()
    }
    state["disc_monet.model.0.weight"] = torch.zeros(2, 3, 4, 4)
    state["disc_photo.model.0.weight"] = torch.zeros(2, 3, 4, 4)
    torch.save(
        {
            "epoch": 1,
            "global_step": 10,
            "pytorch-lightning_version": "2.6.6",
            "state_dict": state,
            "hyper_parameters": {"generator": config, "image_size": 64, "lambda_cycle": 10.0},
        },
        path,
    )
    return generators


def photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like ``[H, W, 3]`` uint8 image (gradients plus soft blobs)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([x / max(width, 1), y / max(height, 1), (x + y) / max(width + height, 1)], -1)
    for _ in range(4):
        cy, cx, r = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(3, 20)
        blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r**2))
        image += blob[..., None] * rng.uniform(-0.5, 0.5, size=3)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def encoded(array: np.ndarray | Image.Image, fmt: str = "JPEG", **params: Any) -> bytes:
    """Encode an image (array or PIL) to bytes."""
    picture = array if isinstance(array, Image.Image) else Image.fromarray(array)
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def compose_predict(**overrides: Any) -> DictConfig:
    """``conf/predict.yaml`` composed with ``key=value`` overrides, shrunk for tests."""
    defaults = {
        "num_workers": 0,
        "progress": False,
        "batch_size": 2,
        "tile_size": 64,
        "tile_overlap": 16,
    }
    merged = {**defaults, **overrides}
    items = [f"{key}={_hydra_value(value)}" for key, value in merged.items()]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="predict", overrides=items)


def _hydra_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Path | str):
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(value)
