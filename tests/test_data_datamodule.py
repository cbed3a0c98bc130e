"""CycleGANDataModule: batches, epoch length, previews, evaluation loaders, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from data_helpers import image_id, write_tfrecord_dataset

from cyclegan.data.datamodule import CycleGANDataModule, DataNotFoundError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_tfrecord_dataset(tmp_path / "data", n_monet=6, n_photo=10, size=32, shards=3)


def make(root: Path, **options: object) -> CycleGANDataModule:
    defaults: dict[str, object] = {"image_size": 32, "num_workers": 0, "batch_size": 2}
    return CycleGANDataModule(str(root), **(defaults | options))  # type: ignore[arg-type]


def test_train_batches_are_uint8_and_become_float_after_transfer(root: Path) -> None:
    dm = make(root)
    batches = list(dm.train_dataloader())
    assert len(batches) == dm.steps_per_epoch == 3  # min(10, 6) // 2
    batch = batches[0]
    assert set(batch) == {"photo", "monet"}
    for images in batch.values():
        assert images.dtype == torch.uint8
        assert images.shape == (2, 3, 32, 32)
    floats = dm.on_after_batch_transfer(batch, 0)
    for domain in ("photo", "monet"):
        assert floats[domain].dtype == torch.float32
        assert floats[domain].min() >= -1
        assert floats[domain].max() <= 1
        expected = batch[domain].float() / 127.5 - 1
        torch.testing.assert_close(floats[domain], expected)


@pytest.mark.parametrize("augment", [False, True])
def test_batches_keep_decoded_pixels_interleaved(root: Path, augment: bool) -> None:
    """Batches are channels-last (pixels stay as the decoder wrote them), from workers as from
    the main process, with the same values."""
    options = {"augment": augment, "load_size": 40, "batch_size": 2}
    serial = list(make(root, num_workers=0, **options).train_dataloader())
    workers = list(make(root, num_workers=1, **options).train_dataloader())
    assert len(serial) == len(workers) == 3
    for a, b in zip(serial, workers, strict=True):
        for domain in ("photo", "monet"):
            assert torch.equal(a[domain], b[domain])
            for images in (a[domain], b[domain]):
                assert images.is_contiguous(memory_format=torch.channels_last)
                assert not images.is_contiguous()
    floats = make(root).on_after_batch_transfer(workers[0], 0)
    assert floats["photo"].is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize(("epoch_length", "steps"), [("min", 3), ("max", 5), (7, 7), ("4", 4)])
def test_epoch_length_policies(root: Path, epoch_length: str | int, steps: int) -> None:
    dm = make(root, epoch_length=epoch_length)
    assert dm.steps_per_epoch == steps
    assert len(list(dm.train_dataloader())) == steps


def test_resizes_records_to_image_size(root: Path) -> None:
    batch = next(iter(make(root, image_size=16).train_dataloader()))
    assert batch["photo"].shape == (2, 3, 16, 16)


def test_augmentation_keeps_shape_and_is_seeded(root: Path) -> None:
    def first_batch(seed: int) -> dict[str, torch.Tensor]:
        dm = make(root, image_size=24, load_size=32, augment=True, seed=seed)
        return next(iter(dm.train_dataloader()))

    a, b = first_batch(3), first_batch(3)
    assert a["photo"].shape == (2, 3, 24, 24)
    assert torch.equal(a["photo"], b["photo"])
    assert torch.equal(a["monet"], b["monet"])


def test_preview_batch_is_the_first_records_in_float(root: Path) -> None:
    dm = make(root)
    preview = dm.preview_batch(4)
    assert preview["photo"].shape == (4, 3, 32, 32)
    assert preview["photo"].dtype == torch.float32
    assert [image_id(x) for x in preview["photo"]] == [0, 1, 2, 3]
    assert [image_id(x) for x in preview["monet"]] == [0, 1, 2, 3]
    assert torch.equal(dm.preview_batch(4)["monet"], preview["monet"])


def test_eval_dataloader_reads_every_record_once_in_order(root: Path) -> None:
    dm = make(root)
    batches = list(dm.eval_dataloader("photo", batch_size=4))
    assert [b.shape[0] for b in batches] == [4, 4, 2]
    assert batches[0].dtype == torch.uint8
    assert [image_id(x) for b in batches for x in b] == list(range(10))
    limited = list(dm.eval_dataloader("monet", limit=5, batch_size=32))
    assert [image_id(x) for x in limited[0]] == [0, 1, 2, 3, 4]
    assert dm.num_records("photo") == 10
    assert dm.num_records("monet") == 6


def test_missing_root_says_where_and_how_to_get_data(tmp_path: Path) -> None:
    dm = CycleGANDataModule(str(tmp_path / "gan-getting-started"))
    with pytest.raises(DataNotFoundError) as caught:
        dm.setup()
    message = str(caught.value)
    assert str(tmp_path / "gan-getting-started") in message
    assert "monet_tfrec/*.tfrec" in message
    assert "photo_tfrec/*.tfrec" in message
    assert "kaggle competitions download -c gan-getting-started" in message
    assert "make demo" in message
    assert isinstance(caught.value, FileNotFoundError)


def test_empty_domain_folder_is_reported(tmp_path: Path) -> None:
    root = write_tfrecord_dataset(tmp_path, n_monet=0, n_photo=3, size=16, shards=1)
    with pytest.raises(DataNotFoundError, match=r"monet folder .*monet_tfrec holds no"):
        CycleGANDataModule(str(root)).setup()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("batch_size", 0),
        ("num_workers", -1),
        ("image_size", "big"),
        ("epoch_length", "longest"),
        ("epoch_length", 0),
        ("on_bad_record", "ignore"),
    ],
)
def test_invalid_options_name_the_option(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"data.{option}="):
        CycleGANDataModule("anywhere", **{option: value})  # type: ignore[arg-type]


def test_too_few_records_for_one_step(root: Path) -> None:
    dm = make(root, batch_size=4)
    with pytest.raises(ValueError, match="epoch_length=min: the monet domain has 6 records"):
        dm.train_dataloader_for(rank=0, world_size=2)


CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.mark.parametrize("name", ["kaggle", "demo", "folder"])
def test_data_configs_instantiate(name: str) -> None:
    """Each data option, composed into the training config as train.py does, builds the
    DataModule, whose shuffle and augmentation seed is the run's seed."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="train", overrides=[f"data={name}", "data.root=somewhere", "seed=7"]
        )
    dm = instantiate(cfg.data)
    assert isinstance(dm, CycleGANDataModule)
    assert dm.image_size == (64 if name == "demo" else 256)
    assert dm.build_demo == (name == "demo")
    assert dm.seed == 7


@pytest.mark.slow
def test_demo_config_builds_its_data_on_first_use(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        overrides = ["data=demo", f"data.root={tmp_path / 'demo'}", "data.num_workers=0"]
        cfg = compose(config_name="train", overrides=overrides)
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    assert (dm.num_records("photo"), dm.num_records("monet")) == (120, 60)
    assert dm.steps_per_epoch == 60
    batch = next(iter(dm.train_dataloader()))
    assert batch["photo"].shape == batch["monet"].shape == (1, 3, 64, 64)
