"""A callback that records, on every rank, the images trained on and the final weights.

Used by ``test_ddp.py`` through ``train.py``'s callbacks config (``+callbacks.probe=...``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
import torch
from data_helpers import image_id


class RankProbe(L.Callback):
    """Writes ``rank{R}.json`` (image ids per domain, in step order) and ``rank{R}.pt`` (the
    state dict at the start and at the end of training) into ``out_dir``."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.ids: dict[str, list[int]] = {"photo": [], "monet": []}
        self.start: dict[str, torch.Tensor] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        for domain, ids in self.ids.items():
            ids.extend(image_id(image) for image in batch[domain])

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rank = trainer.global_rank
        self.out_dir.mkdir(parents=True, exist_ok=True)
        end = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        torch.save({"start": self.start, "end": end}, self.out_dir / f"rank{rank}.pt")
        record = {"ids": self.ids, "world_size": trainer.world_size}
        record["strategy"] = type(trainer.strategy).__name__
        (self.out_dir / f"rank{rank}.json").write_text(json.dumps(record))
