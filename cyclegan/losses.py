"""Adversarial losses (BCE and least squares) and the L1 terms of CycleGAN.

The discriminators return raw logits; each adversarial loss defines how they are scored. The
discriminator loss is the mean of its real and fake terms (×0.5), as in the paper and the
official implementation, which slows the discriminator relative to the generators.
"""

import torch
import torch.nn.functional as F
from torch import nn


class GANLoss(nn.Module):
    """Base class: subclasses implement ``criterion(logits, target_is_real)``.

    Losses are computed in float32 whatever the autocast dtype of the logits.
    """

    def criterion(self, logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """Loss of a generator whose fakes scored ``fake_logits``: they should look real."""
        return self.criterion(fake_logits, True)

    def discriminator_loss(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor
    ) -> torch.Tensor:
        """0.5 · (loss on real as real + loss on fake as fake)."""
        return 0.5 * (self.criterion(real_logits, True) + self.criterion(fake_logits, False))


class BCEGANLoss(GANLoss):
    """Binary cross-entropy on logits (the Kaggle tutorial's loss, the original GAN)."""

    def criterion(self, logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        logits = logits.float()
        target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
        return F.binary_cross_entropy_with_logits(logits, target)


class LSGANLoss(GANLoss):
    """Least squares GAN: mean squared error of the logits to 1 (real) or 0 (fake), as the
    CycleGAN paper uses."""

    def criterion(self, logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        logits = logits.float()
        target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
        return F.mse_loss(logits, target)


def cycle_loss(real: torch.Tensor, reconstructed: torch.Tensor, weight: float) -> torch.Tensor:
    """weight · mean |real − reconstructed| (λ = 10 in the paper and the tutorial)."""
    return weight * F.l1_loss(reconstructed.float(), real.float())


def identity_loss(real: torch.Tensor, same: torch.Tensor, weight: float) -> torch.Tensor:
    """weight · mean |real − G(real)| for the generator that maps *into* real's domain
    (weight = 0.5 · λ by default)."""
    return weight * F.l1_loss(same.float(), real.float())
