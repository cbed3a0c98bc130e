"""What a ``last.ckpt`` interval costs: seconds per save against seconds per training iteration.

    flock /tmp/bench.lock python benchmarks/checkpoint_cost.py [--iters 5] [-- experiment=monet ...]

Trains ``--warmup`` + ``--iters`` iterations of a recipe (default ``experiment=monet
accelerator=cpu``: two U-Net-256 generators and their EMA, two PatchGANs, Adam states) through
Lightning on in-memory random 256² images, with the project's checkpoint callback saving
``last.ckpt`` after every iteration into a temporary folder under ``--dir`` (default: the
current folder, the disk a run's ``outputs/`` are on; removed at the end). A save is timed as a
run pays it: Lightning's checkpoint dict, ``torch.save``, flush to disk, rename. Lightning runs
checkpoint callbacks after the others, so the iteration times do not include the saves.

Prints the machine, the checkpoint's size, the medians of both times, and the share of a run's
time that saving takes with a save every 100 iterations (``every_n_train_steps=200`` alone, the
default before ``every_n_minutes``) and with one every 10 minutes (today's default), and the
iteration time under which saves every 100 iterations would take half of a run. ``--dry-run``:
tiny networks at 64 px, to check the code path.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from train_step import run_train  # noqa: E402

DEFAULT = ["experiment=monet", "accelerator=cpu"]
TINY = [
    "model.generator.ngf=8",
    "model.generator.num_downs=6",
    "model.discriminator.ndf=8",
    "model.discriminator.n_layers=2",
]
STEP_INTERVAL = 100  # iterations between saves with every_n_train_steps=200 (G and D steps)
MINUTES = 10.0  # conf/callbacks/default.yaml's every_n_minutes


def compose_config(overrides: list[str], dry: bool) -> Any:
    """The training config of the benchmark run."""
    from hydra import compose, initialize_config_dir

    import cyclegan.config  # noqa: F401  (resolvers)

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("train", overrides=[*overrides, *(TINY if dry else [])])


def measure(cfg: Any, size: int, warmup: int, iters: int, folder: Path) -> dict[str, Any]:
    """Seconds of each timed iteration and of each save after one, and the file's size."""
    import lightning as L

    from cyclegan.callbacks import SafeModelCheckpoint

    saves: list[float] = []

    class TimedCheckpoint(SafeModelCheckpoint):
        def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
            start = time.perf_counter()
            super()._save_checkpoint(trainer, filepath)
            saves.append(time.perf_counter() - start)

    checkpoint = TimedCheckpoint(
        dirpath=folder, save_last=True, save_top_k=0, every_n_train_steps=2, every_n_minutes=None
    )
    return {
        "iteration_s": run_train(cfg, 1, size, warmup, iters, checkpoint),
        "save_s": saves[warmup:],
        "bytes": (folder / "last.ckpt").stat().st_size,
    }


def report(result: dict[str, Any], machine: str, recipe: str, precision: str) -> str:
    """The printed summary of one measurement."""
    iteration = statistics.median(result["iteration_s"])
    save = statistics.median(result["save_s"])
    every_steps = save / (save + STEP_INTERVAL * iteration)
    every_minutes = save / (save + 60.0 * MINUTES)
    return "\n".join(
        [
            f"machine: {machine}",
            f"recipe: {recipe} ({precision})",
            f"checkpoint: {result['bytes'] / 1e9:.2f} GB",
            f"save, s (median of {len(result['save_s'])}): {save:.2f}",
            f"iteration without a save, s (median of {len(result['iteration_s'])}): "
            f"{iteration:.3f}",
            "share of a run's time spent saving last.ckpt:",
            f"  every {STEP_INTERVAL} iterations (every_n_train_steps=200): {every_steps:.1%}",
            f"  every {MINUTES:g} minutes (every_n_minutes={MINUTES:g}): {every_minutes:.1%}",
            f"saves every {STEP_INTERVAL} iterations take half of a run where an iteration "
            f"takes {save / STEP_INTERVAL:.3f} s or less",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="the disk to save to")
    parser.add_argument("--dry-run", action="store_true", help="tiny networks, 64 px")
    parser.add_argument("overrides", nargs="*", help=f"Hydra overrides (default: {DEFAULT})")
    args = parser.parse_args()
    if args.warmup < 0 or args.iters < 1:
        parser.error("--warmup must be >= 0 and --iters >= 1")
    overrides = args.overrides or DEFAULT
    size = 64 if args.dry_run else args.size
    cfg = compose_config(overrides, args.dry_run)

    from quality import machine  # benchmarks/quality.py: the rows' machine description

    with tempfile.TemporaryDirectory(prefix="checkpoint_cost.", dir=args.dir) as folder:
        result = measure(cfg, size, args.warmup, args.iters, Path(folder))
    print(report(result, machine(), " ".join(overrides), str(cfg.trainer.precision)))


if __name__ == "__main__":
    main()
