"""The CycleGAN DataModule: unpaired photo / Monet batches from TFRecords or image folders.

Batches travel as ``uint8`` and become ``float32`` in ``[-1, 1]`` on the accelerator
(:meth:`CycleGANDataModule.on_after_batch_transfer`). Records are validated and indexed once
(:mod:`cyclegan.data.index`), sharded exactly once across ranks and DataLoader workers with a
per-epoch shuffle (:mod:`cyclegan.data.sampling`), and read by random access
(:mod:`cyclegan.data.dataset`).

Example:
    >>> dm = CycleGANDataModule("data/demo", image_size=64, num_workers=0)  # doctest: +SKIP
    >>> batch = next(iter(dm.train_dataloader()))  # doctest: +SKIP
    >>> batch["photo"].shape, batch["photo"].dtype  # doctest: +SKIP
    (torch.Size([1, 3, 64, 64]), torch.uint8)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from lightning.pytorch import LightningDataModule
from lightning.pytorch.accelerators import CUDAAccelerator
from torch.utils.data import DataLoader

from cyclegan.data.dataset import PROBLEMS, DomainImages, UnpairedImages, collate_pairs
from cyclegan.data.index import BadRecord, DomainIndex, IndexCache, index_domain
from cyclegan.data.sampling import DOMAINS, EpochSampler, ResumableDataLoader
from cyclegan.data.transforms import ImageTransform, to_float

__all__ = ["CycleGANDataModule", "DataNotFoundError"]

log = logging.getLogger(__name__)

# (photo folder, Monet folder) layouts recognised under ROOT, in order of preference.
LAYOUTS = (("photo_tfrec", "monet_tfrec"), ("photo_jpg", "monet_jpg"), ("trainB", "trainA"))
EPOCH_LENGTHS = ("min", "max")
BAD_RECORD_POLICIES = ("error", "skip")
_SHOWN_BAD = 5
FETCH_IMAGES = 16  # images per domain a DataLoader worker assembles per fetch (whole steps)


class DataNotFoundError(FileNotFoundError):
    """The data folder is missing or holds no records; the message says what to do."""


def _not_found(root: Path, problem: str) -> DataNotFoundError:
    return DataNotFoundError(
        f"No training data at {root} ({root.resolve()}): {problem}.\n"
        "Expected the Kaggle layout:\n"
        f"    {root}/monet_tfrec/*.tfrec\n"
        f"    {root}/photo_tfrec/*.tfrec\n"
        "or, with data=folder, image folders monet_jpg/ + photo_jpg/ or trainA/ (Monet) + "
        "trainB/ (photos) under it.\n"
        "Get the Kaggle data with:\n"
        "    kaggle competitions download -c gan-getting-started\n"
        f"    unzip gan-getting-started.zip -d {root}\n"
        "or point data.root at where it is. `make demo` runs on built-in demo data instead."
    )


class CycleGANDataModule(LightningDataModule):
    """Unpaired photo and Monet images for CycleGAN training.

    Args:
        root: Dataset folder, holding the domain folders (see ``photo_dir``).
        batch_size: Images per domain per step, per rank.
        num_workers: DataLoader worker processes (0 reads in the main process).
        image_size: Side of the square training images; records of another size are resized.
        load_size: Side before the random crop, with ``augment``.
        augment: Resize to ``load_size``, random-crop ``image_size``, random horizontal flip.
        rot90: With ``augment``, also rotate by a random multiple of 90 degrees.
        epoch_length: ``"min"`` (steps to read the shorter domain once, as the Kaggle tutorial:
            300 steps at batch 1), ``"max"`` (the longer domain once, the shorter one cycling
            with a fresh shuffle each pass, as the paper), or a number of steps. Per rank.
        seed: Seed of the per-epoch shuffles and of the augmentation.
        on_bad_record: ``"error"`` stops at the first corrupt record, naming it; ``"skip"``
            leaves bad records out, logging how many and the first few.
        index_dir: Where to cache index files (default: next to the data if writable, else
            the user cache folder).
        pin_memory: Pin host memory of batches; ``None`` pins when training on a CUDA device.
        photo_dir: The photo folder, relative to ``root`` (or absolute). ``None`` picks the
            first of ``photo_tfrec``, ``photo_jpg``, ``trainB`` that exists with its pair.
        monet_dir: The Monet folder, likewise (``monet_tfrec``, ``monet_jpg``, ``trainA``).
        build_demo: Build the built-in demo dataset at ``root`` first if it is not there.

    Raises:
        ValueError: For an invalid option (the message names it).
    """

    def __init__(
        self,
        root: str | Path,
        batch_size: int = 1,
        num_workers: int = 2,
        image_size: int = 256,
        load_size: int = 286,
        augment: bool = False,
        rot90: bool = False,
        epoch_length: str | int = "min",
        seed: int = 0,
        on_bad_record: str = "error",
        index_dir: str | None = None,
        pin_memory: bool | None = None,
        photo_dir: str | None = None,
        monet_dir: str | None = None,
        build_demo: bool = False,
    ) -> None:
        super().__init__()
        self.root = Path(root)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.num_workers = _positive_int("num_workers", num_workers, minimum=0)
        self.image_size = _positive_int("image_size", image_size)
        self.load_size = _positive_int("load_size", load_size)
        if augment and self.load_size < self.image_size:
            raise ValueError(
                f"data.load_size={load_size} must be >= data.image_size={image_size} with augment"
            )
        self.augment = bool(augment)
        if rot90 and not self.augment:
            raise ValueError(
                "data.rot90=true needs data.augment=true (it is part of the augmentation)"
            )
        self.rot90 = bool(rot90)
        self.epoch_length = _epoch_length(epoch_length)
        self.seed = int(seed)
        if on_bad_record not in BAD_RECORD_POLICIES:
            raise ValueError(
                f"data.on_bad_record={on_bad_record!r}: must be one of {BAD_RECORD_POLICIES}"
            )
        self.on_bad_record = on_bad_record
        self.index_dir = index_dir
        self.pin_memory = pin_memory
        self.photo_dir = photo_dir
        self.monet_dir = monet_dir
        self.build_demo = build_demo
        self.indexes: dict[str, DomainIndex] = {}
        self.skipped: dict[str, list[BadRecord]] = {}
        self.skipped_while_training: list[str] = []
        self._train_sampler: EpochSampler | None = None

    # -- Lightning hooks -------------------------------------------------------------------

    def prepare_data(self) -> None:
        """Build the demo data if asked, then validate and index (cached) on one process."""
        if self.build_demo:
            from cyclegan.data.demo import build_demo_dataset

            build_demo_dataset(self.root)
        self.indexes = self._load_indexes()  # setup() loads them on the other processes

    def setup(self, stage: str | None = None) -> None:
        """Load the (cached) indexes and apply the ``on_bad_record`` policy."""
        if not self.indexes:
            self.indexes = self._load_indexes()

    def train_dataloader(self) -> DataLoader:
        """Shuffled unpaired batches for this rank (rank and world size from the trainer)."""
        rank, world_size = self._distribution()
        return self.train_dataloader_for(rank, world_size)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Turn the ``uint8`` images of a training batch into ``float32`` in ``[-1, 1]`` (and count
        the batch as consumed, for resuming mid-epoch).

        Records that could not be read any more (changed since indexing) follow
        ``on_bad_record``: ``error`` raises :class:`BadRecordError` naming the first one before
        this batch is trained on (``last.ckpt`` is saved first, see
        :class:`~cyclegan.callbacks.SafeModelCheckpoint`); ``skip`` counts them in
        :attr:`skipped_while_training` and logs each (another record took its place).

        Raises:
            BadRecordError: Under ``on_bad_record=error``, for a record that cannot be read.
        """
        if isinstance(batch, dict) and PROBLEMS in batch:
            batch = dict(batch)
            self._bad_while_training([p for sample in batch.pop(PROBLEMS) for p in sample])
        if isinstance(batch, dict):
            if self._train_sampler is not None and set(DOMAINS) <= set(batch):
                self._train_sampler.count_consumed()
            return {
                key: to_float(value)
                if key in DOMAINS and isinstance(value, torch.Tensor) and value.dtype == torch.uint8
                else value
                for key, value in batch.items()
            }
        return batch

    def _bad_while_training(self, problems: list[tuple[str, int, int, str, str | None]]) -> None:
        for problem in problems:
            bad = BadRecord(*problem)
            if self.on_bad_record == "error":
                raise bad.error("; set data.on_bad_record=skip to train without it")
            self.skipped_while_training.append(str(bad))
            log.warning(
                "skipped a record that can no longer be read (%d so far, "
                "data.on_bad_record=skip; another record took its place): %s",
                len(self.skipped_while_training),
                bad,
            )

    # -- Public helpers ----------------------------------------------------------------------

    def train_dataloader_for(self, rank: int, world_size: int) -> DataLoader:
        """The training DataLoader of ``rank`` among ``world_size`` ranks.

        Yields ``{"photo": uint8 [B,3,S,S], "monet": uint8 [B,3,S,S]}``, ``steps_per_epoch``
        batches per epoch, identical in count on every rank.
        """
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.setup()
        steps = self._steps(world_size)
        photo, monet = self.indexes["photo"], self.indexes["monet"]
        transform = ImageTransform(self.image_size, self.load_size, self.augment, self.rot90)
        dataset = UnpairedImages(photo, monet, transform, steps * self.batch_size * world_size)
        sampler = EpochSampler(
            dataset,
            (len(photo), len(monet)),
            steps,
            self.batch_size,
            world_size,
            rank,
            self.seed,
        )
        self._train_sampler = sampler
        steps_per_fetch = 1 if self.num_workers == 0 else -(-FETCH_IMAGES // self.batch_size)
        return ResumableDataLoader(
            dataset,
            step_batch_size=self.batch_size,
            steps_per_fetch=steps_per_fetch,
            batch_size=self.batch_size * steps_per_fetch,
            sampler=sampler,
            drop_last=False,  # the sampler yields whole steps only
            collate_fn=collate_pairs,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=self._pin_memory(),
            # Its own generator: starting an epoch's iterator (which draws the workers' base
            # seed) leaves the global torch RNG, which dropout uses, untouched, so a resumed
            # run draws the same dropout masks as an uninterrupted one.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def eval_dataloader(
        self, domain: str, limit: int | None = None, batch_size: int = 32
    ) -> DataLoader:
        """Every record of ``domain`` once, in file order, without augmentation.

        Args:
            domain: ``"photo"`` or ``"monet"``.
            limit: Only the first ``limit`` records.
            batch_size: Images per batch (the last batch may be smaller).

        Returns:
            A DataLoader of ``uint8`` ``[B, 3, S, S]`` batches.
        """
        dataset = DomainImages(self._index(domain), self._plain_transform(), limit)
        return DataLoader(
            dataset,
            batch_size=_positive_int("batch_size", batch_size),
            shuffle=False,
            drop_last=False,
            num_workers=self.num_workers,
            pin_memory=self._pin_memory(),
        )

    def preview_batch(self, n: int) -> dict[str, torch.Tensor]:
        """The first ``n`` images of each domain (fewer if a domain is smaller), ``float32`` in
        ``[-1, 1]`` on the CPU: a fixed batch for image grids."""
        transform = self._plain_transform()
        batch = {}
        for domain in DOMAINS:
            images = DomainImages(self._index(domain), transform, n)
            batch[domain] = to_float(torch.stack([images[i] for i in range(len(images))]))
        return batch

    def num_records(self, domain: str) -> int:
        """Number of usable records of ``domain``."""
        return len(self._index(domain))

    @property
    def steps_per_epoch(self) -> int:
        """Training steps per epoch on each rank."""
        self.setup()
        return self._steps(self._distribution()[1])

    # -- Internals ---------------------------------------------------------------------------

    def _index(self, domain: str) -> DomainIndex:
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
        self.setup()
        return self.indexes[domain]

    def _plain_transform(self) -> ImageTransform:
        return ImageTransform(self.image_size, self.load_size, augment=False)

    def _steps(self, world_size: int) -> int:
        if isinstance(self.epoch_length, int):
            return self.epoch_length
        sizes = {domain: len(self.indexes[domain]) for domain in DOMAINS}
        pick = min if self.epoch_length == "min" else max
        domain = pick(DOMAINS, key=lambda d: sizes[d])
        per_step = self.batch_size * world_size
        steps = sizes[domain] // per_step
        if steps == 0:
            raise ValueError(
                f"data.epoch_length={self.epoch_length}: the {domain} domain has {sizes[domain]} "
                f"records, fewer than one step needs (batch_size {self.batch_size} x "
                f"{world_size} ranks); lower data.batch_size or set data.epoch_length to a number"
            )
        return steps

    def _distribution(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is not None:
            return trainer.global_rank, trainer.world_size
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def _pin_memory(self) -> bool:
        if self.pin_memory is not None:
            return self.pin_memory
        trainer = self.trainer
        if trainer is not None:
            return isinstance(trainer.accelerator, CUDAAccelerator)
        return torch.cuda.is_available()

    def _domain_folders(self) -> dict[str, Path]:
        if not self.root.is_dir():
            raise _not_found(self.root, "the folder does not exist")
        if self.photo_dir is not None or self.monet_dir is not None:
            if self.photo_dir is None or self.monet_dir is None:
                raise ValueError("data.photo_dir and data.monet_dir must be given together")
            return {"photo": self.root / self.photo_dir, "monet": self.root / self.monet_dir}
        for photo, monet in LAYOUTS:
            if (self.root / photo).is_dir() and (self.root / monet).is_dir():
                return {"photo": self.root / photo, "monet": self.root / monet}
        present = sorted(p.name for p in self.root.iterdir())[:10]
        raise _not_found(self.root, f"no known pair of domain folders in it (found: {present})")

    def _load_indexes(self) -> dict[str, DomainIndex]:
        cache = IndexCache(self.index_dir)
        indexes = {}
        for domain, folder in self._domain_folders().items():
            if not folder.is_dir():
                raise _not_found(self.root, f"the {domain} folder {folder} does not exist")
            index = index_domain(domain, folder, cache)
            if index.total_records == 0:
                raise _not_found(
                    self.root, f"the {domain} folder {folder} holds no .tfrec files or images"
                )
            self._apply_policy(index)
            indexes[domain] = index
        return indexes

    def _apply_policy(self, index: DomainIndex) -> None:
        bad = index.bad
        self.skipped[index.name] = list(bad) if self.on_bad_record == "skip" else []
        if not bad:
            return
        if self.on_bad_record == "error":
            more = f" ({len(bad)} bad record{'s' if len(bad) > 1 else ''} in {index.name} in all)"
            raise bad[0].error(f"{more}; set data.on_bad_record=skip to train without them")
        shown = "\n  ".join(str(b) for b in bad[:_SHOWN_BAD])
        log.warning(
            "%s: skipped %d bad record(s) of %d (data.on_bad_record=skip); first %d:\n  %s",
            index.name,
            len(bad),
            index.total_records,
            min(len(bad), _SHOWN_BAD),
            shown,
        )
        if len(index) == 0:
            raise _not_found(self.root, f"every record of the {index.name} domain is bad")


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"data.{name}={value!r}: must be an integer >= {minimum}")
    return value


def _epoch_length(value: str | int) -> str | int:
    if isinstance(value, str) and value in EPOCH_LENGTHS:
        return value
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(
        f"data.epoch_length={value!r}: must be 'min', 'max' or a positive number of steps"
    )
