"""Build the objects of a training run from a composed config and fit."""

import logging
from pathlib import Path

import lightning as L
import torch.distributed as dist
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig

from cyclegan.accel import choose_precision, describe_hardware, warn_if_slow_bf16
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


def release_process_group() -> None:
    """Destroy this process's default ``torch.distributed`` process group, if it has one.

    Lightning destroys it at exit for NCCL only. A Gloo group (DDP over CPU processes) left to
    interpreter shutdown can abort a finished run with SIGABRT ("terminate called without an
    active exception", pytorch/pytorch#190489): its threads still hold work when the
    interpreter goes. Call it after a successful fit only: after a failure another rank may
    still be inside a collective, and destroying the group could hang.
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def build(cfg: DictConfig) -> tuple[L.LightningModule, L.LightningDataModule, L.Trainer]:
    """Instantiate module, DataModule and Trainer (with logger and callbacks) from ``cfg``."""
    datamodule: L.LightningDataModule = instantiate(cfg.data)
    try:
        module: L.LightningModule = instantiate(cfg.module)
    except InstantiationException as err:
        if isinstance(err.__cause__, FileNotFoundError):  # e.g. the loss network's weights
            raise err.__cause__ from None
        raise
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    logger = instantiate(cfg.logger) if cfg.get("logger") else False
    trainer = build_trainer(cfg, callbacks=callbacks, logger=logger)
    return module, datamodule, trainer


def report_hardware(cfg: DictConfig, trainer: L.Trainer) -> str:
    """Log (and return) one line: device, CPU model and capability, precision and why; warn
    when bf16 is asked for on a CPU that would emulate it."""
    precision = str(trainer.precision)
    device = trainer.strategy.root_device
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    target = accelerator if accelerator in {"auto", "cpu", "gpu", "tpu"} else "auto"
    choice = choose_precision(target)
    reason = choice.reason if choice.precision == precision else "set by trainer.precision"
    if device.type == "cpu" and precision.startswith("bf16"):
        warn_if_slow_bf16(f"trainer.precision={precision}", "trainer.precision=32-true")
    line = describe_hardware(device, precision, reason)
    log.info("%s", line)
    return line


def train(cfg: DictConfig) -> L.Trainer:
    """Seed, build, fit (resuming from ``cfg.ckpt_path`` when set); return the trainer.

    Raises:
        FileNotFoundError: If ``cfg.ckpt_path`` does not exist.
        CheckpointError: If it is not a checkpoint ``torch.load(weights_only=True)`` reads
            (the message names the file and any refused class).
    """
    L.seed_everything(cfg.seed, workers=True)
    module, datamodule, trainer = build(cfg)
    report_hardware(cfg, trainer)
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is not None and not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    if ckpt_path is not None:
        # Lightning would load it too (weights_only), but fail with a raw UnpicklingError.
        read_checkpoint(ckpt_path, mmap=True)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    release_process_group()  # each DDP rank its own, before the interpreter shuts down
    log.info("Run folder: %s", trainer.default_root_dir)
    return trainer
