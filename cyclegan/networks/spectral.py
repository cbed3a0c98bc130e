"""Spectral normalisation (Miyato et al. 2018) as a weight parametrization.

The same maths and state-dict layout as ``torch.nn.utils.parametrizations.spectral_norm``
(``parametrizations.weight.original`` and the power-iteration vectors ``_u``, ``_v``), written
with matrix-vector products and a sum only: PyTorch's version computes σ with ``torch.vdot``,
which torch-xla runs on the host, one device-to-host transfer per layer per forward pass.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize


class SpectralNorm(nn.Module):
    """``weight / σ(weight)``, σ the largest singular value of the weight as a
    ``[out, in·k·k]`` matrix, estimated by one power iteration per training forward."""

    _u: torch.Tensor
    _v: torch.Tensor

    def __init__(self, weight: torch.Tensor, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = eps
        rows, cols = weight.shape[0], weight[0].numel()
        u = F.normalize(weight.new_empty(rows).normal_(0, 1), dim=0, eps=eps)
        v = F.normalize(weight.new_empty(cols).normal_(0, 1), dim=0, eps=eps)
        self.register_buffer("_u", u)
        self.register_buffer("_v", v)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        matrix = weight.flatten(1)
        if self.training:
            with torch.no_grad():  # the power iteration is not differentiated (as in SN-GAN)
                v = F.normalize(matrix.t() @ self._u, dim=0, eps=self.eps)
                u = F.normalize(matrix @ v, dim=0, eps=self.eps)
                self._v.copy_(v)
                self._u.copy_(u)
        # Copies: a later forward updates the buffers in place while this graph still needs them.
        u, v = self._u.clone(), self._v.clone()
        sigma = (u * (matrix @ v)).sum()
        return weight / sigma


def spectral_norm(module: nn.Module) -> nn.Module:
    """``module`` with its ``weight`` spectrally normalised (in place; returns it)."""
    weight = module.weight
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"spectral_norm needs a module with a weight tensor, got {module}")
    parametrize.register_parametrization(module, "weight", SpectralNorm(weight.detach()))
    return module
