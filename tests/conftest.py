"""Compose the real ``conf/`` with Hydra's compose API and shrink it for tests."""

from collections.abc import Callable
from pathlib import Path

import pytest
from data_helpers import write_tfrecord_dataset
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

import cyclegan.config  # noqa: F401  (registers resolvers)

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "conf"
REAL_DATA = REPO.parent / "shared" / "data" / "gan-getting-started"

# Tiny models and images: U-Net with 5 downsamples works on 32 px (2^5), PatchGAN needs >= 24.
TINY = [
    "accelerator=cpu",
    "model.generator.ngf=8",
    "model.generator.num_downs=5",
    "model.discriminator.ndf=8",
    "data.image_size=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "callbacks.image_grid.every_n_steps=2",
    "callbacks.image_grid.num_images=2",
]


def compose_train(overrides: list[str], output_dir: Path) -> DictConfig:
    """The training config as ``python train.py <overrides>`` would compose it."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    with open_dict(cfg):
        cfg.output_dir = str(output_dir)
    return cfg


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    """Kaggle-layout TFRecords: 6 Monet, 10 photos, 32x32, two shards each."""
    root = tmp_path / "data"
    write_tfrecord_dataset(root, n_monet=6, n_photo=10, size=32, shards=2)
    return root


@pytest.fixture
def tiny_cfg(tiny_data: Path, tmp_path: Path) -> Callable[..., DictConfig]:
    """Factory: tiny training config on ``tiny_data`` writing under ``tmp_path/run``."""

    def make(*overrides: str, output_dir: Path | None = None) -> DictConfig:
        out = output_dir or tmp_path / "run"
        return compose_train([*TINY, f"data.root={tiny_data}", *overrides], out)

    return make
