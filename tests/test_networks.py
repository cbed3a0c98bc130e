import copy

import pytest
import torch
from torch import nn

from cyclegan.inference.trusted import TRUSTED_NETWORKS
from cyclegan.networks import (
    Generator,
    PatchGANDiscriminator,
    ResnetGenerator,
    TransformNet,
    UNetGenerator,
)
from cyclegan.networks.unet import PixelNorm2d


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_unet_256_matches_tutorial_architecture():
    g = UNetGenerator()
    x = torch.randn(1, 3, 256, 256)
    y = g.eval()(x)
    assert y.shape == x.shape
    assert y.abs().max() <= 1.0  # tanh
    # Same size as the official pix2pix unet_256 with instance norm (affine): 54.4 M.
    assert n_params(g) == 54_414_531
    assert [d[0].out_channels for d in g.downs] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert [u[0].out_channels for u in g.ups] == [512, 512, 512, 512, 256, 128, 64]
    dropouts = [any(isinstance(m, torch.nn.Dropout) for m in u) for u in g.ups]
    assert dropouts == [True, True, True, False, False, False, False]
    # No norm on the first layer nor on the 1x1 bottleneck.
    has_norm = [any(isinstance(m, torch.nn.InstanceNorm2d) for m in d) for d in g.downs]
    assert has_norm == [False, True, True, True, True, True, True, False]


@pytest.mark.parametrize(("ngf", "num_downs", "size"), [(8, 5, 32), (4, 6, 64), (8, 5, 64)])
def test_unet_tiny_shapes(ngf, num_downs, size):
    g = UNetGenerator(ngf=ngf, num_downs=num_downs)
    assert g(torch.randn(2, 3, size, size)).shape == (2, 3, size, size)


def test_unet_rejects_sizes_that_break_skips():
    g = UNetGenerator(ngf=4, num_downs=5)
    with pytest.raises(ValueError, match="multiples of 32; got 48x32"):
        g(torch.randn(1, 3, 48, 32))


@pytest.mark.parametrize("drop_skips", [0, 1, 2, 4])
def test_unet_drop_skips_removes_the_highest_resolution_skips(drop_skips):
    g = UNetGenerator(ngf=4, num_downs=5, drop_skips=drop_skips)  # transposed convs
    assert g.ups[0][0].in_channels == 32  # the bottleneck
    # After up i (innermost first) comes the skip of width 32, 16, 8, 4: the next layer's
    # input is doubled only where that skip is kept.
    inputs = [up[0].in_channels for up in g.ups[1:]] + [g.head[0].in_channels]
    kept = [i < 4 - drop_skips for i in range(4)]
    assert inputs == [2 * w if k else w for w, k in zip([32, 16, 8, 4], kept, strict=True)]
    assert g(torch.randn(2, 3, 32, 32)).shape == (2, 3, 32, 32)


@pytest.mark.parametrize(("drop_skips", "only_bottleneck"), [(4, True), (3, False)])
def test_unet_without_skips_sees_the_input_only_through_the_bottleneck(drop_skips, only_bottleneck):
    g = UNetGenerator(ngf=4, num_downs=5, drop_skips=drop_skips).eval()
    fixed = torch.randn(1, 32, 1, 1)
    g.downs[-1].register_forward_hook(lambda module, args, out: fixed)
    x1, x2 = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 32, 32)
    assert torch.equal(g(x1), g(x2)) is only_bottleneck


@pytest.mark.parametrize("drop_skips", [-1, 5])
def test_unet_drop_skips_out_of_range(drop_skips):
    with pytest.raises(ValueError, match="drop_skips must be in 0..4"):
        UNetGenerator(ngf=4, num_downs=5, drop_skips=drop_skips)


def _without_top_skip(g: UNetGenerator) -> UNetGenerator:
    """A copy of ``g`` whose head ignores the top skip: zero weights on its input channels."""
    g = copy.deepcopy(g)
    conv = next(m for m in g.head if isinstance(m, nn.Conv2d | nn.ConvTranspose2d))
    half = conv.weight.shape[0 if isinstance(conv, nn.ConvTranspose2d) else 1] // 2
    with torch.no_grad():
        if isinstance(conv, nn.ConvTranspose2d):
            conv.weight[half:] = 0
        else:
            conv.weight[:, half:] = 0
    return g


@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_unet_skip_dropout_zeroes_the_top_skip_in_training_only(upsample):
    torch.manual_seed(0)
    g = UNetGenerator(ngf=4, num_downs=5, dropout=0.0, upsample=upsample, skip_dropout=1.0)
    plain = UNetGenerator(ngf=4, num_downs=5, dropout=0.0, upsample=upsample)
    plain.load_state_dict(g.state_dict())
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        skipless = _without_top_skip(plain)(x)
        assert torch.allclose(g.train()(x), skipless, atol=1e-6)
        assert not torch.allclose(plain(x), skipless, atol=1e-3)
        assert torch.equal(g.eval()(x), plain.eval()(x))  # eval: every skip is there


def test_unet_skip_dropout_draws_per_image():
    torch.manual_seed(0)
    g = UNetGenerator(ngf=4, num_downs=5, dropout=0.0, skip_dropout=0.5).train()
    x = torch.randn(1, 3, 32, 32).expand(32, -1, -1, -1)
    with torch.no_grad():
        out = g(x)
        full, skipless = g.eval()(x[:1]), _without_top_skip(g)(x[:1])
    dropped = [torch.allclose(o, skipless[0], atol=1e-6) for o in out]
    kept = [torch.allclose(o, full[0], atol=1e-6) for o in out]
    assert all(d != k for d, k in zip(dropped, kept, strict=True))  # each image one or the other
    assert 8 <= sum(dropped) <= 24  # about half of 32 (binomial, p < 1e-3 outside)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"skip_dropout": -0.1}, r"skip_dropout must be in \[0, 1\], got -0.1"),
        ({"skip_dropout": 1.5}, r"skip_dropout must be in \[0, 1\], got 1.5"),
        ({"skip_dropout": 0.5, "drop_skips": 4}, "skip_dropout needs a kept skip"),
    ],
)
def test_unet_skip_dropout_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UNetGenerator(ngf=4, num_downs=5, **kwargs)


