"""Exported generators compute what the PyTorch generator computes, at any batch size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cyclegan.inference.checkpoint import load_generator
from cyclegan.inference.cli import run
from tests.predict_helpers import (
    TINY_RESNET,
    TINY_TRANSFORM,
    TINY_UNET,
    compose_predict,
    write_checkpoint,
)

ONNX_TOLERANCE = 1e-4
"""Max absolute difference allowed between onnxruntime and PyTorch outputs (in [-1, 1]; one
uint8 level is 2/255 = 7.8e-3). Float32 kernels differ in summation order only."""


def _inputs(*shapes: tuple[int, int, int]) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.rand(n, 3, h, w, generator=generator) * 2 - 1 for n, h, w in shapes]


UNET_256 = {**TINY_UNET, "ngf": 2, "num_downs": 8}  # 1x1 bottleneck at 256 px
# Resize-convolution computes maps from 32x32 up as a transposed conv, smaller ones resized:
# the exported graph must be right at sizes on either side of that, whatever it was traced at.
UNET_256_RESIZE = {**UNET_256, "upsample": "resize"}


@pytest.mark.parametrize(
    "config",
    [TINY_UNET, TINY_RESNET, UNET_256, UNET_256_RESIZE, TINY_TRANSFORM],
    ids=["unet", "resnet", "unet256", "unet256_resize", "fast_style"],
)
def test_onnx_matches_pytorch_at_several_batch_sizes(
    tmp_path: Path, config: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("onnxscript", reason="export=onnx needs onnxscript (extra 'export')")
    ort = pytest.importorskip("onnxruntime")
    write_checkpoint(tmp_path / "last.ckpt", config)
    cfg = compose_predict(ckpt=tmp_path / "last.ckpt", output_dir=tmp_path / "out", export="onnx")
    assert run(cfg) == 0
    path = tmp_path / "out" / "generator_photo2monet.onnx"
    assert f"-> {path}" in capsys.readouterr().out

    generator = load_generator(tmp_path / "last.ckpt", "photo2monet").module
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (input_info,) = session.get_inputs()
    assert input_info.name == "image"
    batch, channels, height, width = input_info.shape
    assert (batch, channels) == ("batch", 3)
    assert isinstance(height, str)  # dynamic height and width (symbolic names)
    assert isinstance(width, str)
    shapes = (
        [(1, 256, 256), (2, 256, 512)]
        if config in (UNET_256, UNET_256_RESIZE)
        else [(1, 64, 64), (3, 32, 96)]
    )
    for x in _inputs(*shapes):
        (y,) = session.run(None, {"image": x.numpy()})
        with torch.no_grad():
            expected = generator(x).numpy()
        assert y.shape == expected.shape
        assert np.abs(y - expected).max() < ONNX_TOLERANCE


def test_torchscript_matches_pytorch(tmp_path: Path) -> None:
    """PyTorch deprecates TorchScript: exporting and loading warn (asserted, so the day the
    warning or TorchScript goes away this test says so)."""
    write_checkpoint(tmp_path / "last.ckpt", TINY_UNET)
    cfg = compose_predict(
        ckpt=tmp_path / "last.ckpt", output_dir=tmp_path / "out", export="torchscript"
    )
    with pytest.warns(FutureWarning, match=r"torch\.jit\.\w+` is deprecated"):
        assert run(cfg) == 0
    with pytest.warns(FutureWarning, match="torch.jit.load` is deprecated"):
        module = torch.jit.load(str(tmp_path / "out" / "generator_photo2monet.torchscript.pt"))
    generator = load_generator(tmp_path / "last.ckpt", "photo2monet").module
    for x in _inputs((1, 64, 64), (3, 64, 64), (2, 32, 96)):
        with torch.no_grad():
            assert torch.allclose(module(x), generator(x), atol=1e-5)


def test_export_weights_then_predict_with_them(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "last.ckpt", TINY_RESNET)
    out = tmp_path / "out"
    cfg = compose_predict(
        ckpt=tmp_path / "last.ckpt", output_dir=out, export="weights", direction="monet2photo"
    )
    assert run(cfg) == 0
    weights = out / "generator_monet2photo.pt"
    torch.load(weights, weights_only=True)  # loads without allowing any code
    with pytest.raises(ValueError, match="export='onnnx'"):
        run(compose_predict(ckpt=weights, output_dir=out, export="onnnx", direction="monet2photo"))
