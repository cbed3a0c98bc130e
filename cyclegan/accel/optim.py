"""Adam that steps channels-last weights without copying them (chosen by ``cyclegan.accel``
where the plan keeps weights channels-last, see ``plan.py``).

PyTorch's fused CPU Adam kernel works on dense tensors: handed a channels-last weight it copies
the weight, its gradient and both moments to the contiguous format and the results back, at
every step. For the U-Net that is a tenth of a CPU training iteration. A channels-last tensor
permuted to (N, H, W, C) order is dense, and Adam is element-wise, so the kernel can update
that view in place: same numbers, no copies.

Example:
    >>> w = torch.nn.Parameter(torch.ones(4, 3, 2, 2).to(memory_format=torch.channels_last))
    >>> opt = ChannelsLastAdam([w], lr=0.1, fused=True)
    >>> w.grad = torch.ones_like(w)
    >>> opt.step()
    >>> round(w[0, 0, 0, 0].item(), 4), w.is_contiguous(memory_format=torch.channels_last)
    (0.9, True)
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["ChannelsLastAdam"]


def _nhwc_view(t: torch.Tensor) -> torch.Tensor:
    return t.permute(0, 2, 3, 1)


def _is_channels_last_only(t: torch.Tensor) -> bool:
    return (
        t.dim() == 4
        and not t.is_contiguous()
        and t.is_contiguous(memory_format=torch.channels_last)
    )


class ChannelsLastAdam(torch.optim.Adam):
    """``torch.optim.Adam``; with ``fused=True`` channels-last weights whose gradient and
    moments share their layout reach the fused kernel as dense NHWC views (module docstring).
    Everything else, state dicts included, is ``torch.optim.Adam``'s.

    It extends ``torch.optim.Adam._init_group``, a private method (stable since torch 2.0): a
    test checks the step against ``torch.optim.Adam`` on every torch this project supports."""

    def _init_group(
        self,
        group: dict[str, Any],
        params: list[torch.Tensor],
        grads: list[torch.Tensor],
        exp_avgs: list[torch.Tensor],
        exp_avg_sqs: list[torch.Tensor],
        max_exp_avg_sqs: list[torch.Tensor],
        state_steps: list[torch.Tensor],
    ) -> Any:
        result = super()._init_group(
            group, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps
        )
        if group.get("fused"):
            per_param = [params, grads, exp_avgs, exp_avg_sqs]
            if group["amsgrad"]:
                per_param.append(max_exp_avg_sqs)
            for i, p in enumerate(params):
                strides = p.stride()
                if _is_channels_last_only(p) and all(
                    lst[i].stride() == strides for lst in per_param
                ):
                    for lst in per_param:
                        lst[i] = _nhwc_view(lst[i])
        return result
