"""A record that changes after indexing (same size and mtime, valid CRCs, broken image) follows
``data.on_bad_record`` mid-run: skip and count, or stop naming file, record and image after
saving ``last.ckpt``."""

import os
from pathlib import Path

import lightning as L
import pytest
import torch

from cyclegan.data.records import (
    BadRecordError,
    encode_example,
    frame_record,
    parse_example,
    scan_tfrecord,
)
from cyclegan.training import build

FLOAT32 = ("trainer.precision=32-true", "callbacks.image_grid=null")


def break_images(path: Path) -> list[str]:
    """Replace every image of a TFRecord file by zeros of the same length, with valid CRCs, the
    same size and the same modification time: the index cache still trusts the file."""
    before = path.stat()
    names = []
    with path.open("r+b") as file:
        for offset, payload in list(scan_tfrecord(path)):
            features = parse_example(payload)
            features["image"] = bytes(len(features["image"]))
            framed = frame_record(encode_example(features))
            assert len(framed) == len(payload) + 16
            file.seek(offset)
            file.write(framed)
            names.append(features["image_name"].decode())
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    return names


def _photo_files(data: Path) -> list[Path]:
    return sorted((data / "photo_tfrec").glob("*.tfrec"))


def _fit(cfg, *callbacks: L.Callback) -> tuple[L.Trainer, L.LightningDataModule]:
    L.seed_everything(cfg.seed)
    module, datamodule, trainer = build(cfg)
    trainer.callbacks.extend(callbacks)
    trainer.fit(module, datamodule=datamodule)
    return trainer, datamodule


class BreakPhotosAt(L.Callback):
    """At global step ``step``, break every image of the first photo file (3 of 10 photos)."""

    def __init__(self, data: Path, step: int) -> None:
        self.data, self.step, self.names = data, step, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step and not self.names:
            self.names = break_images(_photo_files(self.data)[0])


def test_policy_error_stops_naming_the_record_after_saving_last_ckpt(tiny_cfg, tiny_data, tmp_path):
    cfg = tiny_cfg(*FLOAT32, "trainer.max_steps=20", "callbacks.last.every_n_train_steps=1000")
    broken = BreakPhotosAt(tiny_data, step=2)
    with pytest.raises(BadRecordError) as raised:
        _fit(cfg, broken)
    error = raised.value
    assert Path(error.path) in _photo_files(tiny_data)
    assert error.image_name in broken.names
    message = str(error)
    assert f"{error.path}: record {error.record} at byte {error.offset}" in message
    assert "changed since indexing" in message
    assert "data.on_bad_record=skip" in message
    # The steps trained before the bad record are not lost.
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, map_location="cpu", weights_only=True)
    assert saved["global_step"] >= 2


def test_policy_skip_trains_on_counting_each_record_by_name(tiny_cfg, tiny_data):
    cfg = tiny_cfg(*FLOAT32, "trainer.max_steps=12", "data.on_bad_record=skip")
    L.seed_everything(cfg.seed)
    _, datamodule, _ = build(cfg)
    datamodule.prepare_data()  # index (and cache) while the files are good
    first = _photo_files(tiny_data)[0]
    names = break_images(first)

    trainer, datamodule = _fit(cfg)
    assert trainer.global_step == 12
    skipped = datamodule.skipped_while_training
    assert skipped
    assert all(str(first) in line for line in skipped)
    assert {n for n in names if any(repr(n) in line for line in skipped)}
