"""TFRecord files: framing, masked CRC-32C, ``tf.train.Example`` features, reading and writing.

A TFRecord file is a sequence of records, each framed as::

    uint64 length | uint32 masked_crc32c(length) | payload[length] | uint32 masked_crc32c(payload)

(little-endian). Kaggle's files hold one serialized ``tf.train.Example`` per record with the
features ``image_name`` (bytes), ``image`` (JPEG bytes) and ``target`` (bytes). Unlike the
``tfrecord`` package, which reads both CRC fields and discards them, everything here verifies
them, so a flipped byte or a truncated download is reported instead of read.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.tfrec"
    >>> write_tfrecord(path, [encode_example({"image_name": b"a", "image": b"..."})])
    >>> [parse_example(payload)["image_name"] for _, payload in scan_tfrecord(path)]
    [b'a']
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from io import BufferedIOBase
from pathlib import Path

import crc32c
from tfrecord import example_pb2

from cyclegan.data.names import printable

__all__ = [
    "HEADER_BYTES",
    "BadRecordError",
    "encode_example",
    "masked_crc32c",
    "parse_example",
    "read_record",
    "scan_tfrecord",
    "write_tfrecord",
]

HEADER_BYTES = 12  # uint64 length + uint32 CRC of the length
FOOTER_BYTES = 4  # uint32 CRC of the payload
TFRECORD_SUFFIXES = frozenset({".tfrec", ".tfrecord", ".tfrecords"})
_MASK_DELTA = 0xA282EAD8


class BadRecordError(ValueError):
    """A TFRecord record that cannot be used.

    The message names the file, the record number (0-based), its byte offset, the image name
    when known, and the reason.

    Attributes:
        path: The TFRecord file.
        record: 0-based record number in the file.
        offset: Byte offset of the record's header in the file.
        reason: What is wrong with it.
        image_name: The record's ``image_name`` feature, when it could be read.
    """

    def __init__(
        self, path: str | Path, record: int, offset: int, reason: str, image_name: str | None = None
    ) -> None:
        self.path = str(path)
        self.record = record
        self.offset = offset
        self.reason = reason
        self.image_name = image_name
        named = f" (image_name '{printable(image_name)}')" if image_name else ""
        super().__init__(
            f"{printable(self.path)}: record {record} at byte {offset}{named}: {printable(reason)}"
        )


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """The CRC-32C of ``data``, masked as TFRecord stores it."""
    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def is_tfrecord_file(path: str | Path) -> bool:
    """Whether ``path`` has a TFRecord suffix (``.tfrec``, ``.tfrecord``, ``.tfrecords``)."""
    return Path(path).suffix.lower() in TFRECORD_SUFFIXES


def scan_tfrecord(path: str | Path) -> Iterator[tuple[int, bytearray]]:
    """Read every record of a file in order, verifying its framing and both CRCs.

    Args:
        path: The TFRecord file.

    Yields:
        ``(offset, payload)`` per record, ``offset`` being the byte offset of its header.

    Raises:
        BadRecordError: At the first truncated or corrupt record. A record whose payload CRC
            fails can be stepped over; one whose length is corrupt or truncated ends the file.
    """
    for offset, payload, error in scan_tfrecord_tolerant(path):
        if error is not None:
            raise error
        yield offset, payload


def scan_tfrecord_tolerant(
    path: str | Path,
) -> Iterator[tuple[int, bytearray, BadRecordError | None]]:
    """Like :func:`scan_tfrecord`, but reports bad records instead of raising.

    Yields:
        ``(offset, payload, None)`` for a good record, ``(offset, payload, error)`` for a bad one
        (the payload is empty unless it was read in full but failed its CRC).
        After a corrupt length or a truncation nothing more of the file can be located, so the
        scan stops there; after a payload CRC mismatch it goes on with the next record.
    """
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as file:
        record = 0
        offset = 0
        while offset < size:
            payload, error, record_bytes = _read_at(file, path, record, offset, size)
            yield offset, payload, error
            if record_bytes is None:
                return
            offset += record_bytes
            record += 1


def read_record(file: BufferedIOBase, path: str | Path, record: int, offset: int) -> bytearray:
    """Read and verify one record at a known offset (random access, used by the data loader).

    Args:
        file: The TFRecord file opened in binary mode.
        path: Its path, for error messages.
        record: The record number, for error messages.
        offset: Byte offset of the record's header.

    Returns:
        The payload.

    Raises:
        BadRecordError: If the record is truncated or a CRC does not match.
    """
    size = file.seek(0, 2)
    payload, error, _ = _read_at(file, Path(path), record, offset, size)
    if error is not None:
        raise error
    return payload


def _read_at(
    file: BufferedIOBase, path: Path, record: int, offset: int, size: int
) -> tuple[bytearray, BadRecordError | None, int | None]:
    """Read the record at ``offset``: ``(payload, error, bytes the record occupies)``; the last
    is ``None`` when the next record cannot be located."""

    def bad(
        reason: str, record_bytes: int | None = None
    ) -> tuple[bytearray, BadRecordError, int | None]:
        return bytearray(), BadRecordError(path, record, offset, reason), record_bytes

    file.seek(offset)
    header = file.read(HEADER_BYTES)
    if len(header) < HEADER_BYTES:
        return bad(
            f"file truncated: {size - offset} bytes left where a {HEADER_BYTES}-byte record "
            "header starts (interrupted download or copy?)"
        )
    (length,) = struct.unpack("<Q", header[:8])
    (length_crc,) = struct.unpack("<I", header[8:])
    if masked_crc32c(header[:8]) != length_crc:
        return bad(
            f"length CRC mismatch (length field reads {length}); this record and the rest of "
            f"the file ({size - offset} bytes) cannot be located"
        )
    record_bytes = HEADER_BYTES + length + FOOTER_BYTES
    if offset + record_bytes > size:
        return bad(
            f"file truncated: the record needs {record_bytes} bytes but the file ends "
            f"{size - offset} bytes after its start (interrupted download or copy?)"
        )
    payload = bytearray(length)
    file.readinto(payload)
    (payload_crc,) = struct.unpack("<I", file.read(FOOTER_BYTES))
    if masked_crc32c(payload) != payload_crc:
        error = BadRecordError(
            path, record, offset, f"payload CRC mismatch ({length}-byte payload)"
        )
        return payload, error, record_bytes  # the corrupt payload, for naming the record
    return payload, None, record_bytes


def parse_example(payload: bytes | bytearray | memoryview) -> dict[str, bytes]:
    """The single-value ``bytes`` features of a serialized ``tf.train.Example``.

    Features holding ints, floats or several values are left out.

    Raises:
        ValueError: If the payload is not a ``tf.train.Example``.
    """
    example = example_pb2.Example()
    try:
        example.ParseFromString(bytes(payload))
    except Exception as error:  # protobuf's DecodeError does not derive from a builtin type
        raise ValueError(f"not a tf.train.Example: {error}") from error
    features: dict[str, bytes] = {}
    for key, feature in example.features.feature.items():
        if feature.WhichOneof("kind") == "bytes_list" and len(feature.bytes_list.value) == 1:
            features[key] = feature.bytes_list.value[0]
    return features


def encode_example(features: dict[str, bytes]) -> bytes:
    """Serialize ``bytes`` features into a ``tf.train.Example`` (the Kaggle schema uses
    ``image_name``, ``image`` and ``target``)."""
    example = example_pb2.Example()
    for key, value in features.items():
        example.features.feature[key].bytes_list.value.append(value)
    return example.SerializeToString()


def frame_record(payload: bytes) -> bytes:
    """One record's bytes as stored in a TFRecord file."""
    length = struct.pack("<Q", len(payload))
    return b"".join(
        (
            length,
            struct.pack("<I", masked_crc32c(length)),
            payload,
            struct.pack("<I", masked_crc32c(payload)),
        )
    )


def write_tfrecord(path: str | Path, payloads: Iterable[bytes]) -> int:
    """Write a TFRecord file of the given payloads (uncompressed).

    Args:
        path: The file to write; its folder must exist.
        payloads: Serialized records, e.g. from :func:`encode_example`.

    Returns:
        The number of records written.
    """
    count = 0
    with Path(path).open("wb") as file:
        for payload in payloads:
            file.write(frame_record(payload))
            count += 1
    return count
