"""Generators, discriminators and the fast-style transformation network: plain ``nn.Module``s,
no Lightning or Hydra."""

from cyclegan.networks.contract import Generator, check_generator
from cyclegan.networks.patchgan import PatchGANDiscriminator
from cyclegan.networks.resnet import ResnetGenerator
from cyclegan.networks.transform import TransformNet
from cyclegan.networks.unet import UNetGenerator

__all__ = [
    "Generator",
    "PatchGANDiscriminator",
    "ResnetGenerator",
    "TransformNet",
    "UNetGenerator",
    "check_generator",
]
