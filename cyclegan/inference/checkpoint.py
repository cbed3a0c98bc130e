"""Load one generator from a Lightning checkpoint or from exported generator weights.

Both file kinds are read with ``torch.load(weights_only=True)``: they hold only dicts, lists,
numbers, strings and tensors, so loading a file cannot run code. The generator is rebuilt from
the config stored in the file (``hyper_parameters["generator"]``), which may only name a class of
the allow-list :data:`cyclegan.inference.trusted.TRUSTED_NETWORKS`, with plain values as
arguments. Weights that are not all finite (a diverged run) are refused.

Example:
    >>> gen = load_generator("last.ckpt", "photo2monet")  # doctest: +SKIP
    >>> gen.module(torch.zeros(1, 3, 256, 256)).shape  # doctest: +SKIP
    torch.Size([1, 3, 256, 256])
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from cyclegan.inference.trusted import UntrustedConfigError, build_trusted
from cyclegan.networks import Generator, check_generator

__all__ = [
    "DIRECTIONS",
    "WEIGHTS_FORMAT",
    "CheckpointError",
    "LoadedGenerator",
    "load_generator",
    "read_checkpoint",
    "save_generator_weights",
]

DIRECTIONS: dict[str, str] = {"photo2monet": "gen_photo2monet", "monet2photo": "gen_monet2photo"}
"""Prediction direction -> name of the generator in the LightningModule's ``state_dict``."""

WEIGHTS_FORMAT = "cyclegan-generator-weights"
"""Value of the ``format`` key in exported generator weights (``export=weights``)."""

_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


class CheckpointError(ValueError):
    """A checkpoint or weights file that cannot give a generator; the message names the file."""


@dataclass(frozen=True)
class LoadedGenerator:
    """A generator ready for inference and what is known about it.

    Attributes:
        module: The generator in ``eval()`` mode, on the CPU, float32.
        config: Its Hydra config (``_target_`` and arguments), as stored in the file.
        direction: ``photo2monet`` or ``monet2photo``.
        size_multiple: Input height and width must be multiples of this.
        image_size: Training resolution when the file records it, else ``None``.
        source: The file it came from.
        weights: ``ema`` (the moving average of a run with ``module.ema_decay``) or
            ``trained`` (the optimised weights).
    """

    module: nn.Module
    config: dict[str, Any]
    direction: str
    size_multiple: int
    image_size: int | None
    source: Path
    weights: str = "trained"


def load_generator(path: str | Path, direction: str, ema: bool = True) -> LoadedGenerator:
    """Rebuild the generator for ``direction`` from a checkpoint or exported weights.

    Args:
        path: A Lightning checkpoint (``.ckpt``: ``state_dict`` with ``gen_photo2monet.*`` and
            ``gen_monet2photo.*`` keys, ``hyper_parameters["generator"]``) or a file written by
            :func:`save_generator_weights`.
        direction: ``photo2monet`` or ``monet2photo``.
        ema: take the generator's moving average (``ema_<direction>.*``) when the checkpoint
            holds one; ``False``: the trained weights (``gen_<direction>.*``).

    Returns:
        The generator in eval mode with its metadata.

    Raises:
        CheckpointError: If the file is missing, corrupt, not a checkpoint of this project, holds
            objects that ``weights_only`` loading refuses, names a class outside the allow-list
            or arguments that are not plain values, builds a class that does not declare the
            generator contract (:class:`cyclegan.networks.Generator`), or its weights do not
            fit the generator or are not all finite.
    """
    path = Path(path)
    if direction not in DIRECTIONS:
        raise CheckpointError(f"unknown direction {direction!r}; choose one of {list(DIRECTIONS)}")
    content = read_checkpoint(path)
    weights, network = "trained", DIRECTIONS[direction]
    if content.get("format") == WEIGHTS_FORMAT:
        config, state, image_size = _from_weights(path, content, direction)
        weights = str(content.get("weights", "trained"))
    elif "state_dict" in content and "hyper_parameters" in content:
        averaged = f"ema_{direction}"
        if ema and any(str(k).startswith(averaged + ".") for k in content["state_dict"]):
            network, weights = averaged, "ema"
        config, state, image_size = _from_lightning(path, content, network)
    else:
        raise CheckpointError(
            f"{path}: not a CycleGAN checkpoint or generator weights file "
            f"(top-level keys: {sorted(map(str, content))[:10]})"
        )
    _check_finite(path, state, DIRECTIONS[direction])
    module = _build(path, config)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(
            f"{path}: the {network} weights do not fit the generator its config "
            f"describes ({config.get('_target_')}): {_first_lines(str(error))}"
        ) from error
    module.eval()
    multiple = cast(Generator, module).size_multiple  # _build checked the contract
    return LoadedGenerator(module, config, direction, multiple, image_size, path, weights)


