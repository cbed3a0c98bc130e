"""Adam on channels-last weights: torch.optim.Adam's numbers, without the layout copies."""

import pytest
import torch
from torch.profiler import profile

from cyclegan.accel.optim import ChannelsLastAdam

CL = torch.channels_last


def weights():
    torch.manual_seed(0)
    return [torch.randn(6, 5, 3, 3), torch.randn(6), torch.randn(4, 6, 2, 2)]


def run_steps(optimizer_class, memory_format, steps=4, **kwargs):
    params = [
        torch.nn.Parameter(w.contiguous(memory_format=memory_format) if w.dim() == 4 else w)
        for w in weights()
    ]
    optimizer = optimizer_class(params, lr=0.05, betas=(0.5, 0.999), **kwargs)
    for step in range(steps):
        for i, p in enumerate(params):
            g = torch.sin(torch.arange(p.numel(), dtype=torch.float32) * (i + 1) + step)
            p.grad = g.view(p.shape).contiguous(memory_format=memory_format) if p.dim() == 4 else g
        optimizer.step()
    return params, optimizer


@pytest.mark.parametrize("amsgrad", [False, True])
def test_fused_channels_last_matches_plain_adam(amsgrad):
    ours, optimizer = run_steps(ChannelsLastAdam, CL, fused=True, amsgrad=amsgrad)
    reference, _ = run_steps(
        torch.optim.Adam, torch.contiguous_format, foreach=False, amsgrad=amsgrad
    )
    for a, b in zip(ours, reference, strict=True):
        torch.testing.assert_close(a.detach(), b.detach(), atol=1e-6, rtol=1e-6)
    assert ours[0].is_contiguous(memory_format=CL)
    assert not ours[0].is_contiguous()
    state = optimizer.state[ours[0]]
    assert state["exp_avg"].shape == ours[0].shape  # state dicts stay torch.optim.Adam's


def tensor_copies(optimizer):
    """Shapes of the non-scalar tensors one optimizer step copies."""
    with profile(record_shapes=True) as prof:
        optimizer.step()
    assert "aten::_fused_adam_" in [e.name for e in prof.events()]
    return [
        e.input_shapes[0]
        for e in prof.events()
        if e.name in ("aten::clone", "aten::copy_") and e.input_shapes[0]
    ]


def test_fused_step_copies_no_channels_last_weight():
    _, optimizer = run_steps(ChannelsLastAdam, CL, steps=1, fused=True)
    assert tensor_copies(optimizer) == []
    _, optimizer = run_steps(torch.optim.Adam, CL, steps=1, fused=True)
    assert [6, 5, 3, 3] in tensor_copies(optimizer)  # what this class avoids


def test_state_dict_loads_into_torch_adam():
    params, optimizer = run_steps(ChannelsLastAdam, CL, fused=True)
    plain = torch.optim.Adam(params, lr=0.05, fused=True)
    plain.load_state_dict(optimizer.state_dict())
    for p in params:
        torch.testing.assert_close(plain.state[p]["exp_avg"], optimizer.state[p]["exp_avg"])
