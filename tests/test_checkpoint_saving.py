"""``last.ckpt`` survives a crash during a save, holds the final step of a finished run, and is
refreshed after minutes of training rather than a number of steps."""

import math
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from benchmark_helpers import load_benchmark
from lightning.pytorch.plugins.io import TorchCheckpointIO

from cyclegan.callbacks import SafeModelCheckpoint
from cyclegan.training import build, train

FLOAT32 = ("trainer.precision=32-true", "callbacks.image_grid=null")
STEP_SAVES = "callbacks.last.every_n_minutes=null"  # save at every step the interval names


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
    cfg = tiny_cfg(
        *FLOAT32, "trainer.max_steps=8", "callbacks.last.every_n_train_steps=2", STEP_SAVES
    )
    with pytest.raises(Killed):
        train(cfg)
    checkpoints = tmp_path / "run" / "checkpoints"
    assert len(saves) == 2
    assert _step(checkpoints / "last.ckpt") == 2  # the good one, not the torn one
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last.ckpt"]  # no temp left


def test_a_finished_run_saves_its_final_steps_to_last_ckpt(tiny_cfg, tmp_path):
    # 6 steps, saves every 4: Lightning alone leaves last.ckpt at step 4.
    cfg = tiny_cfg(
        *FLOAT32, "trainer.max_steps=6", "callbacks.last.every_n_train_steps=4", STEP_SAVES
    )
    trainer = train(cfg)
    assert trainer.global_step == 6
    assert _step(tmp_path / "run" / "checkpoints" / "last.ckpt") == 6


class MinutePerIteration(L.Callback):
    """Moves the checkpoint clock one minute at the end of each iteration (a G and a D step);
    Lightning runs checkpoint callbacks after the others, so they read the moved clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.now += 60.0


def test_every_n_minutes_saves_at_the_first_named_step_after_the_minutes(
    tiny_cfg, tmp_path, monkeypatch
):
    minutes = MinutePerIteration()
    monkeypatch.setattr(SafeModelCheckpoint, "clock", staticmethod(minutes.clock))
    original = TorchCheckpointIO.save_checkpoint
    saved: list[int] = []

    def record(self, checkpoint, path, storage_options=None):
        saved.append(checkpoint["global_step"])
        return original(self, checkpoint, path, storage_options)

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", record)
    cfg = tiny_cfg(
        *FLOAT32,
        "callbacks.periodic=null",
        "trainer.max_steps=16",  # 8 iterations, 8 minutes on the clock
        "callbacks.last.every_n_train_steps=2",  # the clock is read after every iteration
        "callbacks.last.every_n_minutes=2.5",
    )
    L.seed_everything(cfg.seed)
    module, datamodule, trainer = build(cfg)
    trainer.callbacks.insert(0, minutes)  # before the checkpoint callbacks, as Lightning orders
    trainer.fit(module, datamodule=datamodule)
    assert trainer.global_step == 16
    # 3 minutes (step 6) is the first reading >= 2.5; then 3 minutes after it (step 12); and
    # the last step, 2 minutes after that, because it is the last.
    assert saved == [6, 12, 16]
    assert _step(tmp_path / "run" / "checkpoints" / "last.ckpt") == 16


def test_rank_zeros_reading_of_the_clock_decides_for_every_rank(monkeypatch):
    callback = SafeModelCheckpoint(save_last=True, every_n_train_steps=2, every_n_minutes=1)
    monkeypatch.setattr(SafeModelCheckpoint, "clock", staticmethod(lambda: 1000.0))
    callback._last_save_time = 0.0  # this rank's clock says 16 minutes have passed
    broadcasts: list[bool] = []

    def rank_zero_says_no(passed: bool) -> bool:
        broadcasts.append(passed)
        return False

    trainer = SimpleNamespace(strategy=SimpleNamespace(broadcast=rank_zero_says_no))
    assert callback._minutes_passed(trainer) is False
    assert broadcasts == [True]


@pytest.mark.parametrize("minutes", [0, -1, math.nan, math.inf, True, "10"])
def test_every_n_minutes_must_be_a_positive_number(minutes):
    with pytest.raises(ValueError, match=r"every_n_minutes must be a positive number"):
        SafeModelCheckpoint(save_last=True, every_n_train_steps=20, every_n_minutes=minutes)


def test_every_n_minutes_needs_steps_to_read_the_clock_at():
    with pytest.raises(ValueError, match=r"every_n_minutes needs every_n_train_steps >= 1"):
        SafeModelCheckpoint(save_last=True, every_n_train_steps=0, every_n_minutes=10)


def test_the_checkpoint_benchmark_reports_each_intervals_share_of_a_run():
    report = load_benchmark("checkpoint_cost").report
    result = {"iteration_s": [0.9, 1.0, 1.2], "save_s": [10.0, 9.0, 11.0], "bytes": 1.42e9}
    text = report(result, "a CPU", "experiment=monet", "bf16-mixed").splitlines()
    assert text[2:5] == [
        "checkpoint: 1.42 GB",
        "save, s (median of 3): 10.00",
        "iteration without a save, s (median of 3): 1.000",
    ]
    assert "every 100 iterations (every_n_train_steps=200): 9.1%" in text[6]  # 10 / (10 + 100)
    assert "every 10 minutes (every_n_minutes=10): 1.6%" in text[7]  # 10 / (10 + 600)
    assert text[8].endswith("an iteration takes 0.100 s or less")
