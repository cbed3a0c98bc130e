"""uint8 <-> float conversion and the resize / crop / flip augmentation."""

from __future__ import annotations

import pytest
import torch

from cyclegan.data.transforms import ImageTransform, to_float, to_uint8


def test_to_float_maps_0_255_to_minus_one_one_and_back() -> None:
    x = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    y = to_float(x)
    assert y.dtype == torch.float32
    assert y.flatten()[0].item() == -1.0
    assert y.flatten()[-1].item() == 1.0
    torch.testing.assert_close(y, x.float() / 127.5 - 1)
    assert torch.equal(to_uint8(y), x)
    assert to_uint8(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]
    with pytest.raises(TypeError, match="uint8"):
        to_float(y)


def test_resize_only_when_size_differs() -> None:
    transform = ImageTransform(image_size=32, load_size=40, augment=False)
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    assert transform(image) is image
    assert transform(torch.zeros(3, 50, 70, dtype=torch.uint8)).shape == (3, 32, 32)


def test_augmentation_crops_and_flips_from_the_generator() -> None:
    transform = ImageTransform(image_size=4, load_size=6, augment=True)
    image = torch.arange(36, dtype=torch.uint8).reshape(1, 6, 6).expand(3, 6, 6).contiguous()
    crops = [transform(image, torch.Generator().manual_seed(s)) for s in range(40)]
    assert all(c.shape == (3, 4, 4) for c in crops)
    corners = {int(c[0, 0, 0]) for c in crops}
    assert len(corners) > 4  # several crop positions
    flipped = [c for c in crops if c[0, 0, 0] > c[0, 0, 1]]
    assert 0 < len(flipped) < len(crops)  # some flipped, some not
    again = transform(image, torch.Generator().manual_seed(7))
    assert torch.equal(again, crops[7])


def test_augmentation_options_are_checked() -> None:
    with pytest.raises(ValueError, match="load_size"):
        ImageTransform(image_size=64, load_size=32, augment=True)
    with pytest.raises(ValueError, match="Generator"):
        ImageTransform(4, 6, augment=True)(torch.zeros(3, 6, 6, dtype=torch.uint8))
