"""Score the photo -> Monet generator with Kaggle's MiFID (plus FID and KID) during training.

Every ``every_n_epochs`` epochs, at the end of the training epoch, the callback translates a fixed
subset of photos (the first ``num_photos`` records of ``datamodule.eval_dataloader("photo")``)
with ``pl_module.gen_photo2monet`` in eval mode, turns the outputs into uint8 images as a saved
submission would hold, and keeps only their Inception features (one batch of images in memory at a
time). The Monet features are computed once, on first use. It logs ``val/mifid``, ``val/fid``,
``val/kid`` and ``val/memorization`` with ``pl_module.log``, so a checkpoint callback can keep the
best generator::

    trainer = Trainer(callbacks=[
        MiFIDCallback(every_n_epochs=5, num_photos=1000),
        ModelCheckpoint(monitor="val/mifid", mode="min", every_n_epochs=5,
                        save_on_train_epoch_end=True, filename="best-mifid-{epoch}"),
    ])

Use the same ``every_n_epochs`` in both (a checkpoint asked to judge an epoch without the score
warns) and ``save_on_train_epoch_end=True`` (with a validation loop, ModelCheckpoint would
otherwise decide at validation end, before this callback has scored the epoch). The Inception
network (~87 MB) is loaded lazily on the first scored epoch, and nothing runs under
``fast_dev_run``. Under DDP every rank scores the same subset and logs the same value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor, nn

from cyclegan.data.transforms import to_float, to_uint8
from cyclegan.metrics.features import FeatureExtractor, extract_features
from cyclegan.metrics.fid import FeatureStats
from cyclegan.metrics.inception import InceptionFeatureExtractor, Precision
from cyclegan.metrics.mifid import KAGGLE_EPSILON
from cyclegan.metrics.scores import Scores, compute_scores
from cyclegan.module import generator_of


class MiFIDCallback(pl.Callback):
    """Log MiFID, FID and KID of ``gen_photo2monet`` on a fixed photo subset every N epochs.

    Args:
        every_n_epochs: score after epochs N, 2N, ... (1-based, as ModelCheckpoint counts).
        num_photos: photos translated per scoring (the first ones, in file order); None = all.
        batch_size: photos per generator / Inception batch.
        precision: Inception precision, ``"fp32"`` or ``"bf16"`` (see docs/metrics.md).
        kid_subsets: KID subsampling rounds.
        kid_subset_size: KID subset size (capped at the smaller set).
        epsilon: MiFID memorization threshold (Kaggle: 0.1).
        seed: KID subsampling seed.
        feature_extractor: features to use instead of the FID Inception (tests use small ones).

    Raises:
        ValueError: for ``every_n_epochs < 1``, ``num_photos < 2`` or ``batch_size < 1``.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        num_photos: int | None = None,
        batch_size: int = 16,
        precision: Precision = "fp32",
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        epsilon: float = KAGGLE_EPSILON,
        seed: int = 0,
        feature_extractor: FeatureExtractor | None = None,
        ema: bool = True,
    ) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}.")
        if num_photos is not None and num_photos < 2:
            raise ValueError(f"num_photos must be >= 2 (or None for all), got {num_photos}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.every_n_epochs = every_n_epochs
        self.num_photos = num_photos
        self.batch_size = batch_size
        self.precision: Precision = precision
        self.kid_subsets = kid_subsets
        self.kid_subset_size = kid_subset_size
        self.epsilon = epsilon
        self.seed = seed
        self._extractor = feature_extractor
        self.ema = ema  # score the generator's moving average when the module keeps one
        self._monet: tuple[np.ndarray, FeatureStats] | None = None

    @property
    def extractor(self) -> FeatureExtractor:
        """The feature extractor, created (not yet loaded) on first access."""
        if self._extractor is None:
            self._extractor = InceptionFeatureExtractor(precision=self.precision)
        return self._extractor

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Fail at the start of fit, not after an epoch, when the modules lack what is needed."""
        if stage != "fit":
            return
        try:
            generator_of(pl_module, "photo2monet", self.ema)
        except AttributeError as error:
            raise AttributeError(f"MiFIDCallback needs {error}") from None
        datamodule = getattr(trainer, "datamodule", None)
        if not callable(getattr(datamodule, "eval_dataloader", None)):
            raise AttributeError(
                "MiFIDCallback needs the trainer's datamodule to provide "
                "`eval_dataloader(domain, limit=None, batch_size=32)`; got "
                f"{type(datamodule).__name__}."
            )

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Score and log every ``every_n_epochs`` epochs."""
        if (
            getattr(trainer, "fast_dev_run", False)
            or (trainer.current_epoch + 1) % self.every_n_epochs != 0
        ):
            return
        scores = self.score(trainer, pl_module)
        metrics = {
            "val/mifid": scores.mifid,
            "val/fid": scores.fid,
            "val/kid": scores.kid_mean,
            "val/memorization": scores.memorization,
        }
        for name, value in metrics.items():
            pl_module.log(name, value, on_step=False, on_epoch=True, prog_bar=name == "val/mifid")

    def score(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Scores:
        """Translate the photo subset now and score it against the Monet set.

        Returns:
            The :class:`~cyclegan.metrics.scores.Scores` of this epoch's generator.
        """
        datamodule: Any = getattr(trainer, "datamodule", None)
        device = pl_module.device
        # TorchScript does not run on XLA devices; features of XLA tensors are taken on the CPU.
        feature_device = torch.device("cpu") if device.type == "xla" else device
        if self._monet is None:
            monet_batches = datamodule.eval_dataloader("monet", batch_size=self.batch_size)
            monet = self._features(batch.to(feature_device) for batch in monet_batches)
            self._monet = (monet, FeatureStats.from_features(monet))
        monet_features, monet_stats = self._monet

        generator = generator_of(pl_module, "photo2monet", self.ema)
        was_training = generator.training
        generator.eval()
        try:
            photos = datamodule.eval_dataloader(
                "photo", limit=self.num_photos, batch_size=self.batch_size
            )
            fakes = self._translate(trainer, generator, photos, device, feature_device)
            generated = self._features(fakes)
        finally:
            generator.train(was_training)
        return compute_scores(
            generated,
            monet_features,
            real_stats=monet_stats,
            kid_subsets=self.kid_subsets,
            kid_subset_size=self.kid_subset_size,
            seed=self.seed,
            epsilon=self.epsilon,
        )

    @staticmethod
    def _translate(
        trainer: pl.Trainer,
        generator: nn.Module,
        photos: Iterable[Tensor],
        device: torch.device,
        feature_device: torch.device,
    ) -> Iterator[Tensor]:
        """uint8 Monet-style images of uint8 photos, batch by batch."""
        precision = trainer.precision_plugin  # the dtype / autocast of the training steps
        for batch in photos:
            with torch.no_grad(), precision.forward_context():
                fakes = generator(precision.convert_input(to_float(batch.to(device))))
            yield to_uint8(fakes).to(feature_device)  # Inception runs outside autocast

    def _features(self, batches: Iterable[Tensor]) -> np.ndarray:
        features = extract_features(batches, self.extractor)
        if features.shape[0] < 2:
            raise ValueError(
                f"MiFIDCallback needs at least 2 images per domain, got {features.shape[0]}."
            )
        return features
