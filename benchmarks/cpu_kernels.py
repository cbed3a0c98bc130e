"""What this CPU's kernels do in float32 and bf16: the measurements behind the precision rule.

    flock /tmp/bench.lock python benchmarks/cpu_kernels.py [--threads 2]

Prints the CPU model and capability, then, in float32 and in bf16:

- a 2048x2048 matrix product (GFLOP/s): emulated bf16 (AVX2 CPUs) runs at a tiny fraction of
  float32, native bf16 (AVX512_BF16, AMX) at several times float32;
- the ResNet-9 block convolution (256 -> 256 channels, 3x3, 64x64 map, batch 1), forward and
  forward + backward (ms), the layer that dominates a ResNet-9 iteration;
- float32 only: the same convolution as a Winograd F(2x2, 3x3) written with PyTorch ops (input
  transform, 16 batched matrix products, output transform), forward, beside oneDNN's direct
  kernel, and the 16 matrix products alone. It is the arithmetic saving (2.25x fewer
  multiplications) left for ResNet-9 in float32; the row says whether the transforms eat it.

``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python benchmarks/cpu_kernels.py
--float32-only`` shows an AVX2 CPU's float32 kernels on a newer x86 CPU (bf16 would be emulated
there while the CPU's flags still say native, hence float32 only).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from cyclegan.accel.hardware import detect_cpu

# Winograd F(2x2, 3x3) (Lavin & Gray 2016): Y = A^T [(G g G^T) * (B^T d B)] A on 4x4 tiles.
WINOGRAD_G = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def _input_transform(d: torch.Tensor, dim: int) -> torch.Tensor:
    """B^T along ``dim`` (size 4)."""
    d0, d1, d2, d3 = d.unbind(dim)
    return torch.stack((d0 - d2, d1 + d2, d2 - d1, d1 - d3), dim)


def _output_transform(m: torch.Tensor, dim: int) -> torch.Tensor:
    """A^T along ``dim`` (size 4 -> 2)."""
    m0, m1, m2, m3 = m.unbind(dim)
    return torch.stack((m0 + m1 + m2, m1 - m2 - m3), dim)


def winograd_weight(weight: torch.Tensor) -> torch.Tensor:
    """(K, C, 3, 3) -> (16, C, K): G g G^T per filter, ready for the batched products."""
    g = WINOGRAD_G.to(weight)
    k, c = weight.shape[:2]
    return torch.einsum("ij,kcjl,ml->imck", g, weight, g).reshape(16, c, k)


def winograd_conv3x3(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Valid 3x3 convolution, stride 1, of padded ``x`` (N, C, H+2, W+2), H and W even."""
    n, c, hp, wp = x.shape
    th, tw = (hp - 2) // 2, (wp - 2) // 2
    tiles = x.permute(0, 2, 3, 1).unfold(1, 4, 2).unfold(2, 4, 2)  # N, th, tw, C, 4, 4
    d = tiles.permute(4, 5, 0, 1, 2, 3)  # 4, 4, N, th, tw, C
    v = _input_transform(_input_transform(d, 0), 1).reshape(16, n * th * tw, c)
    m = torch.bmm(v, u).view(4, 4, n, th, tw, u.shape[-1])
    y = _output_transform(_output_transform(m, 0), 1)  # 2, 2, N, th, tw, K
    return y.permute(2, 5, 3, 0, 4, 1).reshape(n, -1, 2 * th, 2 * tw)


def milliseconds(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall time of ``fn`` in ms, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1e3


def kernel_times(dtype: torch.dtype, native_bf16: bool, repeats: int) -> dict[str, float]:
    """The matrix product (GFLOP/s) and the ResNet-9 convolution (ms) in ``dtype``."""
    # Emulated bf16 is so slow that one call is enough to show it.
    warmup = 3
    if dtype == torch.bfloat16 and not native_bf16:
        repeats, warmup = 1, 1
    size = 2048
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    x = torch.randn(1, 256, 66, 66, dtype=dtype)
    w = (torch.randn(256, 256, 3, 3) * 0.02).to(dtype)
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()

    def forward_backward() -> None:
        F.conv2d(xg, wg).sum().backward()

    with torch.no_grad():
        matmul = milliseconds(lambda: a @ b, repeats, warmup)
        forward = milliseconds(lambda: F.conv2d(x, w), repeats, warmup)
    return {
        "matmul 2048x2048, GFLOP/s": 2 * size**3 / matmul / 1e6,
        "conv 256->256 3x3 64x64, forward, ms": forward,
        "conv 256->256 3x3 64x64, forward + backward, ms": milliseconds(
            forward_backward, repeats, warmup
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument(
        "--float32-only", action="store_true", help="skip bf16 (for an ISA-limited run)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = detect_cpu()
    print(
        f"CPU {cpu.model} ({cpu.capability}), {torch.get_num_threads()} threads, "
        f"ATen capability {torch.backends.cpu.get_cpu_capability()}, median of {args.repeats}"
    )
    torch.manual_seed(0)

    dtypes = [torch.float32] if args.float32_only else [torch.float32, torch.bfloat16]
    columns = [kernel_times(dtype, cpu.native_bf16, args.repeats) for dtype in dtypes]
    print(f"{'kernel':<48}" + "".join(f"{str(d).removeprefix('torch.'):>10}" for d in dtypes))
    for name in columns[0]:
        print(f"{name:<48}" + "".join(f"{column[name]:>10.1f}" for column in columns))

    x = torch.randn(1, 256, 66, 66)
    w = torch.randn(256, 256, 3, 3) * 0.02
    u = winograd_weight(w)
    error = (winograd_conv3x3(x, u) - F.conv2d(x, w)).abs().max().item()
    v = torch.randn(16, 32 * 32, 256)
    with torch.no_grad():
        direct = milliseconds(lambda: F.conv2d(x, w), args.repeats)
        winograd = milliseconds(lambda: winograd_conv3x3(x, u), args.repeats)
        products = milliseconds(lambda: torch.bmm(v, u), args.repeats)
    print(
        f"\nfloat32 conv 256->256 3x3 64x64, forward: direct (oneDNN) {direct:.1f} ms, "
        f"Winograd F(2x2,3x3) {winograd:.1f} ms (its 16 matrix products alone {products:.1f} ms; "
        f"max abs difference {error:.1e})"
    )


if __name__ == "__main__":
    main()
