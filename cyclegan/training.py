"""Build the objects of a training run from a composed config and fit."""

import logging
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def build(cfg: DictConfig) -> tuple[L.LightningModule, L.LightningDataModule, L.Trainer]:
    """Instantiate module, DataModule and Trainer (with logger and callbacks) from ``cfg``."""
    datamodule: L.LightningDataModule = instantiate(cfg.data)
    module: L.LightningModule = instantiate(cfg.module)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=logger)
    return module, datamodule, trainer


def train(cfg: DictConfig) -> L.Trainer:
    """Seed, build, fit (resuming from ``cfg.ckpt_path`` when set); return the trainer."""
    L.seed_everything(cfg.seed, workers=True)
    module, datamodule, trainer = build(cfg)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is not None and not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    log.info("Run folder: %s", trainer.default_root_dir)
    return trainer
