"""One writer per run directory: an advisory lock held while a process trains in it.

Two processes training in one run directory (a ``--resume`` started while the run is still going,
the same ``sweep`` launched twice) would interleave their checkpoints and metrics and leave a run
that is neither. The lock is ``flock`` on ``RUN/.lock``: the kernel drops it when its process
ends however it ends, so a killed run never leaves a stale lock. It is re-entrant within a
process (the selection holds the run's lock while the winner continues in the same directory).
Where ``fcntl`` is missing (Windows) runs are not locked.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from infogan.errors import SpecError

__all__ = ["lock_holder", "note_if_training", "refuse_if_held", "report_lock", "run_lock"]

#: Locks this process holds: resolved run directory -> [file descriptor, depth].
_HELD: dict[Path, list[int]] = {}

#: Per run directory: the thread lock that orders this process's threads, and how deep the
#: holding thread is (its first entry takes the flock, its last exit drops it).
_REPORTING: dict[Path, tuple[threading.RLock, list[int]]] = {}
_REPORTING_GUARD = threading.Lock()


@contextlib.contextmanager
def report_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold ``run_dir``'s report lock inside the block, waiting for it if another process or
    thread has it: the writers of ``report.json`` and the figures and page drawn from it (the
    end of training, ``evaluate``) read, merge and write them one at a time. Two evaluations
    that wrote at once lost one of them, and an evaluation of an older step drew its figures
    over the finished run's. Held for seconds (the writing, not the scoring); re-entrant in a
    thread; the lock is ``flock`` on the directory itself, so no file is added to the run (a
    directory that cannot be opened for reading is written unlocked, as before)."""
    key = Path(run_dir).resolve()
    with _REPORTING_GUARD:
        rlock, depth = _REPORTING.setdefault(key, (threading.RLock(), [0]))
    with rlock:  # other threads of this process wait here; the holder re-enters
        if depth[0]:
            depth[0] += 1
            try:
                yield
            finally:
                depth[0] -= 1
            return
        try:
            import fcntl

            fd = os.open(key, os.O_RDONLY)
        except (ImportError, OSError):  # not on Linux/macOS, or an unreadable directory
            fd = -1
        try:
            if fd >= 0:
                fcntl.flock(fd, fcntl.LOCK_EX)
            depth[0] = 1
            try:
                yield
            finally:
                depth[0] = 0
        finally:
            if fd >= 0:
                os.close(fd)  # releases the lock


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock inside the block (the directory must exist); raise a one-line
    :class:`SpecError` at once if another process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux/macOS
        yield
        return
    key = Path(run_dir).resolve()
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    fd = os.open(key / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        raise _held_error(run_dir, int(holder) if holder.isdigit() else -1) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    _HELD[key] = [fd, 1]
    try:
        yield
    finally:
        _HELD[key][1] -= 1
        if _HELD[key][1] == 0:
            del _HELD[key]
            os.close(fd)  # releases the lock


def _held_error(run_dir: str | Path, pid: int) -> SpecError:
    return SpecError(
        f"train: {run_dir} is being trained by another process"
        + (f" (pid {pid})" if pid > 0 else "")
        + "; let it finish or stop it (Ctrl-C keeps a checkpoint), then --resume"
    )


def refuse_if_held(run_dir: str | Path) -> None:
    """Raise :func:`run_lock`'s error now if another process trains in ``run_dir``: a resume
    checks this before reading the run, which may not have its first checkpoint yet."""
    pid = lock_holder(run_dir)
    if pid is not None and pid != os.getpid():
        raise _held_error(run_dir, pid)


def lock_holder(run_dir: str | Path) -> int | None:
    """The pid of the process training in ``run_dir`` now (this one included), or None.

    Probes the lock without taking it for longer than the probe: a shared, non-blocking
    ``flock`` that fails while a trainer holds its exclusive one."""
    key = Path(run_dir).resolve()
    if key in _HELD:
        return os.getpid()
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux/macOS
        return None
    try:
        fd = os.open(key / ".lock", os.O_RDONLY)
    except OSError:  # never trained here (or unreadable): no trainer to report
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def note_if_training(path: str | Path, step: int, uses: str = "this uses") -> None:
    """Log that the run of ``path`` (a run directory or one of its checkpoint files) is being
    trained by another process, and which step the caller loaded: a command on a run in
    training reads its newest checkpoint, which the next one replaces."""
    import logging

    from infogan.labels import run_dir_of

    run = run_dir_of(path)
    pid = lock_holder(run) if run is not None else None  # None too where no run ever trained
    if pid is not None and pid != os.getpid():
        logging.getLogger("infogan").warning(
            "note: %s is training (pid %d); %s its newest checkpoint, step %d", run, pid, uses, step
        )
