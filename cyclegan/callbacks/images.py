"""TensorBoard image grids of both cycles on a fixed batch."""

from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torchvision.utils import make_grid

from cyclegan.module import generator_of


class ImageGridLogger(L.Callback):
    """Every ``every_n_steps`` training iterations (and at the first), log two grids:

    ``images/photo2monet``: photo | G(photo) | F(G(photo)), one row per image;
    ``images/monet2photo``: Monet | F(Monet) | G(F(Monet)).

    The batch is fixed for the whole run (the DataModule's ``preview_batch``), generators run in
    eval mode (no dropout) so grids are comparable over time.
    """

    def __init__(self, every_n_steps: int = 100, num_images: int = 4, ema: bool = True) -> None:
        if every_n_steps < 1 or num_images < 1:
            raise ValueError(
                f"every_n_steps and num_images must be >= 1, got {every_n_steps}, {num_images}"
            )
        self.every_n_steps = every_n_steps
        self.num_images = num_images
        self.ema = ema  # the generators' moving averages when the module keeps them
        self._batch: dict[str, torch.Tensor] | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "preview_batch"):
            raise TypeError(
                "ImageGridLogger needs a DataModule with preview_batch(n); "
                f"got {type(datamodule).__name__}"
            )
        self._batch = datamodule.preview_batch(self.num_images)

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        iteration = trainer.fit_loop.total_batch_idx  # the step Lightning logs scalars at
        if iteration % self.every_n_steps != 0:
            return
        if self._batch is None or not trainer.is_global_zero:
            return
        for name, grid in self.grids(pl_module).items():
            for logger in trainer.loggers:
                if isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_image(name, grid, global_step=iteration)

    @torch.no_grad()
    def grids(self, pl_module: L.LightningModule) -> dict[str, torch.Tensor]:
        """The two grids as float CHW images in [0, 1] on the CPU."""
        assert self._batch is not None
        g = generator_of(pl_module, "photo2monet", self.ema)
        f = generator_of(pl_module, "monet2photo", self.ema)
        was_training = g.training, f.training
        g.eval()
        f.eval()
        try:
            photo = self._batch["photo"].to(pl_module.device)
            monet = self._batch["monet"].to(pl_module.device)
            fake_monet = g(photo)
            fake_photo = f(monet)
            rows = {
                "images/photo2monet": (photo, fake_monet, f(fake_monet)),
                "images/monet2photo": (monet, fake_photo, g(fake_photo)),
            }
        finally:
            g.train(was_training[0])
            f.train(was_training[1])
        out = {}
        for name, (a, b, c) in rows.items():
            # Interleave so each row shows one image through the cycle.
            tiles = torch.stack([a, b, c], dim=1).flatten(0, 1).float().cpu()
            out[name] = make_grid(tiles, nrow=3, normalize=True, value_range=(-1, 1))
        return out


class StyleGridLogger(ImageGridLogger):
    """Like :class:`ImageGridLogger` for a model with only ``gen_photo2monet`` (fast style
    transfer): ``images/photo2monet`` shows photo | stylized, one row per image."""

    @torch.no_grad()
    def grids(self, pl_module: L.LightningModule) -> dict[str, torch.Tensor]:
        """The grid as a float CHW image in [0, 1] on the CPU."""
        assert self._batch is not None
        g = generator_of(pl_module, "photo2monet", self.ema)
        was_training = g.training
        g.eval()
        try:
            photo = self._batch["photo"].to(pl_module.device)
            stylized = g(photo)
        finally:
            g.train(was_training)
        tiles = torch.stack([photo, stylized], dim=1).flatten(0, 1).float().cpu()
        return {"images/photo2monet": make_grid(tiles, nrow=2, normalize=True, value_range=(-1, 1))}
