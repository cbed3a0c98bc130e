"""Where the time of one CycleGAN training iteration goes (torch.profiler, CPU).

    flock /tmp/bench.lock python benchmarks/profile_step.py [--model unet] [--mode default]

Runs the same configurations as ``benchmarks/train_step.py`` through Lightning, profiles one
iteration after the warm-up and prints the time per kind of work (convolutions forward and
backward, dtype casts and copies, the optimizer, normalisation, ...) and the top operators.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from train_step import compose_config, images  # noqa: E402

KINDS = {
    "convolution backward": ("convolution_backward",),
    "convolution forward": ("_convolution", "mkldnn_convolution", "conv"),
    "casts and copies": ("copy_", "_to_copy", "clone", "contiguous"),
    "normalisation": ("batch_norm", "instance_norm", "group_norm"),
    "activations": ("relu", "leaky_relu", "threshold", "tanh"),
    "gradient accumulation": ("add_",),
}


def kind_of(event: Any) -> str:
    """The kind of work of a profiler event: anything under ``Optimizer.step`` is optimizer."""
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith("Optimizer.step"):
            return "optimizer (Adam)"
        parent = parent.cpu_parent
    op = event.name.removeprefix("aten::")
    for kind, needles in KINDS.items():
        if any(op.startswith(n) or op == n for n in needles):
            return kind
    return "other"


def main() -> None:
    import lightning as L
    import torch
    from hydra.utils import instantiate
    from torch.profiler import ProfilerActivity, profile
    from torch.utils.data import DataLoader

    from cyclegan.accel import detect_cpu

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="unet", choices=["unet", "resnet"])
    parser.add_argument("--mode", default="default", choices=["default", "naive"])
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()

    cfg = compose_config(args.model, args.mode, "cpu", args.override, dry=False)
    module = instantiate(cfg.module)
    state: dict[str, Any] = {}

    class Profile(L.Callback):
        def on_train_batch_start(self, trainer: L.Trainer, *rest: Any) -> None:
            if trainer.fit_loop.total_batch_idx == args.warmup:
                state["prof"] = profile(activities=[ProfilerActivity.CPU]).__enter__()

        def on_train_batch_end(self, trainer: L.Trainer, *rest: Any) -> None:
            if "prof" in state and "done" not in state:
                state["prof"].__exit__(None, None, None)
                state["done"] = True

    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        precision=cfg.trainer.precision,
        max_steps=2 * (args.warmup + 1),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Profile()],
    )
    trainer.fit(
        module, train_dataloaders=DataLoader(images(args.warmup + 1, 1, 256), batch_size=None)
    )

    events = state["prof"].key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    kinds: dict[str, float] = {}
    for event in state["prof"].events():
        kind = kind_of(event)
        kinds[kind] = kinds.get(kind, 0.0) + event.self_cpu_time_total
    print(
        f"\nCPU {detect_cpu().summary()}\n{args.model} / {args.mode} ({cfg.trainer.precision}, "
        f"{module.speed_plan}, {torch.get_num_threads()} threads): "
        f"{total / 1e6:.3f} s of CPU-op time in one iteration"
    )
    for kind, us in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:24} {us / 1e6:7.3f} s {100 * us / total:5.1f} %")
    print(f"\ntop {args.top} operators by self time:")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.top]:
        print(f"  {e.key[:40]:40} {e.self_cpu_time_total / 1e3:8.1f} ms  x{e.count}")


if __name__ == "__main__":
    main()
