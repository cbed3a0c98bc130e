"""What every generator promises: the contract the LightningModule and inference rely on.

A generator is an ``nn.Module`` that maps images ``[B, 3, H, W]`` in ``[-1, 1]`` to images of
the same shape and range, and declares two facts about itself:

- ``size_multiple``: height and width must be multiples of this (inference pads to it, and the
  network raises ``ValueError`` on other sizes);
- ``per_image``: ``True`` when each output image depends only on its own input (instance norm,
  no batch norm, no batch statistics). :meth:`cyclegan.module.CycleGAN.translate` then batches
  both domains into one call; otherwise it runs one call per domain.

A new generator class declares both (class attributes or properties) and is checked by
:func:`check_generator` when a checkpoint rebuilds it.

Example:
    >>> from cyclegan.networks import ResnetGenerator
    >>> isinstance(ResnetGenerator(ngf=4, n_blocks=1), Generator)
    True
    >>> isinstance(torch.nn.Identity(), Generator)  # declares neither fact
    False
"""

from typing import Protocol, runtime_checkable

import torch
from torch import nn

__all__ = ["Generator", "check_generator"]


@runtime_checkable
class Generator(Protocol):
    """An image-to-image network: ``[B, 3, H, W]`` in ``[-1, 1]`` -> the same shape."""

    @property
    def size_multiple(self) -> int:
        """Height and width must be multiples of this."""
        ...

    @property
    def per_image(self) -> bool:
        """Each output image depends only on its own input (no batch statistics)."""
        ...

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...


def check_generator(module: nn.Module) -> Generator:
    """``module``, once checked to declare the contract; ``TypeError`` naming its class if not."""
    missing = [name for name in ("size_multiple", "per_image") if not hasattr(module, name)]
    if missing:
        raise TypeError(
            f"{type(module).__name__} does not declare the generator contract "
            f"(cyclegan.networks.contract.Generator): missing {', '.join(missing)}"
        )
    if not isinstance(module, Generator):
        raise TypeError(f"{type(module).__name__} has no forward(x) method")
    return module
