"""Map-style datasets reading indexed records by random access (one ``pread`` per record).

Random access is what makes exactly-once sharding simple: the sampler decides which record each
step reads (:mod:`cyclegan.data.sampling`), and a DataLoader worker reads exactly the records of
the batches it is handed. Only the indexes travel to the workers; files are opened lazily in each
worker and images are read one at a time, so memory does not grow with the dataset.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, get_worker_info

from cyclegan.data.images import BadImageError, decode_image
from cyclegan.data.index import DomainIndex
from cyclegan.data.names import printable
from cyclegan.data.records import BadRecordError, masked_crc32c, parse_example
from cyclegan.data.sampling import DOMAINS
from cyclegan.data.sources import record_name
from cyclegan.data.transforms import ImageTransform

__all__ = ["PROBLEMS", "DomainImages", "RecordReader", "UnpairedImages", "collate_pairs"]

PROBLEMS = "problems"
"""Batch key listing, per sample, the records that could not be read (see
:class:`UnpairedImages`); present only in batches that have any."""


class RecordReader:
    """Reads the encoded image of record ``i`` of a :class:`DomainIndex`.

    A record is checked again as it is read (both CRCs, ~1% of the decoding time), so a file
    changed after indexing is reported, never read as garbage.
    """

    def __init__(self, index: DomainIndex) -> None:
        self.index = index
        self._fds: dict[int, int] = {}

    def __getstate__(self) -> dict[str, object]:
        return {"index": self.index, "_fds": {}}

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Close the files opened by this reader (in this process)."""
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)

    def read(self, i: int) -> tuple[bytes, str]:
        """The encoded image of record ``i`` and its name."""
        index = self.index
        file_id = int(index.file_ids[i])
        path = index.files[file_id]
        offset = int(index.offsets[i])
        if offset < 0:
            return Path(path).read_bytes(), path
        fd = self._fds.get(file_id)
        if fd is None:
            fd = self._fds[file_id] = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        record = int(index.record_numbers[i])
        size = int(index.record_bytes[i])
        framed = _pread(fd, size, offset)
        payload = _unframe(framed, path, record, offset)
        features = parse_example(payload)
        if "image" not in features:
            raise BadRecordError(path, record, offset, "no 'image' feature (file changed?)")
        return features["image"], record_name(features, Path(path), record)

    def load(self, i: int) -> torch.Tensor:
        """Record ``i`` decoded to ``uint8`` ``[3, H, W]``.

        Raises:
            BadRecordError: If the record cannot be read or decoded any more (the file changed
                since indexing, or was removed); the message names file, record and image.
        """
        index = self.index
        path = index.files[int(index.file_ids[i])]
        offset = max(int(index.offsets[i]), 0)
        record = int(index.record_numbers[i])
        try:
            data, name = self.read(i)
        except OSError as error:
            raise BadRecordError(path, record, offset, f"cannot read: {error}") from error
        try:
            return decode_image(data, name)
        except BadImageError as error:
            reason = str(error).removeprefix(f"{printable(name)}: ")
            raise BadRecordError(
                path, record, offset, f"{reason} (file changed since indexing?)", name
            ) from error


