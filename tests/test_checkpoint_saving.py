"""``last.ckpt`` survives a crash during a save, and holds the final step of a finished run."""

from pathlib import Path

import pytest
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from cyclegan.training import train

FLOAT32 = ("trainer.precision=32-true", "callbacks.image_grid=null")


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs in the process's own code."""


def _step(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])


def test_a_save_killed_midway_leaves_the_previous_last_ckpt_whole(tiny_cfg, tmp_path, monkeypatch):
    original = TorchCheckpointIO.save_checkpoint
    saves: list[str] = []

    def dies_on_second_save(self, checkpoint, path, storage_options=None):
        saves.append(str(path))
        if len(saves) < 2:
            return original(self, checkpoint, path, storage_options)
        whole = tmp_path / "whole.ckpt"
        original(self, checkpoint, whole, storage_options)
        Path(path).write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])  # torn copy
        raise Killed

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", dies_on_second_save)
    cfg = tiny_cfg(*FLOAT32, "trainer.max_steps=8", "callbacks.last.every_n_train_steps=2")
    with pytest.raises(Killed):
        train(cfg)
    checkpoints = tmp_path / "run" / "checkpoints"
    assert len(saves) == 2
    assert _step(checkpoints / "last.ckpt") == 2  # the good one, not the torn one
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last.ckpt"]  # no temp left


def test_a_finished_run_saves_its_final_steps_to_last_ckpt(tiny_cfg, tmp_path):
    # 6 steps, saves every 4: Lightning alone leaves last.ckpt at step 4.
    cfg = tiny_cfg(*FLOAT32, "trainer.max_steps=6", "callbacks.last.every_n_train_steps=4")
    trainer = train(cfg)
    assert trainer.global_step == 6
    assert _step(tmp_path / "run" / "checkpoints" / "last.ckpt") == 6
