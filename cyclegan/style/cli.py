"""What ``python stylize.py`` does with its composed config (``conf/stylize.yaml``).

The loss network's weights are loaded first, so a missing weights file stops the run before any
image is read; then the style paintings are read and their Gram matrices averaged, and the
inputs go through the prediction pipeline of ``predict.py`` (:mod:`cyclegan.inference.cli`)
with Gatys style transfer as the model: the same options, inputs, outputs and report.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from cyclegan.data.images import BadImageError, decode_image
from cyclegan.inference.inputs import InputProblem, check_input, iter_inputs
from cyclegan.inference.options import PredictOptions, UsageError, resolve_device
from cyclegan.inference.report import report
from cyclegan.inference.runner import predict
from cyclegan.style.gatys import Gatys

__all__ = ["read_paintings", "run"]


def run(cfg: DictConfig) -> int:
    """Stylize ``cfg.input_dir`` with the style of ``cfg.style``; print the summary.

    Returns:
        The exit status: 0 when every input was converted or skipped, 1 when any failed.

    Raises:
        UsageError: For a missing or invalid option.
        LossNetworkError: If the VGG weights are missing or wrong (before any other work).
        FileNotFoundError: If the input or the style does not exist.
    """
    for key, example in (("input_dir", "path/to/photos"), ("style", "path/to/monet_jpg")):
        if cfg.get(key) is None:
            raise UsageError(
                f"{key} is required: {key}={example} (a folder, .tfrec, .zip or image)"
            )
    options = PredictOptions.from_config(cfg)
    style_path = Path(cfg.style)
    check_input(options.require_input())
    check_input(style_path)
    layers = OmegaConf.to_container(cfg.style_layers)
    if not isinstance(layers, dict):
        raise UsageError("style_layers must map VGG layer names to weights, e.g. {relu1_1: 1.0}")
    # Weight 0 leaves a layer out (Hydra merges a dict given on the command line into this one).
    style_layers = {str(k): float(v) for k, v in layers.items() if v != 0}
    if not style_layers:
        raise UsageError("style_layers has no layer of non-zero weight")
    try:
        loss_network = instantiate(cfg.loss_network)([cfg.content_layer, *style_layers])
        gatys = Gatys(
            loss_network,
            instantiate(cfg.optimizer),
            cfg.content_layer,
            style_layers,
            content_weight=cfg.content_weight,
            style_weight=cfg.style_weight,
            tv_weight=cfg.tv_weight,
            steps=cfg.steps,
            image_size=cfg.image_size,
            device=resolve_device(cfg.device),
            progress=cfg.progress,
        )
    except ValueError as error:  # unknown layer names, steps < 1, image_size too small
        raise UsageError(str(error)) from error
    problems: list[InputProblem] = []
    count = gatys.set_style(read_paintings(style_path, cfg.style_limit, cfg.max_pixels, problems))
    for problem in problems:
        print(
            f"style: {'ignored' if problem.ignored else 'skipped'} {problem.name}: {problem.reason}"
        )
    optimizer = str(cfg.optimizer._target_).rsplit(".", 1)[-1]
    print(
        f"style: mean Gram matrices of {count} paintings from {style_path}; {cfg.steps} steps "
        f"of {optimizer} per image at {cfg.image_size or 'input'} px on {gatys.device}: "
        f"{options.input_path} -> {options.output_dir}"
    )
    summary = predict(gatys, options)
    return report(summary, options)


def read_paintings(
    path: Path, limit: int | None, max_pixels: int, problems: list[InputProblem]
) -> Iterator[torch.Tensor]:
    """Decoded ``uint8`` ``[3, H, W]`` paintings under ``path`` (the first ``limit``).

    Inputs that give no image are appended to ``problems`` (with the reason) and left out.
    """
    count = 0
    for item in iter_inputs(path):
        if limit is not None and count >= limit:
            return
        if isinstance(item, InputProblem):
            problems.append(item)
            continue
        try:  # images declaring more than max_pixels are refused from their header
            image = decode_image(item.data, item.name, max_pixels)
        except BadImageError as error:
            problems.append(InputProblem(item.name, str(error).removeprefix(f"{item.name}: ")))
            continue
        count += 1
        yield image
