"""Where a translated set's FID comes from: the distance of its mean and of its spread.

FID = ||mu_g - mu_r||^2 + tr(S_g + S_r - 2 (S_g S_r)^(1/2)). The mean term grows when the
generated images' average look (palette, tone, kind of scene) differs from the paintings'; the
covariance term when their variety does (how much, and along which feature directions, they
differ from one another). Estimated from n_g and n_r images, the mean term carries a sampling
bias: E ||x̄ - ȳ||^2 = ||mu_g - mu_r||^2 + tr(S_g) / n_g + tr(S_r) / n_r, which this script
prints with the term, so that a recipe's distance from the paintings' average can be read apart
from the sample's noise. The covariance term has a bias too (the rest of the floor that
``benchmarks/fid_floor.py`` measures), with no such closed form.

    python benchmarks/fid_parts.py DIR [DIR ...] [--real monet_jpg] [--precision fp32]

Each DIR is scored as ``evaluate.py generated=DIR real=...`` scores it (the same features and
FID); images that cannot be decoded are counted and named, not scored.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cyclegan.metrics.cache import FeatureCache  # noqa: E402
from cyclegan.metrics.evaluation import ImageSet, read_image_set  # noqa: E402
from cyclegan.metrics.fid import FeatureStats, frechet_terms  # noqa: E402
from cyclegan.metrics.inception import InceptionFeatureExtractor  # noqa: E402

DEFAULT_REAL = Path(__file__).resolve().parents[2] / "shared/data/gan-getting-started/monet_jpg"
# evaluate.py's default cache_dir (conf/evaluate.yaml)
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cyclegan/metrics"


def parts(
    generated: np.ndarray, real: np.ndarray, real_stats: FeatureStats | None = None
) -> dict[str, float]:
    """FID of ``generated`` [N, D] against ``real`` [M, D] features, split into its terms
    (``real_stats``: the real features' statistics where they are at hand already).

    Returns ``fid``, ``mean`` (||mu_g - mu_r||^2), ``mean_bias`` (its expected sampling bias,
    tr(S_g)/N + tr(S_r)/M), ``covariance`` (the rest of FID), and ``spread``: the generated
    set's total variance tr(S_g) over the real set's.
    """
    gen_stats = FeatureStats.from_features(generated)
    if real_stats is None:
        real_stats = FeatureStats.from_features(real)
    terms = frechet_terms(gen_stats, real_stats, generated)
    gen_var, real_var = np.trace(gen_stats.sigma), np.trace(real_stats.sigma)
    return {
        "fid": terms.total,
        "mean": terms.mean,
        "mean_bias": float(gen_var / len(generated) + real_var / len(real)),
        "covariance": terms.covariance,
        "spread": float(gen_var / real_var),
    }


def describe_bad(image_set: ImageSet) -> str:
    if not image_set.bad:
        return ""
    name, why = image_set.bad[0]
    count = f"{len(image_set.bad)} image{'s' if len(image_set.bad) > 1 else ''}"
    return f"  ({count} not decoded and not scored; first: {name}: {why})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("generated", type=Path, nargs="+", help="folders of generated images")
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="the paintings")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="real-set features")
    args = parser.parse_args()
    extractor = InceptionFeatureExtractor(precision=args.precision)
    real = read_image_set(args.real, extractor, args.batch_size, cache=FeatureCache(args.cache))
    print(f"real: {args.real} ({len(real.features)} images){describe_bad(real)}")
    print(f"{args.precision} Inception features; mean term = ||mu_g - mu_r||^2, with its sampling")
    print("bias tr(S_g)/n_g + tr(S_r)/n_r; spread = tr(S_g) / tr(S_r)")
    print(f"{'n':>4} {'FID':>7} {'mean':>7} {'(bias)':>7} {'cov':>7} {'spread':>7}  generated")
    for path in args.generated:
        gen = read_image_set(path, extractor, args.batch_size)
        p = parts(gen.features, real.features, real.stats)
        print(
            f"{len(gen.features):>4} {p['fid']:>7.1f} {p['mean']:>7.1f} {p['mean_bias']:>7.1f} "
            f"{p['covariance']:>7.1f} {p['spread']:>7.2f}  {path}{describe_bad(gen)}"
        )


if __name__ == "__main__":
    main()
