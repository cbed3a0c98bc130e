"""``train`` end to end on tiny TFRecords: fit, TensorBoard, checkpoints, resume, real data."""

import lightning as L
import pytest
import torch
from conftest import REAL_DATA, TINY, compose_train
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from cyclegan.training import build, train


class Record(L.Callback):
    """Global step at the first batch, and (epoch, LR) of the first step of each epoch.

    (Lightning does not call ``on_train_epoch_start`` for an epoch a run resumes into, so the
    learning rate is read after the step that used it.)
    """

    def __init__(self) -> None:
        self.first_step: int | None = None
        self.epochs: list[tuple[int, float]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.first_step is None:
            self.first_step = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if not self.epochs or self.epochs[-1][0] != trainer.current_epoch:
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            self.epochs.append((trainer.current_epoch, lr))


def fit(cfg) -> tuple[L.Trainer, Record]:
    L.seed_everything(cfg.seed)
    module, datamodule, trainer = build(cfg)
    record = Record()
    trainer.callbacks.append(record)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    return trainer, record


def test_fast_dev_run_trains_one_batch(tiny_cfg):
    cfg = tiny_cfg("trainer.fast_dev_run=true")
    module, datamodule, trainer = build(cfg)
    before = [p.clone() for p in module.gen_photo2monet.parameters()]
    trainer.fit(module, datamodule=datamodule)
    assert trainer.global_step == 2  # one G step + one D step
    assert any(
        not torch.equal(a, b)
        for a, b in zip(before, module.gen_photo2monet.parameters(), strict=True)
    )


@pytest.mark.slow
def test_train_logs_scalars_and_grids_and_checkpoints(tiny_cfg, tmp_path):
    cfg = tiny_cfg("trainer.max_steps=8", "loss=lsgan")
    trainer = train(cfg)
    assert trainer.global_step == 8
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    for name in [
        "g_adv_monet",
        "g_adv_photo",
        "cycle_photo",
        "cycle_monet",
        "identity_monet",
        "identity_photo",
        "g_total",
        "d_monet",
        "d_photo",
        "lr",
    ]:
        assert f"train/{name}" in scalars
        assert len(events.Scalars(f"train/{name}")) == 4  # every iteration
    assert {"images/photo2monet", "images/monet2photo"} <= set(events.Tags()["images"])
    # Grids at iterations 0, 2 (every_n_steps=2), on the scalars' step axis.
    assert [e.step for e in events.Images("images/photo2monet")] == [0, 2]
    assert [e.step for e in events.Scalars("train/g_total")] == [0, 1, 2, 3]
    grid = events.Images("images/photo2monet")[0]
    # 2 images x 3 columns (photo | Monet | reconstruction) of 32 px, make_grid padding 2.
    assert (grid.width, grid.height) == (3 * 34 + 2, 2 * 34 + 2)

    ckpt_path = tmp_path / "run" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 8
    assert ckpt["hyper_parameters"]["generator"]["_target_"].endswith("UNetGenerator")
    assert ckpt["hyper_parameters"]["image_size"] == 32  # predict's export and app use it
    assert len(ckpt["optimizer_states"]) == 2
    assert len(ckpt["lr_schedulers"]) == 2
    assert ckpt["image_pools"]["monet"]["num_filled"] == 8  # 4 iterations x batch 2
    assert "torch" in ckpt["rng_states"]


@pytest.mark.slow
def test_resume_continues_step_epoch_and_lr(tiny_cfg, tmp_path, caplog):
    schedule = [
        "module.scheduler.lr_lambda.epochs_constant=1",
        "module.scheduler.lr_lambda.epochs_decay=3",
    ]
    # 10 photos, 6 Monet, batch 2, epoch_length=min -> 3 iterations (6 optimizer steps) an epoch.
    first, _ = fit(tiny_cfg("trainer.max_epochs=2", *schedule, output_dir=tmp_path / "a"))
    assert first.global_step == 12
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    cfg = tiny_cfg(
        "trainer.max_epochs=4", *schedule, f"ckpt_path={last}", output_dir=tmp_path / "a"
    )
    # Resuming continues in the same run folder; Lightning notes that it holds checkpoints.
    with pytest.warns(UserWarning, match="exists and is not empty"):
        resumed, record = fit(cfg)
    assert record.first_step == 12
    # LinearDecay(1, 3): factors 1, 0.75, 0.5, 0.25 for epochs 0..3; resumed at epoch 2.
    assert record.epochs == [(2, pytest.approx(1e-4)), (3, pytest.approx(5e-5))]
    assert resumed.global_step == 24
    # 12 iterations x batch 2 fakes offered to a pool of 50: the pool came back with the
    # checkpoint (12 after the first run) and kept filling.
    pools = torch.load(last, map_location="cpu", weights_only=True)["image_pools"]
    assert pools["photo"]["num_filled"] == 24
    assert "resumed with the config's learning rates" not in caplog.text  # nothing changed


@pytest.mark.slow
def test_resume_trains_at_the_rates_and_schedule_the_config_asks_for(tiny_cfg, tmp_path, caplog):
    # Two epochs at a constant 2e-4, then resumed with a higher rate and a decay over the rest:
    # the checkpoint's scheduler state (LinearDecay(4, 0), base 2e-4) must not win.
    constant = ["module.scheduler.lr_lambda.epochs_constant=4"]
    fit(tiny_cfg("trainer.max_epochs=2", *constant, output_dir=tmp_path / "a"))
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    decay = [
        "module.optimizer.lr=3e-4",
        "module.scheduler.lr_lambda.epochs_constant=2",
        "module.scheduler.lr_lambda.epochs_decay=2",
    ]
    cfg = tiny_cfg("trainer.max_epochs=4", *decay, f"ckpt_path={last}", output_dir=tmp_path / "a")
    with pytest.warns(UserWarning, match="exists and is not empty"):
        _, record = fit(cfg)
    assert record.first_step == 12
    # LinearDecay(2, 2): factors 2/3 and 1/3 for epochs 2 and 3, of 3e-4.
    assert record.epochs == [(2, pytest.approx(2e-4)), (3, pytest.approx(1e-4))]
    for name in ("generators", "discriminators"):
        assert f"{name} lr: [0.0002] -> [0.0003]" in caplog.text
        assert (
            f"{name} schedule: [{{'epochs_constant': 4, 'epochs_decay': 0}}] -> "
            f"[{{'epochs_constant': 2, 'epochs_decay': 2}}]" in caplog.text
        )
    # The new schedule is the one the next checkpoint keeps.
    saved = torch.load(last, map_location="cpu", weights_only=True)
    for scheduler in saved["lr_schedulers"]:  # the generators' and the discriminators'
        assert scheduler["lr_lambdas"] == [{"epochs_constant": 2, "epochs_decay": 2}]
        assert scheduler["base_lrs"] == [pytest.approx(3e-4)]


@pytest.mark.slow
def test_resume_without_a_schedule_trains_at_the_configs_rate(tiny_cfg, tmp_path, caplog):
    fit(tiny_cfg("trainer.max_epochs=1", "module.scheduler=null", output_dir=tmp_path / "a"))
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    cfg = tiny_cfg(
        "trainer.max_epochs=2",
        "module.scheduler=null",
        "module.optimizer.lr=5e-5",
        f"ckpt_path={last}",
        output_dir=tmp_path / "a",
    )
    with pytest.warns(UserWarning, match="exists and is not empty"):
        _, record = fit(cfg)
    assert record.epochs == [(1, pytest.approx(5e-5))]
    assert "generators lr: [0.0002] -> [5e-05]" in caplog.text


@pytest.mark.slow
def test_resume_with_other_rates_under_another_schedule_is_a_clear_error(tiny_cfg, tmp_path):
    step_lr = [
        "module.scheduler._target_=torch.optim.lr_scheduler.StepLR",
        "~module.scheduler.lr_lambda",
        "+module.scheduler.step_size=1",
    ]
    fit(tiny_cfg("trainer.max_epochs=1", *step_lr, output_dir=tmp_path / "a"))
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    cfg = tiny_cfg(
        "trainer.max_epochs=2",
        *step_lr,
        "module.optimizer.lr=5e-5",
        f"ckpt_path={last}",
        output_dir=tmp_path / "a",
    )
    with (
        pytest.warns(UserWarning, match="exists and is not empty"),
        pytest.raises(ValueError, match=r"module.scheduler: .*LambdaLR schedules only, not StepLR"),
    ):
        fit(cfg)


@pytest.mark.slow
@pytest.mark.realdata
def test_a_few_steps_on_the_real_kaggle_files(tmp_path):
    if not (REAL_DATA / "monet_tfrec").is_dir():
        pytest.skip(f"real data not present at {REAL_DATA}")
    overrides = [o for o in TINY if not o.startswith(("data.image_size", "model.generator.num"))]
    cfg = compose_train(
        [
            *overrides,
            f"data.root={REAL_DATA}",
            f"data.index_dir={tmp_path / 'index'}",
            "trainer.max_steps=4",
            "data.batch_size=1",
        ],
        tmp_path / "run",
    )
    trainer = train(cfg)
    assert trainer.global_step == 4
    assert trainer.datamodule.num_records("monet") == 300
    assert trainer.datamodule.num_records("photo") == 7038
    assert all(torch.isfinite(v) for v in trainer.logged_metrics.values())
