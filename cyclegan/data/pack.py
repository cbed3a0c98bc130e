"""Pack a folder of images into Kaggle-schema TFRecord shards.

Each record holds ``image_name`` (the path relative to the folder, without extension),
``image`` (JPEG bytes) and ``target`` (the domain name, as in Kaggle's files). JPEGs that are
plain RGB or grayscale with no EXIF rotation are stored byte for byte; every other image (PNG,
WebP, CMYK, rotated, ...) is decoded to RGB (orientation applied) and stored as a quality-95 JPEG.
Images are read and written one at a time, so any folder size packs in constant memory.

Example:
    >>> pack_folder(Path("monet_jpg"), Path("out/monet_tfrec"), "monet")  # doctest: +SKIP
    PackResult(records=300, shards=1, skipped=[])
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from cyclegan.data.images import BadImageError, decode_image
from cyclegan.data.names import printable
from cyclegan.data.records import encode_example, frame_record, is_tfrecord_file
from cyclegan.data.sources import list_files

__all__ = ["PackResult", "pack_folder"]

_EXIF_ORIENTATION = 0x0112


@dataclass
class PackResult:
    """What :func:`pack_folder` wrote.

    Attributes:
        records: Records written.
        shards: Files written.
        skipped: Messages for the images left out (with ``skip_bad``).
    """

    records: int
    shards: int
    skipped: list[str] = field(default_factory=list)


def pack_folder(
    folder: Path, out: Path, target: str, records_per_shard: int = 300, skip_bad: bool = False
) -> PackResult:
    """Write ``OUT/<target>NN-<count>.tfrec`` shards from the images under ``folder``.

    Args:
        folder: Image folder (searched recursively, sorted by relative path).
        out: Output folder; must not already hold TFRecord files.
        target: Value of the ``target`` feature and prefix of the file names.
        records_per_shard: Records per file.
        skip_bad: Leave out (and report) undecodable images instead of stopping.

    Returns:
        Counts of what was written.

    Raises:
        FileNotFoundError: If ``folder`` has no images.
        FileExistsError: If ``out`` already holds TFRecord files.
        BadImageError: At an undecodable image, unless ``skip_bad``.
        ValueError: If two images would get the same ``image_name``.
    """
    if records_per_shard < 1:
        raise ValueError(f"records_per_shard must be positive, got {records_per_shard}")
    images = list_files(folder, tfrecords=False)
    if not images:
        raise FileNotFoundError(f"{folder}: no images found (searched recursively)")
    if out.is_dir() and any(is_tfrecord_file(p) for p in out.iterdir()):
        raise FileExistsError(f"{out} already holds TFRecord files; pack into an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    names: dict[str, Path] = {}
    for path in images:
        name = path.relative_to(folder).with_suffix("").as_posix()
        if name in names:
            raise ValueError(
                f"{printable(str(names[name]))} and {printable(str(path))} would both be named "
                f"'{printable(name)}'"
            )
        names[name] = path

    result = PackResult(records=0, shards=0)
    payloads = _payloads(names, target, result, skip_bad)
    while True:
        partial = out / f".{target}{result.shards:02d}.partial"
        count = 0
        with partial.open("wb") as file:
            for payload in payloads:
                file.write(frame_record(payload))
                count += 1
                if count == records_per_shard:
                    break
        if count == 0:
            partial.unlink()
            return result
        os.replace(partial, out / f"{target}{result.shards:02d}-{count}.tfrec")
        result.shards += 1
        result.records += count


def _payloads(
    names: dict[str, Path], target: str, result: PackResult, skip_bad: bool
) -> Iterator[bytes]:
    for name, path in names.items():
        try:
            image = _as_jpeg(path.read_bytes(), str(path))
        except BadImageError as error:
            if not skip_bad:
                raise
            result.skipped.append(str(error))
            continue
        yield encode_example(
            {"image_name": name.encode(), "image": image, "target": target.encode()}
        )


def _as_jpeg(data: bytes, name: str) -> bytes:
    pixels = decode_image(data, name)  # validates, and is the source when re-encoding
    with Image.open(io.BytesIO(data)) as image:
        plain_jpeg = (
            image.format == "JPEG"
            and image.mode in ("RGB", "L")
            and image.getexif().get(_EXIF_ORIENTATION, 1) == 1
        )
    if plain_jpeg:
        return data
    buffer = io.BytesIO()
    Image.fromarray(pixels.permute(1, 2, 0).numpy()).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()
