"""Checkpoints that a crash cannot tear, and a ``last.ckpt`` that holds the end of the run.

Lightning writes a checkpoint through a temporary file in the system temp folder and moves it
into place; when that folder is on another filesystem (a tmpfs ``/tmp``) the move is a copy, and
a kill during it leaves a torn ``last.ckpt``. :class:`SafeModelCheckpoint` has Lightning write to
a hidden temporary file beside the target (``.last.ckpt.<random>.partial``), flushes it to disk
and renames it over the target: the target is the old checkpoint or the new one, never a mix.

It also saves ``last.ckpt`` when training ends at a step that was not saved yet (Lightning only
does when no ``last.ckpt`` was written during the run), and before the run stops at a record
that cannot be read (:class:`~cyclegan.data.records.BadRecordError`), so no finished step is lost.

With ``every_n_minutes`` the step interval becomes how often the clock is read: a step that
``every_n_train_steps`` names saves only when that many minutes of training have passed since
the callback's last save. A save costs the same seconds whatever the accelerator (the full
recipe's ``last.ckpt`` is 1.4 GB), so a fixed number of steps between saves that costs a few
per cent on a CPU costs a large share of a fast accelerator's time; minutes cost the same share
everywhere. Rank 0 reads the clock and broadcasts its decision, only at those steps (no
per-step collective or host sync).

Example:
    >>> callback = SafeModelCheckpoint(dirpath="run/checkpoints", save_last=True, save_top_k=0,
    ...                                every_n_train_steps=20, every_n_minutes=10)
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from cyclegan.data.images import BadImageError
from cyclegan.data.records import BadRecordError
from cyclegan.guard import NonFiniteLossError

__all__ = ["SafeModelCheckpoint", "TEMP_SUFFIX"]

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".partial"
"""Suffix of the temporary file a checkpoint is written to before it is renamed into place."""

_DATA_ERRORS = (BadRecordError, BadImageError)


class SafeModelCheckpoint(ModelCheckpoint):
    """:class:`~lightning.pytorch.callbacks.ModelCheckpoint` with atomic saves (see the module).

    Takes ``ModelCheckpoint``'s arguments, and:

    Args:
        every_n_minutes: Save at a step that ``every_n_train_steps`` names only when at least
            this many minutes of training have passed since this callback's last save (or the
            start of training); ``None`` saves at every such step. The last step of the run is
            saved either way.

    Raises:
        ValueError: For ``every_n_minutes`` that is not a positive number, or set without a
            positive ``every_n_train_steps`` to read the clock at.
    """

    clock = staticmethod(time.monotonic)
    """Seconds on a clock that only moves forward (tests replace it)."""

    def __init__(self, *args: Any, every_n_minutes: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if every_n_minutes is not None:
            if isinstance(every_n_minutes, bool) or not (
                isinstance(every_n_minutes, int | float)
                and math.isfinite(every_n_minutes)
                and every_n_minutes > 0
            ):
                raise ValueError(
                    f"every_n_minutes must be a positive number of minutes or null, "
                    f"got {every_n_minutes!r}"
                )
            if self._every_n_train_steps < 1:
                raise ValueError(
                    "every_n_minutes needs every_n_train_steps >= 1 (the steps at which the "
                    f"clock is read), got every_n_train_steps={self._every_n_train_steps}"
                )
        self.every_n_minutes = every_n_minutes
        self._last_save_time: float | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start the clock: the first save is ``every_n_minutes`` after training starts."""
        super().on_train_start(trainer, pl_module)
        self._last_save_time = self.clock()

    def _minutes_passed(self, trainer: L.Trainer) -> bool:
        """Whether ``every_n_minutes`` have passed since the last save, as rank 0's clock says."""
        if self.every_n_minutes is None:
            return True
        if self._last_save_time is None:  # training started without on_train_start
            self._last_save_time = self.clock()
        passed = self.clock() - self._last_save_time >= 60.0 * self.every_n_minutes
        return bool(trainer.strategy.broadcast(passed))

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        if "://" in filepath:  # remote storage: fsspec's own transaction
            super()._save_checkpoint(trainer, filepath)
            return
        target = Path(filepath)
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            super()._save_checkpoint(trainer, str(temp))
            if trainer.is_global_zero:
                _replace_durably(temp, target)
        finally:
            if trainer.is_global_zero:
                temp.unlink(missing_ok=True)
        self._last_checkpoint_saved = filepath
        self._last_save_time = self.clock()
        trainer.strategy.barrier("SafeModelCheckpoint._save_checkpoint")

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Every ``every_n_train_steps`` steps (with ``every_n_minutes``: the first of them after
        that many minutes), and at the run's last step (``max_steps``, or the last batch of the
        last epoch) for ``last.ckpt``, save the state after the step.

        The last step is saved here rather than when training ends, so that ``last.ckpt`` holds
        the same state as a save at that step during a longer run: resuming it with a higher
        ``max_steps`` continues the epoch where it stopped.

        With manual optimization Lightning looks for a copy of the weights from before the
        optimizer step (and warns that there is none); the state after the step is exactly
        what resuming continues from, so it is saved as it is.
        """
        every = self._every_n_train_steps
        due = every >= 1 and trainer.global_step % every == 0
        # The same steps on every rank read the clock: rank 0's answer is broadcast to all.
        due = due and self._minutes_passed(trainer)
        if pl_module.automatic_optimization:
            if due or every < 1:  # every < 1: Lightning's own triggers (time interval, epochs)
                super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            return
        final = bool(self.save_last) and _is_final_step(trainer)
        if not (due or final) or self._should_skip_saving_checkpoint(trainer):
            return
        candidates = self._monitor_candidates(trainer)
        if self.monitor is not None and self.monitor not in candidates:
            self._defer_save_until_validation = True
            return
        if due:
            self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Save ``last.ckpt`` unless the last step is saved already."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        """Before a run stops at a bad record, save ``last.ckpt`` (the state of the last
        finished step); other failures follow ``save_on_exception``."""
        super().on_exception(trainer, pl_module, exception)
        if not isinstance(exception, _DATA_ERRORS) or not self.save_last:
            return
        if self._should_skip_saving_checkpoint(trainer):
            return
        try:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        except NonFiniteLossError as error:  # never save a diverged state
            log.error("last.ckpt not saved: %s", error)
            return
        log.info("saved %s at step %d before stopping", self.last_model_path, trainer.global_step)


def _is_final_step(trainer: L.Trainer) -> bool:
    """Whether the step just taken is the last of the run (``max_steps`` or ``max_epochs``)."""
    max_steps = trainer.max_steps
    if max_steps is not None and max_steps >= 0 and trainer.global_step >= max_steps:
        return True
    max_epochs = trainer.max_epochs
    return (
        bool(trainer.is_last_batch)
        and max_epochs is not None
        and max_epochs >= 0
        and trainer.current_epoch + 1 >= max_epochs
    )


def _replace_durably(temp: Path, target: Path) -> None:
    """Flush ``temp`` to disk, rename it over ``target`` and flush the folder entry."""
    with temp.open("rb+") as file:
        os.fsync(file.fileno())
    os.replace(temp, target)
    try:
        folder = os.open(target.parent, os.O_RDONLY)
    except OSError:  # folders cannot be opened on some platforms (Windows)
        return
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
