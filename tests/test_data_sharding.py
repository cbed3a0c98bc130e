"""Exactly-once sharding across ranks x DataLoader workers, per-epoch shuffles, equal steps."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from data_helpers import image_id, write_tfrecord_dataset
from lightning.pytorch import LightningModule, Trainer

from cyclegan.data.datamodule import CycleGANDataModule
from cyclegan.data.sampling import epoch_stream, rank_positions
from cyclegan.training import release_process_group

N_PHOTO, N_MONET, BATCH = 24, 10, 2


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 3 files per domain of unequal length: photo 4 + 8 + 12, monet 2 + 3 + 5
    path = tmp_path_factory.mktemp("data")
    return write_tfrecord_dataset(path, n_monet=N_MONET, n_photo=N_PHOTO, size=16, shards=3)


def read_epochs(
    root: Path, ranks: int, workers: int, epochs: int = 2
) -> list[list[dict[str, list[int]]]]:
    """ids[epoch][rank] = {"photo": [...], "monet": [...]} in the order the loader yields."""
    dm = CycleGANDataModule(
        str(root), batch_size=BATCH, num_workers=workers, image_size=16, epoch_length="max"
    )
    loaders = [dm.train_dataloader_for(rank, ranks) for rank in range(ranks)]
    result = []
    for epoch in range(epochs):
        per_rank = []
        for loader in loaders:
            loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
            seen: dict[str, list[int]] = {"photo": [], "monet": []}
            for batch in loader:
                for domain, images in batch.items():
                    seen[domain].extend(image_id(image) for image in images)
            per_rank.append(seen)
        result.append(per_rank)
    return result


@pytest.mark.parametrize(("ranks", "workers"), [(1, 0), (1, 2), (2, 2), (3, 1)])
def test_every_record_read_exactly_once_per_epoch(root: Path, ranks: int, workers: int) -> None:
    epochs = read_epochs(root, ranks, workers)
    steps = N_PHOTO // (BATCH * ranks)
    for per_rank in epochs:
        assert [len(seen["photo"]) for seen in per_rank] == [steps * BATCH] * ranks
        photos = [i for seen in per_rank for i in seen["photo"]]
        assert sorted(photos) == list(range(N_PHOTO))  # all of them, no duplicates
        monets = Counter(i for seen in per_rank for i in seen["monet"])
        # the shorter domain cycles: 24 reads of 10 records, fresh shuffle each pass
        assert set(monets) == set(range(N_MONET))
        assert sorted(monets.values()) == [2] * 6 + [3] * 4
    first, second = ([i for seen in e for i in seen["photo"]] for e in epochs)
    assert first != second  # reshuffled each epoch


def test_order_is_the_same_for_any_worker_count_and_on_rerun(root: Path) -> None:
    serial = read_epochs(root, ranks=2, workers=0)
    parallel = read_epochs(root, ranks=2, workers=2)
    assert serial == parallel


def test_remainder_left_out_varies_by_epoch() -> None:
    n, world, batch = 25, 3, 2
    steps = n // (world * batch)
    positions = [rank_positions(steps, batch, world, r) for r in range(world)]
    assert sorted(np.concatenate(positions).tolist()) == list(range(steps * batch * world))
    left_out = []
    for epoch in range(6):
        stream = epoch_stream(n, steps * batch * world, seed=0, epoch=epoch, domain=0)
        assert len(set(stream.tolist())) == 24  # at most once per epoch
        left_out.append(set(range(n)) - set(stream.tolist()))
    assert len({frozenset(s) for s in left_out}) > 1


class _RecordIds(LightningModule):
    """Records the photo ids each rank trains on (no optimisation)."""

    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[int] = []

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        assert batch["photo"].dtype == torch.float32  # converted after the transfer
        self.seen.extend(image_id(image) for image in batch["photo"])
        return self.weight.sum() * 0

    def on_train_epoch_end(self) -> None:
        path = self.out / f"rank{self.global_rank}-epoch{self.current_epoch}.txt"
        path.write_text(" ".join(map(str, self.seen)))
        self.seen = []

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)

    def teardown(self, stage: str) -> None:
        release_process_group()  # in each spawned rank, as train() does after its fit


@pytest.mark.slow
def test_lightning_ddp_keeps_the_sampler_and_shards_exactly_once(
    root: Path, tmp_path: Path
) -> None:
    dm = CycleGANDataModule(
        str(root), batch_size=BATCH, num_workers=0, image_size=16, epoch_length="max"
    )
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(_RecordIds(tmp_path), datamodule=dm)
    for epoch in range(2):
        ranks = [
            [int(i) for i in (tmp_path / f"rank{r}-epoch{epoch}.txt").read_text().split()]
            for r in range(2)
        ]
        assert len(ranks[0]) == len(ranks[1]) == N_PHOTO // 2
        assert sorted(ranks[0] + ranks[1]) == list(range(N_PHOTO))


def photo_ids(batches: list[dict[str, torch.Tensor]]) -> list[int]:
    return [image_id(image) for batch in batches for image in batch["photo"]]


def test_loader_state_resumes_the_epoch_where_it_stopped(root: Path) -> None:
    def loader_of() -> tuple[CycleGANDataModule, torch.utils.data.DataLoader]:
        dm = CycleGANDataModule(str(root), batch_size=BATCH, num_workers=0, image_size=16)
        return dm, dm.train_dataloader_for(0, 1)

    dm, loader = loader_of()
    loader.sampler.set_epoch(3)  # type: ignore[attr-defined]
    full = list(loader)
    iterator = iter(loader)
    for _ in range(2):
        dm.on_after_batch_transfer(next(iterator), 0)  # two steps trained
    state = loader.state_dict()  # type: ignore[attr-defined]
    assert state == {"epoch": 3, "batches": 2}

    _, resumed = loader_of()
    resumed.load_state_dict(state)  # type: ignore[attr-defined]
    rest = list(resumed)
    assert photo_ids(rest) == photo_ids(full[2:])
    assert photo_ids(list(resumed)) == photo_ids(full)  # the next pass is whole again


class _RecordSteps(LightningModule):
    """Appends the photo ids of every training step to a file."""

    def __init__(self, log: Path) -> None:
        super().__init__()
        self.log_file = log
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        with self.log_file.open("a") as file:
            file.write(" ".join(str(image_id(x)) for x in batch["photo"]) + "\n")
        return (self.weight * 0).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)


@pytest.mark.slow
def test_lightning_resume_mid_epoch_continues_the_same_order(root: Path, tmp_path: Path) -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    def fit(log: Path, max_steps: int, save_to: str, ckpt_path: Path | None = None) -> None:
        dm = CycleGANDataModule(str(root), batch_size=BATCH, num_workers=0, image_size=16)
        trainer = Trainer(
            accelerator="cpu",
            max_steps=max_steps,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp_path,
            callbacks=[
                ModelCheckpoint(
                    tmp_path / save_to, every_n_train_steps=1, save_top_k=0, save_last=True
                )
            ],
        )
        trainer.fit(_RecordSteps(log), datamodule=dm, ckpt_path=ckpt_path)

    steps = N_MONET // BATCH  # epoch_length=min: 5 steps per epoch
    fit(tmp_path / "straight.txt", 2 * steps, "a")
    fit(tmp_path / "resumed.txt", steps + 2, "b")  # stops 2 steps into the second epoch
    fit(tmp_path / "resumed.txt", 2 * steps, "b", ckpt_path=tmp_path / "b" / "last.ckpt")
    straight = (tmp_path / "straight.txt").read_text().splitlines()
    resumed = (tmp_path / "resumed.txt").read_text().splitlines()
    assert resumed == straight
