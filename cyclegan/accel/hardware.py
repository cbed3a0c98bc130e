"""What the hardware can do, and the precision that follows from it.

One decision, used by training (``accelerator=auto|cpu|gpu|tpu``), ``predict.py``,
``evaluate.py``, the web app and the benchmarks:

========================  ==========================  ========================================
hardware                  training precision          why
========================  ==========================  ========================================
TPU (XLA)                 ``bf16-true``               bf16 is the TPU's native matrix type
CUDA GPU with bf16        ``bf16-mixed``              tensor cores (Ampere and newer)
older CUDA GPU            ``16-mixed``                fp16 tensor cores, with a loss scaler
x86 CPU with AMX or       ``bf16-mixed``              oneDNN runs bf16 natively
AVX512_BF16
any other CPU             ``32-true``                 without native bf16, oneDNN emulates it:
                                                      a bf16 matrix product ran at < 1 GFLOP/s
                                                      on an AVX2 EPYC against 169 in float32
========================  ==========================  ========================================

ARM CPUs get float32: bf16 was not measured faster there. An oneDNN ISA cap in the environment
(``ONEDNN_MAX_CPU_ISA=AVX2``) counts: under it a bf16 CPU computes bf16 by emulation too.
Inference (``predict.py``) and evaluation use the same rule with their own names for the two
choices (``bf16`` / ``32``).

Example:
    >>> cpu = CPUInfo(model="AMD EPYC", arch="x86_64", flags=frozenset({"avx2", "fma"}))
    >>> choose_precision("cpu", cpu=cpu).precision
    '32-true'
    >>> cpu.capability
    'AVX2'
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = [
    "CPUInfo",
    "PrecisionChoice",
    "choose_precision",
    "detect_cpu",
    "describe_hardware",
    "inference_precision",
    "warn_if_slow_bf16",
]

log = logging.getLogger(__name__)

# /proc/cpuinfo flags, strongest first: what oneDNN can use for float32 and bf16 work.
_X86_LEVELS = (
    ("AMX", {"amx_bf16", "amx_tile"}),
    ("AVX512_BF16", {"avx512_bf16"}),
    ("AVX512", {"avx512f"}),
    ("AVX2", {"avx2"}),
)
NATIVE_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
"""x86 flags with which oneDNN computes bf16 natively (AMX tiles or AVX-512 BF16 dot products)."""

# oneDNN's ISA cap (``ONEDNN_MAX_CPU_ISA``, older name ``DNNL_MAX_CPU_ISA``) -> the capability
# levels of :data:`_X86_LEVELS` it still allows. Under ``ONEDNN_MAX_CPU_ISA=AVX2`` an AVX-512
# BF16 CPU computes bf16 by emulation, as an AVX2 CPU does, so it must get float32 too.
_ISA_CAPS = {
    "SSE41": (),
    "AVX": (),
    "AVX2": ("AVX2",),
    "AVX2_VNNI": ("AVX2",),
    "AVX2_VNNI_2": ("AVX2",),
    "AVX512_CORE": ("AVX2", "AVX512"),
    "AVX512_CORE_VNNI": ("AVX2", "AVX512"),
    "AVX512_CORE_BF16": ("AVX2", "AVX512", "AVX512_BF16"),
    "AVX512_CORE_FP16": ("AVX2", "AVX512", "AVX512_BF16"),
    "AVX10_1_512": ("AVX2", "AVX512", "AVX512_BF16"),
}
_ISA_CAP_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


@dataclass(frozen=True)
class CPUInfo:
    """The host CPU: model name, architecture and feature flags (from ``/proc/cpuinfo``)."""

    model: str
    arch: str
    flags: frozenset[str]
    isa_cap: str = ""
    """oneDNN's ISA cap from the environment (e.g. ``ONEDNN_MAX_CPU_ISA=AVX2``), if one applies."""

    @property
    def is_x86(self) -> bool:
        return self.arch in {"x86_64", "amd64", "AMD64", "i686", "i386"}

    @property
    def native_bf16(self) -> bool:
        """Whether bf16 matrix work runs natively (x86 AMX or AVX512_BF16).

        ARM cores with bf16 instructions report False: bf16 was not measured faster there.
        """
        return self.is_x86 and bool(self.flags & NATIVE_BF16_FLAGS)

    @property
    def capability(self) -> str:
        """The strongest of AMX, AVX512_BF16, AVX512, AVX2 this CPU has, else its arch."""
        if self.is_x86:
            for name, needles in _X86_LEVELS:
                if self.flags & needles:
                    return name
            return "x86 (no AVX2)"
        return self.arch

    def summary(self) -> str:
        """E.g. ``AMD EPYC (AVX2; no AVX512, AVX512_BF16, AMX)``."""
        if not self.is_x86:
            return f"{self.model} ({self.arch})"
        have = [name for name, needles in reversed(_X86_LEVELS) if self.flags & needles]
        missing = [name for name, needles in reversed(_X86_LEVELS) if not self.flags & needles]
        parts = ", ".join(have) or "no AVX2"
        if missing:
            parts += "; no " + ", ".join(missing)
        if self.isa_cap:
            parts += f"; oneDNN capped by {self.isa_cap}"
        return f"{self.model} ({parts})"

    def capped(self, environ: Mapping[str, str] = os.environ) -> CPUInfo:
        """This CPU as oneDNN sees it under an ISA cap in ``environ``: the flags of every level
        above the cap removed (no cap, an unknown value or a non-x86 CPU: unchanged, as oneDNN
        ignores values it does not know)."""
        for variable in _ISA_CAP_VARIABLES:
            value = environ.get(variable, "").strip()
            if value:
                break
        else:
            return self
        allowed = _ISA_CAPS.get(value.upper())
        if allowed is None or not self.is_x86:
            return self
        dropped = set().union(*(needles for name, needles in _X86_LEVELS if name not in allowed))
        return CPUInfo(self.model, self.arch, self.flags - dropped, f"{variable}={value}")


