"""The FID Inception: TF-equivalent resize, input range, batch-size stability, bf16 tolerance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as sample_images
from torch import Tensor

from cyclegan.metrics.inception import (
    InceptionFeatureExtractor,
    default_weights_path,
    tf_bilinear_resize,
)

# Worst case over real photographs and Monet paintings, measured: relative L2 error 0.023,
# cosine similarity 0.9997 (docs/metrics.md gives the effect on FID/KID/MiFID).
BF16_MAX_RELATIVE_ERROR = 0.04
BF16_MIN_COSINE = 0.999


def _nvidia_tf_resize(x: Tensor, size: int) -> Tensor:
    """Reference: NVIDIA's port of TF1 ResizeBilinear (StyleGAN2-ADA metrics), via grid_sample."""
    batch, channels, height, width = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype)
    theta[0, 2] += 1.0 / width - 1.0 / size
    theta[1, 2] += 1.0 / height - 1.0 / size
    grid = torch.nn.functional.affine_grid(
        theta.expand(batch, 2, 3), [batch, channels, size, size], align_corners=False
    )
    return torch.nn.functional.grid_sample(
        x, grid, mode="bilinear", padding_mode="border", align_corners=False
    )


@pytest.fixture(scope="module")
def photos() -> Tensor:
    """Three real photographs shipped with scikit-image, as uint8 [3, 3, 96, 96]."""
    images = [sample_images.astronaut(), sample_images.coffee(), sample_images.chelsea()]
    resized = [np.array(Image.fromarray(image).resize((96, 96))) for image in images]
    return torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).contiguous()


@pytest.fixture(scope="module")
def extractor() -> InceptionFeatureExtractor:
    return InceptionFeatureExtractor("fp32")


def test_resize_by_hand_on_a_tiny_row() -> None:
    # 2 -> 4 pixels: TF samples source x = 0, 0.5, 1, 1.5 (the last clamps to the border).
    row = torch.tensor([[[[10.0, 30.0]]]])
    assert tf_bilinear_resize(row.expand(1, 1, 2, 2), 4)[0, 0, 0].tolist() == [10, 20, 30, 30]


@pytest.mark.parametrize(("height", "width"), [(256, 256), (64, 48), (500, 333), (17, 400)])
def test_resize_matches_nvidia_port_of_tf_bilinear(height: int, width: int) -> None:
    x = torch.rand(2, 3, height, width, dtype=torch.float64) * 255
    torch.testing.assert_close(tf_bilinear_resize(x, 299), _nvidia_tf_resize(x, 299))


def test_resize_is_not_torch_half_pixel_bilinear() -> None:
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    torch_version = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear")
    assert (tf_bilinear_resize(x, 299) - torch_version).abs().max() > 0.01


def test_preprocess_maps_uint8_to_tf_inception_range(extractor: InceptionFeatureExtractor) -> None:
    images = torch.tensor([0, 128, 255], dtype=torch.uint8).reshape(1, 3, 1, 1).expand(1, 3, 8, 8)
    x = extractor.preprocess(images)
    assert x.shape == (1, 3, 299, 299)
    assert x[0, :, 100, 100].tolist() == [-1.0, 0.0, 0.9921875]
    with pytest.raises(ValueError, match="uint8"):
        extractor.preprocess(images.float())


def test_extractor_is_lazy_and_weights_come_from_the_installed_wheel() -> None:
    lazy = InceptionFeatureExtractor("bf16")
    assert lazy._model is None
    assert default_weights_path().name == "default_1.pt"
    assert default_weights_path().stat().st_size > 80_000_000
    with pytest.raises(ValueError, match="precision"):
        InceptionFeatureExtractor("fp16")  # type: ignore[arg-type]


def test_missing_weights_file_is_named(tmp_path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        InceptionFeatureExtractor(weights=missing)


def test_features_of_one_image_do_not_depend_on_batch_size(
    photos: Tensor, extractor: InceptionFeatureExtractor
) -> None:
    batch = extractor(photos)
    assert batch.shape == (3, 2048)
    assert batch.dtype == torch.float32
    assert (batch >= 0).all()  # pool3 averages ReLU outputs
    assert batch.std(dim=0).mean() > 0.05  # different photographs, different features
    torch.testing.assert_close(extractor(photos[1:2]), batch[1:2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(extractor(photos[:2]), batch[:2], atol=1e-5, rtol=1e-5)


def test_bf16_features_stay_within_the_stated_tolerance(
    photos: Tensor, extractor: InceptionFeatureExtractor
) -> None:
    reference = extractor(photos)
    bf16 = InceptionFeatureExtractor("bf16")(photos)
    relative = (bf16 - reference).norm(dim=1) / reference.norm(dim=1)
    assert relative.max() < BF16_MAX_RELATIVE_ERROR
    cosine = torch.nn.functional.cosine_similarity(bf16, reference)
    assert cosine.min() > BF16_MIN_COSINE
    assert relative.max() > 0  # bf16 really ran
