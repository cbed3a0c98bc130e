"""Ship a generator: plain weights, ONNX or TorchScript.

Every exported model takes float32 ``[N, 3, H, W]`` in ``[-1, 1]`` (``uint8 / 127.5 - 1``) and
returns the same shape in ``[-1, 1]``. ``H`` and ``W`` must be multiples of the generator's size
multiple (256 for the U-Net-256, 4 for the ResNet) and at least 16: pad or tile other sizes the
way :mod:`cyclegan.inference.tiling` does.

- ``weights``: ``{"format", "direction", "generator" (Hydra config), "state_dict", ...}`` as a
  ``torch.save`` file that ``predict.py ckpt=...`` loads like a checkpoint, with
  ``weights_only=True``; a few MB instead of a full training checkpoint.
- ``onnx``: the ``torch.export``-based ONNX exporter (needs ``onnxscript``), opset 18, input
  ``image`` and output ``stylized``, with a dynamic batch axis named ``batch`` and dynamic
  height and width (any valid size, as above).
- ``torchscript``: ``torch.jit.trace`` at the training resolution (else 256); traced
  convolutions work at other valid sizes too. PyTorch deprecates TorchScript and warns about
  it, but it still loads in C++ LibTorch and older runtimes.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from cyclegan.inference.checkpoint import LoadedGenerator, save_generator_weights
from cyclegan.inference.tiling import padded_length

__all__ = ["EXPORTS", "export_generator", "export_onnx", "export_torchscript", "example_input"]

EXPORTS = ("weights", "onnx", "torchscript")
_SUFFIX = {"weights": ".pt", "onnx": ".onnx", "torchscript": ".torchscript.pt"}


def example_input(generator: LoadedGenerator, batch: int = 2) -> torch.Tensor:
    """An input of the generator's training size (else 256), padded to its size multiple."""
    side = padded_length(generator.image_size or 256, generator.size_multiple)
    return torch.rand(batch, 3, side, side, generator=torch.Generator().manual_seed(0)) * 2 - 1


def export_onnx(generator: LoadedGenerator, path: Path) -> Path:
    """Write ``generator`` as ONNX with dynamic batch, height and width.

    Raises:
        RuntimeError: If ``onnxscript`` (the ONNX exporter's dependency) is not installed.
    """
    try:
        import onnxscript  # noqa: F401  (imported by torch.onnx; checked here for the message)
    except ImportError as error:
        raise RuntimeError(
            "export=onnx needs the onnx, onnxscript and onnxruntime packages: "
            "pip install 'cyclegan[export]'"
        ) from error
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("batch", min=1, max=4096)
    # Height and width: Dim.AUTO lets torch.export keep them dynamic. Declared ranges of
    # multiples (256 * Dim) fail for the U-Net-256, whose 1x1 bottleneck at 256 px makes the
    # tracer specialise the size.
    torch.onnx.export(
        generator.module.eval(),
        (example_input(generator),),
        path,
        input_names=["image"],
        output_names=["stylized"],
        dynamic_shapes={"x": {0: batch, 2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO}},
        opset_version=18,
        external_data=False,
        verbose=False,
    )
    return path


def export_torchscript(generator: LoadedGenerator, path: Path) -> Path:
    """Write ``generator`` as a traced TorchScript module (``torch.jit.load`` reads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # The generators' input-size check is Python control flow, which a trace records as a
        # constant (the TracerWarning says so): the traced module expects sizes that are
        # multiples of the size multiple, as documented above, and does not check them.
        warnings.filterwarnings(
            "ignore", "Converting a tensor to a Python boolean", torch.jit.TracerWarning
        )
        traced = torch.jit.trace(generator.module.eval(), example_input(generator, batch=1))
    traced.save(str(path))
    return path


def export_generator(generator: LoadedGenerator, kind: str, output_dir: Path) -> Path:
    """Export in one of :data:`EXPORTS` as ``output_dir/generator_<direction><suffix>``.

    Raises:
        ValueError: If ``kind`` is unknown.
    """
    if kind not in EXPORTS:
        raise ValueError(f"export={kind!r}: choose none or one of {list(EXPORTS)}")
    exporter = {
        "weights": save_generator_weights,
        "onnx": export_onnx,
        "torchscript": export_torchscript,
    }[kind]
    return exporter(generator, output_dir / f"generator_{generator.direction}{_SUFFIX[kind]}")
