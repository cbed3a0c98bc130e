"""MiFIDCallback in a tiny Lightning run with stub modules and a stub feature extractor."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from benchmark_helpers import load_benchmark
from data_helpers import write_tfrecord_dataset
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from cyclegan.callbacks.mifid import MiFIDCallback
from cyclegan.data.datamodule import CycleGANDataModule
from cyclegan.data.transforms import to_float, to_uint8
from cyclegan.metrics import compute_scores
from cyclegan.metrics.inception import InceptionFeatureExtractor


class ColourFeatures:
    """Stub extractor: per-channel mean, std and corner pixel of each uint8 image (9-d)."""

    fingerprint = "colour-stats"

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []
        self.autocast: list[bool] = []

    def __call__(self, images: Tensor) -> Tensor:
        assert images.dtype == torch.uint8
        self.batch_sizes.append(images.shape[0])
        self.autocast.append(torch.is_autocast_enabled("cpu"))
        x = images.float() / 255
        return torch.cat([x.mean((2, 3)), x.std((2, 3)), x[:, :, 0, 0]], dim=1)


class StubDataModule(pl.LightningDataModule):
    """Random uint8 photos and paintings; records every eval_dataloader call."""

    def __init__(self, num_photos: int = 10, num_monets: int = 7, size: int = 16) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.photos = torch.randint(0, 256, (num_photos, 3, size, size), generator=gen)
        self.photos = self.photos.to(torch.uint8)
        self.monets = torch.randint(40, 200, (num_monets, 3, size, size), generator=gen)
        self.monets = self.monets.to(torch.uint8)
        self.calls: list[tuple[str, int | None, int]] = []

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(to_float(self.photos)), batch_size=4)

    def eval_dataloader(self, domain: str, limit: int | None = None, batch_size: int = 32):
        self.calls.append((domain, limit, batch_size))
        images = {"photo": self.photos, "monet": self.monets}[domain]
        return images[:limit].split(batch_size)


class StubCycleGAN(pl.LightningModule):
    """Just a photo->Monet generator that training nudges every step."""

    def __init__(self) -> None:
        super().__init__()
        self.gen_photo2monet = nn.Sequential(nn.Conv2d(3, 3, 1), nn.Dropout(0.5), nn.Tanh())
        self.calls: list[tuple[bool, bool]] = []  # (training mode, grad enabled) per forward
        self.gen_photo2monet.register_forward_hook(
            lambda module, args, out: self.calls.append((module.training, torch.is_grad_enabled()))
        )

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        return self.gen_photo2monet(batch[0]).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.5)


def _trainer(tmp_path: Path, callbacks: list[pl.Callback], **kwargs) -> pl.Trainer:
    options = dict(
        accelerator="cpu",
        devices=1,
        max_epochs=4,
        logger=CSVLogger(tmp_path, name="logs"),
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    options.update(kwargs)
    return pl.Trainer(**options)


def test_scores_every_n_epochs_logs_and_checkpoints_the_best(tmp_path: Path) -> None:
    extractor = ColourFeatures()
    callback = MiFIDCallback(
        every_n_epochs=2, num_photos=9, batch_size=4, kid_subsets=3, feature_extractor=extractor
    )
    best = ModelCheckpoint(
        dirpath=tmp_path / "ckpt",
        monitor="val/mifid",
        mode="min",
        every_n_epochs=2,
        save_on_train_epoch_end=True,
        filename="best-{epoch}",
    )
    module, datamodule = StubCycleGAN(), StubDataModule()
    trainer = _trainer(tmp_path, [callback, best])
    trainer.fit(module, datamodule=datamodule)

    with open(Path(trainer.logger.log_dir) / "metrics.csv") as f:
        rows = [row for row in csv.DictReader(f) if row.get("val/mifid")]
    assert [int(row["epoch"]) for row in rows] == [1, 3]
    logged = [float(row["val/mifid"]) for row in rows]
    assert all(math.isfinite(v) and v > 0 for v in logged)
    for row in rows:
        fid, distance = float(row["val/fid"]), float(row["val/memorization"])
        assert fid > 0
        assert math.isfinite(float(row["val/kid"]))
        expected_mifid = fid / distance if distance < 0.1 else fid
        assert float(row["val/mifid"]) == pytest.approx(expected_mifid, rel=1e-5)
    assert best.best_model_score is not None
    assert best.best_model_score.item() == pytest.approx(min(logged), rel=1e-6)
    assert Path(best.best_model_path).name == f"best-epoch={2 * int(np.argmin(logged)) + 1}.ckpt"

    # Photos: the first 9, twice; Monet features: computed once; batches streamed, never all.
    assert datamodule.calls.count(("photo", 9, 4)) == 2
    assert [call for call in datamodule.calls if call[0] == "monet"] == [("monet", None, 4)]
    assert max(extractor.batch_sizes) == 4
    assert sum(extractor.batch_sizes) == 2 * 9 + 7

    # The generator ran in eval mode without grad for scoring, and was put back to train mode.
    scoring_calls = [call for call in module.calls if not call[1]]
    assert len(scoring_calls) == 2 * math.ceil(9 / 4)
    assert {training for training, _ in scoring_calls} == {False}
    assert module.gen_photo2monet.training


def test_quality_curve_reads_the_iteration_each_score_was_taken_at(tmp_path: Path) -> None:
    # benchmarks/quality.py turns the logged val/mifid into (iteration, MiFID) for the
    # iterations-to-target comparison; 10 photos at batch 4 are 3 iterations per epoch.
    quality = load_benchmark("quality")
    callback = MiFIDCallback(
        every_n_epochs=2,
        num_photos=6,
        batch_size=3,
        kid_subsets=2,
        feature_extractor=ColourFeatures(),
    )
    logger = TensorBoardLogger(tmp_path, name="tb", version=0)
    trainer = _trainer(tmp_path, [callback], logger=logger)
    trainer.fit(StubCycleGAN(), datamodule=StubDataModule())

    curve = quality.mifid_curve(Path(logger.log_dir))
    assert [iteration for iteration, _ in curve] == [6, 12]
    assert curve[-1][1] == pytest.approx(trainer.callback_metrics["val/mifid"].item(), abs=0.01)


def test_score_equals_scores_of_the_translated_photos(tmp_path: Path) -> None:
    callback = MiFIDCallback(
        num_photos=6, batch_size=5, kid_subsets=4, feature_extractor=ColourFeatures()
    )
    module, datamodule = StubCycleGAN(), StubDataModule()
    trainer = _trainer(tmp_path, [callback], max_epochs=1)
    trainer.fit(module, datamodule=datamodule)

    module.gen_photo2monet.eval()
    with torch.no_grad():
        fakes = to_uint8(module.gen_photo2monet(to_float(datamodule.photos[:6])))
    extractor = ColourFeatures()
    expected = compute_scores(
        extractor(fakes).numpy(), extractor(datamodule.monets).numpy(), kid_subsets=4
    )
    module.gen_photo2monet.train()
    assert callback.score(trainer, module) == expected
    assert trainer.callback_metrics["val/mifid"].item() == pytest.approx(expected.mifid, rel=1e-6)


def test_fast_dev_run_skips_scoring(tmp_path: Path) -> None:
    extractor = ColourFeatures()
    callback = MiFIDCallback(feature_extractor=extractor)
    trainer = _trainer(tmp_path, [callback], fast_dev_run=True, logger=False)
    trainer.fit(StubCycleGAN(), datamodule=StubDataModule())
    assert extractor.batch_sizes == []


def test_missing_generator_or_eval_dataloader_fails_at_fit_start(tmp_path: Path) -> None:
    class NoGenerator(StubCycleGAN):
        def __init__(self) -> None:
            super().__init__()
            self.other = self.gen_photo2monet
            del self.gen_photo2monet

        def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
            return self.other(batch[0]).mean()

    callback = MiFIDCallback(feature_extractor=ColourFeatures())
    with pytest.raises(AttributeError, match="NoGenerator.gen_photo2monet"):
        _trainer(tmp_path, [callback]).fit(NoGenerator(), datamodule=StubDataModule())

    plain = StubDataModule()
    plain.eval_dataloader = None  # type: ignore[assignment]
    with pytest.raises(AttributeError, match="eval_dataloader"):
        _trainer(tmp_path, [callback]).fit(StubCycleGAN(), datamodule=plain)


def test_default_extractor_is_the_inception_loaded_only_when_used() -> None:
    callback = MiFIDCallback(every_n_epochs=5, precision="bf16")
    extractor = callback.extractor
    assert isinstance(extractor, InceptionFeatureExtractor)
    assert extractor.precision == "bf16"
    assert extractor._model is None
    assert callback.extractor is extractor


@pytest.mark.parametrize("kwargs", [{"every_n_epochs": 0}, {"num_photos": 1}, {"batch_size": 0}])
def test_invalid_arguments_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        MiFIDCallback(**kwargs)


def test_uint8_round_trip_of_the_generator_range() -> None:
    images = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16).expand(1, 3, 16, 16)
    assert torch.equal(to_uint8(to_float(images)), images)
    assert to_uint8(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]


@pytest.mark.parametrize("precision", ["bf16-true", "bf16-mixed"])
def test_scores_under_the_trainers_precision(tmp_path: Path, precision: str) -> None:
    extractor = ColourFeatures()
    callback = MiFIDCallback(num_photos=4, batch_size=4, kid_subsets=2, feature_extractor=extractor)
    trainer = _trainer(tmp_path, [callback], max_epochs=1, precision=precision)
    trainer.fit(StubCycleGAN(), datamodule=StubDataModule())
    assert math.isfinite(trainer.callback_metrics["val/mifid"].item())
    assert extractor.autocast == [False, False, False]  # the generator's autocast stays with it


def test_with_the_project_datamodule_on_tiny_tfrecords(tmp_path: Path) -> None:
    class ConstantInputGAN(StubCycleGAN):
        def training_step(self, batch: object, batch_idx: int) -> Tensor:
            return self.gen_photo2monet(torch.zeros(1, 3, 8, 8)).mean()

    root = write_tfrecord_dataset(tmp_path / "gan-getting-started", n_monet=5, n_photo=7)
    datamodule = CycleGANDataModule(
        str(root),
        batch_size=2,
        num_workers=0,
        image_size=32,
        load_size=32,
        index_dir=str(tmp_path / "index"),
    )
    extractor = ColourFeatures()
    callback = MiFIDCallback(num_photos=6, batch_size=4, kid_subsets=2, feature_extractor=extractor)
    trainer = _trainer(tmp_path, [callback], max_epochs=1, limit_train_batches=2)
    trainer.fit(ConstantInputGAN(), datamodule=datamodule)
    assert extractor.batch_sizes == [4, 1, 4, 2]  # 5 Monets, then the first 6 photos
    assert math.isfinite(trainer.callback_metrics["val/mifid"].item())
