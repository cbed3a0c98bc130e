"""Seconds per CycleGAN training iteration (G step + D step) and peak memory, default vs naive.

    flock /tmp/bench.lock python benchmarks/train_step.py [--models unet resnet] [--iters 5]

Each (model, mode) runs in its own process (peak RSS is per process) through Lightning, on
in-memory batches of random images, with the networks at full width:

- ``unet``: the Kaggle tutorial recipe (``experiment=kaggle_tutorial``: U-Net-256, BCE, no pool);
- ``resnet``: the paper recipe (``experiment=paper``: ResNet-9, LSGAN, pool of 50).

Modes:

- ``default``: the composed project config for ``--accelerator``: the precision and speed plan
  chosen for this hardware (``cyclegan/accel``; bf16 autocast only on CPUs with native bf16),
  fused Adam, ``compile`` as configured. ``--override MODEL:KEY=VALUE`` adds a Hydra override
  to one model's default run.
- ``naive``: float32, eager, contiguous (NCHW) tensors, ``torch.optim.Adam`` with
  ``foreach=True``, PyTorch's own kernels throughout (``speed.enabled=false``).

``--tasks infer`` times the generator alone (``no_grad``, eval mode); ``--batches 1 8 32`` runs
several batch sizes (``benchmarks/gpu_check.sh`` does both on a CUDA GPU). ``--dry-run``
runs every configuration at tiny sizes (64 px, ngf=ndf=8, one timed iteration) to check the
code path. Warm-up iterations (oneDNN primitive creation, compilation) are not timed. The
table starts with the CPU model and capability; every ratio compares runs of this one
invocation on this machine.

Each row also counts its floating-point work (``torch.utils.flop_counter`` over one more,
untimed iteration: convolutions and matrix products, forward and backward) and divides it by
its median time. The header gives the matrix-product rate of this device measured in the same
run (2048³ products in each precision the rows use), so ``floor s`` (the row's work at that
rate) says how far direct kernels could still take the row: only an algorithm that does less
arithmetic (Winograd, FFT) can go below it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RECIPES = {"unet": "experiment=kaggle_tutorial", "resnet": "experiment=paper"}
NAIVE = [
    "trainer.precision=32-true",
    "module.optimizer._target_=torch.optim.Adam",
    "module.optimizer.fused=false",
    "+module.optimizer.foreach=true",
    "speed.enabled=false",
]
TINY = [
    "model.generator.ngf=8",
    "model.discriminator.ndf=8",
    "model.discriminator.n_layers=2",
]


def compose_config(model: str, mode: str, accelerator: str, overrides: list[str], dry: bool):
    """The training config of one benchmark run."""
    from hydra import compose, initialize_config_dir

    import cyclegan.config  # noqa: F401  (resolvers)

    items = [RECIPES[model], f"accelerator={accelerator}"]
    if model == "unet" and dry:
        items.append("model.generator.num_downs=6")
    items += TINY if dry else []
    items += NAIVE if mode == "naive" else overrides
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("train", overrides=items)


class IterationTimer:
    """Wall-clock seconds of each training iteration (from batch start to batch end)."""

    def __init__(self, cuda: bool) -> None:
        import lightning as L

        outer = self

        class _Callback(L.Callback):
            def on_train_batch_start(self, *args: Any) -> None:
                outer._sync()
                outer._start = time.perf_counter()

            def on_train_batch_end(self, *args: Any) -> None:
                outer._sync()
                outer.seconds.append(time.perf_counter() - outer._start)

        self.cuda = cuda
        self.seconds: list[float] = []
        self._start = 0.0
        self.callback = _Callback()

    def _sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()


def images(n: int, batch: int, size: int) -> list[dict[str, Any]]:
    import torch

    g = torch.Generator().manual_seed(0)
    return [
        {d: torch.rand(batch, 3, size, size, generator=g) * 2 - 1 for d in ("photo", "monet")}
        for _ in range(n)
    ]


def run_train(
    cfg: Any, batch: int, size: int, warmup: int, iters: int, checkpoint: Any = None
) -> list[float]:
    """Seconds of each iteration after ``warmup``; ``checkpoint``: a ModelCheckpoint to run too
    (Lightning calls it after the timer, so the times do not include its saves)."""
    import lightning as L
    from hydra.utils import instantiate
    from torch.utils.data import DataLoader

    module = instantiate(cfg.module)
    cuda = cfg.trainer.accelerator == "gpu"
    timer = IterationTimer(cuda)
    trainer = L.Trainer(
        accelerator=cfg.trainer.accelerator,
        devices=1,
        precision=cfg.trainer.precision,
        max_steps=2 * (warmup + iters),
        logger=False,
        enable_checkpointing=checkpoint is not None,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer.callback] + ([] if checkpoint is None else [checkpoint]),
    )
    loader = DataLoader(images(warmup + iters, batch, size), batch_size=None)
    trainer.fit(module, train_dataloaders=loader)
    return timer.seconds[warmup:]


def count_train_flops(cfg: Any, batch: int, size: int) -> int:
    """Floating-point operations of one training iteration (a fresh module, untimed)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run_train(cfg, batch, size, warmup=0, iters=1)
    return counter.get_total_flops()


