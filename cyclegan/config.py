"""OmegaConf resolvers used by ``conf/`` (registered on import).

They turn an accelerator choice into the settings that suit it, so that ``conf/accelerator/*``
stay short and ``accelerator=auto`` picks the right ones for the hardware it finds:

- ``${auto_precision:tpu}`` -> Lightning precision for the hardware (``accel/hardware.py``).
- ``${fused_optimizer:cpu}`` -> whether Adam may use its fused kernel (not on XLA devices).
- ``${gan_strategy:2,gpu}`` -> the Lightning strategy for that many devices.
- ``${run_dir:${ckpt_path}}`` -> Hydra's run folder (the checkpoint's run when resuming).
"""

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.accelerators import XLAAccelerator
from omegaconf import OmegaConf

from cyclegan.accel.hardware import choose_precision

ACCELERATORS = ("auto", "cpu", "gpu", "tpu")
# Lightning's DDP with unused-parameter detection: each CycleGAN backward pass leaves one pair
# of networks frozen (toggle_optimizer), which plain "ddp" rejects.
GAN_DDP = "ddp_find_unused_parameters_true"


def _check(target: str, resolver: str) -> None:
    if target not in ACCELERATORS:
        raise ValueError(f"{resolver}: unknown accelerator {target!r}, expected {ACCELERATORS}")


def _on_tpu(target: str) -> bool:
    return target == "tpu" or (target == "auto" and XLAAccelerator.is_available())


def auto_precision(target: str = "auto") -> str:
    """Lightning precision for an accelerator choice on this machine
    (:func:`cyclegan.accel.choose_precision`): ``tpu`` -> ``bf16-true``; a CUDA GPU ->
    ``bf16-mixed`` or ``16-mixed``; a CPU -> ``bf16-mixed`` with native bf16 (AMX,
    AVX512_BF16), else ``32-true``.

    Example:
        >>> auto_precision("tpu")
        'bf16-true'
    """
    _check(target, "auto_precision")
    return choose_precision(target).precision


def run_dir(ckpt_path: str | None, root: str = "outputs") -> str:
    """Hydra's run folder: a new ``root/<date>/<time>``, or, when resuming from
    ``<run>/checkpoints/<name>.ckpt``, that ``<run>``, so logs and checkpoints continue in place."""
    if ckpt_path:
        ckpt = Path(ckpt_path)
        if ckpt.parent.name == "checkpoints":
            return str(ckpt.parent.parent)
    return str(Path(root) / datetime.now().strftime("%Y-%m-%d/%H-%M-%S"))


def fused_optimizer(target: str = "auto") -> bool:
    """Whether Adam's fused kernel (one kernel for all parameters) runs on the accelerator.

    It exists for CPU and CUDA tensors; XLA devices raise on ``fused=True``, so ``tpu`` (or
    ``auto`` with TPU cores present) -> ``False``, anything else -> ``True``.

    Example:
        >>> fused_optimizer("cpu"), fused_optimizer("tpu")
        (True, False)
    """
    _check(target, "fused_optimizer")
    return not _on_tpu(target)


def num_devices(devices: Any, target: str = "auto") -> int:
    """How many devices Lightning will use for ``trainer.devices`` on ``target`` (``auto`` and
    ``-1`` count the visible GPUs, or one CPU process)."""
    if isinstance(devices, list | tuple):
        return len(devices)
    if isinstance(devices, str) and devices.strip().lstrip("-").isdigit():
        devices = int(devices)
    if isinstance(devices, int) and devices >= 0:
        return devices
    if devices in ("auto", -1):
        use_gpu = target == "gpu" or (target == "auto" and torch.cuda.is_available())
        return torch.cuda.device_count() if use_gpu else 1
    raise ValueError(f"trainer.devices={devices!r}: expected a number, a list of ids or 'auto'")


def gan_strategy(devices: Any = "auto", target: str = "auto") -> str:
    """Lightning strategy for ``devices`` devices of ``target``.

    One device -> ``auto``. Several CPU processes or GPUs -> :data:`GAN_DDP`: DDP that finds
    the parameters a backward pass did not use (the generator step freezes the discriminators
    and the discriminator step the generators; plain ``ddp`` raises on that). TPU cores ->
    ``auto`` (Lightning's XLA strategy reduces each optimizer's own gradients).

    Example:
        >>> gan_strategy(1, "cpu"), gan_strategy(2, "cpu")
        ('auto', 'ddp_find_unused_parameters_true')
    """
    _check(target, "gan_strategy")
    if _on_tpu(target) or num_devices(devices, target) <= 1:
        return "auto"
    return GAN_DDP


def register_resolvers() -> None:
    """Register this project's resolvers once."""
    resolvers: dict[str, Callable[..., Any]] = {
        "auto_precision": auto_precision,
        "fused_optimizer": fused_optimizer,
        "gan_strategy": gan_strategy,
        "run_dir": run_dir,
    }
    for name, fn in resolvers.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=True)


register_resolvers()
