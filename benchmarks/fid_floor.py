"""How low FID can go on the quality protocol's sample sizes: the score of real images.

docs/quality.md scores 500 translated photos against the 300 Monet paintings. FID estimated from
so few images is biased upwards: two disjoint draws from one distribution score well above 0.
A painter indistinguishable from Monet would score this bias, not 0. There are only 300 Monets,
so their floor at the protocol's sizes cannot be measured directly; this script measures

1. Monet against Monet: disjoint halves of the 300 paintings (150 against 150), over random splits;
2. photo against photo at the same 150 against 150, from the photos outside the scoring set;
3. photo against photo at the protocol's sizes: the 500 scoring photos (``photo_jpg``) against
   300 other photos, over random draws of the 300;

and prints the estimate 1 × 3 / 2 (the bias scales alike for both image kinds).

    python benchmarks/fid_floor.py [--data DIR] [--splits 10] [--precision fp32]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cyclegan.data.sources import iter_records  # noqa: E402
from cyclegan.metrics.evaluation import image_batches, read_image_set  # noqa: E402
from cyclegan.metrics.features import FeatureExtractor, extract_features  # noqa: E402
from cyclegan.metrics.fid import FeatureStats, frechet_distance  # noqa: E402
from cyclegan.metrics.inception import InceptionFeatureExtractor  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/gan-getting-started"


def fid(a: np.ndarray, b: np.ndarray) -> float:
    return frechet_distance(FeatureStats.from_features(a), FeatureStats.from_features(b), a)


def split_fids(
    features: np.ndarray, sizes: tuple[int, int], splits: int, rng: np.random.Generator
) -> list[float]:
    """FID of two disjoint random subsets of ``features`` of ``sizes``, for each split."""
    if sum(sizes) > len(features):
        raise SystemExit(f"fid_floor.py: need {sum(sizes)} images, have {len(features)}")
    scores = []
    for _ in range(splits):
        order = rng.permutation(len(features))
        scores.append(fid(features[order[: sizes[0]]], features[order[sizes[0] : sum(sizes)]]))
    return scores


def other_photos(
    photo_tfrec: Path,
    exclude: set[str],
    count: int,
    batch_size: int,
    extractor: FeatureExtractor,
) -> np.ndarray:
    """Features of the first ``count`` TFRecord photos whose names are not in ``exclude``."""
    records = (r for r in iter_records(photo_tfrec) if Path(r.name).stem not in exclude)
    bad: list[tuple[str, str]] = []
    features = extract_features(
        image_batches(itertools.islice(records, count), batch_size, bad), extractor
    )
    if bad:
        raise SystemExit(f"fid_floor.py: {len(bad)} photos could not be decoded, first: {bad[0]}")
    return features


def describe(scores: list[float]) -> str:
    spread = f"min {min(scores):.1f}, max {max(scores):.1f}"
    return f"{np.mean(scores):6.1f} ± {np.std(scores, ddof=1):4.1f} ({spread})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the Kaggle data folder")
    parser.add_argument("--splits", type=int, default=10, help="random splits per estimate")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    extractor = InceptionFeatureExtractor(precision=args.precision)
    rng = np.random.default_rng(args.seed)

    monet = read_image_set(args.data / "monet_jpg", extractor, args.batch_size).features
    scoring = args.data / "photo_jpg"
    photos = read_image_set(scoring, extractor, args.batch_size).features
    names = {p.stem for p in scoring.iterdir()}
    others = other_photos(args.data / "photo_tfrec", names, 600, args.batch_size, extractor)
    print(f"images: {len(monet)} Monets, {len(photos)} scoring photos, {len(others)} other photos")

    half = len(monet) // 2
    monet_half = split_fids(monet, (half, half), args.splits, rng)
    photo_half = split_fids(others, (half, half), args.splits, rng)
    protocol = []
    for _ in range(args.splits):
        draw = rng.choice(len(others), size=len(monet), replace=False)
        protocol.append(fid(photos, others[draw]))
    print(f"FID over {args.splits} random draws, {args.precision} Inception features:")
    print(f"  Monet {half} against Monet {half}:           {describe(monet_half)}")
    print(f"  photo {half} against photo {half}:           {describe(photo_half)}")
    print(f"  photo {len(photos)} against photo {len(monet)} (protocol): {describe(protocol)}")
    floor = np.mean(monet_half) * np.mean(protocol) / np.mean(photo_half)
    print(f"  estimated Monet floor at {len(photos)} against {len(monet)}: {floor:.1f}")


if __name__ == "__main__":
    main()
