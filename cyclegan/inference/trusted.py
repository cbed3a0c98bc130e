"""The network classes a checkpoint or weights file may name: the allow-list of loading.

A checkpoint is data, never code. The generator config stored in it
(``hyper_parameters["generator"]``) names a class by its dotted path and gives its arguments;
:func:`build_trusted` builds it only if that path is one of :data:`TRUSTED_NETWORKS`, and only
from plain numbers, strings, booleans and ``None``. Nothing else in the file is resolved,
imported or called.

To let checkpoints build another network class, add the class to :data:`TRUSTED_NETWORKS`
(its constructor must take plain values only, and it must declare the generator contract,
:class:`cyclegan.networks.Generator`).

Example:
    >>> build_trusted({"_target_": "cyclegan.networks.UNetGenerator", "_partial_": True,
    ...                "ngf": 4, "num_downs": 5}).num_downs
    5
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from torch import nn

from cyclegan.networks import ResnetGenerator, TransformNet, UNetGenerator

__all__ = ["TRUSTED_NETWORKS", "UntrustedConfigError", "build_trusted", "trusted_names"]

TRUSTED_NETWORKS: tuple[type[nn.Module], ...] = (UNetGenerator, ResnetGenerator, TransformNet)
"""Every class a loaded file may build. Extend this tuple to trust another network class."""

_SCALARS = (bool, int, float, str, type(None))
_MARKERS = frozenset({"_target_", "_partial_"})


class UntrustedConfigError(ValueError):
    """A stored network config that names or holds something the allow-list does not trust.

    Attributes:
        key: The config key refused (``_target_`` or an argument name).
    """

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        super().__init__(f"key {key!r} refused: {reason}")


def trusted_names() -> dict[str, type[nn.Module]]:
    """Dotted path -> class, for every class of :data:`TRUSTED_NETWORKS`.

    A class is known by its defining module (``cyclegan.networks.unet.UNetGenerator``, as
    training writes it) and by its package when the package exports it
    (``cyclegan.networks.UNetGenerator``, as ``conf/generator/*.yaml`` names it).
    """
    names: dict[str, type[nn.Module]] = {}
    for cls in TRUSTED_NETWORKS:
        names[f"{cls.__module__}.{cls.__qualname__}"] = cls
        package = cls.__module__.rpartition(".")[0]
        if package and getattr(importlib.import_module(package), cls.__name__, None) is cls:
            names[f"{package}.{cls.__name__}"] = cls
    return names


def build_trusted(config: Mapping[str, Any]) -> nn.Module:
    """Build the network a stored config describes, if the allow-list trusts it.

    Args:
        config: ``{"_target_": "<dotted class path>", "_partial_": true, <argument>: <value>}``
            with plain values (``bool``, ``int``, ``float``, ``str``, ``None``).

    Returns:
        The network, freshly initialised (its weights are loaded by the caller).

    Raises:
        UntrustedConfigError: If ``_target_`` is not a class of :data:`TRUSTED_NETWORKS`, or an
            argument is not a plain value (a nested config, a list, a ``_target_`` inside), or a
            key is another Hydra instruction (``_args_``, ``_recursive_``, ...). The message
            names the key.
        TypeError, ValueError: If the class rejects the arguments.
    """
    target = config.get("_target_")
    trusted = trusted_names()
    if not isinstance(target, str) or target not in trusted:
        allowed = ", ".join(sorted(trusted))
        raise UntrustedConfigError("_target_", f"{target!r} is not a trusted network ({allowed})")
    kwargs: dict[str, Any] = {}
    for key, value in config.items():
        if not isinstance(key, str):
            raise UntrustedConfigError(repr(key), "argument names must be strings")
        if key in _MARKERS:
            continue
        if key.startswith("_") and key.endswith("_"):
            raise UntrustedConfigError(key, "Hydra instructions other than _target_ are refused")
        if not isinstance(value, _SCALARS):
            kind = type(value).__name__
            raise UntrustedConfigError(
                key, f"arguments must be plain numbers, strings or booleans, not {kind}"
            )
        kwargs[key] = value
    return trusted[target](**kwargs)
