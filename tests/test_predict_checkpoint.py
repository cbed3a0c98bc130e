"""Loading a generator: the right one, safely, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cyclegan.inference.checkpoint import (
    CheckpointError,
    load_generator,
    save_generator_weights,
)
from tests.predict_helpers import TINY_RESNET, TINY_UNET, write_checkpoint


@pytest.mark.parametrize("config", [TINY_UNET, TINY_RESNET], ids=["unet", "resnet"])
@pytest.mark.parametrize("direction", ["photo2monet", "monet2photo"])
def test_each_direction_loads_its_own_generator(
    tmp_path: Path, config: dict, direction: str
) -> None:
    expected = write_checkpoint(tmp_path / "last.ckpt", config)[direction]
    loaded = load_generator(tmp_path / "last.ckpt", direction)
    assert not loaded.module.training  # eval mode: the U-Net's dropout is off
    assert loaded.image_size == 64
    assert loaded.size_multiple == (32 if config is TINY_UNET else 4)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded.module(x), expected(x))


def test_exported_weights_load_like_a_checkpoint(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "last.ckpt")
    loaded = load_generator(tmp_path / "last.ckpt", "monet2photo")
    path = save_generator_weights(loaded, tmp_path / "gen.pt")
    assert path.stat().st_size < (tmp_path / "last.ckpt").stat().st_size
    again = load_generator(path, "monet2photo")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(again.module(x), loaded.module(x))
    with pytest.raises(CheckpointError, match="monet2photo generator, but direction=photo2monet"):
        load_generator(path, "photo2monet")


def test_a_config_naming_code_outside_the_networks_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    evil = {
        **TINY_UNET,
        "ngf": {"_target_": "pathlib.Path.touch", "self": str(marker)},
    }
    write_checkpoint(tmp_path / "nested.ckpt", TINY_UNET)
    content = torch.load(tmp_path / "nested.ckpt", weights_only=True)
    content["hyper_parameters"]["generator"] = evil
    torch.save(content, tmp_path / "nested.ckpt")
    with pytest.raises(CheckpointError, match=r"nested.ckpt.*key 'ngf' refused"):
        load_generator(tmp_path / "nested.ckpt", "photo2monet")
    content["hyper_parameters"]["generator"] = {"_target_": "os.system", "command": "true"}
    torch.save(content, tmp_path / "top.ckpt")
    with pytest.raises(CheckpointError, match="not a trusted network"):
        load_generator(tmp_path / "top.ckpt", "photo2monet")
    assert not marker.exists()


class _Custom:
    pass


def test_objects_that_weights_only_refuses_are_named(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "x.ckpt")
    content = torch.load(tmp_path / "x.ckpt", weights_only=True)
    content["hyper_parameters"]["extra"] = _Custom()
    torch.save(content, tmp_path / "x.ckpt")
    with pytest.raises(
        CheckpointError, match=r"x\.ckpt: refused .*test_predict_checkpoint\._Custom"
    ):
        load_generator(tmp_path / "x.ckpt", "photo2monet")


def test_missing_corrupt_and_foreign_files_get_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nope.ckpt: checkpoint file not found"):
        load_generator(tmp_path / "nope.ckpt", "photo2monet")

    (tmp_path / "noise.ckpt").write_bytes(b"\x00\x01 definitely not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="noise.ckpt: not a readable PyTorch file"):
        load_generator(tmp_path / "noise.ckpt", "photo2monet")

    write_checkpoint(tmp_path / "full.ckpt")
    data = (tmp_path / "full.ckpt").read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.ckpt: not a readable PyTorch file"):
        load_generator(tmp_path / "cut.ckpt", "photo2monet")

    torch.save({"model": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="other.pt: not a CycleGAN checkpoint"):
        load_generator(tmp_path / "other.pt", "photo2monet")

    with pytest.raises(CheckpointError, match="unknown direction 'photo2van_gogh'"):
        load_generator(tmp_path / "full.ckpt", "photo2van_gogh")


def test_weights_that_do_not_fit_the_config_are_reported(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "x.ckpt", TINY_UNET)
    content = torch.load(tmp_path / "x.ckpt", weights_only=True)
    content["hyper_parameters"]["generator"] = {**TINY_UNET, "ngf": 8}
    torch.save(content, tmp_path / "x.ckpt")
    with pytest.raises(CheckpointError, match="gen_photo2monet weights do not fit"):
        load_generator(tmp_path / "x.ckpt", "photo2monet")

    del content["hyper_parameters"]["generator"]
    torch.save(content, tmp_path / "y.ckpt")
    with pytest.raises(CheckpointError, match="no 'generator' config"):
        load_generator(tmp_path / "y.ckpt", "photo2monet")
