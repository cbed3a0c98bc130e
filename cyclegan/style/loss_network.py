"""The VGG loss network of style transfer and where its ImageNet weights come from.

``weights`` picks the source:

- ``imagenet``: torchvision's ImageNet weights (``VGG16_Weights.IMAGENET1K_V1`` /
  ``VGG19_Weights.IMAGENET1K_V1``) from the torch hub cache,
  ``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth`` (``~/.cache/torch/hub/...`` by default),
  downloaded there on first use where there is internet (the hash in the name is checked).
- a path: that file, e.g. the same torchvision file copied from another machine.
- ``random``: random initialisation, **for tests only**: the losses then measure nothing a
  person would call content or style, and the results are meaningless.

Without the file and without internet, :func:`vgg16` / :func:`vgg19` fail at once with a
:class:`LossNetworkError` naming the file to get and where to put it. A weights file is data: it
is loaded with ``torch.load(weights_only=True)`` after checking that its size is at most that of
the whole VGG in float32, and its keys and shapes must be those of the VGG (``features.*``;
``classifier.*`` are allowed and ignored).

Example:
    >>> net = vgg19(["relu1_1", "relu2_1"], weights="random")  # tests only
    >>> {k: tuple(v.shape) for k, v in net(torch.zeros(1, 3, 32, 32)).items()}
    {'relu1_1': (1, 64, 32, 32), 'relu2_1': (1, 128, 16, 16)}
"""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models import VGG16_Weights, VGG19_Weights, WeightsEnum

from cyclegan.style.losses import VGGFeatures

__all__ = ["LossNetworkError", "load_vgg", "read_weights", "vgg16", "vgg19", "vgg_stack"]

log = logging.getLogger(__name__)

