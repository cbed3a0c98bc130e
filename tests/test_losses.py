import math

import pytest
import torch

from cyclegan.losses import BCEGANLoss, HingeGANLoss, LSGANLoss, cycle_loss, identity_loss


def softplus(z: float) -> float:
    return math.log1p(math.exp(z))


def full(v: float) -> torch.Tensor:
    return torch.full((2, 1, 3, 3), v)


def test_bce_generator_and_discriminator_against_hand_values():
    loss = BCEGANLoss()
    # -log(sigmoid(z)) = softplus(-z); -log(1 - sigmoid(z)) = softplus(z)
    assert loss.generator_loss(full(0.0)).item() == pytest.approx(math.log(2))
    assert loss.generator_loss(full(1.5)).item() == pytest.approx(softplus(-1.5))
    d = loss.discriminator_loss(full(2.0), full(-1.0)).item()
    assert d == pytest.approx(0.5 * (softplus(-2.0) + softplus(-1.0)))
    assert d == pytest.approx(0.220095, abs=1e-6)


def test_lsgan_generator_and_discriminator_against_hand_values():
    loss = LSGANLoss()
    assert loss.generator_loss(full(0.2)).item() == pytest.approx(0.64)
    assert loss.discriminator_loss(full(2.0), full(-1.0)).item() == pytest.approx(1.0)
    assert loss.discriminator_loss(full(1.0), full(0.0)).item() == pytest.approx(0.0)


def test_hinge_generator_and_discriminator_against_hand_values():
    loss = HingeGANLoss()
    assert loss.generator_loss(full(0.7)).item() == pytest.approx(-0.7)
    # real 0.25 -> relu(0.75); fake -0.5 -> relu(0.5): 0.5 * (0.75 + 0.5)
    assert loss.discriminator_loss(full(0.25), full(-0.5)).item() == pytest.approx(0.625)
    # Beyond the margins (real >= 1, fake <= -1) nothing is left to learn.
    assert loss.discriminator_loss(full(1.5), full(-2.0)).item() == 0.0
    real = torch.tensor([[2.0, 0.0]]).view(1, 1, 1, 2)
    fake = torch.tensor([[-3.0, 1.0]]).view(1, 1, 1, 2)
    # relu(1 - [2, 0]) = [0, 1], mean 0.5; relu(1 + [-3, 1]) = [0, 2], mean 1: 0.5 * 1.5
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(0.75)


@pytest.mark.parametrize("loss", [BCEGANLoss(), LSGANLoss(), HingeGANLoss()])
def test_losses_are_float32_under_bf16_inputs(loss):
    logits = full(0.3).to(torch.bfloat16)
    assert loss.generator_loss(logits).dtype == torch.float32
    assert loss.discriminator_loss(logits, logits).dtype == torch.float32
    a, b = full(0.1).bfloat16(), full(0.4).bfloat16()
    assert cycle_loss(a, b, 10.0).dtype == torch.float32


def test_cycle_and_identity_l1_weights():
    real, rec = full(0.1), full(0.5)
    assert cycle_loss(real, rec, 10.0).item() == pytest.approx(4.0)
    assert identity_loss(real, rec, 5.0).item() == pytest.approx(2.0)
