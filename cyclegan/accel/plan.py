"""Which speed-ups to use on which hardware, and the one function that applies them.

Networks are plain ``nn`` modules. Where training starts (``CycleGAN.configure_model``) and where
inference starts (``Stylizer``), :func:`speed_up` swaps in the kernels of
:mod:`cyclegan.accel.layers` and sets memory formats, as a :class:`SpeedPlan` says. The plan
comes from :func:`plan_for`: the device, the precision and the CPU's capability, each choice
measured on that kind of hardware (``benchmarks/conv_layers.py``, ``benchmarks/train_step.py``;
numbers in ``docs/accelerators.md``):

=============================  ==============  =============  ==============  ===============
hardware, precision            small-map GEMM  channels-last  cached autocast  copy-free Adam
=============================  ==============  =============  ==============  ===============
CPU with AMX / AVX512_BF16,    <= 64           the model's    yes             with channels-
bf16 autocast                  positions       preference                     last weights
CPU, float32 (e.g. AVX2)       <= 64           training: no   n/a             with channels-
                               positions       (NCHW won);                    last weights
                                               inference: the
                                               model's pref.
CUDA GPU                       no              the model's    yes             no
                                               preference
XLA (TPU)                      no              no             no              no
=============================  ==============  =============  ==============  ===============

Resize-convolutions (``model.generator.upsample=resize``) run as one stride-2 transposed
convolution from 32x32 inputs up (:data:`cyclegan.networks.upsample.TRANSPOSED_MIN_POSITIONS`);
in CPU training without AMX, from 16x16 up: forward plus backward, the transposed form is faster
there and the forward-only crossover stays at 32x32 (``benchmarks/resize_conv.py --task train``).

Winograd F(4x4, 3x3) for 3x3 convolutions of at least 128 channels on maps of at least 64x64
(the ResNet generator's residual blocks): CPUs whose strongest level is AVX2, float32 training
only (measured slower with AVX-512 kernels and in channels-last inference).

Example:
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 4, stride=2, padding=1))
    >>> plan = SpeedPlan(small_map_gemm=64)
    >>> speed_up(net, plan)
    >>> type(net[0]).__name__
    'GemmConv2d'
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from cyclegan.accel import hardware
from cyclegan.accel.hardware import CPUInfo
from cyclegan.accel.layers import (
    GEMM_MAX_POSITIONS,
    WINOGRAD_MIN_POSITIONS,
    DtypeReflectionPad2d,
    GemmConv2d,
    GemmConvTranspose2d,
    GemmResizeConv2d,
    GroupInstanceNorm2d,
    WinogradConv2d,
)
from cyclegan.accel.optim import ChannelsLastAdam
from cyclegan.networks.upsample import ResizeConv2d

__all__ = ["SpeedPlan", "fast_optimizer", "plan_for", "speed_up"]


@dataclass(frozen=True)
class SpeedPlan:
    """What :func:`speed_up` does to a network; the default does nothing (plain PyTorch).

    Attributes:
        small_map_gemm: Convolutions whose smaller feature map has at most this many positions
            run as one matrix product on the CPU (0: never).
        channels_last: Weights and activations in the channels-last memory format.
        cached_autocast: Cast each weight once per forward pass under autocast
            (:func:`cyclegan.accel.autocast.cached_autocast`).
        dtype_reflection_pad: Reflection padding stays in the activations' dtype under autocast.
        channels_last_adam: Adam's fused kernel steps channels-last weights without copies
            (:class:`cyclegan.accel.optim.ChannelsLastAdam`).
        group_instance_norm: Instance norms computed by ``group_norm`` (channels-last kernel;
            inference only: it has no running-statistics variant).
        winograd_min_channels: 3x3 stride-1 convolutions with at least this many input and
            output channels and at least ``winograd_min_positions`` output positions run by
            Winograd's F(4x4, 3x3) on the CPU in float32 (0: never;
            :class:`cyclegan.accel.layers.WinogradConv2d`).
        winograd_min_positions: See ``winograd_min_channels``.
        resize_transposed_min_positions: Input map size from which resize-convolutions run as
            a transposed convolution (``None``: the layer's own default, 32x32).
    """

    small_map_gemm: int = 0
    channels_last: bool = False
    cached_autocast: bool = False
    dtype_reflection_pad: bool = False
    channels_last_adam: bool = False
    group_instance_norm: bool = False
    winograd_min_channels: int = 0
    winograd_min_positions: int = WINOGRAD_MIN_POSITIONS
    resize_transposed_min_positions: int | None = None

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


OFF = SpeedPlan()

RESIZE_TRANSPOSED_MIN_POSITIONS_TRAINING = 16 * 16
"""Input map size from which resize-convolutions run as a transposed convolution in CPU
training (forward and backward) without AMX: on 16x16 inputs of 1024 channels the transposed
form took 0.60 to 0.86 of resize-then-convolve's time, on 8x8 1.4 to 2.8 times it
(``benchmarks/resize_conv.py --task train``, batch 2 and 3, on an AMD EPYC with AVX512_BF16 in
bf16, in float32, and held to AVX2 in float32). Not measured with AMX: that plan keeps 32x32."""

WINOGRAD_MIN_CHANNELS = 128
"""Narrowest 3x3 convolution (input and output channels) that Winograd computes faster than
oneDNN in float32 training on a 2-core AVX2 CPU, on maps of 64x64 and more
(``benchmarks/winograd.py``: 0.68-0.77x at 128 channels, 0.54-0.58x at 256)."""


def _is_mixed_bf16(precision: str) -> bool:
    return precision in {"bf16-mixed", "bf16"}


def plan_for(
    device: torch.device | str,
    precision: str,
    model_channels_last: bool = True,
    options: Mapping[str, Any] | None = None,
    cpu: CPUInfo | None = None,
    inference: bool = False,
) -> SpeedPlan:
    """The measured plan for ``device`` at ``precision`` (module docstring table).

    Args:
        device: Where the networks run.
        precision: Lightning's precision string (``32-true``, ``bf16-mixed``, ...) or the
            inference names ``bf16`` / ``32``.
        model_channels_last: Whether the architecture gains from channels-last where the
            hardware does (``model.channels_last`` in ``conf/generator/``).
        options: ``speed`` config: ``enabled`` (false: :data:`OFF`), ``channels_last``,
            ``small_map_gemm``, ``winograd`` and ``resize_transposed`` (``auto`` or a value
            that replaces the plan's).
        cpu: replaces :func:`cyclegan.accel.hardware.detect_cpu` (tests).
        inference: forward passes only (``predict.py``): in float32 on the CPU channels-last
            forward convolutions beat NCHW (the transposed ones most), while in training the
            NCHW backward passes win.
    """
    options = dict(options or {})
    if not options.get("enabled", True):
        return OFF
    device = torch.device(device)
    if device.type == "cpu":
        cpu = cpu or hardware.detect_cpu()
        bf16 = _is_mixed_bf16(precision) and cpu.native_bf16
        # Training without AMX: transposed resize-convolutions from 16x16 (AMX: not measured).
        resize_transposed = (
            RESIZE_TRANSPOSED_MIN_POSITIONS_TRAINING
            if not inference and cpu.capability != "AMX"
            else None
        )
        if bf16:
            plan = SpeedPlan(
                small_map_gemm=GEMM_MAX_POSITIONS,
                channels_last=model_channels_last,
                cached_autocast=True,
                dtype_reflection_pad=True,
                channels_last_adam=model_channels_last,
                resize_transposed_min_positions=resize_transposed,
            )
        else:
            # float32 (or bf16 emulated). Training: NCHW forward + backward beat channels-last
            # on every large U-Net layer; the matrix product wins on maps of 8x8 and smaller.
            # Inference: channels-last forward passes win (the transposed convolutions most).
            # Winograd 3x3 convolutions: faster in training on AVX2 CPUs (0.56x on the ResNet
            # blocks); oneDNN's AVX-512 kernels beat it, and so do channels-last forward passes.
            channels_last = inference and model_channels_last
            avx2 = cpu.capability == "AVX2"
            plan = SpeedPlan(
                small_map_gemm=GEMM_MAX_POSITIONS,
                channels_last=channels_last,
                channels_last_adam=channels_last,
                winograd_min_channels=WINOGRAD_MIN_CHANNELS if avx2 and not inference else 0,
                resize_transposed_min_positions=resize_transposed,
            )
    elif device.type == "cuda":
        plan = SpeedPlan(channels_last=model_channels_last, cached_autocast=True)
    else:  # XLA and others: the compiler owns layouts and kernels.
        return OFF
    if options.get("channels_last", "auto") != "auto":
        on = bool(options["channels_last"])
        plan = replace(plan, channels_last=on, channels_last_adam=on and device.type == "cpu")
    if options.get("small_map_gemm", "auto") != "auto":
        plan = replace(plan, small_map_gemm=int(options["small_map_gemm"]))
    if options.get("winograd", "auto") != "auto" and device.type == "cpu":
        plan = replace(plan, winograd_min_channels=int(options["winograd"]))
    if options.get("resize_transposed", "auto") != "auto":
        plan = replace(plan, resize_transposed_min_positions=int(options["resize_transposed"]))
    # Channels-last instance norms (inference): group_norm's NHWC kernel instead of two copies.
    return replace(plan, group_instance_norm=inference and plan.channels_last)


def speed_up(network: nn.Module, plan: SpeedPlan, inference: bool = False) -> None:
    """Apply ``plan`` to ``network`` in place: same parameters and state-dict keys.

    Args:
        network: A plain ``nn`` network (its layers are swapped for the subclasses of
            :mod:`cyclegan.accel.layers` where the plan says so).
        plan: What to apply.
        inference: Also allow inference-only swaps (``group_instance_norm``).
    """
    for module in network.modules():
        kind = type(module)
        if WinogradConv2d.takes(module, plan.winograd_min_channels):
            WinogradConv2d.swap_winograd(
                module,
                plan.winograd_min_channels,
                plan.small_map_gemm,
                plan.winograd_min_positions,
            )
        elif plan.small_map_gemm and kind is nn.Conv2d:
            GemmConv2d.swap(module, plan.small_map_gemm)
        elif plan.small_map_gemm and kind is ResizeConv2d:
            GemmResizeConv2d.swap(module, plan.small_map_gemm)
        elif plan.small_map_gemm and kind is nn.ConvTranspose2d:
            GemmConvTranspose2d.swap(module, plan.small_map_gemm)
        elif plan.dtype_reflection_pad and kind is nn.ReflectionPad2d:
            module.__class__ = DtypeReflectionPad2d
        elif (
            inference
            and plan.group_instance_norm
            and kind is nn.InstanceNorm2d
            and not module.track_running_stats
        ):
            module.__class__ = GroupInstanceNorm2d
    if plan.resize_transposed_min_positions is not None:
        for module in network.modules():
            if isinstance(module, ResizeConv2d):
                module.transposed_min_positions = plan.resize_transposed_min_positions
    if plan.channels_last:
        network.to(memory_format=torch.channels_last)


def fast_optimizer(
    factory: Callable[..., torch.optim.Optimizer], plan: SpeedPlan
) -> Callable[..., torch.optim.Optimizer]:
    """``factory`` with :class:`ChannelsLastAdam` in place of ``torch.optim.Adam`` where the plan
    asks for it (same arguments, same numbers, same state dict); otherwise ``factory``."""
    if (
        plan.channels_last_adam
        and isinstance(factory, functools.partial)
        and factory.func is torch.optim.Adam
        and factory.keywords.get("fused")
    ):
        return functools.partial(ChannelsLastAdam, *factory.args, **factory.keywords)
    return factory
