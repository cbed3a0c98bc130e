import pytest
import torch

from cyclegan.image_pool import ImagePool


def batch(value: float, n: int = 2) -> torch.Tensor:
    return torch.full((n, 3, 4, 4), value)


def test_size_zero_is_passthrough():
    pool = ImagePool(0)
    x = batch(1.0)
    assert pool.query(x) is x


def test_fills_then_swaps_about_half():
    pool = ImagePool(size=10, seed=0)
    for i in range(5):  # 10 images: fill phase returns the new images unchanged
        assert torch.equal(pool.query(batch(float(i))), batch(float(i)))
    assert pool.num_filled == 10
    stored_before = pool.images.clone()
    returned_old = 0
    queries = 400
    for i in range(queries):
        new = batch(100.0 + i, n=1)
        out = pool.query(new)
        if not torch.equal(out, new):
            returned_old += 1
            # An old image came out and the new one took its place.
            assert (pool.images == new[0]).all(dim=(1, 2, 3)).sum() == 1
    assert 0.4 < returned_old / queries < 0.6
    assert not torch.equal(stored_before, pool.images)


def test_returned_images_come_from_history():
    pool = ImagePool(size=4, seed=1)
    pool.query(torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 2, 2).contiguous())
    seen = set(range(4))
    for i in range(50):
        value = 10.0 + i
        out = pool.query(torch.full((2, 3, 2, 2), value))
        for img in out:
            v = img.flatten()[0].item()
            assert v == value or v in seen
            assert (img == v).all()
        seen.add(value)


def test_state_dict_round_trip_reproduces_future_queries():
    a = ImagePool(size=6, seed=3)
    for i in range(5):
        a.query(batch(float(i)))
    b = ImagePool(size=6, seed=99)
    b.load_state_dict(a.state_dict())
    for i in range(10):
        assert torch.equal(a.query(batch(50.0 + i)), b.query(batch(50.0 + i)))


def test_errors():
    with pytest.raises(ValueError, match=">= 0"):
        ImagePool(-1)
    with pytest.raises(ValueError, match="does not fit"):
        ImagePool(2).query(batch(0.0, n=3))
    with pytest.raises(ValueError, match="size 6, configured size is 5"):
        ImagePool(5).load_state_dict(ImagePool(6).state_dict())
