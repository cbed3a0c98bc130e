"""The CycleGAN maths with stub networks whose outputs are known in closed form."""

from functools import partial

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from cyclegan.losses import LSGANLoss
from cyclegan.module import CycleGAN, partial_config
from cyclegan.networks import PatchGANDiscriminator, UNetGenerator
from cyclegan.schedule import LinearDecay


class Affine(nn.Module):
    """x -> scale * x + shift, so every composition of two is distinguishable."""

    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale))
        self.shift = nn.Parameter(torch.tensor(shift))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x + self.shift


class FirstChannel(nn.Module):
    """Discriminator stub: logits = first channel (plus a trainable bias)."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] + self.bias


def stub_model(lambda_identity: float = 0.5) -> CycleGAN:
    model = CycleGAN(
        partial(UNetGenerator, ngf=4, num_downs=5),
        partial(PatchGANDiscriminator, ndf=4),
        LSGANLoss(),
        partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999)),
        lambda_cycle=10.0,
        lambda_identity=lambda_identity,
    )
    model.gen_photo2monet = Affine(2.0, 0.0)  # G
    model.gen_monet2photo = Affine(1.0, 0.3)  # F
    model.disc_monet = FirstChannel()
    model.disc_photo = FirstChannel()
    return model


def const(v: float) -> torch.Tensor:
    return torch.full((2, 3, 4, 4), v)


def test_each_cycle_uses_the_right_generators():
    p, m = const(0.1), const(-0.2)
    out = stub_model().translate(p, m)
    expected = {
        "fake_monet": 0.2,  # G(p) = 2p
        "cycled_photo": 0.5,  # F(G(p)) = 2p + 0.3
        "fake_photo": 0.1,  # F(m) = m + 0.3
        "cycled_monet": 0.2,  # G(F(m)) = 2(m + 0.3)
        "same_monet": -0.4,  # G(m)
        "same_photo": 0.4,  # F(p)
    }
    assert set(out) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(out[name], const(value), msg=name)


class BatchCentred(nn.Module):
    """Generator stub with batch statistics: x -> x - mean over the batch + shift (batch-norm
    like), so an output depends on which images share its call."""

    size_multiple = 1

    def __init__(self, shift: float = 0.0, per_image: bool = False) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.tensor(shift))
        self.per_image = per_image
        self.calls: list[int] = []  # batch size of each call

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        return x - x.mean(dim=0, keepdim=True) + self.shift


def batch_centred_model(per_image: bool) -> CycleGAN:
    model = CycleGAN(
        partial(BatchCentred, per_image=per_image),
        partial(PatchGANDiscriminator, ndf=4),
        LSGANLoss(),
        partial(torch.optim.Adam, lr=2e-4),
    )
    with torch.no_grad():
        model.gen_monet2photo.shift.fill_(0.3)  # G: x - mean, F: x - mean + 0.3
    return model


def test_generators_with_batch_statistics_run_one_call_per_domain():
    p, m = const(0.1), const(-0.2)
    p[1] += 0.2  # two different photos: centred, they are -0.1 and +0.1
    model = batch_centred_model(per_image=False)
    out = model.translate(p, m)
    centred_p = p - p.mean(dim=0)
    expected = {
        "fake_monet": centred_p,  # G(p), p alone
        "same_monet": torch.zeros_like(m),  # G(m), m alone
        "fake_photo": torch.full_like(m, 0.3),  # F(m)
        "same_photo": centred_p + 0.3,  # F(p)
        "cycled_photo": centred_p + 0.3,  # F(G(p)): G(p) is already centred
        "cycled_monet": torch.zeros_like(m),  # G(F(m))
    }
    for name, value in expected.items():
        torch.testing.assert_close(out[name], value, msg=name)
    assert model.gen_photo2monet.calls == [2, 2, 2]
    assert model.gen_monet2photo.calls == [2, 2, 2]


def test_per_image_generators_run_each_side_in_one_call():
    p, m = const(0.1), const(-0.2)
    model = batch_centred_model(per_image=True)
    out = model.translate(p, m)
    # The stub breaks its promise on purpose: outputs centred on the mean of the whole call
    # show the domains went through together ([p, m] in G; [m, p, G(p)] in F).
    g_mean = (0.1 - 0.2) / 2
    torch.testing.assert_close(out["fake_monet"], const(0.1 - g_mean))
    torch.testing.assert_close(out["same_monet"], const(-0.2 - g_mean))
    assert model.gen_photo2monet.calls == [4, 2]
    assert model.gen_monet2photo.calls == [6]


def test_generator_losses_hand_computed():
    losses, _ = stub_model().generator_losses(const(0.1), const(-0.2))
    expected = {
        "cycle_photo": 10 * 0.4,  # |0.1 - 0.5|
        "cycle_monet": 10 * 0.4,  # |-0.2 - 0.2|
        "identity_monet": 5 * 0.2,  # 0.5 * 10 * |-0.2 - (-0.4)|
        "identity_photo": 5 * 0.3,  # |0.1 - 0.4|
        "g_adv_monet": (0.2 - 1) ** 2,  # D_Y(G(p)) = 0.2, LSGAN
        "g_adv_photo": (0.1 - 1) ** 2,  # D_X(F(m)) = 0.1
    }
    for name, value in expected.items():
        assert losses[name].item() == pytest.approx(value, abs=1e-6), name
    assert losses["g_total"].item() == pytest.approx(sum(expected.values()), abs=1e-5)


def test_identity_off_drops_its_terms():
    losses, fakes = stub_model(lambda_identity=0.0).generator_losses(const(0.1), const(-0.2))
    assert "identity_monet" not in losses
    assert "same_monet" not in fakes
    assert losses["g_total"].item() == pytest.approx(8.0 + 0.64 + 0.81, abs=1e-5)


def test_discriminator_losses_real_vs_fake():
    model = stub_model()
    d = model.discriminator_losses(const(1.0), const(0.5), const(0.2), const(-0.5))
    assert d["d_photo"].item() == pytest.approx(0.5 * (0.0 + 0.04))
    assert d["d_monet"].item() == pytest.approx(0.5 * (0.25 + 0.25))
    assert d["d_total"].item() == pytest.approx(0.02 + 0.25)


def batches(n: int, size: int = 32) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    data = [
        {
            "photo": torch.rand(2, 3, size, size, generator=g) * 2 - 1,
            "monet": torch.rand(2, 3, size, size, generator=g) * 2 - 1,
        }
        for _ in range(n)
    ]
    return DataLoader(data, batch_size=None)


def tiny_model(**kwargs) -> CycleGAN:
    return CycleGAN(
        partial(UNetGenerator, ngf=4, num_downs=5),
        partial(PatchGANDiscriminator, ndf=4),
        LSGANLoss(),
        partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999)),
        **kwargs,
    )


def trainer(**kwargs) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


class Spy(CycleGAN):
    """Records what the discriminator step receives."""

    def discriminator_losses(self, real_photo, real_monet, fake_photo, fake_monet):
        self.seen.append(
            {
                "fake_requires_grad": fake_photo.requires_grad or fake_monet.requires_grad,
                "disc_grads_from_g_step": [
                    p.grad for p in self.disc_monet.parameters() if p.grad is not None
                ],
                "gen_requires_grad": any(
                    p.requires_grad for p in self.gen_photo2monet.parameters()
                ),
            }
        )
        return super().discriminator_losses(real_photo, real_monet, fake_photo, fake_monet)


def test_training_step_detaches_fakes_and_freezes_the_other_networks():
    model = Spy(
        partial(UNetGenerator, ngf=4, num_downs=5),
        partial(PatchGANDiscriminator, ndf=4),
        LSGANLoss(),
        partial(torch.optim.Adam, lr=1e-3),
        pool_size=4,
    )
    model.seen = []
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer(max_steps=6).fit(model, train_dataloaders=batches(3))
    first = model.seen[0]
    assert not first["fake_requires_grad"]  # D step sees detached fakes
    assert first["disc_grads_from_g_step"] == []  # D frozen during the G step
    assert not first["gen_requires_grad"]  # G frozen during the D step
    assert len(model.seen) == 3
    after = model.state_dict()
    for prefix in ("gen_photo2monet", "gen_monet2photo", "disc_monet", "disc_photo"):
        changed = [
            k for k in before if k.startswith(prefix) and not torch.equal(before[k], after[k])
        ]
        assert changed, f"{prefix} did not train"
    # Requires-grad restored after untoggling.
    assert all(p.requires_grad for p in model.parameters())


def test_lr_schedule_values_per_epoch():
    model = tiny_model(
        scheduler=partial(torch.optim.lr_scheduler.LambdaLR, lr_lambda=LinearDecay(2, 3)),
        pool_size=0,
    )
    seen: list[tuple[float, float]] = []

    class Record(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            g, d = trainer.optimizers
            seen.append((g.param_groups[0]["lr"], d.param_groups[0]["lr"]))

    trainer(max_epochs=5, callbacks=[Record()]).fit(model, train_dataloaders=batches(1))
    factors = [1.0, 1.0, 0.75, 0.5, 0.25]
    assert [g for g, _ in seen] == pytest.approx([2e-4 * f for f in factors])
    assert [d for _, d in seen] == pytest.approx([2e-4 * f for f in factors])


def test_hparams_hold_a_plain_generator_config():
    model = tiny_model()
    cfg = model.hparams["generator"]
    assert cfg == {
        "_target_": "cyclegan.networks.unet.UNetGenerator",
        "_partial_": True,
        "ngf": 4,
        "num_downs": 5,
    }
    with pytest.raises(TypeError, match="functools.partial"):
        partial_config(lambda: nn.Identity())


def weight_casts(layer: nn.Module, x: torch.Tensor, cached: bool) -> int:
    """How often ``layer``'s weight is cast when it runs twice in one forward pass."""
    from torch.profiler import profile

    from cyclegan.accel import cached_autocast

    context = cached_autocast("cpu") if cached else torch.autocast("cpu", enabled=True)
    with profile(record_shapes=True) as prof, context:
        layer(layer(x))
    shape = list(layer.weight.shape)
    return sum(e.name == "aten::_to_copy" and e.input_shapes[0] == shape for e in prof.events())


