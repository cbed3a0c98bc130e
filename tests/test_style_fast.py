"""Fast style transfer: config, style target, checkpoints, training end to end, and everything
that takes a CycleGAN checkpoint (predict, tiling, export, submission, MiFID, evaluate)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from conftest import compose_train
from hydra.utils import instantiate
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import Tensor

from cyclegan.callbacks.mifid import MiFIDCallback
from cyclegan.data.transforms import to_float, to_uint8
from cyclegan.inference.checkpoint import load_generator
from cyclegan.inference.cli import run as predict_run
from cyclegan.metrics.evaluation import evaluate
from cyclegan.networks import TransformNet
from cyclegan.style.loss_network import LossNetworkError, vgg16
from cyclegan.style.losses import gram_matrix
from cyclegan.style.module import FastStyleTransfer
from cyclegan.training import build, train
from tests.predict_helpers import compose_predict, photo

# Tiny transformation network; a random VGG16 (tests only) cut after its second block.
FAST_TINY = [
    "experiment=fast_style",
    "accelerator=cpu",
    "trainer.precision=32-true",
    "loss_network.weights=random",
    "model.generator.ngf=4",
    "model.generator.n_blocks=1",
    "module.style_layers={relu1_2: 10.0, relu2_2: 10.0, relu3_3: 0, relu4_3: 0}",
    "data.image_size=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "callbacks.image_grid.every_n_steps=2",
    "callbacks.image_grid.num_images=2",
]


def tiny_module(**kwargs) -> FastStyleTransfer:
    torch.manual_seed(0)
    return FastStyleTransfer(
        partial(TransformNet, ngf=4, n_blocks=1),
        partial(vgg16, weights="random"),
        partial(torch.optim.Adam, lr=1e-3),
        "relu2_2",
        {"relu1_2": 1.0, "relu2_2": 2.0},
        **kwargs,
    )


class ColourFeatures:
    """Stand-in for the Inception: per-channel mean and std of uint8 images (6-d)."""

    fingerprint = "colour-stats"

    def __call__(self, images: Tensor) -> Tensor:
        x = images.float() / 255
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], dim=1)


def test_the_experiment_composes_johnsons_recipe(tmp_path: Path) -> None:
    cfg = compose_train(["experiment=fast_style"], tmp_path)
    assert cfg.loss_network.weights == "imagenet"  # real runs need the real weights
    assert cfg.loss_network._target_.endswith("vgg16")
    assert cfg.module.content_layer == "relu2_2"
    assert list(cfg.module.style_layers) == ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
    assert cfg.callbacks.image_grid._target_.endswith("StyleGridLogger")
    other = compose_train(["experiment=fast_style", "loss_network=vgg19"], tmp_path)
    assert other.loss_network._target_.endswith("vgg19")
    module = instantiate(
        compose_train([*FAST_TINY, "module.style_layers.relu4_3=1"], tmp_path).module
    )
    assert isinstance(module.gen_photo2monet, TransformNet)
    # Weight 0 leaves a layer out: the VGG runs only as deep as the layers in use.
    assert module.loss_network.taps == ["relu2_2", "relu1_2", "relu4_3"]
    assert module.style_layers == {"relu1_2": 10.0, "relu2_2": 10.0, "relu4_3": 1.0}
    assert module.hparams["generator"]["_target_"] == "cyclegan.networks.transform.TransformNet"
    assert module.hparams["loss_network"] == {
        "_target_": "cyclegan.style.loss_network.vgg16",
        "weights": "random",
    }


def test_the_style_is_the_mean_gram_matrix_of_the_paintings() -> None:
    module = tiny_module()
    paintings = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    assert module.set_style(paintings.split(2)) == 5  # batches of 2, 2 and 1
    with torch.no_grad():
        features = module.loss_network(to_float(paintings))
    for layer in ("relu1_2", "relu2_2"):
        expected = gram_matrix(features[layer]).mean(dim=0)
        assert torch.allclose(module.style_grams()[layer], expected, atol=1e-6)
    assert bool(module.style_ready)
    with pytest.raises(ValueError, match="no Monet paintings"):
        module.set_style([])


def test_checkpoints_leave_the_loss_network_out_and_load_back_strictly() -> None:
    module = tiny_module()
    module.set_style([torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)])
    state = module.state_dict()
    assert not any(key.startswith("loss_network.") for key in state)
    assert {"style_gram_relu1_2", "style_gram_relu2_2", "style_ready"} <= set(state)
    fresh = tiny_module()
    fresh.load_state_dict(state, strict=True)  # the loss network is not expected back
    assert torch.equal(fresh.style_grams()["relu2_2"], module.style_grams()["relu2_2"])
    with pytest.raises(RuntimeError, match="style_gram_relu1_2"):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "style_gram_relu1_2"})


def test_losses_are_weighted_as_configured() -> None:
    module = tiny_module(content_weight=2.0, style_weight=3.0, tv_weight=5.0)
    module.set_style([torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)])
    losses, stylized = module.losses(torch.rand(2, 3, 32, 32) * 2 - 1)
    assert stylized.shape == (2, 3, 32, 32)
    expected = 2 * losses["content_loss"] + 3 * losses["style_loss"] + 5 * losses["tv_loss"]
    assert losses["loss"].item() == pytest.approx(expected.item())
    assert all(losses[name].item() > 0 for name in ("content_loss", "style_loss", "tv_loss"))


@pytest.mark.slow
def test_train_logs_losses_and_grids_then_predict_tiles_exports_and_submits(
    tiny_data: Path, tmp_path: Path
) -> None:
    cfg = compose_train(
        [*FAST_TINY, f"data.root={tiny_data}", "trainer.max_steps=4"], tmp_path / "run"
    )
    trainer = train(cfg)
    assert trainer.global_step == 4
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    for name in ("content_loss", "style_loss", "tv_loss", "loss"):
        assert [e.step for e in events.Scalars(f"train/{name}")] == [0, 1, 2, 3]
    grid = events.Images("images/photo2monet")[0]
    assert (grid.width, grid.height) == (2 * 34 + 2, 2 * 34 + 2)  # photo | stylized, 2 rows

    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    content = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert not any(key.startswith("loss_network.") for key in content["state_dict"])
    assert bool(content["state_dict"]["style_ready"])

    # predict.py on the checkpoint, as on a CycleGAN's.
    generator = load_generator(ckpt, "photo2monet").module
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(photo(32, 32, seed=1)).save(photos / "small.png")
    Image.fromarray(photo(120, 40, seed=2)).save(photos / "wide.png")  # tiled at tile_size 64
    out = tmp_path / "out"
    cfg_predict = compose_predict(
        ckpt=ckpt, input_dir=photos, output_dir=out, precision=32, format="png", preview=2
    )
    assert predict_run(cfg_predict) == 0
    with Image.open(out / "wide.png") as wide:
        assert wide.size == (120, 40)
    with Image.open(out / "small.png") as small:
        result = torch.from_numpy(np.asarray(small).copy()).permute(2, 0, 1)
    source = torch.from_numpy(photo(32, 32, seed=1)).permute(2, 0, 1)
    with torch.no_grad():
        expected = to_uint8(generator(to_float(source)[None]))[0]
    assert (result.int() - expected.int()).abs().max() <= 1

    exported = predict_run(
        compose_predict(ckpt=ckpt, output_dir=tmp_path / "export", export="weights")
    )
    assert exported == 0
    again = load_generator(tmp_path / "export" / "generator_photo2monet.pt", "photo2monet").module
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(again(x), generator(x))

    cfg_zip = compose_predict(
        ckpt=ckpt,
        input_dir=photos,
        output_dir=tmp_path / "kaggle",
        precision=32,
        submission=True,
        submission_min_images=2,
    )
    assert predict_run(cfg_zip) == 0
    assert (tmp_path / "kaggle" / "images.zip").is_file()

    # evaluate.py scores the outputs like any other images.
    result = evaluate(tmp_path / "kaggle" / "images.zip", photos, ColourFeatures(), kid_subsets=2)
    assert result.scores.num_generated == 2
    assert np.isfinite(result.scores.mifid)


@pytest.mark.slow
def test_mifid_callback_scores_the_transformation_network_and_resume_keeps_the_style(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides = [*FAST_TINY, f"data.root={tiny_data}"]
    mifid_overrides = [
        "callbacks=mifid",
        "callbacks.mifid.every_n_epochs=1",
        "callbacks.mifid.kid_subsets=2",
    ]

    def fit(*extra: str) -> L.Trainer:
        cfg = compose_train([*overrides, *mifid_overrides, *extra], tmp_path / "run")
        module, datamodule, trainer = build(cfg)
        mifid = next(c for c in trainer.callbacks if isinstance(c, MiFIDCallback))
        mifid._extractor = ColourFeatures()
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
        return trainer

    trainer = fit("trainer.max_epochs=1")
    assert trainer.global_step == 5  # 10 photos at batch 2: epoch_length=max
    assert torch.isfinite(trainer.callback_metrics["val/mifid"])
    assert list((tmp_path / "run" / "checkpoints").glob("best-mifid-*.ckpt"))

    # Resuming takes the style from the checkpoint: it is not computed again.
    def recompute(self, paintings):
        raise AssertionError("the style was computed again on resume")

    monkeypatch.setattr(FastStyleTransfer, "set_style", recompute)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    with pytest.warns(UserWarning, match="exists and is not empty"):
        trainer = fit("trainer.max_epochs=2", f"ckpt_path={last}")
    assert trainer.global_step == 10


def test_transform_net_keeps_size_normalises_per_image_and_names_bad_sizes() -> None:
    torch.manual_seed(0)
    net = TransformNet(ngf=4, n_blocks=2).eval()
    assert net.size_multiple == 4
    x = torch.rand(3, 3, 32, 36) * 2 - 1
    with torch.no_grad():
        batch = net(x)
        alone = net(x[1:2])
    assert batch.shape == (3, 3, 32, 36)
    assert batch.abs().max() <= 1  # tanh: the generators' [-1, 1]
    # Instance norm: an image's output does not depend on the rest of its batch.
    assert torch.allclose(batch[1:2], alone, atol=1e-6)
    with pytest.raises(ValueError, match="multiples of 4.*got 30x32"):
        net(torch.zeros(1, 3, 30, 32))


def test_missing_loss_network_weights_stop_training_before_any_work(
    tiny_data: Path, tmp_path: Path
) -> None:
    overrides = [*FAST_TINY, f"data.root={tiny_data}", f"loss_network.weights={tmp_path}/vgg16.pth"]
    cfg = compose_train(overrides, tmp_path / "run")
    with pytest.raises(LossNetworkError, match=r"loss_network.weights=.*vgg16\.pth: no such file"):
        build(cfg)  # the loss network's error itself, not Hydra's wrapper: train.py exits 2
    assert not (tmp_path / "run").exists()
