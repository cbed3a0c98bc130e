"""Precision and speed-ups chosen by what the hardware does, with the CPU mocked both ways."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from cyclegan.accel import (
    OFF,
    CPUInfo,
    SpeedPlan,
    choose_precision,
    describe_hardware,
    hardware,
    inference_precision,
    plan_for,
)
from cyclegan.accel.hardware import _read_cpuinfo
from cyclegan.metrics.inception import inception_precision

REPO = Path(__file__).resolve().parents[1]

AVX2 = CPUInfo("AMD EPYC 7B13", "x86_64", frozenset({"sse4_2", "avx", "avx2", "fma"}))
AMX = CPUInfo(
    "Intel(R) Xeon(R) Platinum 8481C",
    "x86_64",
    frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}),
)
AVX512_BF16 = CPUInfo("AMD EPYC 9B14", "x86_64", frozenset({"avx2", "avx512f", "avx512_bf16"}))
AVX512 = CPUInfo("Intel(R) Xeon(R) Gold 6148", "x86_64", frozenset({"avx2", "avx512f"}))
ARM_BF16 = CPUInfo("Neoverse-V1", "aarch64", frozenset({"asimd", "sve", "bf16"}))


@pytest.fixture(params=[AVX2, AMX], ids=["avx2", "amx"])
def cpu(request, monkeypatch) -> CPUInfo:
    """The host CPU, mocked as an AVX2 EPYC or an AMX Xeon."""
    monkeypatch.setattr(hardware, "detect_cpu", lambda: request.param)
    return request.param


def test_capabilities_from_cpu_flags():
    assert (AVX2.capability, AVX2.native_bf16) == ("AVX2", False)
    assert (AVX512.capability, AVX512.native_bf16) == ("AVX512", False)
    assert (AVX512_BF16.capability, AVX512_BF16.native_bf16) == ("AVX512_BF16", True)
    assert (AMX.capability, AMX.native_bf16) == ("AMX", True)
    # bf16 instructions on ARM were not measured faster: float32 there.
    assert (ARM_BF16.capability, ARM_BF16.native_bf16) == ("aarch64", False)
    assert AVX2.summary() == "AMD EPYC 7B13 (AVX2; no AVX512, AVX512_BF16, AMX)"
    assert AMX.summary().endswith("(AVX2, AVX512, AVX512_BF16, AMX)")


def test_cpuinfo_is_parsed_for_x86_and_arm(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu avx2 fma\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu avx2 fma\n"
    )
    assert _read_cpuinfo(x86) == ("AMD EPYC 7B13", frozenset({"fpu", "avx2", "fma"}))
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16\nCPU part\t: 0xd40\n")
    model, flags = _read_cpuinfo(arm)
    assert flags == frozenset({"fp", "asimd", "bf16"})
    assert model  # no model line on ARM: the platform's name or "unknown CPU"
    assert _read_cpuinfo(tmp_path / "missing")[1] == frozenset()


@pytest.mark.parametrize(
    ("environ", "capability", "precision"),
    [
        ({}, "AMX", "bf16-mixed"),
        ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, "AVX2", "32-true"),
        ({"ONEDNN_MAX_CPU_ISA": "avx512_core"}, "AVX512", "32-true"),
        ({"DNNL_MAX_CPU_ISA": "AVX512_CORE_BF16"}, "AVX512_BF16", "bf16-mixed"),
        ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, "AMX", "bf16-mixed"),
        ({"ONEDNN_MAX_CPU_ISA": "ALL"}, "AMX", "bf16-mixed"),
        ({"ONEDNN_MAX_CPU_ISA": "not-an-isa"}, "AMX", "bf16-mixed"),  # oneDNN ignores it too
        ({"ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "ALL"}, "AVX2", "32-true"),
    ],
)
def test_onednn_isa_cap_lowers_the_capability(environ, capability, precision):
    """Under ``ONEDNN_MAX_CPU_ISA=AVX2`` an AMX Xeon runs bf16 by emulation: float32 it is."""
    capped = AMX.capped(environ)
    assert capped.capability == capability
    assert choose_precision("cpu", cpu=capped).precision == precision
    assert plan_for("cpu", "bf16-mixed", cpu=capped).cached_autocast == (precision != "32-true")
    if capability != "AMX":
        variable = next(iter(environ))
        assert capped.summary().endswith(f"; oneDNN capped by {variable}={environ[variable]})")
    assert ARM_BF16.capped(environ) == ARM_BF16


def test_detect_cpu_applies_the_isa_cap_of_the_environment(monkeypatch):
    monkeypatch.setattr(hardware, "_read_cpuinfo", lambda: (AMX.model, AMX.flags))
    monkeypatch.setattr(hardware.platform, "machine", lambda: "x86_64")
    hardware.detect_cpu.cache_clear()
    try:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
        assert hardware.detect_cpu().capability == "AVX2"
        assert not hardware.detect_cpu().native_bf16
    finally:
        hardware.detect_cpu.cache_clear()


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (AVX2, "32-true"),
        (AVX512, "32-true"),
        (ARM_BF16, "32-true"),
        (AMX, "bf16-mixed"),
        (AVX512_BF16, "bf16-mixed"),
    ],
)
def test_cpu_training_precision_follows_native_bf16(info, expected):
    choice = choose_precision("cpu", cpu=info)
    assert choice.precision == expected
    assert info.capability in choice.reason
    assert choose_precision("tpu", cpu=info).precision == "bf16-true"


def compose_train(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def compose_named(name: str, *overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(name, overrides=list(overrides))


def test_composed_train_config_precision(cpu):
    expected = "bf16-mixed" if cpu.native_bf16 else "32-true"
    for accelerator in ("cpu", "auto"):
        cfg = compose_train(f"accelerator={accelerator}")
        if accelerator == "auto" and torch.cuda.is_available():
            continue
        assert OmegaConf.select(cfg, "trainer.precision") == expected


def test_composed_predict_and_evaluate_precision(cpu):
    predict = compose_named("predict", "ckpt=x.ckpt")
    evaluate = compose_named("evaluate", "generated=a", "real=b")
    assert predict.precision == evaluate.precision == "auto"
    device = torch.device("cpu")
    assert inference_precision(predict.precision, device) == ("bf16" if cpu.native_bf16 else "32")
    assert inception_precision(evaluate.precision, device) == (
        "bf16" if cpu.native_bf16 else "fp32"
    )


def test_stylizer_takes_the_hardware_precision(cpu):
    from cyclegan.inference.stylizer import Stylizer
    from cyclegan.networks import UNetGenerator

    stylizer = Stylizer(UNetGenerator(ngf=2, num_downs=5), 32)
    assert stylizer.precision == ("bf16" if cpu.native_bf16 else "32")
    assert stylizer.dtype == (torch.bfloat16 if cpu.native_bf16 else torch.float32)
    assert stylizer.plan.channels_last  # channels-last forward passes: faster in bf16 and fp32


def test_explicit_bf16_on_a_cpu_without_it_warns_and_runs(monkeypatch):
    monkeypatch.setattr(hardware, "detect_cpu", lambda: AVX2)
    with pytest.warns(UserWarning, match=r"without native bf16.*precision=32"):
        assert inference_precision("bf16", torch.device("cpu")) == "bf16"
    monkeypatch.setattr(hardware, "detect_cpu", lambda: AMX)
    assert inference_precision("bf16", torch.device("cpu")) == "bf16"  # no warning: native


def test_training_reports_hardware_and_warns_on_emulated_bf16(monkeypatch, caplog):
    from lightning import Trainer

    from cyclegan.training import report_hardware

    monkeypatch.setattr(hardware, "detect_cpu", lambda: AVX2)
    cfg = compose_train("accelerator=cpu", "trainer.precision=bf16-mixed")
    trainer = Trainer(accelerator="cpu", devices=1, precision="bf16-mixed", logger=False)
    with caplog.at_level(logging.INFO), pytest.warns(UserWarning, match="32-true"):
        line = report_hardware(cfg, trainer)
    assert "AMD EPYC 7B13 (AVX2; no AVX512, AVX512_BF16, AMX)" in line
    assert "precision bf16-mixed (set by trainer.precision)" in line
    assert line in caplog.text
    cfg = compose_train("accelerator=cpu")
    trainer = Trainer(accelerator="cpu", devices=1, precision="32-true", logger=False)
    line = report_hardware(cfg, trainer)
    assert "precision 32-true (CPU without native bf16 (AVX2" in line


def test_describe_hardware_names_device_cpu_and_precision(monkeypatch):
    monkeypatch.setattr(hardware, "detect_cpu", lambda: AMX)
    line = describe_hardware("cpu", "bf16", "why")
    assert line == f"Hardware: cpu; CPU {AMX.summary()}; precision bf16 (why)"


def test_speed_plans_per_hardware():
    cpu = torch.device("cpu")
    fp32 = plan_for(cpu, "32-true", model_channels_last=True, cpu=AVX2)
    # NCHW: measured faster in float32 training; Winograd where AVX2 is the strongest level.
    # Resize-convolutions as transposed convolutions from 16x16 inputs in training (not AMX).
    assert fp32 == SpeedPlan(
        small_map_gemm=64, winograd_min_channels=128, resize_transposed_min_positions=256
    )
    assert plan_for(cpu, "32-true", cpu=AVX512).winograd_min_channels == 0
    assert plan_for(cpu, "32-true", cpu=AMX).winograd_min_channels == 0
    assert plan_for(cpu, "32-true", cpu=ARM_BF16).winograd_min_channels == 0
    infer = plan_for(cpu, "32", model_channels_last=True, cpu=AVX2, inference=True)
    assert infer.channels_last  # channels-last forward passes: measured faster
    assert infer.group_instance_norm
    assert infer.winograd_min_channels == 0  # slower than channels-last forward passes
    assert infer.resize_transposed_min_positions is None  # forward passes: the 32x32 default
    amx = plan_for(cpu, "bf16-mixed", model_channels_last=True, cpu=AMX)
    assert amx.channels_last
    assert amx.cached_autocast
    assert amx.channels_last_adam
    assert amx.small_map_gemm == 64
    assert amx.dtype_reflection_pad
    assert not amx.group_instance_norm  # inference only
    assert amx.resize_transposed_min_positions is None  # not measured with AMX
    avx512_bf16 = plan_for(cpu, "bf16-mixed", cpu=AVX512_BF16)
    assert avx512_bf16.cached_autocast
    assert avx512_bf16.resize_transposed_min_positions == 256
    assert plan_for(cpu, "bf16", cpu=AMX, inference=True).group_instance_norm
    resnet = plan_for(cpu, "bf16-mixed", model_channels_last=False, cpu=AMX)
    assert not resnet.channels_last
    assert not resnet.channels_last_adam
    # bf16 asked for on a CPU that emulates it: the float32 plan's kernels.
    assert plan_for(cpu, "bf16-mixed", cpu=AVX2).small_map_gemm == 64
    cuda = plan_for("cuda", "bf16-mixed", model_channels_last=True, cpu=AVX2)
    assert cuda.small_map_gemm == 0
    assert cuda.channels_last
    assert cuda.cached_autocast
    assert plan_for(cpu, "bf16-mixed", options={"enabled": False}, cpu=AMX) is OFF
    assert plan_for("meta", "bf16-true", cpu=AMX) is OFF  # XLA and other compilers


def test_speed_options_override_the_plan():
    cpu = torch.device("cpu")
    forced = plan_for(
        cpu, "32-true", options={"channels_last": True, "small_map_gemm": 0}, cpu=AVX2
    )
    assert forced.channels_last
    assert forced.small_map_gemm == 0
    assert forced.channels_last_adam  # fused Adam without layout copies for CL weights
    assert plan_for(cpu, "32-true", options={"winograd": 0}, cpu=AVX2).winograd_min_channels == 0
    assert plan_for(cpu, "32-true", options={"winograd": 64}, cpu=AMX).winograd_min_channels == 64
    forced = plan_for(cpu, "bf16-mixed", options={"resize_transposed": 1024}, cpu=AVX512_BF16)
    assert forced.resize_transposed_min_positions == 1024
    options = ("channels_last", "small_map_gemm", "winograd", "resize_transposed")
    auto = plan_for(cpu, "32-true", options=dict.fromkeys(options, "auto"), cpu=AVX2)
    assert auto == plan_for(cpu, "32-true", cpu=AVX2)


def test_training_applies_the_plan_for_its_device_and_precision(tiny_cfg, monkeypatch):
    from hydra.utils import instantiate

    from cyclegan.accel.layers import GemmConv2d
    from cyclegan.training import train

    monkeypatch.setattr(hardware, "detect_cpu", lambda: AVX2)
    cfg = tiny_cfg("trainer.max_steps=2", "callbacks=default")
    assert cfg.trainer.precision == "32-true"
    trainer = train(cfg)
    module = trainer.lightning_module
    assert module.speed_plan == plan_for("cpu", "32-true", cpu=AVX2)
    assert any(isinstance(m, GemmConv2d) for m in module.gen_photo2monet.modules())
    assert module.gen_photo2monet.downs[1][0].weight.is_contiguous()  # NCHW
    plain = instantiate(tiny_cfg("speed.enabled=false").module)
    assert plain.speed_options == {
        "enabled": False,
        "channels_last": "auto",
        "small_map_gemm": "auto",
        "winograd": "auto",
        "resize_transposed": "auto",
    }


def test_the_amx_plan_trains_end_to_end(tiny_cfg, monkeypatch):
    """The bf16 machine's code path (bf16 autocast, channels-last, cached casts, GEMM layers under
    autocast, copy-free Adam) runs here with the CPU mocked as an AMX Xeon (bf16 emulated on
    other CPUs: slow, but fine at 32 px)."""
    from cyclegan.accel.optim import ChannelsLastAdam
    from cyclegan.training import train

    monkeypatch.setattr(hardware, "detect_cpu", lambda: AMX)
    cfg = tiny_cfg("trainer.max_steps=4", "callbacks=default")
    assert cfg.trainer.precision == "bf16-mixed"
    trainer = train(cfg)
    module = trainer.lightning_module
    assert module.speed_plan == plan_for("cpu", "bf16-mixed", True, cpu=AMX)
    assert all(isinstance(opt.optimizer, ChannelsLastAdam) for opt in module.optimizers())
    weight = module.gen_photo2monet.downs[1][0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert not weight.is_contiguous()
    losses = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
    assert losses
    assert all(torch.isfinite(v) for v in losses.values())
