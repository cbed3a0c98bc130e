"""Winograd F(4x4, 3x3) convolutions (cyclegan/accel/winograd.py) and their layer."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from cyclegan.accel import SpeedPlan, layers, speed_up
from cyclegan.accel.layers import GemmConv2d, WinogradConv2d
from cyclegan.accel.winograd import conv3x3_winograd, winograd_fits
from cyclegan.networks import ResnetGenerator, UNetGenerator


@pytest.fixture
def winograd_calls(monkeypatch):
    """Counts calls of the Winograd form from the layers."""
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return conv3x3_winograd(*args, **kwargs)

    monkeypatch.setattr(layers, "conv3x3_winograd", counting)
    return calls


@pytest.mark.parametrize(
    ("n", "cin", "cout", "height", "width", "padding", "bias"),
    [
        (1, 3, 5, 6, 6, (0, 0), True),  # one tile
        (2, 4, 3, 10, 14, (0, 0), False),  # 2x3 tiles, batch of 2
        (2, 6, 2, 8, 12, (1, 1), True),  # zero padding, as a U-Net resize-convolution
        (1, 2, 3, 2, 10, (2, 0), True),  # padding per side
    ],
)
def test_winograd_is_the_convolution_and_its_gradients(n, cin, cout, height, width, padding, bias):
    torch.manual_seed(0)
    x = torch.randn(n, cin, height, width, dtype=torch.float64, requires_grad=True)
    w = torch.randn(cout, cin, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(cout, dtype=torch.float64, requires_grad=True) if bias else None
    ours = conv3x3_winograd(x, w, b, padding)
    reference = F.conv2d(x, w, b, padding=padding)
    assert ours.shape == reference.shape
    # float64: the transforms are exact up to rounding, so the results agree to ~1e-13.
    torch.testing.assert_close(ours, reference, atol=1e-11, rtol=1e-11)
    upstream = torch.randn_like(reference)
    inputs = (x, w) if b is None else (x, w, b)
    for got, want in zip(
        torch.autograd.grad(ours, inputs, upstream),
        torch.autograd.grad(reference, inputs, upstream),
        strict=True,
    ):
        torch.testing.assert_close(got, want, atol=1e-11, rtol=1e-11)


def test_winograd_float32_error_is_that_of_a_convolution():
    """A 256-channel ResNet-block convolution in float32: relative error of a few 1e-6 against
    the float64 result, the same order as PyTorch's own float32 kernel."""
    torch.manual_seed(0)
    x = torch.randn(1, 256, 18, 18, dtype=torch.float64)
    w = torch.randn(256, 256, 3, 3, dtype=torch.float64) / 48
    exact = F.conv2d(x, w)

    def error(y: torch.Tensor) -> float:
        return ((y.double() - exact).norm() / exact.norm()).item()

    ours, pytorch = (
        error(conv3x3_winograd(x.float(), w.float(), None, (0, 0))),
        error(F.conv2d(x.float(), w.float())),
    )
    assert ours < 1e-5
    assert ours < 20 * pytorch


@pytest.mark.parametrize(
    ("shape", "padding", "match"),
    [
        ((1, 2, 7, 6), (0, 0), r"output of 7x6 with padding \(0, 0\) is not a multiple of 4"),
        ((1, 2, 6, 6), (1, 1), r"output of 6x6 with padding \(1, 1\)"),
        ((1, 2, 2, 2), (0, 0), "not a multiple of 4"),
    ],
)
def test_winograd_rejects_maps_that_are_not_whole_tiles(shape, padding, match):
    with pytest.raises(ValueError, match=match):
        conv3x3_winograd(torch.randn(shape), torch.randn(3, 2, 3, 3), None, padding)
    assert not winograd_fits(shape[2], shape[3], padding)