Layout = Sequence[int | str]
VGG16_LAYOUT: Layout = (
    *(64, 64, "M", 128, 128, "M", 256, 256, 256, "M"),
    *(512, 512, 512, "M", 512, 512, 512, "M"),
)
VGG19_LAYOUT: Layout = (
    *(64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"),
    *(512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
)
# torchvision's VGG classifier after the 7x7 average pool: (key, shape) of each tensor.
CLASSIFIER = {
    "classifier.0.weight": (4096, 512 * 7 * 7),
    "classifier.0.bias": (4096,),
    "classifier.3.weight": (4096, 4096),
    "classifier.3.bias": (4096,),
    "classifier.6.weight": (1000, 4096),
    "classifier.6.bias": (1000,),
}
_SIZE_SLACK = 1 << 20  # bytes allowed beyond the tensors themselves (pickle and zip headers)


class LossNetworkError(FileNotFoundError):
    """The loss network's weights are missing or are not VGG weights; the message says which
    file and what to do."""


def vgg16(taps: Iterable[str], weights: str = "imagenet") -> VGGFeatures:
    """VGG16 (Johnson et al.'s loss network) returning the activations of ``taps``.

    Args:
        taps: Layer names such as ``relu2_2`` (see :func:`~cyclegan.style.losses.vgg_layer_names`).
        weights: ``imagenet``, a path to a weights file, or ``random`` (tests only).

    Raises:
        LossNetworkError: If the weights cannot be found or are not VGG16's.
    """
    return load_vgg(VGG16_LAYOUT, taps, weights, VGG16_Weights.IMAGENET1K_V1, "vgg16")


def vgg19(taps: Iterable[str], weights: str = "imagenet") -> VGGFeatures:
    """VGG19 (Gatys et al.'s loss network) returning the activations of ``taps``.

    Args:
        taps: Layer names such as ``relu4_2``.
        weights: ``imagenet``, a path to a weights file, or ``random`` (tests only).

    Raises:
        LossNetworkError: If the weights cannot be found or are not VGG19's.
    """
    return load_vgg(VGG19_LAYOUT, taps, weights, VGG19_Weights.IMAGENET1K_V1, "vgg19")


def vgg_stack(layout: Layout) -> nn.Sequential:
    """The VGG ``features`` stack: 3×3 convolutions (padding 1) each followed by a ReLU, and a
    2×2 max pool for each ``"M"``; indices, and so state-dict keys, as in torchvision."""
    layers: list[nn.Module] = []
    channels = 3
    for item in layout:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU()]
            channels = int(item)
    return nn.Sequential(*layers)


def load_vgg(
    layout: Layout, taps: Iterable[str], weights: str, imagenet: WeightsEnum, name: str
) -> VGGFeatures:
    """Build the VGG of ``layout`` with the weights ``weights`` names (see the module doc)."""
    stack = vgg_stack(layout)
    if weights == "random":
        log.warning(
            "%s loss network with RANDOM weights: for tests only, results are meaningless", name
        )
    else:
        path = _imagenet_file(imagenet, name) if weights == "imagenet" else Path(weights)
        expected = {f"features.{k}": tuple(v.shape) for k, v in stack.state_dict().items()}
        state = read_weights(path, expected, CLASSIFIER, name)
        stack.load_state_dict({k.removeprefix("features."): v for k, v in state.items()})
    return VGGFeatures(stack, taps)


def read_weights(
    path: Path,
    required: Mapping[str, tuple[int, ...]],
    optional: Mapping[str, tuple[int, ...]],
    name: str,
) -> dict[str, torch.Tensor]:
    """The ``required`` tensors of a weights file, after checking size, keys and shapes.

    Args:
        path: A ``torch.save`` file of a ``state_dict``.
        required: Keys that must be there, with their shapes.
        optional: Keys that may be there (checked, then dropped).
        name: The network's name, for messages.

    Raises:
        LossNetworkError: If the file is missing, larger than those tensors in float32, not a
            plain state dict, or a key or shape differs.
    """
    if not path.is_file():
        raise LossNetworkError(f"loss_network.weights={path}: no such file")
    allowed = {**required, **optional}
    limit = 4 * sum(_numel(shape) for shape in allowed.values()) + _SIZE_SLACK
    size = path.stat().st_size
    if size > limit:
        raise LossNetworkError(
            f"{path}: {size:,} bytes, more than the {limit:,} that {name} weights take; "
            "not a weights file of this network"
        )
    try:
        # Memory-mapped where the format allows (torchvision's VGG files predate it).
        mmap = zipfile.is_zipfile(path)
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile) as error:
        reason = " ".join(str(error).strip().splitlines()[:2])
        raise LossNetworkError(f"{path}: not a plain PyTorch weights file: {reason}") from error
    if not isinstance(content, Mapping):
        raise LossNetworkError(f"{path}: expected a state dict, found {type(content).__name__}")
    unexpected = sorted(str(key) for key in content if key not in allowed)
    missing = sorted(key for key in required if key not in content)
    wrong = [
        f"{key} {tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__}"
        f" (expected {allowed[key]})"
        for key, value in content.items()
        if key in allowed
        and not (
            isinstance(value, torch.Tensor)
            and value.is_floating_point()
            and tuple(value.shape) == allowed[key]
        )
    ]
    if unexpected or missing or wrong:
        problems = [
            f"{label}: {', '.join(items[:4])}{' ...' if len(items) > 4 else ''}"
            for label, items in (("unexpected", unexpected), ("missing", missing), ("wrong", wrong))
            if items
        ]
        raise LossNetworkError(f"{path}: not {name} weights ({'; '.join(problems)})")
    return {key: content[key].float() for key in required}


def _imagenet_file(imagenet: WeightsEnum, name: str) -> Path:
    """torchvision's weights file in the torch hub cache, downloaded there if missing."""
    url = imagenet.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _download(url, path)
    except (OSError, RuntimeError) as error:  # URLError is an OSError; a bad hash a RuntimeError
        raise LossNetworkError(
            f"the {name} ImageNet weights are needed and are not in the torch cache ({path}); "
            f"downloading them failed: {error}.\n"
            f"Get {url} on a machine with internet and copy it to {path}\n"
            f"(or anywhere, and pass loss_network.weights=/path/to/{path.name})."
        ) from error
    return path


def _download(url: str, path: Path) -> None:
    """Download ``url`` to ``path``; torchvision names files ``<name>-<sha256 prefix>.pth``."""
    stem = path.stem
    prefix = stem.rsplit("-", 1)[-1] if "-" in stem else None
    log.info("downloading %s to %s", url, path)
    torch.hub.download_url_to_file(url, str(path), hash_prefix=prefix, progress=True)


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for side in shape:
        count *= side
    return count
