"""Weight initialisation shared by the generators and discriminators."""

from torch import nn


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """Initialise a network as in pix2pix / CycleGAN: conv weights N(0, std), biases 0.

    Affine normalisation layers get weight N(1, std) and bias 0.

    Args:
        module: the network; every sub-module is visited.
        std: standard deviation of the normal initialisation.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.InstanceNorm2d | nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
