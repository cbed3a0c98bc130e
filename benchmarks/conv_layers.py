"""Forward + backward time of each U-Net-256 convolution, by kernel and memory format.

    flock /tmp/bench.lock python benchmarks/conv_layers.py [--precision 32|bf16] [--batch 2]
    flock /tmp/bench.lock python benchmarks/conv_layers.py --inference --batch 8

For every 4x4 stride-2 layer of the U-Net-256 (ngf=64) generator, at its own map size, times
one forward and backward pass (input and weight gradients) of:

- ``nchw``: PyTorch's convolution on contiguous tensors;
- ``nhwc``: PyTorch's convolution on channels-last tensors;
- ``gemm``: the matrix-product form of :mod:`cyclegan.accel.layers`, contiguous (NCHW);
- ``gemm_cl``: the same on channels-last tensors.

The fastest kind per layer is what ``cyclegan.accel`` should pick on this CPU: the
``small_map_gemm`` threshold is the largest map size up to which ``gemm`` wins. Prints the CPU
model and capability first.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from cyclegan.accel.hardware import detect_cpu
from cyclegan.accel.layers import GemmConv2d, GemmConvTranspose2d

# (kind, in channels, out channels, input side) of the U-Net-256 with ngf=64.
UNET_256 = [
    ("down", 3, 64, 256),
    ("down", 64, 128, 128),
    ("down", 128, 256, 64),
    ("down", 256, 512, 32),
    ("down", 512, 512, 16),
    ("down", 512, 512, 8),
    ("down", 512, 512, 4),
    ("down", 512, 512, 2),
    ("up", 512, 512, 1),
    ("up", 1024, 512, 2),
    ("up", 1024, 512, 4),
    ("up", 1024, 512, 8),
    ("up", 1024, 256, 16),
    ("up", 512, 128, 32),
    ("up", 256, 64, 64),
    ("up", 128, 3, 128),
]


def layer(kind: str, cin: int, cout: int, variant: str) -> nn.Module:
    if variant.startswith("gemm"):
        cls = GemmConv2d if kind == "down" else GemmConvTranspose2d
        return cls(cin, cout, 4, stride=2, padding=1, gemm_max_positions=1 << 30)
    cls = nn.Conv2d if kind == "down" else nn.ConvTranspose2d
    return cls(cin, cout, 4, stride=2, padding=1)


def time_layer(
    net: nn.Module, x: torch.Tensor, dtype: torch.dtype, reps: int, train: bool
) -> float:
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)
    seconds = []
    for _ in range(reps + 2):
        x.grad = None
        net.zero_grad(set_to_none=True)
        start = time.perf_counter()
        with autocast, torch.set_grad_enabled(train):
            y = net(x)
        if train:
            y.float().sum().backward()
        seconds.append(time.perf_counter() - start)
    return min(seconds[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", default="32", choices=["32", "bf16"])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--inference", action="store_true", help="forward only, no gradients")
    args = parser.parse_args()
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    cpu = detect_cpu()
    print(
        f"CPU {cpu.summary()}, {torch.get_num_threads()} threads, precision {args.precision}, "
        f"batch {args.batch}, {'forward' if args.inference else 'forward + backward'}, "
        f"best of {args.reps} (ms)"
    )
    variants = ["nchw", "nhwc", "gemm", "gemm_cl"]
    print(f"{'layer':24} {'map':>5} " + " ".join(f"{v:>8}" for v in variants) + "   best")
    totals = dict.fromkeys(variants, 0.0)
    best_total = 0.0
    for kind, cin, cout, side in UNET_256:
        times = {}
        for variant in variants:
            net = layer(kind, cin, cout, variant)
            x = torch.randn(args.batch, cin, side, side, requires_grad=True)
            if variant in {"nhwc", "gemm_cl"}:
                net = net.to(memory_format=torch.channels_last)
                x = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
            times[variant] = time_layer(net, x, dtype, args.reps, not args.inference)
            totals[variant] += times[variant]
        best = min(times, key=times.__getitem__)
        best_total += times[best]
        small = min(side, side * 2 if kind == "up" else side // 2)
        name = f"{kind} {cin}->{cout}"
        print(
            f"{name:24} {small:>3}^2 "
            + " ".join(f"{1e3 * times[v]:8.1f}" for v in variants)
            + f"   {best}"
        )
    print(
        f"{'total':30} "
        + " ".join(f"{1e3 * totals[v]:8.1f}" for v in variants)
        + f"   best per layer {1e3 * best_total:.1f}"
    )


if __name__ == "__main__":
    main()
