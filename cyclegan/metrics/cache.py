"""Cache of real-set features and statistics, keyed by content hash.

The key hashes the feature extractor's fingerprint (weights, precision, resize) and every image's
name and encoded bytes (or pixels), so editing, adding or removing one image, or changing the
extractor, misses the cache; renaming the folder does not.

Example:
    >>> import tempfile
    >>> key = content_key("extractor-v1", [b"image-1", b"image-2"])
    >>> cache = FeatureCache(tempfile.mkdtemp())
    >>> cache.load(key) is None
    True
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cyclegan.metrics.fid import FeatureStats


def content_key(fingerprint: str, chunks: Iterable[bytes]) -> str:
    """SHA-256 over the extractor fingerprint and each chunk (length-prefixed, so unambiguous)."""
    digest = hashlib.sha256(fingerprint.encode())
    for chunk in chunks:
        digest.update(len(chunk).to_bytes(8, "little"))
        digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedFeatures:
    """Features [N, D] (float32), their statistics, and the bad images found when reading them."""

    features: np.ndarray
    stats: FeatureStats
    bad: list[tuple[str, str]] = field(default_factory=list)


class FeatureCache:
    """A folder of ``<key>.npz`` files.

    Args:
        directory: where the files live; created on first save.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()

    def path(self, key: str) -> Path:
        """File holding ``key``'s entry."""
        return self.directory / f"{key}.npz"

    def load(self, key: str) -> CachedFeatures | None:
        """The entry for ``key``, or None when absent."""
        path = self.path(key)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            bad = [(str(name), str(reason)) for name, reason in json.loads(str(data["bad"]))]
            return CachedFeatures(
                features=data["features"],
                stats=FeatureStats(mu=data["mu"], sigma=data["sigma"]),
                bad=bad,
            )

    def save(self, key: str, entry: CachedFeatures) -> Path:
        """Write ``entry`` atomically (temporary file, then rename) and return its path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    features=entry.features,
                    mu=entry.stats.mu,
                    sigma=entry.stats.sigma,
                    bad=np.array(json.dumps(entry.bad)),
                )
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.path(key)
