"""infogan: InfoGAN (Chen et al. 2016) in PyTorch - train, measure and use interpretable codes.

The public API::

    from infogan import TrainConfig, ModelConfig, LatentSpec, train, load_run, preset
    from infogan import register_arch  # your own networks

The names are imported on first use (PEP 562), so that ``import infogan`` and the ``infogan``
command's ``--help`` do not wait seconds for torch, and a Ctrl-C while it loads is the
command's clean "interrupted" instead of a traceback from inside an import.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import TYPE_CHECKING, Any

from infogan.errors import CheckpointError, DataError, InfoGANError, SpecError, TrainingError

if TYPE_CHECKING:
    from infogan.archs import register_arch
    from infogan.config import ModelConfig, TrainConfig, preset
    from infogan.latent import LatentSpec
    from infogan.model import InfoGAN, load_run
    from infogan.train import train

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_LAZY = {
    "ModelConfig": "infogan.config",
    "TrainConfig": "infogan.config",
    "preset": "infogan.config",
    "LatentSpec": "infogan.latent",
    "InfoGAN": "infogan.model",
    "load_run": "infogan.model",
    "register_arch": "infogan.archs",
    "train": "infogan.train",
}

__all__ = [
    "CheckpointError",
    "DataError",
    "InfoGAN",
    "InfoGANError",
    "LatentSpec",
    "ModelConfig",
    "SpecError",
    "TrainingError",
    "TrainConfig",
    "load_run",
    "preset",
    "register_arch",
    "train",
]


class _Package(types.ModuleType):
    """This package's module type: importing the submodule ``infogan.train`` binds the package
    attribute ``train`` to the module, which would hide the function :func:`train` from a
    later ``from infogan import train``; the function is bound instead, as an eager import of
    it here always did."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if not TYPE_CHECKING:
    # Hidden from type checkers: a module-level __getattr__ makes them accept any name from
    # this package (a typo such as `from infogan import load_rnu` typed Any, an ImportError at
    # run time). They see the imports under TYPE_CHECKING above instead.

    def __getattr__(name: str) -> Any:
        if name in _LAZY:
            value = getattr(importlib.import_module(_LAZY[name]), name)
            globals()[name] = value  # later lookups skip this function
            return value
        if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
            # infogan.data, infogan.config, ...: loaded on first use, as the eager imports
            # here once made them available after a bare `import infogan`.
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module 'infogan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
