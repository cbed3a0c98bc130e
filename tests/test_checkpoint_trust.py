"""A checkpoint is data: it builds only an allow-listed network from plain values, and a
diverged one is refused (``predict.py ckpt=...``, ``train.py ckpt_path=...``)."""

from pathlib import Path
from typing import Any

import pytest
import torch
from predict_helpers import TINY_UNET, write_checkpoint

from cyclegan.inference.checkpoint import CheckpointError, load_generator
from cyclegan.networks import UNetGenerator
from cyclegan.training import train


def _with_generator(tmp_path: Path, name: str, generator: dict[str, Any]) -> Path:
    path = tmp_path / name
    write_checkpoint(path, TINY_UNET)
    content = torch.load(path, weights_only=True)
    content["hyper_parameters"]["generator"] = generator
    torch.save(content, path)
    return path


def test_a_target_reaching_torch_through_a_network_module_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "written-by-the-checkpoint"
    attack = {
        "_target_": "cyclegan.networks.unet.torch.save",
        "_partial_": True,
        "obj": "pwned",
        "f": str(marker),
    }
    path = _with_generator(tmp_path, "top.ckpt", attack)
    with pytest.raises(CheckpointError, match=r"top\.ckpt: .*'_target_' refused"):
        load_generator(path, "photo2monet")
    assert not marker.exists()


def test_nested_targets_and_non_scalar_arguments_are_refused_by_key(tmp_path: Path) -> None:
    marker = tmp_path / "nested-ran"
    nested = {
        **TINY_UNET,
        "ngf": {"_target_": "cyclegan.networks.unet.torch.save", "obj": 1, "f": str(marker)},
    }
    path = _with_generator(tmp_path, "nested.ckpt", nested)
    with pytest.raises(CheckpointError, match=r"nested\.ckpt: .*key 'ngf' refused: .*dict"):
        load_generator(path, "photo2monet")
    assert not marker.exists()

    listed = _with_generator(tmp_path, "list.ckpt", {**TINY_UNET, "dropout": [0.5]})
    with pytest.raises(CheckpointError, match=r"key 'dropout' refused: .*list"):
        load_generator(listed, "photo2monet")

    hydra_key = _with_generator(tmp_path, "args.ckpt", {**TINY_UNET, "_args_": [4]})
    with pytest.raises(CheckpointError, match=r"key '_args_' refused"):
        load_generator(hydra_key, "photo2monet")


def test_the_allow_list_builds_exactly_its_classes_by_both_names() -> None:
    from cyclegan.inference.trusted import TRUSTED_NETWORKS, build_trusted, trusted_names

    names = trusted_names()
    assert names["cyclegan.networks.UNetGenerator"] is UNetGenerator
    assert names["cyclegan.networks.unet.UNetGenerator"] is UNetGenerator
    assert set(names.values()) == set(TRUSTED_NETWORKS)
    net = build_trusted({"_target_": "cyclegan.networks.unet.UNetGenerator", "ngf": 4})
    assert isinstance(net, UNetGenerator)


def test_predict_refuses_non_finite_weights(tmp_path: Path) -> None:
    path = tmp_path / "diverged.ckpt"
    write_checkpoint(path, TINY_UNET)
    content = torch.load(path, weights_only=True)
    key = next(k for k in content["state_dict"] if k.startswith("gen_photo2monet."))
    content["state_dict"][key] = torch.full_like(content["state_dict"][key], float("nan"))
    torch.save(content, path)
    with pytest.raises(CheckpointError, match=rf"diverged\.ckpt: 1 of \d+ .*NaN.*{key}"):
        load_generator(path, "photo2monet")
    assert load_generator(path, "monet2photo").module is not None  # the other one is finite


class _Payload:
    pass


def test_resume_from_a_pickled_object_gives_the_clear_checkpoint_error(tiny_cfg, tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": _Payload()}, path)
    cfg = tiny_cfg(f"ckpt_path={path}", "trainer.max_steps=2")
    with pytest.raises(CheckpointError, match=r"evil\.ckpt: refused .*_Payload"):
        train(cfg)


class NoContract(torch.nn.Module):
    """A network that maps images to images but declares neither size_multiple nor per_image."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_a_generator_without_the_contract_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cyclegan.inference import trusted

    monkeypatch.setattr(trusted, "TRUSTED_NETWORKS", (*trusted.TRUSTED_NETWORKS, NoContract))
    target = f"{NoContract.__module__}.NoContract"
    path = _with_generator(tmp_path, "plain.ckpt", {"_target_": target, "_partial_": True})
    with pytest.raises(
        CheckpointError,
        match=r"plain\.ckpt: .*NoContract does not declare the generator contract .*"
        r"missing size_multiple, per_image",
    ):
        load_generator(path, "photo2monet")
