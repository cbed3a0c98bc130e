"""Two CPU processes with DDP, through ``train.py``: same weights on both ranks, every record
trained on exactly once per epoch across the ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import torch.distributed as dist
from data_helpers import write_tfrecord_dataset

from cyclegan.training import release_process_group, train

REPO = Path(__file__).resolve().parents[1]
RECORDS = 8  # per domain: 4 steps per rank at batch 1 on 2 ranks


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_keeps_ranks_in_sync_and_splits_data_once(tmp_path: Path):
    root = write_tfrecord_dataset(tmp_path / "data", n_monet=RECORDS, n_photo=RECORDS, size=32)
    probe = tmp_path / "probe"
    overrides = [
        "accelerator=cpu",
        "trainer.devices=2",
        "loss=lsgan",
        f"data.root={root}",
        "data.image_size=32",
        "data.batch_size=1",
        "data.num_workers=0",
        "model.generator.ngf=4",
        "model.generator.num_downs=5",
        "model.discriminator.ndf=4",
        "module.pool_size=2",
        "module.ema_decay=0.9",  # the generators' moving averages must match across ranks too
        "trainer.max_epochs=1",
        "callbacks.image_grid.every_n_steps=1000",
        "+callbacks.probe._target_=ddp_probe.RankProbe",
        f"+callbacks.probe.out_dir={probe}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    done = subprocess.run(
        [sys.executable, str(REPO / "train.py"), *overrides],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    records = [json.loads((probe / f"rank{r}.json").read_text()) for r in range(2)]
    states = [torch.load(probe / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert [r["world_size"] for r in records] == [2, 2]
    assert {r["strategy"] for r in records} == {"DDPStrategy"}

    # Data: disjoint halves that together hold every record once, in each domain.
    for domain in ("photo", "monet"):
        ids = [r["ids"][domain] for r in records]
        assert len(ids[0]) == len(ids[1]) == RECORDS // 2
        assert sorted(ids[0] + ids[1]) == list(range(RECORDS)), domain

    # Weights and EMA: trained, and identical on both ranks (gradients averaged every step).
    start, end = states[0]["start"], states[0]["end"]
    networks = ("gen_photo2monet", "gen_monet2photo", "disc_monet", "disc_photo")
    for prefix in (*networks, "ema_photo2monet", "ema_monet2photo"):
        keys = [k for k in start if k.startswith(prefix)]
        assert any(not torch.equal(start[k], end[k]) for k in keys), f"{prefix} did not train"
    for key, value in end.items():
        assert torch.equal(value, states[1]["end"][key]), f"{key} differs between ranks"


@pytest.fixture
def gloo_group(tmp_path: Path):
    """A one-process Gloo group in this process, as a DDP rank has; destroyed afterwards if the
    test left it."""
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


def test_release_process_group_destroys_the_group_once(gloo_group):
    assert dist.is_initialized()
    release_process_group()
    assert not dist.is_initialized()
    release_process_group()  # nothing left: a no-op


def test_train_releases_the_process_group_after_its_fit(gloo_group, tiny_cfg):
    # A Gloo group left to interpreter shutdown can abort a finished DDP run (SIGABRT).
    trainer = train(tiny_cfg("trainer.precision=32-true", "trainer.max_steps=2"))
    assert trainer.global_step == 2
    assert not dist.is_initialized()


def test_train_keeps_the_group_when_the_fit_fails(gloo_group, tiny_cfg, monkeypatch):
    # Another rank may still be inside a collective: destroying could hang it.
    def fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError("rank failed")

    monkeypatch.setattr(L.Trainer, "fit", fails)
    with pytest.raises(RuntimeError, match="rank failed"):
        train(tiny_cfg("trainer.precision=32-true", "trainer.max_steps=2"))
    assert dist.is_initialized()
