"""Build the objects of a training run from a composed config and fit."""

import logging
from pathlib import Path

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig

from cyclegan.inference.checkpoint import read_checkpoint

log = logging.getLogger(__name__)


class TrainerConfigError(ValueError):
    """Lightning cannot build the Trainer as configured (an accelerator that is not present, a
    precision it does not support, ...); the message is Lightning's, with the settings."""


def build_trainer(cfg: DictConfig, **kwargs: object) -> L.Trainer:
    """Instantiate ``cfg.trainer`` with ``kwargs`` (callbacks, logger).

    Raises:
        TrainerConfigError: Lightning rejected the accelerator, devices, strategy or precision,
            e.g. ``accelerator=tpu`` without TPU cores or without torch-xla.
    """
    try:
        return instantiate(cfg.trainer, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if not isinstance(cause, MisconfigurationException | ModuleNotFoundError | ValueError):
            raise
        settings = ", ".join(
            f"{key}={cfg.trainer.get(key)}"
            for key in ("accelerator", "devices", "strategy", "precision")
        )
        raise TrainerConfigError(
            f"Lightning cannot train with trainer {settings} here: {cause}\n"
            "Choose another accelerator with accelerator=cpu|gpu|tpu|auto (see conf/accelerator/)."
        ) from cause


def build(cfg: DictConfig) -> tuple[L.LightningModule, L.LightningDataModule, L.Trainer]:
    """Instantiate module, DataModule and Trainer (with logger and callbacks) from ``cfg``."""
    datamodule: L.LightningDataModule = instantiate(cfg.data)
    module: L.LightningModule = instantiate(cfg.module)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer = build_trainer(cfg, callbacks=callbacks, logger=logger)
    return module, datamodule, trainer


def train(cfg: DictConfig) -> L.Trainer:
    """Seed, build, fit (resuming from ``cfg.ckpt_path`` when set); return the trainer.

    Raises:
        FileNotFoundError: If ``cfg.ckpt_path`` does not exist.
        CheckpointError: If it is not a checkpoint ``torch.load(weights_only=True)`` reads
            (the message names the file and any refused class).
    """
    L.seed_everything(cfg.seed, workers=True)
    module, datamodule, trainer = build(cfg)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is not None and not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    if ckpt_path is not None:
        # Lightning would load it too (weights_only), but fail with a raw UnpicklingError.
        read_checkpoint(ckpt_path, mmap=True)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    log.info("Run folder: %s", trainer.default_root_dir)
    return trainer
