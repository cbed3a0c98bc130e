"""Adversarial losses (BCE, least squares, hinge) and the L1 terms of CycleGAN.

The discriminators return raw logits; each adversarial loss defines how they are scored. The
discriminator loss is the mean of its real and fake terms (×0.5), as in the paper and the
official implementation, which slows the discriminator relative to the generators.
"""

import torch
import torch.nn.functional as F
from torch import nn


class GANLoss(nn.Module):
    """Interface of an adversarial loss: what a generator and a discriminator minimise, given
    the discriminator's raw logits. Subclasses implement both methods; losses are computed in
    float32 whatever the autocast dtype of the logits.

    Adding a loss is one subclass here and one ``conf/loss/<name>.yaml`` naming it.
    """

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """Loss of a generator whose fakes scored ``fake_logits``."""
        raise NotImplementedError

    def discriminator_loss(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> torch.Tensor:
        """Loss of a discriminator that scored real images ``real_logits`` and fakes
        ``fake_logits`` (halved, as in the paper and the official implementation)."""
        raise NotImplementedError


class _TargetGANLoss(GANLoss):
    """A loss of each logit against a target, 1 for real and 0 for fake (BCE, LSGAN).

    Args:
        label_smoothing: one-sided label smoothing (Salimans et al. 2016): the discriminator's
            target for real images is ``1 - label_smoothing``; fakes keep 0 and the generator
            keeps 1. 0 (the default) is off; the tuned Kaggle notebooks use 0.1 with BCE.
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.real_target = 1.0 - label_smoothing

    def criterion(self, logits: torch.Tensor, target: float) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """Fakes should score as real."""
        return self.criterion(fake_logits.float(), 1.0)

    def discriminator_loss(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> torch.Tensor:
        """0.5 · (loss on real as real (``1 - label_smoothing``) + loss on fake as fake)."""
        return 0.5 * (
            self.criterion(real_logits.float(), self.real_target)
            + self.criterion(fake_logits.float(), 0.0)
        )


class BCEGANLoss(_TargetGANLoss):
    """Binary cross-entropy on logits (the Kaggle tutorial's loss, the original GAN)."""

    def criterion(self, logits: torch.Tensor, target: float) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


class LSGANLoss(_TargetGANLoss):
    """Least squares GAN: mean squared error of the logits to 1 (real) or 0 (fake), as the
    CycleGAN paper uses."""

    def criterion(self, logits: torch.Tensor, target: float) -> torch.Tensor:
        return F.mse_loss(logits, torch.full_like(logits, target))


class HingeGANLoss(GANLoss):
    """Hinge loss (Lim & Ye 2017; SAGAN, BigGAN): the discriminator minimises
    0.5 · (mean relu(1 − real) + mean relu(1 + fake)), the generator −mean(fake)."""

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.float().mean()

    def discriminator_loss(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> torch.Tensor:
        real = F.relu(1.0 - real_logits.float()).mean()
        fake = F.relu(1.0 + fake_logits.float()).mean()
        return 0.5 * (real + fake)


def cycle_loss(real: torch.Tensor, reconstructed: torch.Tensor, weight: float) -> torch.Tensor:
    """weight · mean |real − reconstructed| (λ = 10 in the paper and the tutorial)."""
    return weight * F.l1_loss(reconstructed.float(), real.float())


def identity_loss(real: torch.Tensor, same: torch.Tensor, weight: float) -> torch.Tensor:
    """weight · mean |real − G(real)| for the generator that maps *into* real's domain
    (weight = 0.5 · λ by default)."""
    return weight * F.l1_loss(same.float(), real.float())