def run_infer(cfg: Any, batch: int, size: int, warmup: int, iters: int) -> tuple[list[float], int]:
    """Seconds per generator forward pass, and the floating-point operations of one."""
    import contextlib

    import torch
    from hydra.utils import instantiate
    from torch.utils.flop_counter import FlopCounterMode

    from cyclegan.accel import plan_for, speed_up

    cuda = cfg.trainer.accelerator == "gpu"
    device = torch.device("cuda" if cuda else "cpu")
    net = instantiate(cfg.model.generator)().eval().to(device)
    precision = str(cfg.trainer.precision)
    plan = plan_for(device, precision, cfg.model.channels_last, cfg.speed, inference=True)
    speed_up(net, plan, inference=True)
    x = images(1, batch, size)[0]["photo"].to(device).contiguous(memory_format=plan.memory_format)
    half = str(cfg.trainer.precision).startswith(("bf16", "16"))
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16) if half else contextlib.nullcontext()
    )
    seconds = []
    with torch.no_grad(), autocast:
        for _ in range(warmup + iters):
            start = time.perf_counter()
            net(x)
            if cuda:
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - start)
        with FlopCounterMode(display=False) as counter:
            net(x)
    return seconds[warmup:], counter.get_total_flops()


def gemm_rate(dtype_name: str, cuda: bool) -> float:
    """GFLOP/s of a 2048³ matrix product in ``dtype_name`` on this device: the better of the
    BLAS product (``a @ b``) and oneDNN's (a 1×1 convolution), median of 7 each. On AMD CPUs
    MKL's float32 product may not use AVX-512, so one library alone can understate the rate."""
    import torch
    import torch.nn.functional as F

    device = "cuda" if cuda else "cpu"
    dtype = getattr(torch, dtype_name)
    n = 2048
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    x = torch.randn(1, n, 32, n // 32, device=device, dtype=dtype)
    w = torch.randn(n, n, 1, 1, device=device, dtype=dtype)

    def seconds(fn: Any) -> float:
        times = []
        for _ in range(10):
            start = time.perf_counter()
            fn()
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return sorted(times[3:])[3]

    with torch.no_grad():
        best = min(seconds(lambda: a @ b), seconds(lambda: F.conv2d(x, w)))
    return 2 * n**3 / best / 1e9


def compute_dtype(precision: str) -> str:
    """The dtype the convolutions of a run with this Lightning precision compute in."""
    if precision.startswith("bf16"):
        return "bfloat16"
    if precision.startswith("16"):
        return "float16"
    return "float32"


def worker(args: argparse.Namespace) -> None:
    """One (model, mode, task) in this process, at each batch size; prints JSON lines."""
    import torch

    model, mode, task = args.worker
    overrides = [o.split(":", 1)[1] for o in args.override if o.startswith(f"{model}:")]
    cfg = compose_config(model, mode, args.accelerator, overrides, args.dry_run)
    size = 64 if args.dry_run else args.size
    for batch in args.batches:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        if task == "infer":
            seconds, flops = run_infer(cfg, batch, size, args.warmup, args.iters)
        else:
            seconds = run_train(cfg, batch, size, args.warmup, args.iters)
            flops = count_train_flops(cfg, batch, size)
        seconds = sorted(seconds)
        result = {
            "task": task,
            "batch": batch,
            "model": model,
            "mode": mode,
            "median": seconds[len(seconds) // 2],
            "best": seconds[0],
            "flops": flops,
            "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "gpu_gb": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0,
            "precision": str(cfg.trainer.precision),
            "threads": torch.get_num_threads(),
        }
        print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--modes", nargs="+", default=["default", "naive"])
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--tasks", nargs="+", default=["train"], choices=["train", "infer"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--override", action="append", default=[], metavar="MODEL:KEY=VALUE")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, one timed iteration")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dry_run:
        args.warmup, args.iters = 1, 1
    if args.worker:
        worker(args)
        return

    rows = []
    for task in args.tasks:
        for model in args.models:
            for mode in args.modes:
                cmd = [sys.executable, __file__, "--worker", model, mode, task, *sys.argv[1:]]
                env = os.environ | {"PYTHONPATH": str(REPO)}
                done = subprocess.run(cmd, capture_output=True, text=True, env=env)
                lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
                if done.returncode != 0 or len(lines) != len(args.batches):
                    sys.exit(f"{task} {model}/{mode} failed:\n{done.stderr[-4000:]}")
                rows += [json.loads(line[len("RESULT ") :]) for line in lines]
                print(f"  ran {task} {model}/{mode}", file=sys.stderr, flush=True)
    print_table(rows, args)


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    from cyclegan.accel import detect_cpu

    size = 64 if args.dry_run else args.size
    cuda = args.accelerator == "gpu"
    cpu = detect_cpu()
    print(f"\nCPU {cpu.summary()}")
    print(
        f"{args.accelerator}, {size}x{size}, {rows[0]['threads']} CPU threads, median of "
        f"{args.iters} after {args.warmup} warm-up (train: one G step + one D step)"
    )
    # Emulated bf16 (a CPU without native bf16) runs at a tiny fraction of float32: no rate.
    dtypes = {compute_dtype(r["precision"]) for r in rows}
    emulated = {"bfloat16"} if not cuda and not cpu.native_bf16 else set()
    peaks = {d: gemm_rate(d, cuda) for d in sorted(dtypes - emulated)}
    print(
        "matrix-product rate here (2048³, best of BLAS and oneDNN), GFLOP/s: "
        + ", ".join(f"{d} {g:.0f}" for d, g in peaks.items())
    )
    memory = "GPU GB" if cuda else "RSS GB"
    header = f"{'task':6} {'batch':>5} {'model':7} {'mode':8} {'precision':11} {'s/step':>8}"
    print(
        f"{header} {'img/s':>8} {memory:>7} {'vs naive':>9} {'GFLOP':>7} {'GFLOP/s':>8} "
        f"{'floor s':>8}"
    )
    naive = {(r["task"], r["batch"], r["model"]): r["median"] for r in rows if r["mode"] == "naive"}
    for r in rows:
        key = (r["task"], r["batch"], r["model"])
        ratio = f"{naive[key] / r['median']:.2f}x" if key in naive else "-"
        gb = r["gpu_gb"] if cuda else r["rss_gb"]
        gflop = r["flops"] / 1e9
        peak = peaks.get(compute_dtype(r["precision"]))
        floor = f"{gflop / peak:8.3f}" if peak else f"{'-':>8}"
        print(
            f"{r['task']:6} {r['batch']:5d} {r['model']:7} {r['mode']:8} {r['precision']:11} "
            f"{r['median']:8.3f} {r['batch'] / r['median']:8.1f} {gb:7.2f} {ratio:>9} "
            f"{gflop:7.1f} {gflop / r['median']:8.1f} {floor}"
        )


if __name__ == "__main__":
    main()