def test_pixel_norm_normalises_each_position_over_channels():
    torch.manual_seed(0)
    norm = PixelNorm2d(6)
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 7.0))
        norm.bias.fill_(0.5)
    x = torch.randn(2, 6, 5, 7) * 3
    rms = x.pow(2).mean(1, keepdim=True).sqrt()
    expected = x / rms * torch.arange(1.0, 7.0).view(1, 6, 1, 1) + 0.5
    assert torch.allclose(norm(x), expected, atol=1e-5)


@pytest.mark.parametrize(("norm", "far_changes"), [("instance", True), ("pixel", False)])
def test_a_spike_moves_the_whole_map_under_instance_norm_only(norm, far_changes):
    """The droplet mechanism: under instance norm one large activation rescales every other
    position of its channel; under pixel norm it changes its own position only."""
    layer = PixelNorm2d(4) if norm == "pixel" else nn.InstanceNorm2d(4, affine=True)
    x = torch.randn(1, 4, 16, 16)
    spiked = x.clone()
    spiked[0, :, 3, 5] += 50.0
    with torch.no_grad():
        change = (layer(spiked) - layer(x)).abs()
    change[0, :, 3, 5] = 0
    assert (change.max() > 0.1) == far_changes


def test_unet_pixel_decoder_norm_replaces_the_upsamples_norms_only():
    torch.manual_seed(0)
    g = UNetGenerator(ngf=4, num_downs=5, decoder_norm="pixel")
    assert all(isinstance(up[1], PixelNorm2d) for up in g.ups)
    assert [type(d[1]) for d in g.downs[1:-1]] == [nn.InstanceNorm2d] * 3
    assert n_params(g) == n_params(UNetGenerator(ngf=4, num_downs=5))  # same gain and bias
    x = torch.randn(2, 3, 32, 32)
    assert g.eval()(x).shape == x.shape
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = g(x)
    assert torch.isfinite(low).all()
    assert torch.allclose(low.float(), g(x), atol=0.1)


def test_unet_rejects_an_unknown_decoder_norm():
    with pytest.raises(ValueError, match="decoder_norm must be one of instance, pixel, got 'bat"):
        UNetGenerator(ngf=4, num_downs=5, decoder_norm="batch")


def test_resnet_generator_shapes_and_size():
    g = ResnetGenerator()
    assert n_params(g) == 11_378_179  # official resnet_9blocks
    tiny = ResnetGenerator(ngf=8, n_blocks=2)
    assert tiny(torch.randn(2, 3, 36, 44)).shape == (2, 3, 36, 44)
    with pytest.raises(ValueError, match="multiples of 4"):
        tiny(torch.randn(1, 3, 34, 32))


def test_patchgan_30x30_logits_for_256():
    d = PatchGANDiscriminator()
    assert d(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    # As the official basic 70x70 PatchGAN, whose affine batch norm has as many parameters.
    assert n_params(d) == 2_765_633


@pytest.mark.parametrize(("n_layers", "size", "out"), [(3, 64, 6), (2, 32, 6), (4, 256, 14)])
def test_patchgan_depth_and_sizes(n_layers, size, out):
    d = PatchGANDiscriminator(ndf=8, n_layers=n_layers)
    assert d(torch.randn(2, 3, size, size)).shape == (2, 1, out, out)


def test_patchgan_rejects_too_small_input():
    d = PatchGANDiscriminator(ndf=8, n_layers=3)
    with pytest.raises(ValueError, match="at least 24x24; got 16x16"):
        d(torch.randn(1, 3, 16, 16))


def test_init_is_normal_002():
    g = UNetGenerator(ngf=8, num_downs=5)
    w = g.downs[2][0].weight
    assert abs(w.std().item() - 0.02) < 0.003
    assert abs(w.mean().item()) < 0.003


# Small widths for the known classes; a class added to the allow-list is built with its defaults.
TINY_ARGS: dict[type[torch.nn.Module], dict[str, int]] = {
    UNetGenerator: {"ngf": 4, "num_downs": 5},
    ResnetGenerator: {"ngf": 4, "n_blocks": 1},
    TransformNet: {"ngf": 4, "n_blocks": 1},
}


@pytest.mark.parametrize("cls", TRUSTED_NETWORKS, ids=lambda cls: cls.__name__)
def test_every_loadable_network_keeps_the_generator_contract(cls):
    torch.manual_seed(0)
    net = cls(**TINY_ARGS.get(cls, {})).eval()
    assert isinstance(net, Generator)
    m = net.size_multiple
    assert isinstance(m, int)
    assert m >= 1
    side = m * -(-16 // m)  # the smallest multiple of m from 16 up
    x = torch.rand(2, 3, side, 2 * side) * 2 - 1
    with torch.no_grad():
        y = net(x)
        alone = net(x[1:])
    assert y.shape == x.shape
    assert y.abs().max() <= 1.0
    if net.per_image:  # what CycleGAN.translate relies on to batch the domains
        torch.testing.assert_close(alone, y[1:], rtol=1e-4, atol=1e-5)
    if m > 1:
        with pytest.raises(ValueError, match=str(m)):
            net(torch.zeros(1, 3, side + m // 2, side))
