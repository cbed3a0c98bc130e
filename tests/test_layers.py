"""The swapped-in layers compute what ``nn`` computes, on the path they claim to take."""

import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from cyclegan.accel import SpeedPlan, layers, speed_up
from cyclegan.accel.layers import (
    DtypeReflectionPad2d,
    GemmConv2d,
    GemmConvTranspose2d,
    GemmResizeConv2d,
)
from cyclegan.networks import UNetGenerator
from cyclegan.networks.upsample import ResizeConv2d

CL = torch.channels_last


@pytest.fixture
def gemm_calls(monkeypatch):
    """Counts calls of the matrix-product forms."""
    calls = {"conv": 0, "convT": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(layers, "conv2d_gemm", counting("conv", layers.conv2d_gemm))
    monkeypatch.setattr(
        layers, "conv_transpose2d_gemm", counting("convT", layers.conv_transpose2d_gemm)
    )
    return calls


def forward_backward(layer, x):
    x = x.detach().requires_grad_(True)
    y = layer(x)
    y.backward(torch.linspace(-1, 1, y.numel()).view_as(y))
    return y, x.grad, layer.weight.grad, None if layer.bias is None else layer.bias.grad


def check_against_nn(ours, reference, x, memory_format):
    """``ours`` (loaded with ``reference``'s weights) gives the same outputs and gradients, in
    the input's memory format; returns them."""
    ours.load_state_dict(reference.state_dict())
    ours, reference = (
        ours.to(memory_format=memory_format),
        reference.to(memory_format=memory_format),
    )
    x = x.contiguous(memory_format=memory_format)
    got = forward_backward(ours, x)
    assert_same(got, forward_backward(reference, x))
    assert got[0].is_contiguous(memory_format=memory_format)
    return got


def assert_same(ours, reference, atol=1e-4):
    for a, b in zip(ours, reference, strict=True):
        if b is None:
            assert a is None
        else:
            torch.testing.assert_close(a, b, atol=atol, rtol=1e-4)


CONV_CASES = [
    # in, out, kernel, stride, padding, bias, size
    (8, 16, 4, 2, 1, False, 8),  # U-Net down
    (16, 8, 4, 1, 0, True, 5),  # PatchGAN head on a padded map
    (6, 4, 3, 1, 1, True, 7),
    (5, 7, 3, 2, 0, True, 9),
]


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, CL])
@pytest.mark.parametrize(("cin", "cout", "k", "s", "p", "bias", "size"), CONV_CASES)
def test_conv_gemm_matches_nn(gemm_calls, memory_format, cin, cout, k, s, p, bias, size):
    torch.manual_seed(0)
    reference = nn.Conv2d(cin, cout, k, stride=s, padding=p, bias=bias)
    ours = GemmConv2d(cin, cout, k, stride=s, padding=p, bias=bias)
    check_against_nn(ours, reference, torch.randn(3, cin, size, size), memory_format)
    assert gemm_calls["conv"] == 1
    assert ours.weight.grad.stride() == ours.weight.stride()


CONVT_CASES = [
    # in, out, kernel, stride, padding, output_padding, bias, size
    (16, 8, 4, 2, 1, 0, False, 2),  # U-Net up
    (16, 3, 4, 2, 1, 0, True, 4),  # U-Net head
    (8, 4, 3, 2, 1, 1, True, 5),  # ResNet up
    (4, 6, 3, 1, 1, 0, True, 6),
]


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, CL])
@pytest.mark.parametrize(("cin", "cout", "k", "s", "p", "op", "bias", "size"), CONVT_CASES)
def test_conv_transpose_gemm_matches_nn(
    gemm_calls, memory_format, cin, cout, k, s, p, op, bias, size
):
    torch.manual_seed(0)
    kwargs = {"stride": s, "padding": p, "output_padding": op, "bias": bias}
    reference = nn.ConvTranspose2d(cin, cout, k, **kwargs)
    ours = GemmConvTranspose2d(cin, cout, k, **kwargs)
    check_against_nn(ours, reference, torch.randn(2, cin, size, size), memory_format)
    assert gemm_calls["convT"] == 1


