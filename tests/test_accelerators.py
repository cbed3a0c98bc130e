"""Accelerator configs: what each composes to, and a clear error for an absent accelerator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from cyclegan.config import GAN_DDP, auto_precision, fused_optimizer, gan_strategy, num_devices

REPO = Path(__file__).resolve().parents[1]


def compose_train(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def resolved(cfg, key: str):
    return OmegaConf.select(cfg, key, throw_on_missing=True)


@pytest.mark.parametrize(
    ("accelerator", "expected"),
    [
        (
            "cpu",
            {"accelerator": "cpu", "devices": 1, "strategy": "auto", "precision": "host"},
        ),
        (
            "tpu",
            {
                "accelerator": "tpu",
                "devices": "auto",
                "strategy": "auto",
                "precision": "bf16-true",
                "log_every_n_steps": 50,
            },
        ),
    ],
)
def test_accelerator_configs_compose_to_their_trainer_settings(accelerator, expected):
    cfg = compose_train(f"accelerator={accelerator}", "loss=lsgan")
    if expected["precision"] == "host":  # by the CPU's bf16 support (tests/test_accel.py)
        expected["precision"] = auto_precision("cpu")
    trainer = {k: resolved(cfg, f"trainer.{k}") for k in expected}
    assert trainer == expected
    # Adam's fused kernel everywhere but on XLA devices, which reject it.
    assert resolved(cfg, "module.optimizer.fused") is (accelerator != "tpu")


def test_gpu_and_auto_configs_resolve_here():
    gpu = compose_train("accelerator=gpu")
    assert resolved(gpu, "trainer.precision") in {"bf16-mixed", "16-mixed"}
    expected = GAN_DDP if torch.cuda.device_count() > 1 else "auto"
    assert resolved(gpu, "trainer.strategy") == expected
    auto = compose_train("accelerator=auto")
    assert resolved(auto, "trainer.precision") in {"bf16-mixed", "16-mixed", "bf16-true", "32-true"}
    assert isinstance(resolved(auto, "module.optimizer.fused"), bool)


def test_several_devices_train_with_ddp_that_tolerates_the_frozen_networks():
    cfg = compose_train("accelerator=cpu", "trainer.devices=2")
    assert resolved(cfg, "trainer.strategy") == GAN_DDP
    assert gan_strategy("4", "gpu") == GAN_DDP
    assert gan_strategy([0, 1], "gpu") == GAN_DDP
    assert gan_strategy(1, "gpu") == "auto"
    assert gan_strategy(8, "tpu") == "auto"  # Lightning's XLA strategy
    assert num_devices("auto", "cpu") == 1


def test_resolvers_name_a_wrong_accelerator():
    for resolver in (auto_precision, fused_optimizer):
        with pytest.raises(ValueError, match="unknown accelerator 'npu'"):
            resolver("npu")
    with pytest.raises(ValueError, match="trainer.devices='many'"):
        num_devices("many", "cpu")


def test_the_tpu_config_builds_an_adam_that_is_not_fused():
    cfg = compose_train(
        "accelerator=tpu",
        "model.generator.ngf=4",
        "model.generator.num_downs=5",
        "model.discriminator.ndf=4",
    )
    module = instantiate(cfg.module)
    opt_g, _ = module.configure_optimizers()[0]
    assert opt_g.defaults["fused"] is False


@pytest.mark.slow
def test_train_py_without_a_tpu_says_so_in_one_message(tmp_path):
    env = os.environ | {"PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "train.py"),
            "accelerator=tpu",
            "loss=lsgan",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert "Lightning cannot train with trainer accelerator=tpu" in output
    # Lightning's own reason: torch-xla missing, or no TPU cores where it is installed.
    assert "torch_xla" in output or "XLAAccelerator` can not run on your system" in output


def test_compile_option_compiles_each_network_in_place_once():
    cfg = compose_train(
        "model.generator.ngf=4",
        "model.generator.num_downs=5",
        "model.discriminator.ndf=4",
        "++module.compile_networks=true",
    )
    module = instantiate(cfg.module)
    keys = list(module.state_dict())
    nets = (module.gen_photo2monet, module.gen_monet2photo, module.disc_monet, module.disc_photo)
    assert all(net._compiled_call_impl is None for net in nets)
    module.configure_model()
    compiled = [net._compiled_call_impl for net in nets]
    assert all(c is not None for c in compiled)
    module.configure_model()  # Lightning may call it again (fit, then validate): no recompile
    assert [net._compiled_call_impl for net in nets] == compiled
    assert list(module.state_dict()) == keys  # checkpoints keep their parameter names