def _pread(fd: int, size: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # platforms without pread
    return os.read(fd, size)


def _unframe(framed: bytes, path: str, record: int, offset: int) -> memoryview:
    def changed(reason: str) -> BadRecordError:
        return BadRecordError(path, record, offset, f"{reason} (file changed since indexing?)")

    view = memoryview(framed)
    if len(view) < 16:
        raise changed("file truncated")
    (length,) = struct.unpack_from("<Q", view, 0)
    if len(view) != length + 16 or masked_crc32c(view[:8]) != struct.unpack_from("<I", view, 8)[0]:
        raise changed("length mismatch")
    payload = view[12 : 12 + length]
    if masked_crc32c(payload) != struct.unpack_from("<I", view, 12 + length)[0]:
        raise changed("payload CRC mismatch")
    return payload


class UnpairedImages(Dataset):
    """Training pairs ``{"photo": uint8 [3,S,S], "monet": uint8 [3,S,S]}``, unpaired.

    Keys are ``(photo_index, monet_index, augmentation_seed)`` from
    :class:`~cyclegan.data.sampling.EpochSampler`.

    A record that validated when indexed but cannot be read now (its file changed or went away)
    does not stop a DataLoader worker: the next record of the domain takes its place and the
    sample carries ``"problems"``, the :class:`BadRecordError` arguments of each record that
    failed, so that the main process applies ``on_bad_record`` (stop naming it, or skip and
    count it; see :meth:`CycleGANDataModule.on_after_batch_transfer
    <cyclegan.data.datamodule.CycleGANDataModule.on_after_batch_transfer>`).

    Args:
        photo: Index of the photo domain.
        monet: Index of the Monet domain.
        transform: Applied to each image; its randomness is seeded per key.
        plan_size: Pairs per epoch over all ranks (the dataset's length).
    """

    def __init__(
        self, photo: DomainIndex, monet: DomainIndex, transform: ImageTransform, plan_size: int
    ) -> None:
        self.readers = {"photo": RecordReader(photo), "monet": RecordReader(monet)}
        self.transform = transform
        self.plan_size = plan_size

    def __len__(self) -> int:
        return self.plan_size

    def __getitem__(self, key: tuple[int, int, int]) -> dict[str, torch.Tensor]:
        photo_index, monet_index, seed = key
        generator = torch.Generator().manual_seed(seed) if self.transform.augment else None
        sample: dict[str, Any] = {}
        problems: list[tuple[str, int, int, str, str | None]] = []
        for domain, i in zip(DOMAINS, (photo_index, monet_index), strict=True):
            sample[domain] = self.transform(self._load(domain, i, problems), generator)
        if problems:
            sample[PROBLEMS] = problems
        return sample

    def _load(
        self, domain: str, i: int, problems: list[tuple[str, int, int, str, str | None]]
    ) -> torch.Tensor:
        reader = self.readers[domain]
        n = len(reader.index)
        for step in range(n):
            try:
                return reader.load((i + step) % n)
            except BadRecordError as error:
                problems.append(
                    (error.path, error.record, error.offset, error.reason, error.image_name)
                )
        raise BadRecordError(*problems[-1][:4], problems[-1][4])  # not one record reads now


class DomainImages(Dataset):
    """Every record of one domain in file order, as ``uint8`` ``[3, S, S]`` (no augmentation).

    Args:
        index: The domain's index.
        transform: Resizing to the training size (its ``augment`` must be off).
        limit: Keep only the first ``limit`` records.
    """

    def __init__(self, index: DomainIndex, transform: ImageTransform, limit: int | None = None):
        if transform.augment:
            raise ValueError("DomainImages reads without augmentation")
        self.reader = RecordReader(index)
        self.transform = transform
        self.length = len(index) if limit is None else min(limit, len(index))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> torch.Tensor:
        if not 0 <= i < self.length:
            raise IndexError(i)
        return self.transform(self.reader.load(i))


def collate_pairs(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack samples into a batch ``{"photo": [B, 3, H, W], "monet": [B, 3, H, W]}``.

    Both domains are stacked into one block (in shared memory inside a DataLoader worker), so a
    batch crosses from a worker to the main process as one shared-memory segment, not two: at
    the Kaggle recipe's batch size of 1 that transfer costs about as much as decoding. Pixels
    stay interleaved as decoded (the batches are channels-last, see
    :mod:`cyclegan.data.transforms`). In the main process a batch of one is a view of the
    decoded images, with no copy at all. When any sample has ``"problems"`` the batch has them
    too, one list per sample.
    """
    problems = [sample.get(PROBLEMS, []) for sample in samples]
    keys = [key for key in samples[0] if key != PROBLEMS]
    if len(samples) == 1 and get_worker_info() is None:
        single = {key: samples[0][key].unsqueeze(0) for key in keys}
        return {**single, PROBLEMS: problems} if any(problems) else single
    images = [sample[key].permute(1, 2, 0) for key in keys for sample in samples]  # H, W, 3
    first = images[0]
    shape = (len(images), *first.shape)
    if get_worker_info() is not None:
        storage = first.untyped_storage()._new_shared(len(images) * first.numel())
        out = first.new_empty(0).set_(storage).view(shape)
    else:
        out = first.new_empty(shape)
    torch.stack(images, out=out)
    batch = out.permute(0, 3, 1, 2)
    result: dict[str, Any] = {
        key: batch[i * len(samples) : (i + 1) * len(samples)] for i, key in enumerate(keys)
    }
    if any(problems):
        result[PROBLEMS] = problems  # one list per sample: slicing a block keeps them aligned
    return result
