"""Loss-network weights: found where torchvision keeps them, checked as data, clear errors."""

from __future__ import annotations

import argparse
import urllib.error
from pathlib import Path

import pytest
import torch
from torchvision.models import VGG16_Weights
from torchvision.models import vgg as tv_vgg

import cyclegan.style.loss_network as loss_network
from cyclegan.style.loss_network import (
    LossNetworkError,
    load_vgg,
    read_weights,
    vgg16,
    vgg19,
    vgg_stack,
)

TINY = (4, "M", 8)


def _tiny_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return {f"features.{k}": v for k, v in vgg_stack(TINY).state_dict().items()}


def _load_tiny(path: Path):
    return load_vgg(TINY, ["relu2_1"], str(path), VGG16_Weights.IMAGENET1K_V1, "tiny")


def test_a_weights_file_is_loaded_into_the_network(tmp_path: Path) -> None:
    state = _tiny_state()
    torch.save(state, tmp_path / "w.pth")
    net = _load_tiny(tmp_path / "w.pth")
    assert torch.equal(net.layers[3].weight, state["features.3.weight"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("features.3.bias"), r"missing: features\.3\.bias"),
        (lambda s: s.update({"features.0.weight": torch.zeros(4, 3, 5, 5)}), r"wrong: .*3, 5, 5"),
        (lambda s: s.update({"head.weight": torch.zeros(2)}), r"unexpected: head\.weight"),
        (lambda s: s.update({"features.0.bias": torch.zeros(4, dtype=torch.long)}), "wrong"),
    ],
    ids=["missing", "shape", "unexpected", "dtype"],
)
def test_files_that_are_not_these_weights_are_refused(tmp_path: Path, change, message) -> None:
    state = _tiny_state()
    change(state)
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(LossNetworkError, match=rf"w\.pth: not tiny weights \(.*{message}"):
        _load_tiny(tmp_path / "w.pth")


def test_an_oversized_file_is_refused_before_loading(tmp_path: Path) -> None:
    # The limit is the float32 size of every tensor allowed (for a real VGG, with its
    # classifier: torchvision's file size) plus 1 MiB of headers.
    shapes = {k: tuple(v.shape) for k, v in _tiny_state().items()}
    state = _tiny_state()
    state["features.0.weight"] = torch.zeros(1 << 19)  # 2 MiB
    torch.save(state, tmp_path / "big.pth")
    with pytest.raises(LossNetworkError, match=r"big\.pth: [\d,]+ bytes, more than the [\d,]+"):
        read_weights(tmp_path / "big.pth", shapes, {}, "tiny")
    torch.save(_tiny_state(), tmp_path / "ok.pth")
    assert set(read_weights(tmp_path / "ok.pth", shapes, {}, "tiny")) == set(shapes)


def test_objects_and_garbage_are_refused(tmp_path: Path) -> None:
    marker = argparse.Namespace(ran=False)
    torch.save({"features.0.weight": marker}, tmp_path / "object.pth")
    with pytest.raises(LossNetworkError, match=r"object\.pth: not a plain PyTorch weights file"):
        _load_tiny(tmp_path / "object.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a pickle at all")
    with pytest.raises(LossNetworkError, match=r"garbage\.pth: not a plain PyTorch weights"):
        _load_tiny(tmp_path / "garbage.pth")
    with pytest.raises(LossNetworkError, match=r"weights=.*missing\.pth: no such file"):
        _load_tiny(tmp_path / "missing.pth")


def test_without_cache_or_internet_the_error_names_the_file_and_where_to_put_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(url: str, path: Path) -> None:
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(loss_network, "_download", offline)
    expected = tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    with pytest.raises(LossNetworkError) as error:
        vgg19(["relu4_2"])
    message = str(error.value)
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in message
    assert f"copy it to {expected}" in message
    assert "loss_network.weights=/path/to/vgg19-dcbb9e9d.pth" in message
    assert not expected.exists()


def test_torchvisions_vgg16_file_from_the_cache_gives_torchvisions_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The features part of torchvision's VGG16 (58 MB; the real file adds the classifier),
    # saved with torchvision's keys where torchvision's weights API caches it.
    torch.manual_seed(0)
    reference = tv_vgg.make_layers(tv_vgg.cfgs["D"]).eval()
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(
        {f"features.{k}": v for k, v in reference.state_dict().items()},
        cache / "vgg16-397923af.pth",
    )
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(loss_network, "_download", pytest.fail)  # found: never downloaded

    net = vgg16(["relu2_2", "relu4_3"])
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    normalised = (
        (x + 1) / 2 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    ) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        out = net(x)
        assert torch.allclose(out["relu2_2"], reference[:9](normalised), atol=1e-5)
        assert torch.allclose(out["relu4_3"], reference[:23](normalised), atol=1e-4)
