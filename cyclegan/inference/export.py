"""Ship a generator: plain weights, ONNX or TorchScript.

Every exported model takes float32 ``[N, 3, H, W]`` in ``[-1, 1]`` (``uint8 / 127.5 - 1``) and
returns the same shape in ``[-1, 1]``. ``N`` is dynamic; ``H`` and ``W`` are those of the example
input used to export (the training resolution, else 256): pad or tile other sizes the way
:mod:`cyclegan.inference.tiling` does.

- ``weights``: ``{"format", "direction", "generator" (Hydra config), "state_dict", ...}`` as a
  ``torch.save`` file that ``predict.py ckpt=...`` loads like a checkpoint, with
  ``weights_only=True``; a few MB instead of a full training checkpoint.
- ``onnx``: the ``torch.export``-based ONNX exporter (needs ``onnxscript``), opset 18, with a
  dynamic batch axis named ``batch``.
- ``torchscript``: ``torch.jit.trace``; PyTorch deprecates TorchScript and warns about it, but
  it still loads in C++ LibTorch and older runtimes.
"""

from __future__ import annotations

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
    """Write ``generator`` as ONNX with a dynamic batch axis.

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
    torch.onnx.export(
        generator.module.eval(),
        (example_input(generator),),
        path,
        input_names=["image"],
        output_names=["stylized"],
        dynamic_shapes={"x": {0: batch}},
        opset_version=18,
        external_data=False,
        verbose=False,
    )
    return path


def export_torchscript(generator: LoadedGenerator, path: Path) -> Path:
    """Write ``generator`` as a traced TorchScript module (``torch.jit.load`` reads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode(False), torch.no_grad():
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
