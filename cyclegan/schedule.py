"""Learning-rate schedule of the CycleGAN paper: constant, then linear decay to zero."""


class LinearDecay:
    """LR factor for ``torch.optim.lr_scheduler.LambdaLR``, stepped once per epoch.

    ``factor(e) = 1`` for the first ``epochs_constant`` epochs (e = 0 … N−1), then decreases
    linearly: ``factor(e) = 1 − (e − N + 1) / (M + 1)`` for e = N … N+M−1, so the last epoch runs
    at 1/(M+1) and the factor would be 0 after it. This is the official implementation's rule
    (``1 − max(0, e + 1 − N) / (M + 1)``). A plain class, so ``LambdaLR.state_dict`` stores it.

    Example:
        >>> f = LinearDecay(epochs_constant=2, epochs_decay=3)
        >>> [f(e) for e in range(6)]
        [1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    """

    def __init__(self, epochs_constant: int, epochs_decay: int) -> None:
        if epochs_constant < 0 or epochs_decay < 0:
            raise ValueError(
                f"epochs_constant and epochs_decay must be >= 0, "
                f"got {epochs_constant} and {epochs_decay}"
            )
        self.epochs_constant = epochs_constant
        self.epochs_decay = epochs_decay

    def __call__(self, epoch: int) -> float:
        return max(0.0, 1.0 - max(0, epoch + 1 - self.epochs_constant) / (self.epochs_decay + 1))
