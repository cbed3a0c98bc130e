"""CycleGAN for photo -> Monet translation on PyTorch Lightning and Hydra.

Paper mapping, written once (Zhu et al., 2017):
G = ``gen_photo2monet`` (X=photo -> Y=Monet), F = ``gen_monet2photo`` (Y -> X),
D_Y = ``disc_monet`` (judges Monet paintings), D_X = ``disc_photo`` (judges photos).
"""

__version__ = "0.1.0"
