"""3x3 convolutions: PyTorch's kernel against Winograd F(4x4, 3x3), float32, by layer width.

    flock /tmp/bench.lock python benchmarks/winograd.py [--batch 1]
    flock /tmp/bench.lock python benchmarks/winograd.py --inference --batch 8

Times one forward and backward pass (input and weight gradients; ``--inference``: forward only,
channels-last, as ``predict.py`` runs) of each 3x3 stride-1 convolution shape of the project's
generators, as ``nn.Conv2d`` and as :class:`cyclegan.accel.layers.WinogradConv2d`, and a
sweep of square layers (C -> C channels) on 64x64 and 32x32 maps. The narrowest width from
which Winograd wins every swept map is the ``winograd_min_channels`` to use on this CPU
(``cyclegan/accel/plan.py``). Prints the CPU model and capability first.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from cyclegan.accel.hardware import detect_cpu
from cyclegan.accel.layers import WinogradConv2d

# (name, in channels, out channels, output side, padding) of the generators' 3x3 convolutions.
LAYERS = [
    ("ResNet-9 block (ngf 64, 256^2)", 256, 256, 64, 0),
    ("ResNet quick (ngf 16, 128^2)", 64, 64, 32, 0),
    ("U-Net resize up (ngf 64)", 1024, 256, 32, 1),
    ("U-Net resize up (ngf 64)", 512, 128, 64, 1),
    ("U-Net resize up (ngf 64)", 256, 64, 128, 1),
]
SWEEP_WIDTHS = [32, 64, 128, 256]
SWEEP_SIDES = [64, 32]


def time_conv(
    cin: int, cout: int, side: int, padding: int, winograd: bool, args: argparse.Namespace
) -> float:
    """Best time in seconds of one pass of the layer over a batch."""
    net = nn.Conv2d(cin, cout, 3, padding=padding)
    if winograd:
        WinogradConv2d.swap_winograd(
            net, winograd_min_channels=1, gemm_max_positions=0, winograd_min_positions=1
        )
    x = torch.randn(args.batch, cin, side + 2 - 2 * padding, side + 2 - 2 * padding)
    if args.inference:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    else:
        x.requires_grad_()
    seconds = []
    for _ in range(args.reps + 2):
        x.grad = None
        net.zero_grad(set_to_none=True)
        start = time.perf_counter()
        with torch.set_grad_enabled(not args.inference):
            y = net(x)
        if not args.inference:
            y.sum().backward()
        seconds.append(time.perf_counter() - start)
    return min(seconds[2:])


def row(name: str, cin: int, cout: int, side: int, padding: int, args) -> float:
    direct = time_conv(cin, cout, side, padding, False, args)
    wino = time_conv(cin, cout, side, padding, True, args)
    print(
        f"{name:32} {cin:>5} {cout:>5} {side:>4}^2 {1e3 * direct:9.2f} {1e3 * wino:9.2f}"
        f" {wino / direct:7.2f}"
    )
    return wino / direct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--inference", action="store_true", help="forward only, channels-last")
    args = parser.parse_args()
    cpu = detect_cpu()
    print(
        f"CPU {cpu.summary()}, {torch.get_num_threads()} threads, float32, batch {args.batch}, "
        f"{'forward (channels-last)' if args.inference else 'forward + backward'}, "
        f"best of {args.reps} (ms)"
    )
    header = (
        f"{'layer':32} {'in':>5} {'out':>5} {'map':>6} {'direct':>9} {'winograd':>9} {'ratio':>7}"
    )
    print(header)
    for name, cin, cout, side, padding in LAYERS:
        row(name, cin, cout, side, padding, args)
    wins = {}
    for width in SWEEP_WIDTHS:
        ratios = [row("sweep", width, width, side, 0, args) for side in SWEEP_SIDES]
        wins[width] = max(ratios) < 1.0
    winning = [w for w in SWEEP_WIDTHS if all(wins[v] for v in SWEEP_WIDTHS if v >= w)]
    print(
        "winograd_min_channels for this CPU: "
        + (str(winning[0]) if winning else "0 (Winograd never wins every swept map: off)")
    )


if __name__ == "__main__":
    main()
