"""Data: image decoding, TFRecord and folder sources, the CycleGAN DataModule, the data command.

- :mod:`cyclegan.data.images` decodes bytes to ``uint8`` RGB tensors (one pixel limit for all).
- :mod:`cyclegan.data.names` escapes names from data before they are shown.
- :mod:`cyclegan.data.sources` walks folders, TFRecords and zips (inference, evaluation).
- :mod:`cyclegan.data.datamodule` feeds training (``CycleGANDataModule``).
- ``python -m cyclegan.data {inspect,pack,demo}`` is the data command.
"""