def test_winograd_rejects_a_weight_that_does_not_match():
    with pytest.raises(ValueError, match=r"needs a \(K, 2, 3, 3\) weight, got \(3, 2, 5, 5\)"):
        conv3x3_winograd(torch.randn(1, 2, 8, 8), torch.randn(3, 2, 5, 5), None, (1, 1))


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_winograd_layer_matches_nn_in_both_memory_formats(winograd_calls, memory_format):
    torch.manual_seed(0)
    reference = nn.Conv2d(8, 8, 3, padding=1).to(memory_format=memory_format)
    ours = nn.Conv2d(8, 8, 3, padding=1)
    ours.load_state_dict(reference.state_dict())
    WinogradConv2d.swap_winograd(
        ours, winograd_min_channels=8, gemm_max_positions=64, winograd_min_positions=1
    )
    ours = ours.to(memory_format=memory_format)
    x = torch.randn(2, 8, 12, 16).contiguous(memory_format=memory_format)
    grads = []
    for layer in (ours, reference):
        xi = x.detach().requires_grad_()
        y = layer(xi)
        y.backward(torch.linspace(-1, 1, y.numel()).view_as(y))
        grads.append((y, xi.grad, layer.weight.grad, layer.bias.grad))
    assert len(winograd_calls) == 1
    for got, want in zip(*grads, strict=True):  # float32: to 1e-5 of each tensor's scale
        torch.testing.assert_close(got, want, atol=1e-5 * want.abs().max().item(), rtol=0)
    assert grads[0][0].is_contiguous(memory_format=memory_format)


def test_winograd_layer_falls_back_where_it_does_not_apply(winograd_calls):
    layer = nn.Conv2d(8, 8, 3, padding=1)
    WinogradConv2d.swap_winograd(
        layer, winograd_min_channels=8, gemm_max_positions=0, winograd_min_positions=1
    )
    layer(torch.randn(1, 8, 10, 10))  # a 10x10 output: not whole 4x4 tiles
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(torch.randn(1, 8, 12, 12)).dtype == torch.bfloat16  # autocast's kernel
    narrow = nn.Conv2d(4, 8, 3, padding=1)
    WinogradConv2d.swap_winograd(
        narrow, winograd_min_channels=8, gemm_max_positions=0, winograd_min_positions=1
    )
    narrow(torch.randn(1, 4, 12, 12))  # 4 input channels < 8
    small = nn.Conv2d(8, 8, 3, padding=1)
    WinogradConv2d.swap_winograd(
        small, winograd_min_channels=8, gemm_max_positions=0, winograd_min_positions=256
    )
    small(torch.randn(1, 8, 12, 12))  # 144 output positions < 256
    assert winograd_calls == []
    layer(torch.randn(1, 8, 12, 12))
    assert len(winograd_calls) == 1


def test_winograd_layer_still_takes_the_small_map_gemm(monkeypatch, winograd_calls):
    gemm = []
    monkeypatch.setattr(layers, "conv2d_gemm", lambda *a: gemm.append(1) or F.conv2d(*a))
    layer = nn.Conv2d(8, 8, 3, padding=1)
    WinogradConv2d.swap_winograd(
        layer, winograd_min_channels=8, gemm_max_positions=64, winograd_min_positions=1
    )
    layer(torch.randn(1, 8, 6, 6))  # 36 positions, not whole tiles: the matrix product
    assert gemm == [1]
    assert winograd_calls == []


def test_speed_up_swaps_only_the_wide_3x3_convolutions(winograd_calls):
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=4, n_blocks=2).eval()  # blocks: 16 channels
    x = torch.randn(1, 3, 32, 32)
    plain = net(x)
    keys = net.state_dict().keys()
    speed_up(net, SpeedPlan(small_map_gemm=64, winograd_min_channels=16, winograd_min_positions=64))
    kinds = [type(m) for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert kinds.count(WinogradConv2d) == 4  # the two blocks' two convolutions
    assert GemmConv2d in kinds  # the others: the small-map matrix product where it applies
    assert net.state_dict().keys() == keys
    torch.testing.assert_close(net(x), plain, atol=1e-5, rtol=1e-5)
    assert len(winograd_calls) == 4


def test_a_resnet_with_winograd_has_the_same_gradients():
    """Every parameter's gradient through a sped-up ResNet generator (float64: the difference
    is rounding only), so training takes the same steps."""
    torch.manual_seed(0)
    plain = ResnetGenerator(ngf=4, n_blocks=2).double()
    fast = copy.deepcopy(plain)
    speed_up(fast, SpeedPlan(winograd_min_channels=16, winograd_min_positions=64))
    assert sum(isinstance(m, WinogradConv2d) for m in fast.modules()) == 4
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    target = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    for net in (plain, fast):
        F.mse_loss(net(x), target).backward()
    for (name, a), b in zip(fast.named_parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-10, rtol=1e-8, msg=name)


def test_winograd_off_by_default_and_for_unets(winograd_calls):
    net = UNetGenerator(ngf=4, num_downs=5, upsample="resize")
    speed_up(net, SpeedPlan(small_map_gemm=64))
    assert not any(isinstance(m, WinogradConv2d) for m in net.modules())
    assert SpeedPlan().winograd_min_channels == 0
