"""Kaggle "I'm Something of a Painter Myself" submission: ``images.zip`` of 256x256 RGB JPEGs.

The competition accepts 7,000 to 10,000 images. :func:`write_submission` zips the given JPEGs
flat (file names only, which must be unique), writing to a temporary file renamed into place,
then :func:`validate_submission` re-opens the archive and checks every member: a ``.jpg`` name,
decodable, JPEG format, RGB mode, 256x256, names unique, and the count within bounds.

Example:
    >>> report = validate_submission(Path("images.zip"))  # doctest: +SKIP
    >>> print(report.line())  # doctest: +SKIP
    images.zip: 7038 JPEGs, all 256x256 RGB; count within 7000-10000: OK
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

__all__ = ["KAGGLE_MAX_IMAGES", "KAGGLE_MIN_IMAGES", "SubmissionReport", "validate_submission"]

KAGGLE_MIN_IMAGES = 7000
KAGGLE_MAX_IMAGES = 10000
SUBMISSION_SIZE = 256


@dataclass
class SubmissionReport:
    """What :func:`validate_submission` found.

    Attributes:
        path: The zip checked.
        count: Number of members.
        problems: One line per problem (member name and what is wrong); empty when valid.
        min_images: Lower bound on the count that was applied.
        max_images: Upper bound on the count that was applied.
    """

    path: Path
    count: int
    min_images: int
    max_images: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the archive passed every check."""
        return not self.problems

    def line(self) -> str:
        """One summary line."""
        verdict = "OK" if self.ok else f"INVALID ({len(self.problems)} problems)"
        return (
            f"{self.path.name}: {self.count} JPEGs, "
            f"{'all' if self.ok else 'expected'} {SUBMISSION_SIZE}x{SUBMISSION_SIZE} RGB; "
            f"count within {self.min_images}-{self.max_images}: {verdict}"
        )


def write_submission(files: Iterable[Path], zip_path: Path) -> int:
    """Zip JPEG files flat into ``zip_path`` (atomically).

    Args:
        files: The JPEGs; their file names become the member names and must be unique.
        zip_path: The archive to write.

    Returns:
        Number of members written.

    Raises:
        ValueError: If two files share a file name.
    """
    by_name: dict[str, Path] = {}
    for file in files:
        if file.name in by_name:
            raise ValueError(
                f"submission needs unique file names: {by_name[file.name]} and {file} are both "
                f"{file.name}"
            )
        by_name[file.name] = file
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    temp = zip_path.with_name(f".{zip_path.name}.partial")
    try:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_STORED) as archive:
            for name in sorted(by_name):
                archive.write(by_name[name], arcname=name)
        os.replace(temp, zip_path)
    finally:
        temp.unlink(missing_ok=True)
    return len(by_name)


def validate_submission(
    zip_path: Path,
    min_images: int = KAGGLE_MIN_IMAGES,
    max_images: int = KAGGLE_MAX_IMAGES,
) -> SubmissionReport:
    """Check a submission archive the way the competition does, and a little more.

    Args:
        zip_path: The archive.
        min_images: Fewest members accepted (Kaggle: 7,000).
        max_images: Most members accepted (Kaggle: 10,000).

    Returns:
        The report; ``report.ok`` tells whether it is valid.
    """
    report = SubmissionReport(zip_path, 0, min_images, max_images)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        report.problems.append(f"cannot open {zip_path}: {error}")
        return report
    with archive:
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        report.count = len(names)
        if len(set(names)) != len(names):
            report.problems.append("duplicate member names")
        for name in names:
            problem = _check_member(archive, name)
            if problem:
                report.problems.append(f"{name}: {problem}")
    if not min_images <= report.count <= max_images:
        report.problems.append(
            f"{report.count} images; the competition accepts {min_images}-{max_images}"
        )
    return report


def _check_member(archive: zipfile.ZipFile, name: str) -> str | None:
    if "/" in name or not name.lower().endswith(".jpg"):
        return "not a top-level .jpg file"
    try:
        with Image.open(io.BytesIO(archive.read(name))) as image:
            image.load()
            if image.format != "JPEG":
                return f"format {image.format}, not JPEG"
            if image.mode != "RGB":
                return f"mode {image.mode}, not RGB"
            if image.size != (SUBMISSION_SIZE, SUBMISSION_SIZE):
                return f"size {image.size[0]}x{image.size[1]}, not 256x256"
    except (OSError, ValueError, SyntaxError, zipfile.BadZipFile) as error:
        return f"unreadable: {error}"
    return None
