"""Speed for the hardware at hand, in one opt-in place.

- :mod:`~cyclegan.accel.hardware`: what the CPU or GPU can do and the precision that follows.
- :mod:`~cyclegan.accel.plan`: which speed-ups are measured faster on that hardware
  (:func:`plan_for`) and the one function that applies them to plain ``nn`` networks
  (:func:`speed_up`), called where training and inference start.
- :mod:`~cyclegan.accel.layers`, :mod:`~cyclegan.accel.optim`,
  :mod:`~cyclegan.accel.autocast`: the kernels themselves.

Nothing here changes what a network computes, only how; ``speed.enabled=false`` turns all of
it off (``benchmarks/train_step.py`` compares both).
"""

from cyclegan.accel.autocast import cached_autocast
from cyclegan.accel.hardware import (
    CPUInfo,
    PrecisionChoice,
    choose_precision,
    describe_hardware,
    detect_cpu,
    inference_precision,
    warn_if_slow_bf16,
)
from cyclegan.accel.plan import OFF, SpeedPlan, fast_optimizer, plan_for, speed_up

__all__ = [
    "OFF",
    "CPUInfo",
    "PrecisionChoice",
    "SpeedPlan",
    "cached_autocast",
    "choose_precision",
    "describe_hardware",
    "detect_cpu",
    "fast_optimizer",
    "inference_precision",
    "plan_for",
    "speed_up",
    "warn_if_slow_bf16",
]
