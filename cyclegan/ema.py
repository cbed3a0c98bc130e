"""Exponential moving average (EMA) of a network's weights.

``ema ← decay · ema + (1 − decay) · weights`` after every optimizer step of the network (Karras
et al. 2018; Yazıcı et al. 2019: the averaged generator paints with less noise than the last
iterate). The average is a frozen copy of the network, so it is saved in checkpoints with the
rest of the LightningModule, and every DDP rank computes the same average from the same weights.
The update is one fused ``lerp`` on the device: no value is read back to the host.

Example:
    >>> net = torch.nn.Linear(2, 2)
    >>> ema = ema_copy(net)
    >>> with torch.no_grad():
    ...     _ = net.weight.add_(1.0)
    >>> update_ema(ema, net, decay=0.9)
    >>> torch.allclose(ema.weight, net.weight - 0.9)
    True
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["check_decay", "ema_copy", "update_ema"]


def check_decay(decay: float | None) -> float | None:
    """``decay`` if it is ``None`` (EMA off) or in [0, 1), else ``ValueError``."""
    if decay is not None and not 0.0 <= decay < 1.0:
        raise ValueError(f"ema_decay must be null (off) or in [0, 1), got {decay}")
    return decay


def ema_copy(network: nn.Module) -> nn.Module:
    """A frozen copy of ``network`` (no gradients) to hold its moving average."""
    average = copy.deepcopy(network)
    average.requires_grad_(False)
    return average


@torch.no_grad()
def update_ema(average: nn.Module, network: nn.Module, decay: float) -> None:
    """Move ``average``'s parameters towards ``network``'s by ``1 - decay``; buffers (if any)
    are copied as they are."""
    targets: list[torch.Tensor] = list(average.parameters())
    sources = [p.detach() for p in network.parameters()]
    torch._foreach_lerp_(targets, sources, 1.0 - decay)
    for target, source in zip(average.buffers(), network.buffers(), strict=True):
        target.copy_(source)