def test_cached_autocast_casts_weights_once_and_forgets_them():
    from cyclegan.accel import cached_autocast

    layer, x = nn.Linear(4, 4), torch.randn(2, 4)
    # Lightning's bf16-mixed context: autocast with its cache off.
    with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
        assert weight_casts(layer, x, cached=False) == 2
        assert weight_casts(layer, x, cached=True) == 1
        with cached_autocast("cpu"):
            before = layer(x)
        with torch.no_grad():
            layer.weight.mul_(-1)  # an optimizer step
        with cached_autocast("cpu"):
            after = layer(x)
    assert before.dtype == after.dtype == torch.bfloat16
    torch.testing.assert_close(after - layer.bias, -(before - layer.bias), atol=2e-2, rtol=0)
    with cached_autocast("cpu"):  # no autocast around it: nothing changes
        assert layer(x).dtype == torch.float32


@pytest.mark.parametrize("channels_last", [False, True])
def test_training_input_takes_the_networks_memory_format(channels_last: bool) -> None:
    """The DataModule delivers channels-last batches; NCHW networks get NCHW input."""
    from cyclegan.accel import SpeedPlan

    model = CycleGAN(
        partial(UNetGenerator, ngf=4, num_downs=5),
        partial(PatchGANDiscriminator, ndf=4),
        LSGANLoss(),
        partial(torch.optim.Adam, lr=2e-4),
        channels_last=True,
    )
    model.speed_plan = SpeedPlan(channels_last=channels_last)
    batch = torch.rand(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    prepared = model._prepare(batch)
    assert torch.equal(prepared, batch)
    assert prepared.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert prepared.is_contiguous() == (not channels_last)
