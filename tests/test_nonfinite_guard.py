"""A diverging run stops with the step and loss terms named, and never saves a non-finite state."""

import lightning as L
import pytest
import torch

from cyclegan.training import build

FLOAT32 = ("trainer.precision=32-true", "callbacks.image_grid=null")
STEP_SAVES = "callbacks.last.every_n_minutes=null"  # save at every step the interval names


def _fit(cfg, *callbacks: L.Callback) -> L.Trainer:
    L.seed_everything(cfg.seed)
    module, datamodule, trainer = build(cfg)
    trainer.callbacks.extend(callbacks)
    trainer.fit(module, datamodule=datamodule)
    return trainer


def _error_type():
    try:
        from cyclegan.guard import NonFiniteLossError
    except ImportError:  # before the guard existed nothing was raised at all
        return Exception
    return NonFiniteLossError


def test_a_huge_learning_rate_stops_the_run_naming_step_and_terms(tiny_cfg, tmp_path):
    cfg = tiny_cfg(*FLOAT32, "module.optimizer.lr=1e30", "trainer.max_steps=8")
    with pytest.raises(_error_type(), match=r"non-finite .*global step \d+.*(nan|inf)"):
        _fit(cfg)
    checkpoints = tmp_path / "run" / "checkpoints"
    assert not checkpoints.exists() or not list(checkpoints.iterdir())


class Explode(L.Callback):
    """From global step ``at`` on, the learning rates are infinite: the weights blow up."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step >= self.at:
            for optimizer in trainer.optimizers:
                for group in optimizer.param_groups:
                    group["lr"] = float("inf")


def test_the_last_finite_checkpoint_is_kept_and_no_non_finite_one_saved(tiny_cfg, tmp_path):
    cfg = tiny_cfg(
        *FLOAT32, "trainer.max_steps=12", "callbacks.last.every_n_train_steps=2", STEP_SAVES
    )
    with pytest.raises(_error_type(), match=r"non-finite weights at global step 6"):
        _fit(cfg, Explode(at=4))
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    content = torch.load(last, map_location="cpu", weights_only=True)
    assert content["global_step"] == 4
    assert all(torch.isfinite(v).all() for v in content["state_dict"].values())


def test_detection_waits_for_the_logging_cadence_but_names_the_first_bad_step(tiny_cfg):
    cfg = tiny_cfg(
        *FLOAT32,
        "module.optimizer.lr=1e30",
        "trainer.max_steps=20",
        "trainer.log_every_n_steps=3",
        "callbacks.last.every_n_train_steps=100",
    )
    seen: list[int] = []

    class Count(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.append(trainer.global_step)

    with pytest.raises(_error_type(), match=r"non-finite loss at global step 4 "):
        _fit(cfg, Count())
    assert seen == [2, 4]  # checked (one host sync) at the third iteration only


def test_losses_are_watched_without_reading_them_back(monkeypatch):
    from cyclegan.guard import FiniteGuard

    guard = FiniteGuard()

    def no_sync(*args, **kwargs):
        raise AssertionError("watch() read a value back to the host")

    monkeypatch.setattr(torch.Tensor, "item", no_sync)
    monkeypatch.setattr(torch.Tensor, "__bool__", no_sync)
    guard.watch({"a": torch.tensor(1.0), "b": torch.tensor(float("inf"))}, step=2)
    guard.watch({"a": torch.tensor(float("nan")), "b": torch.tensor(1.0)}, step=4)
    monkeypatch.undo()
    with pytest.raises(Exception, match=r"global step 2 \(epoch 7\): b=inf \(finite: a=1\)"):
        guard.check(epoch=7)
