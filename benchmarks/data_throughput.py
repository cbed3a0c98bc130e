"""Throughput of the training DataLoader: float images in [-1, 1] per second, and peak memory.

Both domains of the DataModule read the Kaggle photo shards (7,038 records), so every training
step delivers ``2 x batch_size`` decoded, resized-if-needed, float32 images in [-1, 1]
(``on_after_batch_transfer`` applied, as training sees them), timed over one epoch; peak
memory (PSS of the main process and its workers) is sampled over a second epoch. CPU ms/img is
the CPU time of the main process and the workers per image: on a machine shared with other jobs
it varies less than img/s. Index validation (first run only, cached) is timed separately. The
last row reads a 10x larger dataset (each shard linked 10 times) for the same number of steps,
to check that memory does not grow with the dataset.

Run:  flock /tmp/bench.lock python benchmarks/data_throughput.py [--batch-sizes 1 16]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from cyclegan.data.datamodule import CycleGANDataModule

PHOTOS = Path(__file__).resolve().parents[1] / "../shared/data/gan-getting-started/photo_tfrec"


def pss_mib(pid: int) -> float:
    """Proportional set size of ``pid`` and its child processes (DataLoader workers), in MiB:
    resident memory with pages shared between the processes counted once."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pss = next(line for line in rollup.splitlines() if line.startswith("Pss:"))
        total += int(pss.split()[1])
        pending.extend(int(child) for child in children)
    return total / 1024


class PeakMemory:
    """Samples the PSS of this process tree every 20 ms in a thread."""

    def __enter__(self) -> PeakMemory:
        self.peak = pss_mib(os.getpid())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, pss_mib(os.getpid()))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


def consume(dm: CycleGANDataModule, loader: DataLoader) -> tuple[int, float, float]:
    """One epoch of ``loader`` as training sees it; images, wall seconds and main-process CPU
    seconds (worker start-up and the first batch not timed)."""
    iterator = iter(loader)
    first = dm.on_after_batch_transfer(next(iterator), 0)
    assert first["photo"].dtype == torch.float32
    started = time.perf_counter()
    cpu_started = time.process_time()
    images = 0
    for batch in iterator:
        batch = dm.on_after_batch_transfer(batch, 0)
        images += sum(int(images_.shape[0]) for images_ in batch.values())
    return images, time.perf_counter() - started, time.process_time() - cpu_started


def measure(root: Path, index_dir: Path, batch_size: int, workers: int, steps: int) -> dict:
    """Throughput in one epoch, then peak memory in a second one.

    Memory is sampled in its own epoch because reading ``smaps_rollup`` of three processes
    takes about 15 ms of CPU: sampled every 20 ms, it would take most of a core from the
    loader being timed.
    """
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
    children_before = _children_cpu_s()
    images, elapsed, main_cpu = consume(dm, loader)
    with PeakMemory() as memory:
        consume(dm, loader)
    del loader
    gc.collect()  # shuts the workers down, so their CPU time is accounted
    time.sleep(0.5)
    # Worker CPU of both epochs (and their start-up), attributed half to the timed one.
    worker_cpu = (_children_cpu_s() - children_before) / 2
    return {
        "records": dm.num_records("photo"),
        "setup_s": setup_s,
        "img_s": images / elapsed,
        "cpu_ms": 1e3 * (main_cpu + worker_cpu) / images,
        "peak_mib": memory.peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--images", type=int, default=14076, help="images per measurement")
    parser.add_argument("--row", nargs=4, help=argparse.SUPPRESS)  # root index batch workers
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.row:  # one measurement, in a fresh process so rows do not share memory
        root, index_dir, batch_size, workers = args.row
        steps = args.images // (2 * int(batch_size))
        print(
            json.dumps(measure(Path(root), Path(index_dir), int(batch_size), int(workers), steps))
        )
        return
    if not PHOTOS.is_dir():
        raise SystemExit(f"Kaggle photo TFRecords not found at {PHOTOS}")
    from cyclegan.accel import detect_cpu

    print(
        f"CPU {detect_cpu().summary()}; torch {torch.__version__}, {os.cpu_count()} CPUs, "
        f"torch threads 1, data {PHOTOS}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        roots = {1: make_root(base, 1), 10: make_root(base, 10)}
        index_dir = base / "index"
        started = time.perf_counter()
        CycleGANDataModule(str(roots[1]), index_dir=str(index_dir)).setup()
        took = time.perf_counter() - started
        print(f"first-run validation and indexing of the 7,038 records: {took:.1f} s")
        columns = ("dataset", 8), ("records", 8), ("batch", 5), ("workers", 7), ("img/s", 8)
        print(" ".join(name.rjust(width) for name, width in columns), "CPU ms/img  peak PSS MiB")
        runs = [(1, b, w) for b in args.batch_sizes for w in args.workers]
        runs.append((10, args.batch_sizes[0], max(args.workers)))
        for copies, batch_size, workers in runs:
            command = [sys.executable, __file__, "--images", str(args.images), "--row"]
            command += [str(roots[copies]), str(index_dir), str(batch_size), str(workers)]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            row = json.loads(output.splitlines()[-1])
            print(
                f"{f'{copies}x':>8} {row['records']:>8} {batch_size:>5} {workers:>7} "
                f"{row['img_s']:>8.0f} {row['cpu_ms']:>10.3f} {row['peak_mib']:>12.0f}"
            )


if __name__ == "__main__":
    main()