def save_generator_weights(generator: LoadedGenerator, path: str | Path) -> Path:
    """Write a generator as a small ``weights_only``-loadable file (``export=weights``).

    Args:
        generator: The generator to save.
        path: Destination file (``.pt``).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": WEIGHTS_FORMAT,
            "version": 1,
            "direction": generator.direction,
            "generator": generator.config,
            "image_size": generator.image_size,
            "weights": generator.weights,
            "state_dict": {k: v.detach().cpu() for k, v in generator.module.state_dict().items()},
        },
        path,
    )
    return path


def read_checkpoint(path: str | Path, mmap: bool = False) -> Mapping[str, Any]:
    """The content of a checkpoint or weights file, read with ``torch.load(weights_only=True)``.

    Args:
        path: The file.
        mmap: Map the tensors' storage from the file instead of reading it (a cheap check of a
            large training checkpoint).

    Raises:
        CheckpointError: If the file is missing, not a PyTorch file (corrupt, truncated), holds
            objects ``weights_only`` loading refuses (the message names the class), or is not
            a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        blocked = _UNSUPPORTED_GLOBAL.search(str(error))
        if blocked is None:  # not a pickle of objects at all: garbage or another format
            raise CheckpointError(
                f"{path}: not a readable PyTorch file (corrupt or truncated?)"
            ) from error
        raise CheckpointError(
            f"{path}: refused by torch.load(weights_only=True): it holds a {blocked.group(1)} "
            "object. Checkpoints of this project hold only plain Python data and tensors; "
            "re-save it with plain dicts."
        ) from error
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise CheckpointError(
            f"{path}: not a readable PyTorch file (corrupt or truncated?): "
            f"{_first_lines(str(error))}"
        ) from error
    if not isinstance(content, Mapping):
        raise CheckpointError(f"{path}: expected a dict, found {type(content).__name__}")
    return content


def _from_lightning(
    path: Path, content: Mapping[str, Any], network: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor], int | None]:
    """Config, ``state_dict`` of ``network`` (e.g. ``gen_photo2monet``) and image size."""
    hparams = content["hyper_parameters"]
    if not isinstance(hparams, Mapping) or not isinstance(hparams.get("generator"), Mapping):
        raise CheckpointError(
            f"{path}: hyper_parameters has no 'generator' config to rebuild the generator from"
        )
    prefix = network + "."
    state = {k[len(prefix) :]: v for k, v in content["state_dict"].items() if k.startswith(prefix)}
    if not state:
        groups = sorted({str(k).split(".", 1)[0] for k in content["state_dict"]})
        raise CheckpointError(f"{path}: no {prefix}* weights in state_dict (it has {groups})")
    return dict(hparams["generator"]), state, _image_size(hparams.get("image_size"))


def _from_weights(
    path: Path, content: Mapping[str, Any], direction: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor], int | None]:
    if content.get("direction") != direction:
        raise CheckpointError(
            f"{path}: these weights are the {content.get('direction')} generator, "
            f"but direction={direction} was asked for"
        )
    if not isinstance(content.get("generator"), Mapping) or not isinstance(
        content.get("state_dict"), Mapping
    ):
        raise CheckpointError(f"{path}: weights file without 'generator' config or 'state_dict'")
    return (
        dict(content["generator"]),
        dict(content["state_dict"]),
        _image_size(content.get("image_size")),
    )


def _build(path: Path, config: dict[str, Any]) -> nn.Module:
    try:
        module = build_trusted(config)
        check_generator(module)
    except UntrustedConfigError as error:
        raise CheckpointError(
            f"{path}: generator config {error}. Checkpoints may only build the network classes "
            "of cyclegan.inference.trusted.TRUSTED_NETWORKS from plain values"
        ) from error
    except (TypeError, ValueError) as error:  # includes a class without the contract
        raise CheckpointError(
            f"{path}: cannot build the generator from its config {config}: "
            f"{_first_lines(str(error))}"
        ) from error
    return module


def _check_finite(path: Path, state: Mapping[str, Any], prefix: str) -> None:
    """Refuse weights with NaN or infinite values (a diverged run)."""
    bad = [
        key
        for key, value in state.items()
        if isinstance(value, torch.Tensor)
        and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]
    if bad:
        shown = ", ".join(f"{prefix}.{key}" for key in bad[:3])
        raise CheckpointError(
            f"{path}: {len(bad)} of {len(state)} {prefix} tensors hold NaN or infinite values "
            f"({shown}{', ...' if len(bad) > 3 else ''}): the run diverged before this "
            "checkpoint; use an earlier one"
        )


def _image_size(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _first_lines(text: str, lines: int = 3) -> str:
    return " ".join(text.strip().splitlines()[:lines])
