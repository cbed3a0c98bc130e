"""Which record each rank reads at each step: the per-epoch plan behind exactly-once sharding.

For every epoch each domain gets a stream of ``steps x batch_size x world_size`` record indices:
a shuffled permutation of the domain's records, followed by fresh permutations while the stream
needs more (the shorter domain under ``epoch_length=max``). Step ``s`` of rank ``r`` takes the
``r``-th block of ``batch_size`` indices of the ``s``-th group of ``batch_size x world_size``.
Shuffles are seeded by ``(seed, epoch, domain, pass)`` only, so every rank computes the same plan
without communicating, each epoch has a different order, and a resumed run replays it exactly.

Consequences, per epoch and domain of ``n`` records, with ``t = steps x batch_size x world_size``:

- ``t <= n``: every record is read at most once across all ranks and DataLoader workers; the
  ``n - t`` records not read (at most ``batch_size x world_size - 1`` for the domain that sets the
  epoch length) differ from epoch to epoch.
- ``t > n``: every record is read ``floor(t / n)`` or ``ceil(t / n)`` times.
- Every rank runs the same number of steps, so uneven files or domains never stall DDP.

DataLoader workers need no sharding of their own: the sampler runs in the main process and the
DataLoader hands each batch to exactly one worker.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Dataset, DistributedSampler

__all__ = ["DOMAINS", "EpochSampler", "epoch_stream", "rank_positions"]

DOMAINS = ("photo", "monet")


def epoch_stream(n: int, length: int, seed: int, epoch: int, domain: int) -> np.ndarray:
    """The first ``length`` indices of shuffled passes over ``range(n)`` for one epoch.

    Args:
        n: Number of records.
        length: Number of indices wanted.
        seed: Base seed.
        epoch: Epoch number.
        domain: Domain number (0 photo, 1 monet), so domains are shuffled independently.

    Returns:
        ``int64`` array of ``length`` record indices.
    """
    if n <= 0:
        raise ValueError("cannot sample from an empty domain")
    passes = -(-length // n)
    orders = [np.random.default_rng([seed, epoch, domain, p]).permutation(n) for p in range(passes)]
    return np.concatenate(orders)[:length] if orders else np.empty(0, dtype=np.int64)


def rank_positions(steps: int, batch_size: int, world_size: int, rank: int) -> np.ndarray:
    """Positions in the epoch stream that ``rank`` reads, in step order."""
    grid = np.arange(steps * batch_size * world_size).reshape(steps, world_size, batch_size)
    return grid[:, rank].ravel()


class EpochSampler(DistributedSampler):
    """Yields ``(photo_index, monet_index, augmentation_seed)`` for one rank, one epoch at a time.

    It subclasses :class:`~torch.utils.data.DistributedSampler` only so that Lightning, seeing a
    distributed sampler already in place, does not replace it; Lightning still calls
    :meth:`set_epoch` at the start of every epoch.

    Args:
        dataset: The dataset read with these keys (its length is the global plan size).
        sizes: Number of records per domain, in :data:`DOMAINS` order.
        steps: Steps per epoch (per rank).
        batch_size: Batch size per rank.
        world_size: Number of ranks.
        rank: This rank.
        seed: Base seed of the shuffles and of the augmentation.
    """

    def __init__(
        self,
        dataset: Dataset,
        sizes: tuple[int, int],
        steps: int,
        batch_size: int,
        world_size: int,
        rank: int,
        seed: int,
    ) -> None:
        super().__init__(
            dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.sizes = sizes
        self.steps = steps
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        length = self.steps * self.batch_size * self.num_replicas
        positions = rank_positions(self.steps, self.batch_size, self.num_replicas, self.rank)
        photo, monet = (
            epoch_stream(n, length, self.seed, self.epoch, domain)[positions]
            for domain, n in enumerate(self.sizes)
        )
        rng = np.random.default_rng([self.seed, self.epoch, len(DOMAINS)])
        augment_seeds = rng.integers(0, 2**62, size=length)[positions]
        yield from zip(photo.tolist(), monet.tolist(), augment_seeds.tolist(), strict=True)

    def __len__(self) -> int:
        return self.steps * self.batch_size
