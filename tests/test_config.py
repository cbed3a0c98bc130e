"""Every config group composes and instantiates; wrong choices fail with the valid ones."""

import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import CONF_DIR, REPO, TINY, compose_train
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Timer
from omegaconf import DictConfig

from cyclegan.inference.trusted import TRUSTED_NETWORKS
from cyclegan.losses import BCEGANLoss, GANLoss, LSGANLoss
from cyclegan.module import CycleGAN
from cyclegan.networks import Generator, ResnetGenerator, UNetGenerator
from cyclegan.training import build


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def test_groups_have_the_promised_options():
    # Subsets: adding an option to a group needs no change here.
    assert {"resnet", "transform", "unet"} <= set(group_options("model"))  # presets
    assert {"resnet", "transform", "unet"} <= set(group_options("generator"))
    assert {"patchgan"} <= set(group_options("discriminator"))
    assert {"cyclegan", "fast_style"} <= set(group_options("module"))
    assert {"vgg16", "vgg19"} <= set(group_options("loss_network"))
    assert {"adam", "lbfgs"} <= set(group_options("optimizer"))  # Gatys (stylize.py)
    assert {"bce", "lsgan", "hinge"} <= set(group_options("loss"))
    assert {"auto", "cpu", "gpu", "tpu"} <= set(group_options("accelerator"))
    assert {"kaggle", "demo", "folder"} <= set(group_options("data"))
    assert {"kaggle_tutorial", "paper", "demo", "fast_style"} <= set(group_options("experiment"))


@pytest.mark.parametrize("loss", group_options("loss"))
def test_every_loss_option_is_a_gan_loss_that_trains(loss, tiny_data, tmp_path):
    """Each conf/loss/*.yaml builds a GANLoss whose generator and discriminator losses give
    finite gradients to the right networks."""
    cfg = compose_train([*TINY, f"loss={loss}", f"data.root={tiny_data}"], tmp_path)
    module, _, _ = build(cfg)
    assert isinstance(module.gan_loss, GANLoss)
    photo, monet = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    g_losses, fakes = module.generator_losses(photo, monet)
    g_losses["g_total"].backward()
    assert all(p.grad is not None for p in module.gen_photo2monet.parameters())
    module.zero_grad()
    d_losses = module.discriminator_losses(
        photo, monet, fakes["fake_photo"].detach(), fakes["fake_monet"].detach()
    )
    d_losses["d_total"].backward()
    assert all(p.grad is not None for p in module.disc_monet.parameters())
    assert all(p.grad is None for p in module.gen_photo2monet.parameters())  # detached fakes
    assert all(torch.isfinite(v) for v in {**g_losses, **d_losses}.values())


@pytest.mark.parametrize("model", ["unet", "resnet"])
@pytest.mark.parametrize("loss", ["bce", "lsgan"])
def test_model_and_loss_instantiate(model, loss, tiny_data, tmp_path):
    overrides = [*TINY, f"model={model}", f"loss={loss}", f"data.root={tiny_data}"]
    if model == "resnet":
        overrides = [o for o in overrides if "num_downs" not in o] + ["model.generator.n_blocks=2"]
    cfg = compose_train(overrides, tmp_path)
    module, datamodule, trainer = build(cfg)
    assert isinstance(module, CycleGAN)
    expected_gen = UNetGenerator if model == "unet" else ResnetGenerator
    assert isinstance(module.gen_photo2monet, expected_gen)
    assert module.gen_photo2monet is not module.gen_monet2photo
    assert isinstance(module.gan_loss, BCEGANLoss if loss == "bce" else LSGANLoss)
    assert isinstance(trainer, L.Trainer)
    assert datamodule.batch_size == 2


# Small values for the arguments a network config may have; others keep their defaults.
SHRINK = {"ngf": 4, "ndf": 4, "num_downs": 5, "n_blocks": 1, "n_layers": 2}


def shrunk(network_cfg: DictConfig) -> torch.nn.Module:
    """The network a ``conf/generator`` or ``conf/discriminator`` option builds, made small."""
    args = {key: value for key, value in SHRINK.items() if key in network_cfg}
    return instantiate(network_cfg)(**args)


