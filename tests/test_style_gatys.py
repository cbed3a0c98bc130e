"""Gatys style transfer: the optimisation lowers its loss; stylize.py writes like predict.py."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from PIL import Image

import cyclegan.style.loss_network as loss_network
from cyclegan.data.images import decode_image
from cyclegan.inference.cli import UsageError
from cyclegan.style.cli import run
from cyclegan.style.gatys import Gatys
from cyclegan.style.loss_network import LossNetworkError, vgg19
from tests.predict_helpers import CONF_DIR, photo

# Two shallow layers keep the VGG cut after its second block: fast at 32 px.
SMALL_LAYERS = [
    "content_layer=relu2_1",
    # Hydra merges a dict into the configured one: weight 0 leaves a layer out.
    "style_layers={relu1_1: 1.0, relu2_1: 1.0, relu3_1: 0, relu4_1: 0, relu5_1: 0}",
    "style_weight=1000",
    "loss_network.weights=random",  # tests only: random VGG weights
]


def compose_stylize(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("stylize", overrides=[*SMALL_LAYERS, "progress=false", *overrides])


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """photos/: a.jpg (40x30), sub/b.png (32x32), bad.jpg (not an image); monet/: 2 paintings."""
    (tmp_path / "photos" / "sub").mkdir(parents=True)
    Image.fromarray(photo(40, 30, seed=1)).save(tmp_path / "photos" / "a.jpg")
    Image.fromarray(photo(32, 32, seed=2)).save(tmp_path / "photos" / "sub" / "b.png")
    (tmp_path / "photos" / "bad.jpg").write_bytes(b"not an image")
    (tmp_path / "monet").mkdir()
    for seed, size in ((3, (48, 48)), (4, (64, 40))):
        # Stripes: a texture far from the smooth photos.
        painting = photo(*size, seed=seed)
        painting[::4] = 255 - painting[::4]
        Image.fromarray(painting).save(tmp_path / "monet" / f"m{seed}.jpg")
    return tmp_path


def _size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_optimisation_lowers_the_loss(images: Path, optimizer: str) -> None:
    cfg = compose_stylize(f"optimizer={optimizer}", "steps=20", "image_size=32")
    torch.manual_seed(0)
    net = instantiate(cfg.loss_network)([cfg.content_layer, "relu1_1", "relu2_1"])
    gatys = Gatys(
        net,
        instantiate(cfg.optimizer),
        cfg.content_layer,
        {"relu1_1": 1.0, "relu2_1": 1.0},
        style_weight=cfg.style_weight,
        tv_weight=0.1,
        steps=cfg.steps,
        image_size=cfg.image_size,
    )
    paintings = [decode_image(p.read_bytes(), p.name) for p in sorted((images / "monet").iterdir())]
    assert gatys.set_style(paintings) == 2
    out = gatys.stylize(torch.from_numpy(photo(40, 30, seed=1)).permute(2, 0, 1).contiguous())
    assert out.shape == (3, 30, 40)
    assert out.dtype == torch.uint8
    losses = [step["loss"] for step in gatys.history]
    # Every evaluation is counted; L-BFGS's line search may finish its last iteration past it.
    assert cfg.steps <= len(losses) <= cfg.steps + 25
    assert losses[-1] < 0.5 * losses[0]
    assert gatys.history[-1]["style"] < gatys.history[0]["style"]
    assert gatys.history[0]["content"] == 0.0  # it starts from the content image


def test_the_style_of_a_set_is_its_mean_gram_matrix() -> None:
    torch.manual_seed(0)
    net = vgg19(["relu1_1"], weights="random")
    gatys = Gatys(net, torch.optim.Adam, "relu1_1", {"relu1_1": 1.0}, image_size=16)
    a = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    b = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)  # resized to 16 first
    gatys.set_style([a])
    gram_a = gatys.style_grams["relu1_1"]
    gatys.set_style([b])
    gram_b = gatys.style_grams["relu1_1"]
    assert gatys.set_style([a, b]) == 2
    assert torch.allclose(gatys.style_grams["relu1_1"], (gram_a + gram_b) / 2)
    with pytest.raises(ValueError, match="no style painting"):
        gatys.set_style([])


@pytest.mark.slow
def test_stylize_writes_like_predict(images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = images / "out"
    cfg = compose_stylize(
        f"input_dir={images / 'photos'}",
        f"style={images / 'monet'}",
        f"output_dir={out}",
        "steps=3",
        "image_size=32",
        "preview=2",
    )
    assert run(cfg) == 1  # bad.jpg failed, and is named
    printed = capsys.readouterr().out
    assert "style: mean Gram matrices of 2 paintings" in printed
    assert "bad.jpg: cannot decode image" in printed
    assert "2 converted, 0 skipped, 1 failed" in printed
    assert _size(out / "a.jpg") == (40, 30)  # same name, size kept
    assert _size(out / "sub" / "b.jpg") == (32, 32)
    assert (out / "preview.png").is_file()
    before = (out / "a.jpg").read_bytes()

    (images / "photos" / "bad.jpg").unlink()
    assert run(cfg) == 0
    assert "0 converted, 2 skipped, 0 failed" in capsys.readouterr().out
    assert (out / "a.jpg").read_bytes() == before  # not overwritten


def test_missing_weights_stop_stylize_before_any_work(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(url: str, path: Path) -> None:
        raise urllib.error.URLError("no internet")

    monkeypatch.setattr(loss_network, "_download", offline)
    cfg = compose_stylize(
        f"input_dir={images / 'photos'}",
        f"style={images / 'monet'}",
        f"output_dir={tmp_path / 'out'}",
        "loss_network.weights=imagenet",
    )
    with pytest.raises(LossNetworkError, match="vgg19-dcbb9e9d.pth"):
        run(cfg)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["style=null"], "style is required"),
        (["input_dir=null"], "input_dir is required"),
        (["steps=0"], "steps=0"),
        (["content_layer=relu9_9"], "relu9_9"),
        (["format=gif"], "format='gif'"),
    ],
)
def test_usage_errors_name_the_option(images: Path, overrides: list[str], message: str) -> None:
    cfg = compose_stylize(
        f"input_dir={images / 'photos'}",
        f"style={images / 'monet'}",
        f"output_dir={images / 'out'}",
        *overrides,
    )
    with pytest.raises(UsageError, match=message):
        run(cfg)
