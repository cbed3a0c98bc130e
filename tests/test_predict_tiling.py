"""Padding and tiling: exact crops, full coverage, no seams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cyclegan.data.transforms import to_float
from cyclegan.inference.stylizer import Stylizer
from cyclegan.inference.tiling import reflect_pad, stylize_tiled, window_starts
from cyclegan.networks import ResnetGenerator
from tests.predict_helpers import photo


@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 7), (5, 7), (31, 64), (32, 32), (70, 3)])
def test_reflect_pad_reaches_the_multiple_and_the_box_recovers_the_image(
    height: int, width: int
) -> None:
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8)
    padded, (top, left, h, w) = reflect_pad(image, 32)
    assert padded.shape[-2] % 32 == 0
    assert padded.shape[-1] % 32 == 0
    assert padded.shape[-2] >= height
    assert padded.shape[-1] >= width
    assert torch.equal(padded[:, top : top + h, left : left + w], image)
    # Centred: the two sides differ by at most one pixel.
    assert abs((padded.shape[-2] - height - top) - top) <= 1


def test_reflect_pad_matches_numpy_reflect_and_keeps_mirroring_past_the_edge() -> None:
    image = torch.arange(3 * 5 * 6, dtype=torch.uint8).reshape(3, 5, 6)
    padded, (top, left, _, _) = reflect_pad(image, 16)  # pads wider than the image
    pad = ((0, 0), (top, 16 - 5 - top), (left, 16 - 6 - left))
    assert np.array_equal(padded.numpy(), np.pad(image.numpy(), pad, mode="reflect"))
    # A 3-pixel row padded to 32 reflects back and forth: 0 1 2 1 0 1 2 ...
    row = torch.tensor([[[0, 1, 2]]], dtype=torch.uint8)
    padded_row, (_, start, _, _) = reflect_pad(row, 32)
    values = padded_row[0, 0].tolist()
    assert values[start : start + 3] == [0, 1, 2]
    assert all(abs(a - b) == 1 for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize("length", [65, 100, 128, 129, 300, 1000, 3001])
def test_windows_cover_the_axis_with_at_least_the_overlap(length: int) -> None:
    tile, overlap = 64, 16
    starts = window_starts(length, tile, overlap)
    assert starts[0] == 0
    assert starts[-1] + tile == length
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(0 < gap <= tile - overlap for gap in gaps)


def _identity(batch: torch.Tensor) -> torch.Tensor:
    return to_float(batch)


@pytest.mark.parametrize(("height", "width"), [(200, 50), (50, 200), (150, 170), (64, 65)])
def test_tiling_an_identity_reproduces_the_image_exactly(height: int, width: int) -> None:
    image = torch.from_numpy(photo(width, height)).permute(2, 0, 1).contiguous()
    calls: list[tuple[int, ...]] = []

    def forward(batch: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(batch.shape))
        return _identity(batch)

    out = stylize_tiled(image, forward, multiple=16, tile=64, overlap=16)
    assert torch.equal(out, image)
    assert len(calls) > 1
    assert all(h <= 64 and w <= 64 and h % 16 == 0 and w % 16 == 0 for _, _, h, w in calls)


def test_progress_is_reported_after_every_window_with_the_total() -> None:
    image = torch.from_numpy(photo(170, 150)).permute(2, 0, 1).contiguous()
    forwards: list[int] = []
    reports: list[tuple[int, int]] = []

    def forward(batch: torch.Tensor) -> torch.Tensor:
        forwards.append(len(reports))
        return _identity(batch)

    out = stylize_tiled(image, forward, 16, 64, 16, on_window=lambda *r: reports.append(r))
    windows = len(window_starts(150, 64, 16)) * len(window_starts(170, 64, 16))
    assert torch.equal(out, image)
    assert reports == [(done, windows) for done in range(1, windows + 1)]
    assert forwards == list(range(windows))  # each report follows its window's forward pass


def _brightness_steps(image: torch.Tensor, width: int = 8) -> torch.Tensor:
    """Step in mean brightness between the ``width`` columns left and right of each column
    boundary ``x`` (index ``x - width``): a seam is a step of several levels, while the
    generator's own texture averages out over the rows."""
    columns = image.float().mean(dim=(0, 1))
    means = torch.nn.functional.avg_pool1d(columns[None, None], width, 1)[0, 0]
    return (means[width:] - means[:-width]).abs()


def _step_at_joins(image: torch.Tensor, joins: list[tuple[int, int]], width: int = 8) -> float:
    """Largest brightness step (grey levels) in the column spans ``joins`` where windows meet.

    A visible seam is a step of a few levels; below one level nothing can be seen."""
    steps = _brightness_steps(image, width)
    boundary = torch.arange(len(steps)) + width
    at_join = torch.zeros(len(steps), dtype=torch.bool)
    for first, last in joins:
        at_join |= (boundary >= first - width) & (boundary <= last + width)
    return float(steps[at_join].max())


def _joins(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    starts = window_starts(length, tile, overlap)
    return [(start, previous + tile) for previous, start in zip(starts, starts[1:], strict=False)]


def test_a_tile_dependent_generator_leaves_no_seam_where_windows_meet() -> None:
    """A generator with instance norm gives each window different statistics. Blending must
    hide that: no brightness step stands out where windows meet, whereas windows cut edge to
    edge show one (so the measure can fail)."""
    torch.manual_seed(0)
    stylizer = Stylizer(ResnetGenerator(ngf=4, n_blocks=1), 4, precision="32")
    image = torch.from_numpy(photo(600, 256, seed=1)).permute(2, 0, 1).contiguous()

    blended = stylize_tiled(image, stylizer.forward_float, 4, tile=256, overlap=64)
    hard = torch.cat([stylizer.stylize(image[:, :, x : x + 200]) for x in (0, 200, 400)], dim=2)
    assert _step_at_joins(hard, [(200, 200), (400, 400)]) > 2.0
    assert _step_at_joins(blended, _joins(600, 256, 64)) < 1.0


@pytest.mark.slow
def test_a_2000x3000_photo_is_tiled_without_seams() -> None:
    torch.manual_seed(0)
    stylizer = Stylizer(ResnetGenerator(ngf=4, n_blocks=1), 4, precision="32")
    assert stylizer.needs_tiling(2000, 3000)  # default tile_size=1024: 3 x 4 windows
    image = torch.from_numpy(photo(3000, 2000, seed=2)).permute(2, 0, 1).contiguous()
    out = stylizer.stylize(image)
    assert out.shape == image.shape
    assert _step_at_joins(out, _joins(3000, 1024, 128)) < 1.0
    assert _step_at_joins(out.transpose(1, 2), _joins(2000, 1024, 128)) < 1.0


@pytest.mark.parametrize("affine", [True, False])
def test_channels_last_instance_norm_is_instance_norm(affine: bool) -> None:
    from torch import nn

    from cyclegan.accel.layers import GroupInstanceNorm2d

    norm = nn.InstanceNorm2d(6, affine=affine)
    if affine:
        nn.init.normal_(norm.weight)
        nn.init.normal_(norm.bias)
    x = (torch.randn(3, 6, 10, 12) * 3 + 1).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected = norm(x)
        norm.__class__ = GroupInstanceNorm2d  # what cyclegan.accel.speed_up does
        assert torch.allclose(norm(x), expected, atol=1e-5)