@pytest.mark.parametrize("generator", group_options("generator"))
def test_every_generator_option_keeps_the_contract_and_loads(generator, tmp_path):
    """Each conf/generator/*.yaml, selected as `generator=<name>`, builds a generator that keeps
    the contract (cyclegan.networks.Generator) and that checkpoints may load."""
    cfg = compose_train([f"generator={generator}"], tmp_path)
    assert isinstance(cfg.model.channels_last, bool)  # the speed plan's hint, per generator
    net = shrunk(cfg.model.generator).eval()
    assert isinstance(net, Generator)
    assert type(net) in TRUSTED_NETWORKS  # else predict.py refuses its checkpoints
    side = net.size_multiple * -(-32 // net.size_multiple)
    x = torch.rand(2, 3, side, side) * 2 - 1
    with torch.no_grad():
        assert net(x).shape == x.shape


@pytest.mark.parametrize("discriminator", group_options("discriminator"))
def test_every_discriminator_option_judges_patches(discriminator, tmp_path):
    cfg = compose_train([f"discriminator={discriminator}"], tmp_path)
    logits = shrunk(cfg.model.discriminator)(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert logits.shape[:2] == (2, 1)
    assert logits.dim() == 4


def test_model_presets_are_their_generator_and_discriminator(tmp_path):
    """`model=resnet` composes the same config as `generator=resnet discriminator=patchgan`,
    and a group chosen on the command line wins over the preset."""
    preset = compose_train(["model=resnet"], tmp_path)
    groups = compose_train(["generator=resnet", "discriminator=patchgan"], tmp_path)
    assert preset == groups
    assert preset.model.generator._target_.endswith("ResnetGenerator")
    assert preset.model.discriminator._target_.endswith("PatchGANDiscriminator")
    mixed = compose_train(["model=resnet", "generator=unet", "model.generator.ngf=16"], tmp_path)
    assert mixed.model.generator._target_.endswith("UNetGenerator")
    assert mixed.model.generator.ngf == 16
    assert mixed.model.channels_last is True  # follows the generator
    assert compose_train(["model=transform"], tmp_path).model.discriminator is None


@pytest.mark.parametrize(
    ("accelerator", "precision"),
    [("cpu", "host"), ("tpu", "bf16-true"), ("gpu", "bf16-mixed"), ("auto", "host")],
)
def test_accelerator_configs_compose(accelerator, precision, tmp_path):
    from cyclegan.accel import choose_precision

    cfg = compose_train([f"accelerator={accelerator}"], tmp_path)
    if precision == "host":  # bf16-mixed or 32-true by the CPU (tests/test_accel.py mocks both)
        precision = choose_precision(accelerator).precision
    assert cfg.trainer.precision == precision
    expected = {"cpu": "cpu", "tpu": "tpu", "gpu": "gpu", "auto": "auto"}[accelerator]
    assert cfg.trainer.accelerator == expected


def test_experiments_compose_to_their_recipes(tmp_path):
    tutorial = compose_train(["experiment=kaggle_tutorial"], tmp_path)
    assert tutorial.model.generator._target_.endswith("UNetGenerator")
    assert tutorial.loss._target_.endswith("BCEGANLoss")
    assert tutorial.module.lambda_cycle == 10.0
    assert tutorial.trainer.max_epochs == 25
    assert tutorial.data.batch_size == 1
    paper = compose_train(["experiment=paper"], tmp_path)
    assert paper.model.generator._target_.endswith("ResnetGenerator")
    assert paper.model.generator.n_blocks == 9
    assert paper.loss._target_.endswith("LSGANLoss")
    assert paper.module.pool_size == 50
    assert paper.data.augment is True
    assert paper.module.scheduler.lr_lambda.epochs_constant == 100
    assert paper.module.scheduler.lr_lambda.epochs_decay == 100
    assert paper.trainer.max_epochs == 200
    demo = compose_train(["experiment=demo"], tmp_path)
    assert demo.data.root == "data/demo"
    # The LR decays over the demo's epochs and is still positive in its last one.
    last_epoch = demo.trainer.max_epochs - 1
    assert 0 < instantiate(demo.module.scheduler.lr_lambda)(last_epoch) < 1


def run_train(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "train.py", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_wrong_choice_lists_the_valid_ones():
    result = run_train("loss=foo")
    assert result.returncode != 0
    assert "Could not find 'loss/foo'" in result.stderr
    assert "bce" in result.stderr
    assert "lsgan" in result.stderr


def test_missing_data_says_where_and_how(tmp_path):
    result = run_train(f"data.root={tmp_path / 'nowhere'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    log = result.stdout + result.stderr
    assert str(tmp_path / "nowhere") in log
    assert "kaggle competitions download -c gan-getting-started" in log
    assert "make demo" in log
    assert "Traceback" not in log


def test_resuming_runs_in_the_checkpoints_run_folder():
    from cyclegan.config import run_dir

    assert run_dir("outputs/2026-01-01/10-00-00/checkpoints/last.ckpt") == (
        "outputs/2026-01-01/10-00-00"
    )
    assert run_dir(None).startswith("outputs/")
    assert run_dir("elsewhere/model.ckpt").startswith("outputs/")


def test_common_trainer_arguments_need_no_plus(tiny_data, tmp_path):
    cfg = compose_train(
        [
            *TINY,
            f"data.root={tiny_data}",
            "trainer.max_time=00:00:30:00",
            "trainer.limit_train_batches=0.5",
            "trainer.val_check_interval=0.5",
        ],
        tmp_path,
    )
    _, _, trainer = build(cfg)
    assert trainer.limit_train_batches == 0.5
    assert trainer.val_check_interval == 0.5
    timers = [cb for cb in trainer.callbacks if isinstance(cb, Timer)]
    assert [t.time_remaining() for t in timers] == [30 * 60]


@pytest.mark.parametrize("debug", group_options("debug"))
def test_every_debug_option_trains(debug, tiny_data, tmp_path):
    from cyclegan.training import train

    overrides = [*TINY, f"data.root={tiny_data}", f"debug={debug}"]
    if debug == "profiler":
        overrides.append("trainer.max_steps=4")
    trainer = train(compose_train(overrides, tmp_path))
    assert trainer.global_step > 0
    if debug == "fast_dev_run":
        assert trainer.global_step == 2  # one batch: a G step and a D step
