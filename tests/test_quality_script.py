"""benchmarks/quality.py run: a recorded row is not overwritten unless asked; loss curves sit at
the iterations they were logged at."""

from __future__ import annotations

import argparse
from collections import namedtuple
from pathlib import Path

import pytest
from benchmark_helpers import load_benchmark

quality = load_benchmark("quality")


class TrainingStarted(Exception):
    pass


def run_args(tmp_path: Path, replace: bool) -> argparse.Namespace:
    return argparse.Namespace(
        name="full_monet_s0",
        data=str(tmp_path / "data"),
        runs=str(tmp_path / "runs"),
        sheet=False,
        replace=replace,
        overrides=["experiment=monet"],
    )


@pytest.fixture
def recorded_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    record = tmp_path / "repo/docs/quality/full_monet_s0/result.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"scores": {"fid": 108.0}}\n')
    monkeypatch.setattr(quality, "REPO", tmp_path / "repo")

    def start_training(command: list[str], log: Path) -> float:
        raise TrainingStarted(command)

    monkeypatch.setattr(quality, "call", start_training)
    return record


def test_a_recorded_row_is_refused_before_anything_runs(tmp_path: Path, recorded_row: Path) -> None:
    with pytest.raises(SystemExit, match="already records row 'full_monet_s0'.*--replace"):
        quality.run(run_args(tmp_path, replace=False))
    assert not (tmp_path / "runs").exists()
    assert recorded_row.read_text() == '{"scores": {"fid": 108.0}}\n'


def test_replace_runs_the_row_again(tmp_path: Path, recorded_row: Path) -> None:
    with pytest.raises(TrainingStarted):
        quality.run(run_args(tmp_path, replace=True))
    assert (tmp_path / "runs/full_monet_s0").is_dir()


def test_loss_curves_of_a_resumed_run_start_at_its_checkpoint() -> None:
    point = namedtuple("point", "step value")
    # A run resumed at iteration 3,750 logs steps 3750, 3751, ... (Lightning's batch counter).
    points = [point(step, float(step)) for step in range(3750, 3950)]
    x, y = quality.smoothed(points, window=100)
    assert x[0] == 3850  # the first window ends after iteration 3,850
    assert x[-1] == 3950
    assert y[0] == pytest.approx(sum(range(3750, 3850)) / 100)
    assert len(x) == len(y) == 101