def _read_cpuinfo(path: Path = Path("/proc/cpuinfo")) -> tuple[str, frozenset[str]]:
    model, flags = "", frozenset[str]()
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return platform.processor() or "unknown CPU", flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if not model and key in {"model name", "hardware", "cpu model"}:
            model = value.strip()
        elif not flags and key in {"flags", "features"}:
            flags = frozenset(value.split())
        if model and flags:
            break
    return model or platform.processor() or "unknown CPU", flags


@functools.cache
def detect_cpu() -> CPUInfo:
    """The host CPU as oneDNN will use it (its ISA cap applied, :meth:`CPUInfo.capped`), read
    once per process."""
    model, flags = _read_cpuinfo()
    return CPUInfo(model=model, arch=platform.machine(), flags=flags).capped()


@dataclass(frozen=True)
class PrecisionChoice:
    """A Lightning precision string and the reason it was chosen."""

    precision: str
    reason: str


def _on_tpu(target: str) -> bool:
    from lightning.pytorch.accelerators import XLAAccelerator

    return target == "tpu" or (target == "auto" and XLAAccelerator.is_available())


def choose_precision(target: str = "auto", cpu: CPUInfo | None = None) -> PrecisionChoice:
    """Training precision for an accelerator choice (``auto``, ``cpu``, ``gpu`` or ``tpu``) on
    this machine (module docstring table). ``cpu`` replaces :func:`detect_cpu` (tests)."""
    if _on_tpu(target):
        return PrecisionChoice("bf16-true", "TPU: bf16 is its native matrix type")
    if target in {"auto", "gpu"} and torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return PrecisionChoice("bf16-mixed", "CUDA GPU with bf16 support")
        return PrecisionChoice("16-mixed", "CUDA GPU without bf16: fp16 with loss scaling")
    if target == "gpu":  # no GPU visible: Lightning will say so when the Trainer is built
        return PrecisionChoice("bf16-mixed", "accelerator=gpu: the default of recent GPUs")
    cpu = cpu or detect_cpu()
    if cpu.native_bf16:
        return PrecisionChoice("bf16-mixed", f"CPU with native bf16 ({cpu.capability})")
    return PrecisionChoice(
        "32-true",
        f"CPU without native bf16 ({cpu.capability}; needs AMX or AVX512_BF16): bf16 would be "
        "emulated, far slower than float32",
    )


def inference_precision(precision: str, device: torch.device, cpu: CPUInfo | None = None) -> str:
    """``predict.py`` / ``evaluate.py`` precision: ``auto`` -> ``bf16`` or ``32`` for ``device``
    by the training rule; an explicit choice is returned as given (and warned about if slow).
    ``fp32`` is accepted as a spelling of ``32``."""
    precision = "32" if precision == "fp32" else precision
    if precision != "auto":
        if precision == "bf16" and device.type == "cpu":
            warn_if_slow_bf16("precision=bf16", "precision=32", cpu)
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "32"
    return "bf16" if (cpu or detect_cpu()).native_bf16 else "32"


def warn_if_slow_bf16(asked: str, instead: str, cpu: CPUInfo | None = None) -> bool:
    """Warn (and return True) when bf16 is asked for on a CPU without native bf16."""
    cpu = cpu or detect_cpu()
    if cpu.native_bf16:
        return False
    warnings.warn(
        f"{asked} on a CPU without native bf16 ({cpu.summary()}): bf16 is emulated there and "
        f"runs tens to hundreds of times slower than float32. Use {instead} (or precision auto).",
        UserWarning,
        stacklevel=2,
    )
    return True


def describe_hardware(device: str | torch.device, precision: str, reason: str = "") -> str:
    """One log line: device, CPU model and capability, precision chosen and why."""
    device = torch.device(device) if isinstance(device, str) else device
    cpu = detect_cpu()
    where = f"{device.type}"
    if device.type == "cuda" and torch.cuda.is_available():
        where += f" ({torch.cuda.get_device_name(device)})"
    line = f"Hardware: {where}; CPU {cpu.summary()}; precision {precision}"
    return f"{line} ({reason})" if reason else line
