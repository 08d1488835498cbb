"""Exceptions the library raises for bad user input.

Every error a user can cause (a wrong path, a corrupt file, an impossible code spec, a checkpoint
from elsewhere) is raised as a subclass of :class:`InfoGANError` with a one-line message that names
the problem. The CLI prints such messages as ``error: ...`` and exits with status 2; anything else is
a bug and keeps its traceback.
"""

import os
from pathlib import Path


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


def brief(e: BaseException | str, limit: int = 200) -> str:
    """One line of at most ``limit`` characters saying what ``e`` says, for a message that
    quotes a library's error: its lines joined (torch's state-dict errors put the reason on the
    second line, after a header that says nothing), and cut at a word with "..." if too long."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("Error(s) in loading state_dict")]
    text = " ".join(lines) or type(e).__name__
    if len(text) <= limit:
        return text
    return text[: limit - 3].rsplit(" ", 1)[0] + "..."


def whole_number(name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` as an int if it is a whole number (Python's or numpy's, not a bool, float or
    string) in ``low..high``, else a :class:`SpecError` naming ``name``: the public API's
    integer arguments, checked where they arrive (a float, a string or None would otherwise
    fail deep inside torch with a message about something else, or be cut quietly: 62.7 -> 62).
    """
    import operator

    try:
        if isinstance(value, bool):
            raise TypeError
        # int and numpy integers; a float or a string raises the TypeError this checks for
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise SpecError(
            f"{name}: expected a whole number, got {type(value).__name__} {value!r}"
        ) from None
    if number < low or (high is not None and number > high):
        span = f"{low}..{high}" if high is not None else f"a whole number >= {low}"
        raise SpecError(f"{name}: expected {span}, got {number}")
    return number


def as_path(value: object, name: str) -> Path:
    """``value`` as a :class:`~pathlib.Path` if it is a non-empty ``str`` or path-like, else a
    :class:`SpecError` naming ``name``: the public API's path arguments, where None or a number
    failed in a raw ``TypeError`` from ``os.fspath``."""
    if isinstance(value, str | os.PathLike) and os.fspath(value) != "":
        return Path(value)
    raise SpecError(f"{name}: expected a path, got {type(value).__name__} {value!r}")
