"""The process-wide random states a checkpoint carries, as data ``weights_only`` loading reads.

Dropout draws from the global torch generator, so an exactly resumed run needs the state it had
after the last saved step. Lightning's helpers collect and set torch's, CUDA's, NumPy's and
Python's states; NumPy's holds an ``ndarray``, stored here as a tensor so the checkpoint stays
plain data.

Example:
    >>> states = capture_rng_states()
    >>> a = torch.rand(2)
    >>> restore_rng_states(states)
    >>> torch.equal(a, torch.rand(2))
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states

__all__ = ["capture_rng_states", "restore_rng_states"]


def capture_rng_states() -> dict[str, Any]:
    """Torch (and CUDA, once initialised), NumPy and Python random states, as plain data."""
    include_cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    states = _collect_rng_states(include_cuda=include_cuda)
    kind, keys, position, has_gauss, gauss = states["numpy"]
    states["numpy"] = [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss]
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Set the states :func:`capture_rng_states` returned (or the torch-only states of older
    checkpoints, ``{"torch": ..., "cuda": ...}``)."""
    if "python" not in states:  # checkpoints written before NumPy and Python were saved
        torch.set_rng_state(states["torch"])
        if "cuda" in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states["cuda"])
        return
    states = dict(states)
    kind, keys, position, has_gauss, gauss = states["numpy"]
    states["numpy"] = (kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss)
    if not (torch.cuda.is_available() and states.get("torch.cuda")):
        states.pop("torch.cuda", None)
    _set_rng_states(states)
