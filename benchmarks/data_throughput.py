"""Throughput of the training DataLoader: float images in [-1, 1] per second, and peak memory.

Both domains of the DataModule read the Kaggle photo shards (7,038 records), so every training
step delivers ``2 x batch_size`` decoded, resized-if-needed, float32 images in [-1, 1]
(``on_after_batch_transfer`` applied, as training sees them). Index validation (first run only,
cached) is timed separately. The last row reads a 10x larger dataset (each shard linked 10
times) for the same number of steps, to check that memory does not grow with the dataset.

Run:  flock /tmp/bench.lock python benchmarks/data_throughput.py [--batch-sizes 1 16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import torch

from cyclegan.data.datamodule import CycleGANDataModule

PHOTOS = Path(__file__).resolve().parents[1] / "../shared/data/gan-getting-started/photo_tfrec"


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its child processes (DataLoader workers), in MiB."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
        )
        pending.extend(int(child) for child in children)
    return total / 1024


class PeakMemory:
    """Samples the RSS of this process tree every 20 ms in a thread."""

    def __enter__(self) -> PeakMemory:
        self.peak = rss_mib(os.getpid())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mib(os.getpid()))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_root(base: Path, copies: int) -> Path:
    """A dataset root whose photo and monet folders both hold ``copies`` links to each shard."""
    root = base / f"x{copies}"
    for domain in ("photo_tfrec", "monet_tfrec"):
        folder = root / domain
        folder.mkdir(parents=True)
        for shard in sorted(PHOTOS.glob("*.tfrec")):
            for copy in range(copies):
                (folder / f"c{copy:02d}-{shard.name}").symlink_to(shard.resolve())
    return root


def measure(root: Path, index_dir: Path, batch_size: int, workers: int, steps: int) -> dict:
    dm = CycleGANDataModule(
        str(root),
        batch_size=batch_size,
        num_workers=workers,
        epoch_length=steps,
        index_dir=str(index_dir),
        pin_memory=False,
    )
    started = time.perf_counter()
    dm.setup()
    setup_s = time.perf_counter() - started
    loader = dm.train_dataloader()
    with PeakMemory() as memory:
        iterator = iter(loader)
        first = dm.on_after_batch_transfer(next(iterator), 0)  # worker start-up not timed
        started = time.perf_counter()
        images = 0
        for batch in iterator:
            batch = dm.on_after_batch_transfer(batch, 0)
            images += sum(int(images_.shape[0]) for images_ in batch.values())
        elapsed = time.perf_counter() - started
    assert first["photo"].dtype == torch.float32
    del iterator, loader
    return {
        "records": dm.num_records("photo"),
        "setup_s": setup_s,
        "img_s": images / elapsed,
        "peak_mib": memory.peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--images", type=int, default=14076, help="images per measurement")
    args = parser.parse_args()
    if not PHOTOS.is_dir():
        raise SystemExit(f"Kaggle photo TFRecords not found at {PHOTOS}")
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, torch threads 1, data {PHOTOS}")
    columns = ("dataset", 8), ("records", 8), ("batch", 5), ("workers", 7), ("img/s", 8)
    print(" ".join(name.rjust(width) for name, width in columns), "peak RSS MiB")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        roots = {1: make_root(base, 1), 10: make_root(base, 10)}
        index_dir = base / "index"
        started = time.perf_counter()
        CycleGANDataModule(str(roots[1]), index_dir=str(index_dir)).setup()
        took = time.perf_counter() - started
        print(f"(first-run validation and indexing of the 7,038 records: {took:.1f} s)")
        runs = [(1, b, w) for b in args.batch_sizes for w in args.workers]
        runs.append((10, args.batch_sizes[0], max(args.workers)))
        for copies, batch_size, workers in runs:
            steps = args.images // (2 * batch_size)
            row = measure(roots[copies], index_dir, batch_size, workers, steps)
            print(
                f"{f'{copies}x':>8} {row['records']:>8} {batch_size:>5} {workers:>7} "
                f"{row['img_s']:>8.0f} {row['peak_mib']:>12.0f}"
            )


if __name__ == "__main__":
    main()
