"""Resize-convolution layer by layer: resize then 3×3 conv, against the same layer computed as
one stride-2 transposed conv of summed taps (``ResizeConv2d``), and a plain 4×4 transposed conv
for scale; the U-Net-256's upsampling layers, channels-last, batch 1, forward without grad.

    flock /tmp/bench.lock python benchmarks/resize_conv.py [--precision bf16|fp32]

The crossover sets ``cyclegan.networks.upsample.TRANSPOSED_MIN_POSITIONS``.
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


def ms_per_call(fn, x: torch.Tensor, precision: str, repeats: int = 20) -> float:
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext()
    )
    with torch.no_grad(), autocast:
        for _ in range(3):
            fn(x)
        start = time.perf_counter()
        for _ in range(repeats):
            fn(x)
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    args = parser.parse_args()
    print(f"CPU {detect_cpu().summary()}, {torch.get_num_threads()} threads, {args.precision}")
    print("in    out  side  resize+conv ms  as transposed ms  ratio  4x4 transposed ms")
    torch.manual_seed(0)
    for cin, cout, side in LAYERS:
        layer = upsample.ResizeConv2d(cin, cout).to(memory_format=torch.channels_last)
        plain = nn.Conv2d(cin, cout, 3, 1, 1).to(memory_format=torch.channels_last)
        plain.load_state_dict(layer.state_dict())
        transposed = nn.ConvTranspose2d(cin, cout, 4, 2, 1).to(memory_format=torch.channels_last)
        x = torch.randn(1, cin, side, side).contiguous(memory_format=torch.channels_last)
        resized = ms_per_call(
            lambda t, conv=plain: conv(upsample.nearest_upsample2x(t)), x, args.precision
        )
        upsample.TRANSPOSED_MIN_POSITIONS = 0  # this layer as a transposed conv at every size
        folded = ms_per_call(layer, x, args.precision)
        scale = ms_per_call(transposed, x, args.precision)
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
