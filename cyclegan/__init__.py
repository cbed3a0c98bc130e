"""CycleGAN for photo -> Monet translation on PyTorch Lightning and Hydra.

The paper's names (G, F, D_Y, D_X) are mapped to the networks' in :mod:`cyclegan.module`.
"""

__version__ = "0.1.0"
