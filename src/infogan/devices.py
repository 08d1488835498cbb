"""Device names (``cpu``, ``cuda``, ``cuda:N``, ``auto``) checked against what this machine has."""

from __future__ import annotations

import torch

from infogan.errors import SpecError

__all__ = ["resolve_device"]


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` -> cuda when available, else cpu; anything else is checked against what exists."""
    if not isinstance(name, str | torch.device):
        raise SpecError(f"device: expected a name such as cpu, cuda or auto, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise SpecError(f"device: unknown {name!r}; use cpu, cuda, cuda:N or auto") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SpecError("device: cuda was asked for but this machine has no usable CUDA GPU")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        # Else "invalid device ordinal" surfaces later, from deep inside the first CUDA call.
        n = torch.cuda.device_count()
        raise SpecError(f"device: {name} does not exist; this machine has cuda:0..cuda:{n - 1}")
    if dev.type not in ("cpu", "cuda"):
        raise SpecError(f"device: {name!r} is not supported; use cpu, cuda or auto")
    return dev
