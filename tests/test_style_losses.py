"""The perceptual losses against values computed by hand, and the VGG feature taps."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import vgg as tv_vgg

from cyclegan.style.loss_network import VGG16_LAYOUT, VGG19_LAYOUT, vgg_stack
from cyclegan.style.losses import (
    VGGFeatures,
    content_loss,
    gram_matrix,
    style_loss,
    tv_loss,
    vgg_layer_names,
    weighted_style_loss,
)

# One image, N = 2 feature maps of M = 2x2 = 4 positions:
#   channel 0 = [[1, 2], [0, 1]] -> (1, 2, 0, 1);  channel 1 = [[0, 1], [1, 0]] -> (0, 1, 1, 0)
# F Fᵀ = [[1+4+0+1, 0+2+0+0], [2, 0+1+1+0]] = [[6, 2], [2, 2]]; N·M = 8.
F = torch.tensor([[[[1.0, 2.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]])


def test_gram_matrix_by_hand() -> None:
    expected = torch.tensor([[[6.0, 2.0], [2.0, 2.0]]]) / 8
    assert torch.allclose(gram_matrix(F), expected)


def test_gram_matrix_does_not_depend_on_image_size() -> None:
    # The same texture on four times the area: F Fᵀ grows 4x, N·M too.
    assert torch.allclose(gram_matrix(F.repeat(1, 1, 2, 2)), gram_matrix(F))


def test_style_loss_is_gatys_normalised_squared_gram_difference() -> None:
    # Against A = 0: Σ G² / (4 N² M²) = (36 + 4 + 4 + 4) / (4 · 4 · 16) = 48 / 256.
    assert style_loss(F, torch.zeros(2, 2)).item() == pytest.approx(0.1875)
    # Against the normalised Gram [[0.5, 0], [0, 0.5]]: differences [[.25, .25], [.25, -.25]],
    # ¼ · 4 · 0.0625 = 0.0625.
    assert style_loss(F, torch.eye(2) / 2).item() == pytest.approx(0.0625)
    assert style_loss(F, gram_matrix(F)[0]).item() == 0.0


def test_style_loss_averages_over_the_batch_and_takes_one_target_per_image() -> None:
    batch = torch.cat([F, torch.zeros_like(F)])  # losses 0.1875 and 0 against A = 0
    assert style_loss(batch, torch.zeros(2, 2)).item() == pytest.approx(0.1875 / 2)
    targets = torch.stack([gram_matrix(F)[0], torch.zeros(2, 2)])
    assert style_loss(batch, targets).item() == 0.0


def test_weighted_style_loss_sums_layers_with_their_weights() -> None:
    features = {"a": F, "b": F}
    targets = {"a": torch.zeros(2, 2), "b": torch.eye(2) / 2}
    total = weighted_style_loss(features, targets, {"a": 2.0, "b": 4.0})
    assert total.item() == pytest.approx(2 * 0.1875 + 4 * 0.0625)


def test_content_loss_is_the_mean_squared_difference() -> None:
    # Squares of F: 1, 4, 0, 1, 0, 1, 1, 0 -> 8 / 8.
    assert content_loss(F, torch.zeros_like(F)).item() == pytest.approx(1.0)
    assert content_loss(F, F + 0.5).item() == pytest.approx(0.25)


def test_tv_loss_by_hand() -> None:
    image = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]]]])
    # Vertical: 2, 1, -1 -> mean of squares 2; horizontal: 1, 2, 0, 0 -> 5 / 4.
    assert tv_loss(image).item() == pytest.approx(3.25)
    assert tv_loss(torch.full((2, 3, 5, 5), 0.7)).item() == 0.0


def test_losses_are_float32_for_bf16_inputs() -> None:
    assert style_loss(F.bfloat16(), torch.zeros(2, 2)).dtype == torch.float32
    assert content_loss(F.bfloat16(), F).dtype == torch.float32
    assert tv_loss(F.bfloat16()).dtype == torch.float32


@pytest.mark.parametrize(("layout", "cfg"), [(VGG16_LAYOUT, "D"), (VGG19_LAYOUT, "E")])
def test_vgg_stack_has_torchvisions_keys_and_shapes(layout, cfg) -> None:
    # torchvision's weights files hold features.<index>.weight/bias of this very stack.
    ours = {k: v.shape for k, v in vgg_stack(layout).state_dict().items()}
    theirs = {k: v.shape for k, v in tv_vgg.make_layers(tv_vgg.cfgs[cfg]).state_dict().items()}
    assert ours == theirs


def test_vgg_layer_names_follow_the_papers() -> None:
    names = vgg_layer_names(vgg_stack(VGG19_LAYOUT))
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names.index("relu4_2") == 22  # torchvision's features[22]: conv4_2 is [21]
    assert names[-1] == "pool5"
    assert len(names) == 37
    assert vgg_layer_names(vgg_stack(VGG16_LAYOUT)).index("relu4_3") == 22


def test_vgg_features_taps_normalise_and_cut_the_stack() -> None:
    torch.manual_seed(0)
    stack = vgg_stack((4, "M", 8, 8, "M", 16))
    net = VGGFeatures(stack, ["relu2_1", "conv2_2"])
    assert len(stack) == 10
    assert len(net.layers) == 6
    assert not any(p.requires_grad for p in net.parameters())
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    out = net(x)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = stack[:5]((((x + 1) / 2) - mean) / std)
    assert list(out) == ["relu2_1", "conv2_2"]
    assert torch.allclose(out["relu2_1"], expected, atol=1e-6)
    assert torch.allclose(out["conv2_2"], stack[5](expected), atol=1e-6)  # not ReLU'd in place
    assert (out["conv2_2"] < 0).any()
    assert net.channels("relu2_1") == 8


def test_vgg_features_refuse_unknown_layers() -> None:
    with pytest.raises(ValueError, match=r"\['relu9_1'\].*relu1_1"):
        VGGFeatures(vgg_stack((4, "M")), ["relu1_1", "relu9_1"])
    with pytest.raises(ValueError, match="unexpected layer"):
        vgg_layer_names(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
