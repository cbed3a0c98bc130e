"""OmegaConf resolvers used by ``conf/`` (registered on import)."""

from datetime import datetime
from pathlib import Path

import torch
from lightning.pytorch.accelerators import XLAAccelerator
from omegaconf import OmegaConf


def auto_precision(target: str = "auto") -> str:
    """Lightning precision for an accelerator choice.

    ``tpu`` (or ``auto`` with TPU cores present) -> ``bf16-true``; ``gpu`` (or ``auto`` with
    CUDA) -> ``bf16-mixed`` where the GPU supports bf16, else ``16-mixed``; the CPU ->
    ``bf16-mixed``.
    """
    if target not in {"auto", "cpu", "gpu", "tpu"}:
        raise ValueError(f"auto_precision: unknown accelerator {target!r}")
    if target == "tpu" or (target == "auto" and XLAAccelerator.is_available()):
        return "bf16-true"
    if target in {"auto", "gpu"} and torch.cuda.is_available():
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed"


def run_dir(ckpt_path: str | None, root: str = "outputs") -> str:
    """Hydra's run folder: a new ``root/<date>/<time>``, or, when resuming from
    ``<run>/checkpoints/<name>.ckpt``, that ``<run>``, so logs and checkpoints continue in place."""
    if ckpt_path:
        ckpt = Path(ckpt_path)
        if ckpt.parent.name == "checkpoints":
            return str(ckpt.parent.parent)
    return str(Path(root) / datetime.now().strftime("%Y-%m-%d/%H-%M-%S"))


def register_resolvers() -> None:
    """Register this project's resolvers once."""
    if not OmegaConf.has_resolver("auto_precision"):
        OmegaConf.register_new_resolver("auto_precision", auto_precision, use_cache=True)
    if not OmegaConf.has_resolver("run_dir"):
        OmegaConf.register_new_resolver("run_dir", run_dir, use_cache=True)


register_resolvers()
