"""Running Lightning's TPU path on torch-xla's CPU backend (PJRT_DEVICE=CPU).

Lightning only accepts ``accelerator="tpu"`` where ``XLAAccelerator.is_available()`` counts TPU
chips on the PCI bus. :class:`OneDeviceXLAAccelerator` reports one device instead; everything
after that (``SingleDeviceXLAStrategy``, ``XLAPrecision`` and its ``mark_step`` after every
optimizer step, the ``MpDeviceLoader``) is Lightning's own code path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from lightning.pytorch.accelerators import XLAAccelerator

XLA_ENV = {
    # The XLA CPU backend, not a TPU.
    "PJRT_DEVICE": "CPU",
    # Lightning's device check (XLAAccelerator.auto_device_count) asks torch-xla for the TPU
    # type, which it would look up on the cloud metadata server; read it from here instead.
    # With no TPU chip on the PCI bus the count stays 0, as it should.
    "TPU_SKIP_MDS_QUERY": "1",
    "TPU_ACCELERATOR_TYPE": "v4-8",
    # Compile graphs with fewer LLVM passes: the tests count graphs, they do not time them.
    "XLA_FLAGS": "--xla_backend_optimization_level=0",
}


class OneDeviceXLAAccelerator(XLAAccelerator):
    """Lightning's XLA accelerator, reporting one device where no TPU chip is attached."""

    @staticmethod
    def auto_device_count() -> int:
        return 1

    @staticmethod
    def is_available() -> bool:
        return True


@contextmanager
def xla_cpu_environment() -> Iterator[None]:
    """Set :data:`XLA_ENV` (keeping values already set) for the duration of the block."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in XLA_ENV.items():
            if key not in os.environ:
                patch.setenv(key, value)
        yield


@dataclass(frozen=True)
class GraphCounters:
    """torch-xla debug metrics: graphs compiled, graphs executed, device->host transfers."""

    compiled: int
    executed: int
    to_host: int

    @classmethod
    def now(cls) -> GraphCounters:
        """The counters once every launched graph has finished (executions are asynchronous;
        waiting reads nothing back from the device)."""
        import torch_xla.core.xla_model as xm
        import torch_xla.debug.metrics as met

        xm.wait_device_ops()

        def samples(name: str) -> int:
            data = met.metric_data(name)
            return 0 if data is None else int(data[0])

        return cls(
            samples("CompileTime"), samples("ExecuteTime"), samples("TransferFromDeviceTime")
        )
