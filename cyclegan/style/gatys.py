"""Gatys et al.'s neural style transfer: optimise an image's pixels against the VGG losses.

Starting from the content image, the pixels are optimised (L-BFGS or Adam) to minimise

    content_weight · content loss(VGG(x), VGG(content))   at ``content_layer``
  + style_weight   · Σ_l w_l · style loss(VGG(x), A_l)     at the ``style_layers``
  + tv_weight      · total variation(x)

where ``A_l`` is the normalised Gram matrix of the style painting, or the mean of those of a set
of paintings. :class:`Gatys` has the interface of :class:`~cyclegan.inference.stylizer.Stylizer`
that :func:`cyclegan.inference.runner.predict` drives, so the outputs are written exactly as
``predict.py`` writes them (names, safety, skipping, preview, submission).

Example:
    >>> from functools import partial
    >>> from cyclegan.style.loss_network import vgg19
    >>> gatys = Gatys(vgg19(["relu1_1", "relu2_1"], weights="random"),  # tests only
    ...               partial(torch.optim.Adam, lr=0.05), "relu2_1", {"relu1_1": 1.0},
    ...               steps=5, image_size=32)
    >>> gatys.set_style([torch.zeros(3, 40, 40, dtype=torch.uint8)])
    1
    >>> gatys.stylize(torch.zeros(3, 20, 30, dtype=torch.uint8)).shape
    torch.Size([3, 20, 30])
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping

import torch
from torch.optim import Optimizer
from torchvision.transforms.v2 import functional as TF
from tqdm import tqdm

from cyclegan.data.transforms import to_float, to_uint8
from cyclegan.style.losses import (
    VGGFeatures,
    content_loss,
    gram_matrix,
    tv_loss,
    weighted_style_loss,
)

__all__ = ["MIN_SIDE", "Gatys"]

MIN_SIDE = 16
"""Smallest working side: VGG's fourth pooling leaves a 1×1 map at 16 pixels."""


