"""Validated, cached indexes of a domain's records (TFRecord records and image files).

Indexing a domain folder reads every record once: it checks the TFRecord framing and both masked
CRC-32C fields, parses the ``tf.train.Example``, requires an ``image`` feature and decodes it
(so an image that is not a decodable JPEG is found before training, not in the middle of it).
The result, per file, is cached so later runs only ``stat`` the files:

- ``X.tfrec`` -> ``X.tfrec.index.json`` (named after the file a symlink points to);
  a folder's image files -> ``FOLDER/.cyclegan-images.json``.
- Cache location: ``index_dir`` when given; else next to the data when that folder is writable;
  else the user cache folder (``$CYCLEGAN_CACHE``, ``$XDG_CACHE_HOME/cyclegan`` or
  ``~/.cache/cyclegan``), under ``index/`` with a hash of the data's absolute path in the name.
- A cache entry is reused only while the file's size and modification time are unchanged.

Bad records are kept in the index (file, record number, byte offset, image name, reason) so the
``on_bad_record`` policy is applied identically, without re-reading, on every rank and every run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cyclegan.data.images import BadImageError, decode_image, is_image_file
from cyclegan.data.names import printable
from cyclegan.data.records import (
    BadRecordError,
    is_tfrecord_file,
    parse_example,
    scan_tfrecord_tolerant,
)
from cyclegan.data.sources import list_files, record_name

__all__ = ["BadRecord", "DomainIndex", "IndexCache", "default_cache_dir", "index_domain"]

log = logging.getLogger(__name__)

INDEX_VERSION = 1
TFRECORD_INDEX_SUFFIX = ".index.json"
IMAGES_INDEX_NAME = ".cyclegan-images.json"


@dataclass(frozen=True)
class BadRecord:
    """A record (or image file) that failed validation.

    Attributes:
        path: The file.
        record: Record number in the file (0 for an image file).
        offset: Byte offset of the record (0 for an image file).
        reason: What is wrong.
        image_name: The record's image name, when known.
    """

    path: str
    record: int
    offset: int
    reason: str
    image_name: str | None = None

    def error(self, hint: str = "") -> BadRecordError:
        """The error this bad record raises under ``on_bad_record=error`` (``hint`` follows the
        reason, e.g. what to set to go on without it)."""
        reason = self.reason + hint
        return BadRecordError(self.path, self.record, self.offset, reason, self.image_name)

    def __str__(self) -> str:
        return str(self.error())


@dataclass
class DomainIndex:
    """Every good record of one domain, in file order, plus the bad ones found.

    Record ``i`` is in ``files[file_ids[i]]``; for a TFRecord record ``offsets[i]`` is its header's
    byte offset and ``record_bytes[i]`` its framed length; for an image file ``offsets[i]`` is -1.

    Attributes:
        name: The domain (``photo`` or ``monet``).
        folder: The folder the records came from.
        files: Paths of the files holding records (TFRecord files and/or images).
        file_ids, offsets, record_bytes, record_numbers, heights, widths: Per good record.
        bad: Records that failed validation.
    """

    name: str
    folder: Path
    files: list[str]
    file_ids: np.ndarray
    offsets: np.ndarray
    record_bytes: np.ndarray
    record_numbers: np.ndarray
    heights: np.ndarray
    widths: np.ndarray
    bad: list[BadRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.file_ids)

    @property
    def total_records(self) -> int:
        """Good and bad records together."""
        return len(self) + len(self.bad)

    def origin(self, i: int) -> str:
        """Where record ``i`` lives, for messages (``file#record`` or the image path)."""
        path = self.files[int(self.file_ids[i])]
        return path if self.offsets[i] < 0 else f"{path}#{int(self.record_numbers[i])}"


def default_cache_dir() -> Path:
    """The user cache folder for index files (see the module docstring)."""
    if explicit := os.environ.get("CYCLEGAN_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cyclegan"


class IndexCache:
    """Where index files are read from and written to.

    Args:
        index_dir: Keep every index here. ``None``: next to the data when writable, else
            :func:`default_cache_dir` ``/ "index"``.
    """

    def __init__(self, index_dir: str | Path | None = None) -> None:
        self.index_dir = Path(index_dir) if index_dir is not None else None

    def location(self, data_path: Path, name: str) -> Path:
        """The index file for ``data_path`` called ``name`` next to the data."""
        if self.index_dir is None and _writable(data_path.parent):
            return data_path.parent / name
        folder = self.index_dir if self.index_dir is not None else default_cache_dir() / "index"
        digest = hashlib.sha1(str(data_path.resolve()).encode()).hexdigest()[:12]
        return folder / f"{digest}-{name.lstrip('.')}"

    def load(self, path: Path) -> dict[str, Any] | None:
        """A cached index, or ``None`` if absent, unreadable or of another version."""
        try:
            content = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(content, dict) or content.get("version") != INDEX_VERSION:
            return None
        return content

    def save(self, path: Path, content: dict[str, Any]) -> None:
        """Write an index atomically; if the location is not writable, carry on uncached."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w", dir=path.parent, prefix=f".{path.name}.", delete=False
            ) as tmp:
                json.dump({"version": INDEX_VERSION, **content}, tmp, separators=(",", ":"))
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp.name, 0o666 & ~umask)  # as a plain open() would create it
            os.replace(tmp.name, path)
        except OSError as error:
            log.warning(
                "could not cache the index at %s (%s); it will be rebuilt next run", path, error
            )


def _writable(folder: Path) -> bool:
    """Whether to write into ``folder``: allowed, and not marked read-only by its permission bits
    (which the superuser's ``os.access`` would ignore)."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return os.access(folder, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def index_domain(name: str, folder: Path, cache: IndexCache) -> DomainIndex:
    """Index (validating, or loading from cache) every record under ``folder``.

    Args:
        name: The domain's name, for messages.
        folder: Folder with TFRecord files and/or images (searched recursively).
        cache: Where index files live.

    Returns:
        The domain's index; an empty folder gives an empty index.
    """
    files = list_files(folder)
    tfrecords = [f for f in files if is_tfrecord_file(f)]
    images = [f for f in files if is_image_file(f) and not is_tfrecord_file(f)]
    entries: dict[Path, tuple[list[list[int]], list[BadRecord]]] = {}
    for path in tfrecords:
        entries[path] = _tfrecord_entries(path, cache)
    if images:
        entries.update(_image_entries(folder, images, cache))

    paths: list[str] = []
    columns: list[list[int]] = []  # file_id, offset, record_bytes, record, height, width
    bad: list[BadRecord] = []
    for file_id, path in enumerate(files):
        records, file_bad = entries[path]
        paths.append(str(path))
        columns.extend([file_id, *row] for row in records)
        bad.extend(file_bad)
    table = np.asarray(columns, dtype=np.int64).reshape(-1, 6)
    return DomainIndex(
        name=name,
        folder=folder,
        files=paths,
        file_ids=table[:, 0].astype(np.int32),
        offsets=table[:, 1].copy(),
        record_bytes=table[:, 2].copy(),
        record_numbers=table[:, 3].astype(np.int32),
        heights=table[:, 4].astype(np.int32),
        widths=table[:, 5].astype(np.int32),
        bad=bad,
    )


def _stamp(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _tfrecord_entries(path: Path, cache: IndexCache) -> tuple[list[list[int]], list[BadRecord]]:
    real = path.resolve()  # a file linked under several names is validated once
    location = cache.location(real, real.name + TFRECORD_INDEX_SUFFIX)
    stamp = _stamp(path)
    cached = cache.load(location)
    if cached is not None and cached.get("file") == stamp:
        return cached["records"], [BadRecord(**b) for b in cached["bad"]]
    log.info(
        "validating %s (CRC-32C, features, JPEG decode); cached in %s",
        printable(str(path)),
        printable(str(location)),
    )
    records, bad = _validate_tfrecord(path)
    cache.save(location, {"file": stamp, "records": records, "bad": [asdict(b) for b in bad]})
    return records, bad


def _validate_tfrecord(path: Path) -> tuple[list[list[int]], list[BadRecord]]:
    """Rows ``[offset, record_bytes, record, height, width]`` of good records, and bad records."""
    records: list[list[int]] = []
    bad: list[BadRecord] = []
    if path.stat().st_size == 0:
        return records, [BadRecord(str(path), 0, 0, "empty file (0 bytes, no records)")]
    for record, (offset, payload, error) in enumerate(scan_tfrecord_tolerant(path)):
        if error is not None:
            name = _unverified_name(payload)
            bad.append(BadRecord(str(path), record, offset, error.reason, name))
            continue
        problem, name, size = _check_example(payload, path, record)
        if problem is not None:
            bad.append(BadRecord(str(path), record, offset, problem, name))
            continue
        records.append([offset, len(payload) + 16, record, *size])
    return records, bad


def _unverified_name(payload: bytearray) -> str | None:
    """The ``image_name`` of a corrupt payload if it still parses (best effort, for messages)."""
    try:
        name = parse_example(payload).get("image_name") if payload else None
    except ValueError:
        return None
    return f"{name.decode('utf-8', 'replace')} (unverified)" if name else None


def _check_example(
    payload: bytearray, path: Path, record: int
) -> tuple[str | None, str | None, tuple[int, int]]:
    """``(problem or None, image name or None, (height, width))`` for one record's payload."""
    try:
        features = parse_example(payload)
    except ValueError as error:
        return str(error), None, (0, 0)
    name = features["image_name"].decode("utf-8", "replace") if "image_name" in features else None
    if "image" not in features:
        present = ", ".join(sorted(features)) or "none"
        return f"no 'image' bytes feature (bytes features present: {present})", name, (0, 0)
    try:
        image = decode_image(features["image"], record_name(features, path, record))
    except BadImageError as error:
        return f"'image' is not a decodable image: {error}", name, (0, 0)
    return None, name, (int(image.shape[1]), int(image.shape[2]))


def _image_entries(
    folder: Path, images: list[Path], cache: IndexCache
) -> dict[Path, tuple[list[list[int]], list[BadRecord]]]:
    location = cache.location(folder / IMAGES_INDEX_NAME, IMAGES_INDEX_NAME)
    cached = cache.load(location) or {}
    known: dict[str, Any] = cached.get("files", {})
    result: dict[Path, tuple[list[list[int]], list[BadRecord]]] = {}
    fresh: dict[str, Any] = {}
    checked = 0
    for path in images:
        key = path.relative_to(folder).as_posix()
        stamp = _stamp(path)
        entry = known.get(key)
        if entry is None or entry["file"] != stamp:
            entry = {"file": stamp, **_check_image_file(path)}
            checked += 1
        fresh[key] = entry
        if entry["reason"] is None:
            result[path] = ([[-1, stamp["size"], 0, entry["height"], entry["width"]]], [])
        else:
            result[path] = ([], [BadRecord(str(path), 0, 0, entry["reason"], key)])
    if checked or set(fresh) != set(known):
        log.info(
            "validated %d image files in %s; cached in %s",
            checked,
            printable(str(folder)),
            printable(str(location)),
        )
        cache.save(location, {"files": fresh})
    return result


def _check_image_file(path: Path) -> dict[str, Any]:
    try:
        image = decode_image(path.read_bytes(), str(path))
    except (BadImageError, OSError) as error:
        return {"reason": f"not a decodable image: {error}", "height": 0, "width": 0}
    return {"reason": None, "height": int(image.shape[1]), "width": int(image.shape[2])}
