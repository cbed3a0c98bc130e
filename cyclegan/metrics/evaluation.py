"""Score a folder, TFRecord set or Kaggle ``images.zip`` of generated images against real ones.

Inputs are read with :func:`cyclegan.data.sources.iter_records` (image folders, ``.tfrec`` files or
folders of them, ``.zip`` archives) and decoded with :func:`cyclegan.data.images.decode_image`.
An image that cannot be decoded is skipped, counted and listed in the report; a missing or empty
input is an error naming the path. Real-set features are cached by content hash.

Example:
    >>> from cyclegan.metrics import InceptionFeatureExtractor
    >>> result = evaluate("images.zip", "monet_jpg", InceptionFeatureExtractor())  # doctest: +SKIP
    >>> print(format_report(result))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from cyclegan.data.images import BadImageError, decode_image
from cyclegan.data.names import printable
from cyclegan.data.sources import ImageRecord, iter_records
from cyclegan.metrics.cache import CachedFeatures, FeatureCache, content_key
from cyclegan.metrics.features import FeatureExtractor, extract_features
from cyclegan.metrics.fid import FeatureStats
from cyclegan.metrics.mifid import KAGGLE_EPSILON
from cyclegan.metrics.scores import Scores, compute_scores


@dataclass(frozen=True)
class ImageSet:
    """Features of every decodable image of one input, and the images that were not.

    Attributes:
        path: the input as given.
        features: [N, D] float32 features.
        stats: their mean and covariance.
        bad: ``(origin, reason)`` of each image that could not be decoded (skipped).
        from_cache: whether the features were read from the cache.
    """

    path: str
    features: np.ndarray
    stats: FeatureStats
    bad: list[tuple[str, str]] = field(default_factory=list)
    from_cache: bool = False


@dataclass(frozen=True)
class Evaluation:
    """The two image sets and their scores."""

    generated: ImageSet
    real: ImageSet
    scores: Scores


def image_batches(
    records: Iterable[ImageRecord], batch_size: int, bad: list[tuple[str, str]]
) -> Iterator[Tensor]:
    """Decode records into uint8 batches [B, 3, H, W] of equal-size images, in order.

    A batch ends early when the image size changes. Undecodable images are appended to ``bad``
    as ``(origin, reason)`` and skipped.
    """
    pending: list[Tensor] = []
    for record in records:
        try:
            image = decode_image(record.data, record.name)
        except BadImageError as error:
            reason = str(error).removeprefix(f"{printable(record.name)}: ")  # origin names it
            bad.append((printable(record.origin), reason))
            continue
        if pending and pending[0].shape != image.shape:
            yield torch.stack(pending)
            pending = []
        pending.append(image)
        if len(pending) == batch_size:
            yield torch.stack(pending)
            pending = []
    if pending:
        yield torch.stack(pending)


def _record_chunks(path: str | Path) -> Iterator[bytes]:
    for record in iter_records(path):
        yield record.name.encode()
        yield record.data


def read_image_set(
    path: str | Path,
    extractor: FeatureExtractor,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    cache: FeatureCache | None = None,
    progress: bool = False,
) -> ImageSet:
    """Features of every image under ``path`` (see :func:`cyclegan.data.sources.iter_records`).

    Args:
        path: image folder, ``.tfrec`` file or folder, ``.zip`` of images, or one image.
        extractor: the feature extractor.
        batch_size: images per extractor call.
        device: where the extractor runs.
        cache: when given, features are looked up there by content hash and stored on a miss.
        progress: show a progress bar (images/s) on stderr.

    Returns:
        The :class:`ImageSet`.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when ``path`` holds fewer than two decodable images (naming it and the
            number of bad ones), or is of an unsupported kind.
    """
    key = content_key(extractor.fingerprint, _record_chunks(path)) if cache else None
    if cache is not None and key is not None and (hit := cache.load(key)) is not None:
        return ImageSet(str(path), hit.features, hit.stats, hit.bad, from_cache=True)

    bad: list[tuple[str, str]] = []
    bar = tqdm(desc=f"features of {path}", unit="img", disable=not progress, delay=1.0)
    with bar:
        batches = image_batches(iter_records(path), batch_size, bad)
        features = extract_features(_counted(batches, bar, device), extractor)
    if features.shape[0] < 2:
        found = "no images" if not bad and features.shape[0] == 0 else f"{features.shape[0]}"
        detail = f" ({len(bad)} could not be decoded, first: {bad[0][1]})" if bad else ""
        raise ValueError(
            f"{path}: need at least 2 decodable images (image files, .tfrec files or a .zip of "
            f"images), found {found}{detail}."
        )
    stats = FeatureStats.from_features(features)
    if cache is not None and key is not None:
        cache.save(key, CachedFeatures(features, stats, bad))
    return ImageSet(str(path), features, stats, bad)


def _counted(batches: Iterable[Tensor], bar: tqdm, device: str | torch.device) -> Iterator[Tensor]:
    for batch in batches:
        yield batch.to(device)
        bar.update(batch.shape[0])


def evaluate(
    generated: str | Path,
    real: str | Path,
    extractor: FeatureExtractor,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    cache_dir: str | Path | None = None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
    epsilon: float = KAGGLE_EPSILON,
    progress: bool = False,
) -> Evaluation:
    """FID, KID, memorization distance and MiFID of ``generated`` against ``real``.

    Args:
        generated: the generated images (folder, ``.tfrec`` or Kaggle ``images.zip``).
        real: the real images (folder, ``.tfrec`` file or folder, ``.zip``).
        extractor: the feature extractor (FID Inception for comparable numbers).
        batch_size: images per extractor call.
        device: where the extractor runs.
        cache_dir: cache of real-set features (None: no cache).
        kid_subsets: KID subsampling rounds.
        kid_subset_size: KID subset size (capped at the smaller set).
        seed: KID subsampling seed.
        epsilon: MiFID memorization threshold (Kaggle: 0.1).
        progress: show progress bars.

    Returns:
        The :class:`Evaluation`.
    """
    cache = FeatureCache(cache_dir) if cache_dir is not None else None
    gen_set = read_image_set(generated, extractor, batch_size, device, None, progress)
    real_set = read_image_set(real, extractor, batch_size, device, cache, progress)
    scores = compute_scores(
        gen_set.features,
        real_set.features,
        real_stats=real_set.stats,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        seed=seed,
        epsilon=epsilon,
    )
    return Evaluation(gen_set, real_set, scores)


def format_report(
    evaluation: Evaluation, epsilon: float = KAGGLE_EPSILON, max_bad: int = 10
) -> str:
    """Human-readable report: inputs, bad images, FID, KID, memorization distance, MiFID."""
    lines = []
    for label, image_set in (("generated", evaluation.generated), ("real", evaluation.real)):
        cached = ", features from cache" if image_set.from_cache else ""
        lines.append(
            f"{label + ':':<11}{image_set.path} ({len(image_set.features)} images{cached})"
        )
    for label, image_set in (("generated", evaluation.generated), ("real", evaluation.real)):
        if image_set.bad:
            lines.append(f"{len(image_set.bad)} bad {label} image(s) skipped:")
            lines += [f"  {origin}: {reason}" for origin, reason in image_set.bad[:max_bad]]
            if len(image_set.bad) > max_bad:
                lines.append(f"  ... and {len(image_set.bad) - max_bad} more")
    s = evaluation.scores
    kid_note = f"subsets of {s.kid_subset_size} per set"
    if s.kid_subset_size == s.num_generated == s.num_real:
        kid_note += ": each is the whole set, so std is 0"
    memorizing = "memorizing: MiFID = FID / d" if s.memorization < epsilon else "MiFID = FID"
    lines += [
        f"FID                    {s.fid:.4f}",
        f"KID                    {s.kid_mean:.5f} ± {s.kid_std:.5f}  ({kid_note})",
        f"memorization distance  {s.memorization:.4f}  (threshold {epsilon}: {memorizing})",
        f"MiFID                  {s.mifid:.4f}",
    ]
    return "\n".join(lines)