class Gatys:
    """Stylize ``uint8`` images by optimisation.

    Args:
        loss_network: Frozen VGG tapping ``content_layer`` and every style layer.
        optimizer: Factory taking ``[pixels]``; L-BFGS (with ``max_iter`` = ``max_eval`` =
            ``steps``, run in one ``step`` call) or Adam (one evaluation per step).
        content_layer: VGG layer of the content loss.
        style_layers: VGG layer -> weight ``w_l``.
        content_weight: Weight of the content loss.
        style_weight: Weight of the style loss.
        tv_weight: Weight of the total-variation loss.
        steps: Loss evaluations (forward + backward passes) per image.
        image_size: The longer side of the image the pixels of which are optimised (aspect
            kept; the result is resized back to the input's size); None: the input's own size.
        device: Where to run.
        progress: Show a progress bar of the steps of each image, with the losses.

    Raises:
        ValueError: If ``steps < 1``, ``image_size < 16`` or the layers are not tapped.
    """

    size_multiple = 1
    tile_size = sys.maxsize  # never tiled: the image is resized to image_size instead

    def __init__(
        self,
        loss_network: VGGFeatures,
        optimizer: Callable[[list[torch.Tensor]], Optimizer],
        content_layer: str,
        style_layers: Mapping[str, float],
        content_weight: float = 1.0,
        style_weight: float = 1.0,
        tv_weight: float = 0.0,
        steps: int = 300,
        image_size: int | None = 256,
        device: torch.device | str = "cpu",
        progress: bool = False,
    ) -> None:
        if steps < 1:
            raise ValueError(f"steps={steps}: must be at least 1")
        if image_size is not None and image_size < MIN_SIDE:
            raise ValueError(f"image_size={image_size}: must be at least {MIN_SIDE}")
        missing = [n for n in [content_layer, *style_layers] if n not in loss_network.taps]
        if missing or not style_layers:
            raise ValueError(f"layers {missing} are not tapped by the loss network")
        self.device = torch.device(device)
        self.loss_network = loss_network.to(self.device).float()
        self.optimizer = optimizer
        self.content_layer = content_layer
        self.style_layers = dict(style_layers)
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.steps = steps
        self.image_size = image_size
        self.progress = progress
        self.style_grams: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        """The size the pixels are optimised at: longer side ``image_size``, aspect kept."""
        if self.image_size is None:
            return max(height, MIN_SIDE), max(width, MIN_SIDE)
        scale = self.image_size / max(height, width)
        return max(round(height * scale), MIN_SIDE), max(round(width * scale), MIN_SIDE)

    def _prepare(self, image: torch.Tensor) -> torch.Tensor:
        """``uint8`` ``[3, H, W]`` -> float ``[1, 3, h, w]`` in ``[-1, 1]`` at the working size."""
        x = to_float(image.to(self.device))[None]
        size = list(self.working_size(*image.shape[-2:]))
        if size != list(image.shape[-2:]):
            x = TF.resize(x, size, antialias=True)
        return x

    @torch.no_grad()
    def set_style(self, paintings: Iterable[torch.Tensor]) -> int:
        """Make the style the mean normalised Gram matrices of ``paintings``.

        Args:
            paintings: ``uint8`` ``[3, H, W]`` images, each resized to the working size.

        Returns:
            How many paintings were used.

        Raises:
            ValueError: If there is none.
        """
        sums: dict[str, torch.Tensor] = {}
        count = 0
        for painting in paintings:
            features = self.loss_network(self._prepare(painting))
            for name in self.style_layers:
                gram = gram_matrix(features[name])[0]
                sums[name] = sums[name] + gram if name in sums else gram
            count += 1
        if count == 0:
            raise ValueError("no style painting could be read")
        self.style_grams = {name: total / count for name, total in sums.items()}
        return count

    def losses(self, x: torch.Tensor, content_target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Content, style and TV losses of ``x`` and their weighted sum ``loss``."""
        if self.style_grams is None:
            raise RuntimeError("call set_style before stylizing")
        features = self.loss_network(x)
        losses = {
            "content": content_loss(features[self.content_layer], content_target),
            "style": weighted_style_loss(features, self.style_grams, self.style_layers),
            "tv": tv_loss(x),
        }
        losses["loss"] = (
            self.content_weight * losses["content"]
            + self.style_weight * losses["style"]
            + self.tv_weight * losses["tv"]
        )
        return losses

    def optimise(self, content: torch.Tensor) -> torch.Tensor:
        """Optimise pixels from ``content`` (float ``[1, 3, h, w]`` in ``[-1, 1]``).

        The loss of every evaluation is appended to :attr:`history`.

        Returns:
            The optimised image, float ``[1, 3, h, w]`` (not clamped).
        """
        with torch.no_grad():
            target = self.loss_network(content)[self.content_layer]
        pixels = content.clone().requires_grad_(True)
        optimizer = self.optimizer([pixels])
        self.history = []
        bar = tqdm(
            total=self.steps, desc="  steps", unit="step", leave=False, disable=not self.progress
        )

        def closure() -> float:
            optimizer.zero_grad(set_to_none=True)
            losses = self.losses(pixels, target)
            losses["loss"].backward()
            values = {name: value.item() for name, value in losses.items()}
            self.history.append(values)
            bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()}, refresh=False)
            bar.update(1)
            return values["loss"]

        with bar:
            while len(self.history) < self.steps:
                optimizer.step(closure)
        return pixels.detach()

    def stylize(
        self, image: torch.Tensor, on_window: Callable[[int, int], None] | None = None
    ) -> torch.Tensor:
        """Stylize one ``uint8`` ``[3, H, W]`` image; ``uint8`` ``[3, H, W]`` out.

        The image is optimised whole, never in windows: ``on_window`` is not called.
        """
        height, width = image.shape[-2:]
        result = self.optimise(self._prepare(image))
        if result.shape[-2:] != (height, width):
            result = TF.resize(result, [height, width], antialias=True)
        return to_uint8(result.clamp(-1, 1))[0].cpu()

    def forward_uint8(self, batch: torch.Tensor) -> torch.Tensor:
        """:meth:`stylize` for each image of a ``uint8`` ``[B, 3, H, W]`` batch."""
        return torch.stack([self.stylize(image) for image in batch])
