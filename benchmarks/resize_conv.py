"""Resize-convolution layer by layer: resize then 3×3 conv, against the same layer computed as
one stride-2 transposed conv of summed taps (``ResizeConv2d``), and a plain 4×4 transposed conv
for scale; the U-Net-256's upsampling layers, median milliseconds per call.

    flock /tmp/bench.lock python benchmarks/resize_conv.py [--precision bf16|fp32]
        [--task infer|train] [--batch N] [--layout channels_last|nchw]

``infer`` (the default): forward without grad, batch 1, channels-last, as ``predict.py`` runs
it. ``train``: forward and backward (input, weight and bias gradients), batch 3 by default (the
photo->Monet generator's batch in a training step: photo, Monet and F(Monet)), in the layout the
training plan uses (channels-last under bf16 autocast, NCHW in float32).

The crossovers set ``cyclegan.networks.upsample.TRANSPOSED_MIN_POSITIONS`` (inference) and the
training plan's ``resize_transposed_min_positions`` (``cyclegan/accel/plan.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cyclegan.accel import detect_cpu  # noqa: E402
from cyclegan.networks import upsample  # noqa: E402

# (in, out, input side): the U-Net-256's upsampling layers (ngf 64, skips concatenated).
LAYERS = [
    (512, 512, 1),
    (1024, 512, 2),
    (1024, 512, 4),
    (1024, 512, 8),
    (1024, 256, 16),
    (512, 128, 32),
    (256, 64, 64),
    (128, 3, 128),
]


def ms_per_call(fn, x: torch.Tensor, precision: str, train: bool, repeats: int = 11) -> float:
    """Median milliseconds of ``fn(x)`` (with ``train``, its backward pass too)."""
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext()
    )

    def call() -> None:
        if not train:
            with torch.no_grad(), autocast:
                fn(x)
            return
        with autocast:
            y = fn(x)
        y.float().sum().backward()

    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return sorted(times)[repeats // 2] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    parser.add_argument("--task", choices=["infer", "train"], default="infer")
    parser.add_argument("--batch", type=int, help="default: 1 to infer, 3 to train")
    parser.add_argument("--layout", choices=["channels_last", "nchw"], help="default: the plan's")
    args = parser.parse_args()
    train = args.task == "train"
    batch = args.batch or (3 if train else 1)
    layout = args.layout or ("nchw" if train and args.precision == "fp32" else "channels_last")
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    print(
        f"CPU {detect_cpu().summary()}, {torch.get_num_threads()} threads, {args.precision}, "
        f"{args.task}, batch {batch}, {layout}"
    )
    print("in    out  side  resize+conv ms  as transposed ms  ratio  4x4 transposed ms")
    torch.manual_seed(0)
    for cin, cout, side in LAYERS:
        layer = upsample.ResizeConv2d(cin, cout).to(memory_format=fmt)
        plain = nn.Conv2d(cin, cout, 3, 1, 1).to(memory_format=fmt)
        plain.load_state_dict(layer.state_dict())
        transposed = nn.ConvTranspose2d(cin, cout, 4, 2, 1).to(memory_format=fmt)
        x = torch.randn(batch, cin, side, side).contiguous(memory_format=fmt)
        x.requires_grad_(train)
        resized = ms_per_call(
            lambda t, conv=plain: conv(upsample.nearest_upsample2x(t)), x, args.precision, train
        )
        layer.transposed_min_positions = 0  # this layer as a transposed conv at every size
        folded = ms_per_call(layer, x, args.precision, train)
        scale = ms_per_call(transposed, x, args.precision, train)
        assert torch.allclose(
            layer(x),
            F.conv2d(upsample.nearest_upsample2x(x), layer.weight, layer.bias, padding=1),
            atol=1e-4,
        )
        print(
            f"{cin:<5} {cout:<4} {side:<5} {resized:14.2f} {folded:17.2f} "
            f"{folded / resized:6.2f} {scale:18.2f}"
        )


if __name__ == "__main__":
    main()
