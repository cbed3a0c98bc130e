"""Stop a diverging run: watch the losses for NaN or infinity without a host sync per step.

:class:`FiniteGuard` keeps, on the losses' device, the global step and the loss values of the
first step whose losses were not all finite. Only :meth:`FiniteGuard.check` reads them back to
the host, so on XLA (where reading a value ends the lazy graph) the training loop calls it on
the logging cadence and before each checkpoint, never on every step.

Example:
    >>> guard = FiniteGuard()
    >>> guard.watch({"g_total": torch.tensor(1.0)}, step=0)
    >>> guard.watch({"g_total": torch.tensor(float("nan"))}, step=2)
    >>> guard.check(epoch=0)
    Traceback (most recent call last):
    ...
    cyclegan.guard.NonFiniteLossError: non-finite loss at global step 2 (epoch 0): g_total=nan...
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["FiniteGuard", "NonFiniteLossError", "check_finite_weights"]


class NonFiniteLossError(FloatingPointError):
    """Training produced NaN or infinite losses or weights; the message names the step and the
    terms. Checkpoints saved before that step are kept; none is saved after it."""


class FiniteGuard:
    """Remembers the first step whose losses were not all finite (on device, no sync)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.step: torch.Tensor | None = None  # -1 until a non-finite step is seen
        self.values: torch.Tensor | None = None
        self.watched = 0

    def watch(self, losses: Mapping[str, torch.Tensor], step: int) -> None:
        """Record ``losses`` of global step ``step`` if they are the first non-finite ones."""
        names = list(losses)
        values = torch.stack([value.detach().float().reshape(()) for value in losses.values()])
        if self.step is None or self.values is None or names != self.names:
            self.names = names
            self.step = torch.full((), -1, dtype=torch.int64, device=values.device)
            self.values = torch.zeros_like(values)
        first = (~torch.isfinite(values)).any() & (self.step < 0)
        self.step = torch.where(first, torch.full_like(self.step, step), self.step)
        self.values = torch.where(first, values, self.values)
        self.watched += 1

    def due(self, every: int) -> bool:
        """Whether :meth:`check` is due after this many :meth:`watch` calls."""
        return self.watched % max(1, every) == 0

    def check(self, epoch: int) -> None:
        """Read the record back (one host sync) and raise if a step was non-finite.

        Raises:
            NonFiniteLossError: Naming the first such step and its loss terms.
        """
        if self.step is None or self.values is None:
            return
        step = int(self.step.item())
        if step < 0:
            return
        values = dict(zip(self.names, self.values.cpu().tolist(), strict=True))
        bad = [name for name, value in values.items() if not math.isfinite(value)]
        terms = ", ".join(f"{name}={values[name]}" for name in bad)
        others = ", ".join(f"{k}={v:.4g}" for k, v in values.items() if k not in bad)
        raise NonFiniteLossError(
            f"non-finite loss at global step {step} (epoch {epoch}): {terms}"
            f"{f' (finite: {others})' if others else ''}. Training stopped; checkpoints saved "
            "before this step are kept (lower the learning rate or check the data)."
        )


def check_finite_weights(module: nn.Module, step: int) -> None:
    """Raise unless every floating-point parameter and buffer of ``module`` is finite (one
    host sync).

    Args:
        module: The model about to be saved.
        step: Its global step, for the message.

    Raises:
        NonFiniteLossError: Naming the count and the first few tensors with NaN or infinity.
    """
    tensors = [
        (name, tensor)
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]
        if tensor.is_floating_point()
    ]
    if not tensors:
        return
    finite = torch.stack([torch.isfinite(tensor).all() for _, tensor in tensors]).cpu()
    if bool(finite.all()):
        return
    bad = [name for (name, _), ok in zip(tensors, finite.tolist(), strict=True) if not ok]
    shown = ", ".join(bad[:3]) + (", ..." if len(bad) > 3 else "")
    raise NonFiniteLossError(
        f"non-finite weights at global step {step}: {len(bad)} of {len(tensors)} tensors hold "
        f"NaN or infinity ({shown}); the run diverged and this state is not saved. Checkpoints "
        "saved before are kept (lower the learning rate or check the data)."
    )