def test_conv_transpose_with_output_size_takes_pytorchs_kernel(gemm_calls):
    layer = GemmConvTranspose2d(4, 4, 3, stride=2, padding=1)
    x = torch.randn(1, 4, 5, 5)
    for size in ([9, 9], [10, 10]):
        expected = F.conv_transpose2d(x, layer.weight, layer.bias, 2, 1, output_padding=size[0] - 9)
        torch.testing.assert_close(layer(x, output_size=size), expected, atol=1e-5, rtol=1e-5)
    assert gemm_calls["convT"] == 0
    layer(x)
    assert gemm_calls["convT"] == 1


def test_large_maps_and_unsupported_layers_use_pytorch_kernels(gemm_calls):
    assert GemmConv2d(4, 4, 3, padding=1)(torch.randn(1, 4, 9, 9)).shape == (1, 4, 9, 9)  # 81 > 64
    assert GemmConvTranspose2d(4, 4, 4, 2, 1)(torch.randn(1, 4, 9, 9)).shape == (1, 4, 18, 18)
    GemmConv2d(4, 4, 3, padding=1, groups=2)(torch.randn(1, 4, 4, 4))
    GemmConv2d(4, 4, 3, padding=1, padding_mode="reflect")(torch.randn(1, 4, 4, 4))
    GemmConv2d(4, 4, 3, padding=2, dilation=2)(torch.randn(1, 4, 4, 4))
    GemmConv2d(4, 4, 3, padding=1, gemm_max_positions=0)(torch.randn(1, 4, 4, 4))
    assert gemm_calls == {"conv": 0, "convT": 0}
    GemmConv2d(4, 4, 3, padding=1)(torch.randn(1, 4, 8, 8))  # 64 positions: the threshold
    assert gemm_calls["conv"] == 1


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, CL])
@pytest.mark.parametrize(
    ("size", "gemm"),
    [
        (2, 1),  # resized to 4x4: the matrix product
        (4, 1),  # 8x8 = 64 positions: the threshold
        (8, 0),  # 16x16: PyTorch's convolution of the resized map
        (32, 0),  # from 32x32 inputs: ResizeConv2d's transposed form
    ],
)
def test_resize_conv_takes_the_gemm_path_on_small_resized_maps(
    gemm_calls, memory_format, size, gemm
):
    torch.manual_seed(0)
    reference = ResizeConv2d(6, 5)
    ours = GemmResizeConv2d(6, 5)
    check_against_nn(ours, reference, torch.randn(2, 6, size, size), memory_format)
    assert gemm_calls == {"conv": gemm, "convT": 0}


@pytest.mark.parametrize(
    ("layer", "function"),
    [
        (GemmConvTranspose2d(64, 32, 4, 2, 1), F.conv_transpose2d),
        (GemmConv2d(64, 32, 4, 2, 1), F.conv2d),
    ],
)
def test_gemm_path_under_bf16_autocast_matches_the_kernels(gemm_calls, layer, function):
    torch.manual_seed(0)
    layer = layer.to(memory_format=CL)
    x = torch.randn(2, 64, 4, 4).contiguous(memory_format=CL)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = layer(x)
        reference = function(x, layer.weight, layer.bias, 2, 1)
    assert ours.dtype == reference.dtype == torch.bfloat16
    assert sum(gemm_calls.values()) == 1
    torch.testing.assert_close(ours.float(), reference.float(), atol=2e-2, rtol=2e-2)


def test_layers_keep_nn_state_dict_keys():
    assert GemmConv2d(3, 8, 4).state_dict().keys() == nn.Conv2d(3, 8, 4).state_dict().keys()
    assert (
        GemmConvTranspose2d(8, 3, 4, bias=False).state_dict().keys()
        == nn.ConvTranspose2d(8, 3, 4, bias=False).state_dict().keys()
    )


@pytest.mark.parametrize(
    ("upsample", "swapped", "plain"),
    [
        ("transpose", {GemmConv2d, GemmConvTranspose2d}, {nn.Conv2d, nn.ConvTranspose2d}),
        ("resize", {GemmConv2d, GemmResizeConv2d}, {nn.Conv2d, ResizeConv2d}),
    ],
)
def test_swapping_keeps_parameters_and_state_dict(upsample, swapped, plain):
    net = UNetGenerator(ngf=4, num_downs=5, upsample=upsample)
    params = {name: p for name, p in net.named_parameters()}
    keys = net.state_dict().keys()
    speed_up(net, SpeedPlan(small_map_gemm=64))
    assert all(p is params[name] for name, p in net.named_parameters())
    assert net.state_dict().keys() == keys
    kinds = {type(m) for m in net.modules()}
    assert swapped <= kinds
    assert not kinds & plain


