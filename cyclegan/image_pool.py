"""History of generated images fed to the discriminators (Shrivastava et al., 2017)."""

from typing import Any

import torch


class ImagePool:
    """Keeps up to ``size`` past fakes; each query returns, per image, either the new fake or
    (with probability ½ once the pool is full) a stored one that the new fake then replaces.

    The device-side work is shape-stable and branch-free so that XLA compiles it once: random
    decisions are drawn on the host from the pool's own ``torch.Generator`` (whose fill level is
    known on the host, never read back from the device) and applied with ``index_select``,
    ``where`` and ``index_copy_``. ``size=0`` disables the pool (queries return their input).

    Example:
        >>> pool = ImagePool(size=4, seed=0)
        >>> out = pool.query(torch.zeros(2, 3, 8, 8))
        >>> out.shape, pool.num_filled
        (torch.Size([2, 3, 8, 8]), 2)
    """

    def __init__(self, size: int = 50, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"image pool size must be >= 0, got {size}")
        self.size = size
        self.num_filled = 0
        self.images: torch.Tensor | None = None
        self.generator = torch.Generator().manual_seed(seed)

    def _plan(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Host-side decisions: slot per image, whether to return the stored image, whether to
        store the new one."""
        slots = torch.empty(batch, dtype=torch.long)
        use_old = torch.zeros(batch, dtype=torch.bool)
        store = torch.zeros(batch, dtype=torch.bool)
        # Draw every step, whatever the fill level, so the stream is one per query.
        coins = torch.rand(batch, generator=self.generator) < 0.5
        picks = torch.randint(self.size, (batch,), generator=self.generator)
        taken: set[int] = set()
        for i in range(batch):
            if self.num_filled < self.size:
                slots[i] = self.num_filled
                store[i] = True
                self.num_filled += 1
            else:
                slot = int(picks[i])
                # Two images of one batch never share a slot, so index_copy_ is well defined.
                while slot in taken:
                    slot = (slot + 1) % self.size
                slots[i] = slot
                use_old[i] = store[i] = bool(coins[i])
            taken.add(int(slots[i]))
        return slots, use_old, store

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch for the discriminator; ``images`` should already be detached."""
        if self.size == 0:
            return images
        batch = images.shape[0]
        if batch > self.size:
            raise ValueError(f"batch of {batch} images does not fit an image pool of {self.size}")
        if self.images is None or self.images.shape[1:] != images.shape[1:]:
            self.images = images.new_zeros((self.size, *images.shape[1:]))
        elif self.images.device != images.device or self.images.dtype != images.dtype:
            self.images = self.images.to(images.device, images.dtype)
        slots, use_old, store = (t.to(images.device) for t in self._plan(batch))
        shape = (batch,) + (1,) * (images.dim() - 1)
        old = self.images.index_select(0, slots)
        out = torch.where(use_old.view(shape), old, images)
        self.images.index_copy_(0, slots, torch.where(store.view(shape), images, old))
        return out

    def state_dict(self) -> dict[str, Any]:
        """Pool contents, fill level and RNG state, for checkpoints."""
        return {
            "size": self.size,
            "num_filled": self.num_filled,
            "images": None if self.images is None else self.images.detach().cpu(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved."""
        if state["size"] != self.size:
            raise ValueError(
                f"checkpoint image pool has size {state['size']}, configured size is {self.size}"
            )
        self.num_filled = int(state["num_filled"])
        images = state["images"]
        self.images = None if images is None else images.clone()
        self.generator.set_state(state["generator"])
