"""Read encoded images one by one from a folder, a TFRecord file or folder, or a zip archive.

:func:`iter_records` is what inference and evaluation use to walk any input a user gives::

    for record in iter_records("photos/"):  # or "photo_tfrec/", "x.tfrec", "photos.zip"
        image = decode_image(record.data, record.name)

Order is deterministic: files sorted by their path relative to the root, records in file order.
Hidden files and folders (names starting with ``.``, and ``__MACOSX`` in zips) are ignored, as are
files that are neither images (:data:`~cyclegan.data.images.IMAGE_EXTENSIONS`) nor TFRecords.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cyclegan.data.images import is_image_file
from cyclegan.data.records import (
    BadRecordError,
    is_tfrecord_file,
    parse_example,
    scan_tfrecord_tolerant,
)

__all__ = ["ImageRecord", "PassedOver", "iter_records", "list_files", "record_name", "walk_folder"]


@dataclass(frozen=True)
class ImageRecord:
    """One encoded image and where it came from.

    Attributes:
        name: The image's name: its path relative to the folder or zip given (POSIX separators,
            extension kept), or the ``image_name`` feature of a TFRecord record.
        data: The encoded image bytes.
        origin: Where to find it, for messages: a file path, or ``file.tfrec#record``, or
            ``archive.zip!member``.
    """

    name: str
    data: bytes
    origin: str


def iter_records(path: str | Path) -> Iterator[ImageRecord]:
    """Iterate over the images under ``path``.

    Args:
        path: A folder of images and/or TFRecord files (searched recursively, symlinks followed,
            symlink loops visited once), a single TFRecord file, a ``.zip`` of images, or a
            single image file.

    Yields:
        One :class:`ImageRecord` per image, in a deterministic order.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If ``path`` is a file of an unsupported kind or a zip is damaged.
        BadRecordError: At a truncated or corrupt TFRecord record, or one without an ``image``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        for file in list_files(path):
            if is_tfrecord_file(file):
                yield from _iter_tfrecord(file)
            else:
                yield ImageRecord(file.relative_to(path).as_posix(), file.read_bytes(), str(file))
    elif is_tfrecord_file(path):
        yield from _iter_tfrecord(path)
    elif path.suffix.lower() == ".zip":
        yield from _iter_zip(path)
    elif is_image_file(path):
        yield ImageRecord(path.name, path.read_bytes(), str(path))
    else:
        raise ValueError(
            f"{path}: not an image folder, TFRecord file, zip archive or image file "
            f"(suffix {path.suffix!r})"
        )


@dataclass(frozen=True)
class PassedOver:
    """A file or folder :func:`walk_folder` did not list, and why.

    Attributes:
        relative: Its path below the root, POSIX style; folders end with ``/``.
        reason: ``hidden file``, ``hidden folder``, ``link to a folder already read`` or
            ``cannot list folder: <why>``.
        error: True for a folder that could not be read (a fault, not a choice).
    """

    relative: str
    reason: str
    error: bool = False


def walk_folder(root: Path) -> tuple[list[tuple[str, Path]], list[PassedOver]]:
    """Every file under ``root``, recursively, sorted by relative path, and what was passed over.

    Symlinked folders are followed; a folder reached twice (a symlink loop or two links to the
    same place) is read once. Hidden files and folders are passed over. The one folder walk of
    training data (:func:`list_files`), predict inputs and evaluation sets.

    Returns:
        ``(relative POSIX path, path)`` of each file, and the :class:`PassedOver` entries.
    """
    files: list[tuple[str, Path]] = []
    passed: list[PassedOver] = []
    seen: set[str] = set()

    def relative(path: str | Path, folder: bool = False) -> str:
        return Path(path).relative_to(root).as_posix() + ("/" if folder else "")

    def unreadable(error: OSError) -> None:
        where = relative(error.filename, folder=True) if error.filename else "?/"
        passed.append(PassedOver(where, f"cannot list folder: {error.strerror}", error=True))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=unreadable):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames.clear()
            passed.append(PassedOver(relative(dirpath, True), "link to a folder already read"))
            continue
        seen.add(real)
        for hidden in sorted(d for d in dirnames if d.startswith(".")):
            passed.append(PassedOver(relative(Path(dirpath, hidden), True), "hidden folder"))
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for filename in filenames:
            file = Path(dirpath, filename)
            if filename.startswith("."):
                passed.append(PassedOver(relative(file), "hidden file"))
            else:
                files.append((relative(file), file))
    files.sort()
    return files, passed


def list_files(root: Path, *, tfrecords: bool = True, images: bool = True) -> list[Path]:
    """Image and/or TFRecord files under ``root`` (:func:`walk_folder`), sorted by relative path.

    Args:
        root: The folder to search.
        tfrecords: Include TFRecord files.
        images: Include image files.

    Returns:
        The files, as paths below ``root``.
    """
    files, _ = walk_folder(root)
    return [
        file
        for _, file in files
        if (tfrecords and is_tfrecord_file(file.name)) or (images and is_image_file(file.name))
    ]


def record_name(features: dict[str, bytes], path: Path, record: int) -> str:
    """A TFRecord record's name: its ``image_name`` feature, else ``<file stem>-<record>``."""
    image_name = features.get("image_name")
    if image_name:
        return image_name.decode("utf-8", errors="replace")
    return f"{path.stem}-{record:05d}"


def _iter_tfrecord(path: Path) -> Iterator[ImageRecord]:
    for record, (offset, payload, error) in enumerate(scan_tfrecord_tolerant(path)):
        if error is not None:
            raise error
        try:
            features = parse_example(payload)
        except ValueError as parse_error:
            raise BadRecordError(path, record, offset, str(parse_error)) from parse_error
        name = record_name(features, path, record)
        if "image" not in features:
            raise BadRecordError(
                path,
                record,
                offset,
                f"no 'image' bytes feature (features present: {sorted(features)})",
                features.get("image_name", b"").decode("utf-8", errors="replace") or None,
            )
        yield ImageRecord(name, features["image"], f"{path}#{record}")


def _iter_zip(path: Path) -> Iterator[ImageRecord]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = sorted(
                info.filename
                for info in archive.infolist()
                if not info.is_dir() and _visible_image(PurePosixPath(info.filename))
            )
            for member in members:
                yield ImageRecord(member, archive.read(member), f"{path}!{member}")
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path}: damaged zip archive: {error}") from error


def _visible_image(member: PurePosixPath) -> bool:
    hidden = any(part.startswith(".") or part == "__MACOSX" for part in member.parts)
    return not hidden and is_image_file(member.name)
