"""Walk a prediction input and report every problem instead of stopping at the first.

Like :func:`cyclegan.data.sources.iter_records` (same names, same order, same symlink-loop
safety), but an unreadable file, a corrupt TFRecord record or a damaged zip member becomes an
:class:`InputProblem` for that one input and the walk goes on; files that are neither images nor
TFRecords are reported as ignored rather than passed over in silence.

Example:
    >>> for item in iter_inputs("photos/"):  # doctest: +SKIP
    ...     print(item.name)
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cyclegan.data.images import is_image_file
from cyclegan.data.records import is_tfrecord_file, parse_example, scan_tfrecord_tolerant
from cyclegan.data.sources import ImageRecord, record_name, walk_folder

__all__ = ["MAX_FILE_BYTES", "InputProblem", "check_input", "iter_inputs"]

MAX_FILE_BYTES = 1 << 30
"""Image files or zip members larger than this (1 GiB) are refused before being read."""


@dataclass(frozen=True)
class InputProblem:
    """An input that gives no image.

    Attributes:
        name: The input's name (relative path, ``file.tfrec#record``, zip member).
        reason: What is wrong, for the report.
        ignored: True for files that are not images by their extension (counted, not failed).
    """

    name: str
    reason: str
    ignored: bool = False


def iter_inputs(path: str | Path) -> Iterator[ImageRecord | InputProblem]:
    """Every image under ``path`` as an :class:`ImageRecord`, every problem as an InputProblem.

    Args:
        path: A folder (recursive; TFRecord files inside are read too), a TFRecord file, a
            ``.zip`` of images or a single image file.

    Yields:
        Records and problems in a deterministic order.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If ``path`` is a file of an unsupported kind.
    """
    path = Path(path)
    check_input(path)
    if path.is_dir():
        yield from _iter_folder(path)
    elif is_tfrecord_file(path):
        yield from _iter_tfrecord(path, PurePosixPath())
    elif path.suffix.lower() == ".zip":
        yield from _iter_zip(path)
    else:
        yield _read_file(path, path.name)


def check_input(path: Path) -> None:
    """Raise the errors :func:`iter_inputs` would raise at its start (call before any worker).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If ``path`` is a file of an unsupported kind or a damaged zip.
    """
    if not path.exists():
        raise FileNotFoundError(f"input {path}: no such file or folder")
    if path.is_dir() or is_tfrecord_file(path) or is_image_file(path):
        return
    if path.suffix.lower() != ".zip":
        raise ValueError(
            f"input {path}: not a folder, TFRecord file, zip archive or image file "
            f"(suffix {path.suffix!r})"
        )
    try:
        zipfile.ZipFile(path).close()
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"input {path}: damaged zip archive: {error}") from error


def _iter_folder(root: Path) -> Iterator[ImageRecord | InputProblem]:
    files, passed = walk_folder(root)
    problems = [
        InputProblem(p.relative, p.reason, ignored=not p.error)
        for p in passed
        if p.reason != "hidden file"  # reported below, in name order with the files
    ]
    files += [(p.relative, root / p.relative) for p in passed if p.reason == "hidden file"]
    yield from problems
    for relative, file in sorted(files):
        if file.name.startswith("."):
            yield InputProblem(relative, "hidden file", ignored=True)
        elif is_tfrecord_file(file):
            yield from _iter_tfrecord(file, PurePosixPath(relative).parent)
        elif is_image_file(file):
            yield _read_file(file, relative)
        else:
            yield InputProblem(relative, "not an image or TFRecord file (extension)", ignored=True)


def _read_file(file: Path, name: str) -> ImageRecord | InputProblem:
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):
            return InputProblem(name, "not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            return InputProblem(name, f"file of {info.st_size} bytes exceeds {MAX_FILE_BYTES}")
        return ImageRecord(name, file.read_bytes(), str(file))
    except OSError as error:
        return InputProblem(name, f"cannot read file: {error.strerror or error}")


def _iter_tfrecord(file: Path, folder: PurePosixPath) -> Iterator[ImageRecord | InputProblem]:
    label = (folder / file.name).as_posix()
    try:
        for record, (offset, payload, error) in enumerate(scan_tfrecord_tolerant(file)):
            where = f"{label}#{record}"
            if error is not None:
                named = f" ({error.image_name})" if error.image_name else ""
                yield InputProblem(where + named, f"bad record at byte {offset}: {error.reason}")
                continue
            try:
                features = parse_example(payload)
            except ValueError as parse_error:
                yield InputProblem(where, str(parse_error))
                continue
            if "image" not in features:
                yield InputProblem(where, f"no 'image' feature (has {sorted(features)})")
                continue
            name = (folder / record_name(features, file, record)).as_posix()
            yield ImageRecord(name, features["image"], f"{file}#{record}")
    except OSError as error:
        yield InputProblem(label, f"cannot read TFRecord file: {error.strerror or error}")


def _hidden(part: str) -> bool:
    """Hidden file or folder name (``..`` is not hidden: such names are refused as unsafe)."""
    return (part.startswith(".") and part not in (".", "..")) or part == "__MACOSX"


def _iter_zip(path: Path) -> Iterator[ImageRecord | InputProblem]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"input {path}: damaged zip archive: {error}") from error
    with archive:
        for info in sorted(archive.infolist(), key=lambda member: member.filename):
            member = PurePosixPath(info.filename)
            if info.is_dir():
                continue
            if any(_hidden(part) for part in member.parts):
                yield InputProblem(info.filename, "hidden file", ignored=True)
            elif not is_image_file(member.name):
                yield InputProblem(info.filename, "not an image file (extension)", ignored=True)
            elif info.file_size > MAX_FILE_BYTES:
                yield InputProblem(info.filename, f"{info.file_size} bytes exceeds the limit")
            else:
                try:
                    data = archive.read(info)
                except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError) as err:
                    yield InputProblem(info.filename, f"cannot read zip member: {err}")
                    continue
                yield ImageRecord(info.filename, data, f"{path}!{info.filename}")
