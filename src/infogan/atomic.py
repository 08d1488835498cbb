"""Atomic file writes: readers (and a process killed mid-write) see the old file or the new one.

The data goes to a temporary file in the target's directory (``os.replace`` is only atomic within
one filesystem), is flushed and fsynced, then renamed over the target; the directory is fsynced so
the rename itself survives a power cut. Used for checkpoints, reports, metrics and figures.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "atomic_write_bytes", "unwritable"]

# mkstemp creates files with mode 0600; give outputs the usual 0666 & ~umask like open() does.
# Read the umask once at import: setting it is process-wide, so doing it per write would race.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - some filesystems refuse to open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def unwritable(path: str | os.PathLike[str]) -> str | None:
    """Why an atomic write to ``path`` would fail or do harm, or None: for checking a user's
    output path before the work that makes its contents (a benchmark, an export). The target
    exists and is not a regular file (the rename replaced ``/dev/null``, a FIFO or a socket
    with a regular file), or its folder cannot be written (read-only, no permission)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        return f"{path} exists and is not a regular file (a device, pipe or socket)"
    folder = path.resolve().parent if path.is_symlink() else path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # the folders atomic_write would create
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        return f"folder {existing} is not writable"
    return None


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(f)`` on a temp file beside ``path``, fsync it, rename it to ``path``.

    A symbolic link is written through (its target is replaced, the link kept, as ``open``
    would); a target that is not a regular file (a device, FIFO or socket, which the rename
    would replace) raises an OSError naming it."""
    path = Path(path)
    if path.is_symlink():
        path = path.resolve()
    if path.exists() and not path.is_file() and not path.is_dir():
        raise OSError(errno.EINVAL, "exists and is not a regular file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # The name's first 100 characters: the temp name adds ~14, and a valid name of up to
        # 255 must not fail as "File name too long" only because of them.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _naming(e, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # POSIX only
                os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise (_naming(e, path) if e.filename in (None, tmp) else e) from None
    except RuntimeError as e:
        Path(tmp).unlink(missing_ok=True)
        # torch.save reports a full disk as a RuntimeError ("unexpected pos ...") raised while
        # handling the OSError (ENOSPC): the OSError is what happened, and is one line to a user.
        cause = _os_error_behind(e)
        if cause is None:
            raise
        raise (_naming(cause, path) if cause.filename in (None, tmp) else cause) from None
    except BaseException:
        # Also on KeyboardInterrupt: leave no .tmp litter beside the target.
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _os_error_behind(e: BaseException) -> OSError | None:
    """The OSError that ``e`` was raised from or while handling, if any (a few links deep)."""
    seen = e.__cause__ or e.__context__
    for _ in range(5):
        if seen is None or isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _naming(e: OSError, path: Path) -> OSError:
    """The same error, naming the file the user asked for rather than our temporary one."""
    return type(e)(e.errno, e.strerror or str(e), str(path))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda f: f.write(data))
