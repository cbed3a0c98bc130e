"""Autocast that casts each weight once per forward pass."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["cached_autocast"]


@contextlib.contextmanager
def cached_autocast(device_type: str, enabled: bool = True) -> Iterator[None]:
    """Within an enabled autocast region, cast each weight to the low-precision dtype once.

    Lightning's mixed precision enters ``torch.autocast(..., cache_enabled=False)``, so a network
    that runs several times in one step (G runs twice in the generator step) has all its weights
    cast again at each call, and their gradients cast back once per call. This re-enters
    autocast with its cache on for one forward pass and empties the cache on the way out: the
    weights change at the next optimizer step. Without autocast (float32, bf16-true, XLA), or
    with ``enabled=False``, it does nothing.
    """
    if (
        not enabled
        or device_type not in ("cpu", "cuda")
        or not torch.is_autocast_enabled(device_type)
    ):
        yield
        return
    dtype = torch.get_autocast_dtype(device_type)
    with torch.autocast(device_type, dtype=dtype, cache_enabled=True):
        try:
            yield
        finally:
            torch.clear_autocast_cache()