def test_networks_are_plain_nn_until_sped_up(gemm_calls):
    net = UNetGenerator(ngf=4, num_downs=6).eval()
    net(torch.randn(1, 3, 64, 64))
    assert gemm_calls == {"conv": 0, "convT": 0}
    assert not any(type(m).__module__.startswith("cyclegan.accel") for m in net.modules())


@pytest.mark.parametrize(("upsample", "transposed_gemm"), [("transpose", True), ("resize", False)])
def test_unet_is_the_same_function_with_and_without_the_gemm_path(
    gemm_calls, upsample, transposed_gemm
):
    torch.manual_seed(0)
    net = UNetGenerator(ngf=4, num_downs=6, upsample=upsample).eval()
    x = torch.randn(2, 3, 64, 64)
    plain = net(x)
    speed_up(net, SpeedPlan(small_map_gemm=64))
    fast = net(x)
    # Downsampling: 6 convolutions, 4 with outputs of 8x8 or less. Upsampling of 1x1..32x32
    # inputs: 4 transposed convolutions read inputs of 8x8 or less; 3 resize-convolutions
    # write resized maps of 8x8 or less (inputs 1x1, 2x2, 4x4).
    expected = {"conv": 4, "convT": 4} if transposed_gemm else {"conv": 4 + 3, "convT": 0}
    assert gemm_calls == expected
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("min_positions", "transposed"), [(None, 1), (16 * 16, 2), (0, 6)])
def test_the_plan_sets_where_resize_convolutions_run_transposed(
    monkeypatch, min_positions, transposed
):
    calls = []
    conv_transpose2d = F.conv_transpose2d
    monkeypatch.setattr(
        F,
        "conv_transpose2d",
        lambda x, *a, **k: calls.append(x.shape[-1]) or conv_transpose2d(x, *a, **k),
    )
    torch.manual_seed(0)
    net = UNetGenerator(ngf=4, num_downs=6, upsample="resize").double().eval()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64, requires_grad=True)
    plain = net(x)
    plain_grad = torch.autograd.grad(plain.square().sum(), x)[0]
    calls.clear()
    speed_up(net, SpeedPlan(resize_transposed_min_positions=min_positions))
    fast = net(x)
    # Upsampling inputs 1x1 .. 32x32: the default (None) runs 32x32 transposed, 256 from 16x16.
    assert len(calls) == transposed
    torch.testing.assert_close(fast, plain, atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.autograd.grad(fast.square().sum(), x)[0], plain_grad)


def test_reflection_pad_keeps_bf16_under_autocast():
    x = torch.randn(1, 2, 5, 5, dtype=torch.bfloat16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = DtypeReflectionPad2d(2)(x)
        upcast = nn.ReflectionPad2d(2)(x)
    assert upcast.dtype == torch.float32  # what autocast does to PyTorch's layer
    assert ours.dtype == torch.bfloat16
    torch.testing.assert_close(ours.float(), upcast)
    ours.sum().backward()
    assert x.grad.dtype == torch.bfloat16
    # A 5-wide row padded by 2 holds x0 once, x1 twice and x2 three times.
    assert x.grad[0, 0, :3, :3].tolist() == [[1, 2, 3], [2, 4, 6], [3, 6, 9]]


def test_traced_and_exported_graphs_keep_pytorch_convolutions(gemm_calls):
    net = UNetGenerator(ngf=2, num_downs=5).eval()
    speed_up(net, SpeedPlan(small_map_gemm=64))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad(), warnings.catch_warnings():
        # The generator's size check, frozen by the trace (as in inference/export.py).
        warnings.filterwarnings(
            "ignore", "Converting a tensor to a Python boolean", torch.jit.TracerWarning
        )
        with pytest.warns(FutureWarning, match=r"torch\.jit\.\w+` is deprecated"):
            traced = torch.jit.trace(net, x, check_trace=False)
    exported = torch.export.export(net, (x,))
    assert gemm_calls == {"conv": 0, "convT": 0}
    ops = {str(node.target) for node in exported.graph.nodes if node.op == "call_function"}
    assert "aten.conv_transpose2d.input" in ops or "aten.convolution.default" in ops
    assert not any("col2im" in op or "im2col" in op for op in ops)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), net(x))
