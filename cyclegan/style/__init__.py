"""Neural style transfer on the CycleGAN stack: Gatys et al.'s optimisation and Johnson et al.'s
fast (feed-forward) style transfer, sharing one set of perceptual losses.

- :mod:`~cyclegan.style.losses`: Gram matrix, style, content and total-variation losses, and the
  VGG feature extractor with layer taps.
- :mod:`~cyclegan.style.loss_network`: VGG16 / VGG19 and their ImageNet weights.
- :mod:`~cyclegan.style.gatys`: stylize one image by optimising its pixels (L-BFGS or Adam).
- :mod:`~cyclegan.style.module`: the fast-style LightningModule (``experiment=fast_style``).
- :func:`~cyclegan.style.cli.run` is what ``python stylize.py`` calls.
"""
