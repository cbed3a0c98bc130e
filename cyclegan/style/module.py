"""Fast style transfer (Johnson et al., 2016) as a LightningModule on the CycleGAN DataModule.

A feed-forward transformation network, ``gen_photo2monet`` (the name the CycleGAN's photo ->
Monet generator has, so ``predict.py``, the MiFID callback and the image grids treat both models
alike), is trained on the photos to minimise, through a frozen VGG loss network,

    content_weight · content loss(photo, stylized)        at ``content_layer``
  + style_weight   · Σ_l w_l · style loss(stylized, Monet) at the ``style_layers``
  + tv_weight      · total variation(stylized)

where the Monet style is the mean normalised Gram matrix of the Monet paintings of the
DataModule (computed once when training starts, then kept in the checkpoint). The Monet batches
the DataModule delivers are not used by the steps. The loss network is not saved in checkpoints:
it is rebuilt from its weights when training (or resuming) starts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.optim import Optimizer

from cyclegan.data.transforms import to_float
from cyclegan.module import partial_config
from cyclegan.style.losses import (
    VGGFeatures,
    content_loss,
    gram_matrix,
    tv_loss,
    weighted_style_loss,
)

Batch = Mapping[str, torch.Tensor]
LOSS_NETWORK = "loss_network"


class FastStyleTransfer(L.LightningModule):
    """Train a transformation network to paint photos in the style of the Monet set.

    Args:
        generator: Factory of the transformation network (e.g. ``partial(TransformNet)``).
        loss_network: Factory taking the layer names to tap and returning the frozen
            :class:`~cyclegan.style.losses.VGGFeatures` (e.g. ``partial(vgg16, weights=...)``).
        optimizer: Factory taking parameters, e.g. ``partial(Adam, lr=1e-3)``.
        content_layer: VGG layer of the content loss.
        style_layers: VGG layer -> weight ``w_l`` of its style loss; layers of weight 0 are
            left out (so an override such as ``module.style_layers.relu4_3=0`` removes one).
        content_weight: Weight of the content loss.
        style_weight: Weight of the style loss (the weighted sum over ``style_layers``).
        tv_weight: Weight of the total-variation loss.
        style_images: How many Monet paintings (the first ones) make the style; None: all.
        style_batch_size: Paintings per loss-network pass when computing the style.

    Example:
        >>> from functools import partial
        >>> from cyclegan.networks import TransformNet
        >>> from cyclegan.style.loss_network import vgg16
        >>> model = FastStyleTransfer(partial(TransformNet, ngf=4, n_blocks=1),
        ...                           partial(vgg16, weights="random"),  # tests only
        ...                           partial(torch.optim.Adam, lr=1e-3),
        ...                           "relu2_2", {"relu1_2": 1.0, "relu2_2": 1.0})
        >>> model.gen_photo2monet(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 3, 32, 32])
    """

    style_ready: torch.Tensor

    def __init__(
        self,
        generator: Callable[[], nn.Module],
        loss_network: Callable[[Iterable[str]], VGGFeatures],
        optimizer: Callable[..., Optimizer],
        content_layer: str,
        style_layers: Mapping[str, float],
        content_weight: float = 1.0,
        style_weight: float = 1.0,
        tv_weight: float = 0.0,
        style_images: int | None = None,
        style_batch_size: int = 16,
    ) -> None:
        super().__init__()
        style_layers = {str(k): float(v) for k, v in style_layers.items() if v != 0}
        if not style_layers:
            raise ValueError("style_layers has no layer of non-zero weight")
        self.save_hyperparameters(ignore=["generator", "loss_network", "optimizer"])
        # Plain data, so predict.py rebuilds the network from the checkpoint alone.
        self.hparams["generator"] = partial_config(generator)
        self.hparams["style_layers"] = style_layers
        self.hparams["loss_network"] = _describe(loss_network)
        self.gen_photo2monet = generator()
        self.loss_network = loss_network([content_layer, *style_layers])
        # The loss network's weights are not part of the model: left out of state_dict, and not
        # expected back by load_state_dict.
        self.loss_network.register_state_dict_post_hook(_drop_own_keys)
        self.register_load_state_dict_post_hook(_ignore_missing_loss_network)
        self.optimizer_factory = optimizer
        self.content_layer = content_layer
        self.style_layers = style_layers
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.style_images = style_images
        self.style_batch_size = style_batch_size
        for name in self.style_layers:
            n = self.loss_network.channels(name)
            self.register_buffer(_gram_buffer(name), torch.zeros(n, n))
        self.register_buffer("style_ready", torch.tensor(False))

    # ----------------------------------------------------------------- losses
    def style_grams(self) -> dict[str, torch.Tensor]:
        """The target (mean normalised) Gram matrix of each style layer."""
        return {name: getattr(self, _gram_buffer(name)) for name in self.style_layers}

    def losses(self, photo: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Unweighted content, style and TV losses, their weighted sum ``loss``, and the
        stylized photos."""
        stylized = self.gen_photo2monet(photo)
        with torch.no_grad():
            target = self.loss_network(photo)[self.content_layer]
        features = self.loss_network(stylized)
        losses = {
            "content_loss": content_loss(features[self.content_layer], target),
            "style_loss": weighted_style_loss(features, self.style_grams(), self.style_layers),
            "tv_loss": tv_loss(stylized),
        }
        losses["loss"] = (
            self.content_weight * losses["content_loss"]
            + self.style_weight * losses["style_loss"]
            + self.tv_weight * losses["tv_loss"]
        )
        return losses, stylized

    @torch.no_grad()
    def set_style(self, paintings: Iterable[torch.Tensor]) -> int:
        """Set the style to the mean normalised Gram matrices of ``paintings``.

        Args:
            paintings: Batches of ``uint8`` ``[B, 3, H, W]`` images (any sizes).

        Returns:
            The number of paintings used.

        Raises:
            ValueError: If there is none.
        """
        sums = {name: torch.zeros_like(gram) for name, gram in self.style_grams().items()}
        count = 0
        for batch in paintings:
            features = self.loss_network(to_float(batch.to(self.device)))
            for name in sums:
                sums[name] += gram_matrix(features[name]).sum(dim=0)
            count += batch.shape[0]
        if count == 0:
            raise ValueError("no Monet paintings to take the style from")
        for name, total in sums.items():
            getattr(self, _gram_buffer(name)).copy_(total / count)
        self.style_ready.fill_(True)
        return count

    def forward(self, photo: torch.Tensor) -> torch.Tensor:
        """Photo -> Monet style."""
        return self.gen_photo2monet(photo)

    # ----------------------------------------------------------------- training
    def on_train_start(self) -> None:
        # After a resume the style comes back with the checkpoint.
        if bool(self.style_ready):
            return
        datamodule: Any = getattr(self.trainer, "datamodule", None)
        if not callable(getattr(datamodule, "eval_dataloader", None)):
            raise AttributeError(
                "FastStyleTransfer takes the style from the DataModule's Monet images: it needs "
                f"eval_dataloader(domain, limit, batch_size); got {type(datamodule).__name__}"
            )
        batches = datamodule.eval_dataloader(
            "monet", limit=self.style_images, batch_size=self.style_batch_size
        )
        count = self.set_style(batches)
        self.print(f"style: mean Gram matrices of {count} Monet paintings")

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        photo = batch["photo"]
        losses, _ = self.losses(photo)
        logs = {f"train/{name}": value.detach() for name, value in losses.items()}
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=photo.shape[0])
        return losses["loss"]

    def configure_optimizers(self) -> Optimizer:
        return self.optimizer_factory(self.gen_photo2monet.parameters())


def _describe(factory: Callable[..., Any]) -> dict[str, Any]:
    """``{"_target_": dotted name, **keyword arguments}`` of a factory, as plain data (which
    VGG and which weights trained a checkpoint)."""
    func = factory.func if isinstance(factory, functools.partial) else factory
    keywords = factory.keywords if isinstance(factory, functools.partial) else {}
    name = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"
    return {"_target_": name, **{k: str(v) for k, v in keywords.items()}}


def _gram_buffer(layer: str) -> str:
    return f"style_gram_{layer}"


def _drop_own_keys(
    module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any
) -> None:
    for key in [k for k in state_dict if k.startswith(prefix)]:
        del state_dict[key]


def _ignore_missing_loss_network(module: nn.Module, incompatible_keys: Any) -> None:
    missing = incompatible_keys.missing_keys
    missing[:] = [key for key in missing if not key.startswith(LOSS_NETWORK + ".")]
