"""Throughput of FID Inception feature extraction, and wall time of a full evaluation.

    flock /tmp/bench.lock python benchmarks/eval_throughput.py
    python benchmarks/eval_throughput.py --skip-full --images 32   # quick look

Part 1 times the extractor alone (TF bilinear resize 256 -> 299, Inception pool3) on real Monet
paintings for fp32 / bf16 and several batch sizes, after two warm-up batches (TorchScript
profiles the first calls). Part 2 runs the whole `evaluate()` as `evaluate.py` does: the 7,038
photos of photo_tfrec standing in for generated images, against the 300 Monets of monet_tfrec,
splitting the time into reading/decoding + features and scores (FID, KID, memorization
distance); then it times the 300 Monet features with a cold and a warm real-set cache.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from cyclegan.accel import detect_cpu
from cyclegan.data.images import decode_image
from cyclegan.data.sources import iter_records
from cyclegan.metrics.cache import FeatureCache
from cyclegan.metrics.evaluation import evaluate, read_image_set
from cyclegan.metrics.inception import InceptionFeatureExtractor
from cyclegan.metrics.scores import compute_scores

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gan-getting-started"


def feature_throughput(images: torch.Tensor, precision: str, batch_size: int) -> float:
    """Images/s of the extractor on ``images`` (uint8 [N, 3, H, W]) after two warm-up batches."""
    extractor = InceptionFeatureExtractor(precision)  # type: ignore[arg-type]
    for _ in range(2):
        extractor(images[:batch_size])
    start = time.perf_counter()
    for batch in images.split(batch_size):
        extractor(batch)
    return images.shape[0] / (time.perf_counter() - start)


def full_evaluation(data: Path, precision: str, batch_size: int) -> None:
    """Print the wall time of evaluate() (cold real-set cache), split into features and scores."""
    with tempfile.TemporaryDirectory() as cache_dir:
        extractor = InceptionFeatureExtractor(precision)  # type: ignore[arg-type]
        start = time.perf_counter()
        result = evaluate(
            data / "photo_tfrec",
            data / "monet_tfrec",
            extractor,
            batch_size=batch_size,
            cache_dir=cache_dir,
        )
        total = time.perf_counter() - start
    start = time.perf_counter()
    compute_scores(result.generated.features, result.real.features, real_stats=result.real.stats)
    scores_time = time.perf_counter() - start
    s = result.scores
    images = s.num_generated + s.num_real
    print(
        f"| {precision:4} | {batch_size:5} | {s.num_generated} vs {s.num_real} | {total:7.1f} | "
        f"{total - scores_time:7.1f} | {images / (total - scores_time):5.1f} | "
        f"{scores_time:5.1f} | {s.fid:.3f} | {s.kid_mean:.5f} ± {s.kid_std:.5f} | "
        f"{s.memorization:.4f} | {s.mifid:.3f} |",
        flush=True,
    )


def real_set_cache(data: Path, batch_size: int) -> None:
    """Print the time to get the Monet features with a cold and with a warm cache (fp32)."""
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = FeatureCache(cache_dir)
        extractor = InceptionFeatureExtractor("fp32")
        for label in ("cold", "warm"):
            start = time.perf_counter()
            read_image_set(data / "monet_tfrec", extractor, batch_size, cache=cache)
            print(f"| {label} | {time.perf_counter() - start:6.1f} |", flush=True)


def main() -> None:
    """Run the benchmark and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--images", type=int, default=96, help="images per throughput row")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 8, 16, 32])
    # bf16 only where it is native: emulated bf16 is tens of times slower than fp32.
    default = ["fp32", "bf16"] if detect_cpu().native_bf16 else ["fp32"]
    parser.add_argument("--precisions", nargs="+", default=default)
    parser.add_argument("--full-batch-size", type=int, default=8)
    parser.add_argument("--skip-full", action="store_true", help="only the throughput table")
    args = parser.parse_args()
    if not (args.data / "monet_jpg").is_dir():
        raise SystemExit(f"{args.data}: Kaggle gan-getting-started data not found")

    print(
        f"CPU {detect_cpu().summary()}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads\n"
    )
    records = list(iter_records(args.data / "monet_jpg"))[: args.images]
    images = torch.stack([decode_image(r.data, r.name) for r in records])
    print(f"Feature extraction, {images.shape[0]} Monet paintings 256x256 (resize included)\n")
    feature_throughput(images[:8], args.precisions[0], 4)  # one-off process warm-up (oneDNN)
    print("| precision | batch | images/s |")
    print("|-----------|------:|---------:|")
    for precision in args.precisions:
        for batch_size in args.batch_sizes:
            rate = feature_throughput(images, precision, batch_size)
            print(f"| {precision:9} | {batch_size:5} | {rate:8.1f} |", flush=True)

    if args.skip_full:
        return
    print("\nFull evaluation: photo_tfrec (as generated) vs monet_tfrec, cold real-set cache\n")
    print(
        "| prec | batch | images | total s | read+decode+features s | img/s | scores s | FID | "
        "KID | memorization | MiFID |"
    )
    print("|" + "|".join(["---"] * 11) + "|")
    for precision in args.precisions:
        full_evaluation(args.data, precision, args.full_batch_size)
    print("\nMonet features (monet_tfrec, 300 images, fp32) with the real-set cache\n")
    print("| cache | seconds |")
    print("|---|---|")
    real_set_cache(args.data, args.full_batch_size)


if __name__ == "__main__":
    main()
