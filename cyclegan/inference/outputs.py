"""Where outputs go and how they are written: safe names, atomic no-clobber writes.

Output names keep each input's relative path and name with the output format's suffix
(``trip/beach.png`` -> ``trip/beach.jpg``; a TFRecord ``image_name`` such as ``fb97febc82`` ->
``fb97febc82.jpg``). Names come from files, zip members and TFRecord records, i.e. from data a
user may not control, so :func:`output_relpath` refuses any name that could leave
``output_dir`` (absolute paths, drive letters, ``..`` parts, control characters) and any name
part longer than filesystems allow (:data:`NAME_MAX` bytes), so that such an input fails alone,
by name, instead of stopping the run.

:func:`write_image` encodes to a temporary file in the destination folder and renames it into
place, so an interrupted run never leaves a half-written image under an output name; without
``overwrite`` an existing output is never replaced (checked at the rename itself).
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from cyclegan.data.images import IMAGE_EXTENSIONS

__all__ = [
    "FORMATS",
    "NAME_MAX",
    "UnsafeNameError",
    "output_relpath",
    "resolve_output",
    "write_image",
]

FORMATS: dict[str, str] = {"jpg": ".jpg", "png": ".png"}
"""Output format -> file suffix."""

TEMP_SUFFIX = ".partial"
"""Suffix of temporary files (``.<random>.partial``) while an output is being written."""

NAME_MAX = 255
"""Longest file or folder name, in bytes (UTF-8), on common filesystems (ext4, XFS, Btrfs,
tmpfs, APFS); the output name with its new suffix must fit."""


class UnsafeNameError(ValueError):
    """An input name that cannot be turned into a path inside the output folder."""


def output_relpath(name: str, fmt: str) -> PurePosixPath:
    """The output path, relative to ``output_dir``, for an input named ``name``.

    Args:
        name: The input's name (relative path with ``/``, zip member or TFRecord image_name).
        fmt: ``jpg`` or ``png``.

    Returns:
        A relative POSIX path whose suffix is the format's.

    Raises:
        UnsafeNameError: If the name is empty, absolute, has a drive letter, a ``..`` part, a
            control character, or a part longer than :data:`NAME_MAX` bytes.
    """
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise UnsafeNameError(f"name {name!r} contains control characters")
    normal = name.replace("\\", "/")
    if normal.startswith("/") or (len(normal) > 1 and normal[1] == ":"):
        raise UnsafeNameError(f"name {name!r} is an absolute path")
    parts = [part for part in normal.split("/") if part not in ("", ".")]
    if not parts:
        raise UnsafeNameError(f"name {name!r} is empty")
    if ".." in parts:
        raise UnsafeNameError(f"name {name!r} contains '..' and could leave output_dir")
    path = PurePosixPath(*parts)
    stem = path.name[: -len(path.suffix)] if path.suffix.lower() in IMAGE_EXTENSIONS else path.name
    if not stem:
        raise UnsafeNameError(f"name {name!r} has no file name before its extension")
    path = path.with_name(stem + FORMATS[fmt])
    for part in path.parts:
        size = len(part.encode("utf-8", "surrogateescape"))
        if size > NAME_MAX:
            raise UnsafeNameError(
                f"name part {part[:40]!r}... is {size} bytes as an output name, longer than the "
                f"{NAME_MAX} bytes filesystems allow"
            )
    return path


def resolve_output(output_dir: Path, relpath: PurePosixPath) -> Path:
    """``output_dir / relpath``, checked to stay inside ``output_dir`` after symlinks.

    Raises:
        UnsafeNameError: If a symlinked folder inside ``output_dir`` leads outside it.
    """
    root = output_dir.resolve()
    target = (root / relpath).resolve()
    if not target.is_relative_to(root):
        raise UnsafeNameError(f"output {relpath} resolves to {target}, outside {root}")
    return root / relpath


def write_image(
    image: torch.Tensor | np.ndarray, path: Path, overwrite: bool, quality: int = 95
) -> None:
    """Encode an RGB image and move it into place atomically.

    Args:
        image: ``uint8`` ``[3, H, W]`` tensor or ``[H, W, 3]`` array.
        path: Destination; its suffix picks the format (``.jpg`` or ``.png``).
        overwrite: Replace an existing file; otherwise raise ``FileExistsError``.
        quality: JPEG quality.

    Raises:
        FileExistsError: If ``path`` exists and ``overwrite`` is false.
        OSError: If the folder cannot be created or the file written.
    """
    array = image.permute(1, 2, 0).numpy() if isinstance(image, torch.Tensor) else image
    picture = Image.fromarray(np.ascontiguousarray(array))
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{secrets.token_hex(8)}{TEMP_SUFFIX}")  # fits whatever the name
    # os.open with 0o666 honours the umask (tempfile.mkstemp would create the file 0o600).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            if path.suffix.lower() == ".png":
                picture.save(file, format="PNG", compress_level=1)
            else:
                picture.save(file, format="JPEG", quality=quality)
        _move_into_place(temp, path, overwrite)
    finally:
        temp.unlink(missing_ok=True)


def _move_into_place(temp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)  # atomic, and fails if path exists: no race with another writer
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "output exists (overwrite=false)", str(path)) from None
    except OSError:  # file systems without hard links
        if path.exists():
            raise FileExistsError(
                errno.EEXIST, "output exists (overwrite=false)", str(path)
            ) from None
        os.replace(temp, path)
