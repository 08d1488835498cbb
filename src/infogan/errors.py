"""Exceptions the library raises for bad user input.

Every error a user can cause (a wrong path, a corrupt file, an impossible code spec, a checkpoint
from elsewhere) is raised as a subclass of :class:`InfoGANError` with a one-line message that names
the problem. The CLI prints such messages as ``error: ...`` and exits with status 2; anything else is
a bug and keeps its traceback.
"""


class InfoGANError(Exception):
    """Base class of all user-facing errors."""


class SpecError(InfoGANError, ValueError):
    """An impossible latent-code specification or configuration value."""


class DataError(InfoGANError, ValueError):
    """A dataset that is missing, empty, truncated, corrupt or of the wrong shape."""


class CheckpointError(InfoGANError, ValueError):
    """A checkpoint or run directory that is missing, corrupt or not from this library."""


class TrainingError(InfoGANError, RuntimeError):
    """Training cannot go on (e.g. the losses became NaN); finished checkpoints are kept."""
