"""Checkpoints: atomic save, safe load, finding the newest good one in a run directory.

A checkpoint is one ``torch.save`` file holding only tensors, numbers, strings, lists and dicts,
so it loads with ``torch.load(weights_only=True)``: opening a checkpoint never executes code. It is
written to a temporary file in the same directory, flushed to disk, then renamed over the final
name (:mod:`infogan.atomic`), so a process killed at any instant leaves either the old file or
the new one, never half of one.
"""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from infogan.atomic import atomic_write
from infogan.errors import CheckpointError, brief

__all__ = [
    "FORMAT",
    "VERSION",
    "save_checkpoint",
    "is_archive",
    "load_checkpoint",
    "list_checkpoints",
    "latest_checkpoint",
    "prune_checkpoints",
]

FORMAT = "infogan-checkpoint"
VERSION = 1
_NAME = re.compile(r"^step_(\d{7,})\.pt$")
log = logging.getLogger("infogan")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Save a training state dict atomically, stamped with the format name and version."""
    payload = {"format": FORMAT, "version": VERSION, **state}
    atomic_write(path, lambda f: torch.save(payload, f))


def is_archive(path: str | Path) -> bool:
    """Whether ``path`` is a whole zip archive, as ``torch.save`` writes: the archive's
    directory sits at the file's end, the first thing a cut-short copy loses. Cheap: nothing
    is unpickled."""
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def _exported_kind(path: Path) -> tuple[str, str] | None:
    """What `infogan export` wrote, when a zip archive is one of its program files: a TorchScript
    module (serialized code under ``<name>/code/``) or a torch.export program (``archive_format``,
    or the ``serialized_exported_program.json`` of older torch), neither of which a
    ``torch.save`` checkpoint ever holds. ``(what it is, how to load it)``; nothing is unpickled."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return None
    if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
        return "a TorchScript file (what `infogan export` writes as .pt)", "torch.jit.load"
    if any(
        n.endswith("/archive_format") or n.endswith("serialized_exported_program.json")
        for n in names
    ):
        return "a torch.export program (what `infogan export` writes as .pt2)", "torch.export.load"
    return None


def _failed_crc(path: Path) -> str | None:
    """The first member of the archive whose bytes fail its CRC-32, if any. torch.load does not
    check them: a checkpoint with flipped bytes loaded, and scored an MI bound of -4e28 and
    -inf without a word. Reads the whole file once (~0.1 s per 100 MB)."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as e:
        return brief(str(e)) or type(e).__name__
    return None if bad is None else f"its part {bad} fails its checksum"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint without executing code; :class:`CheckpointError` if it is not ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint: {path} does not exist")
    if not is_archive(path):
        # torch.save writes a zip archive; its own error for anything else suggests unpickling
        # with weights_only=False, advice that must not reach a user about an unknown file.
        raise CheckpointError(
            f"checkpoint: {path} is not a checkpoint file (not a PyTorch archive: another "
            "format, or cut short)"
        )
    exported = _exported_kind(path)
    if exported is not None:
        kind, loader = exported
        raise CheckpointError(
            f"checkpoint: {path} is {kind}, not a training checkpoint; load it with {loader}, "
            "or give the run folder"
        )
    damaged = _failed_crc(path)
    if damaged is not None:
        raise CheckpointError(
            f"checkpoint: {path} is damaged ({damaged}: bytes changed on disk or in a copy)"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt zip, pickle that needs code, truncated file...
        # torch's weights-only errors (worded differently per version and per object) advise
        # loading with weights_only=False: that advice must not reach a user about an unknown
        # file, so they all get one reason of ours.
        msg = str(e)
        if "weights_only" in msg or "Weights only" in msg:
            reason = (
                "it holds Python objects that only load by running code; infogan loads "
                "tensors and plain data only"
            )
        else:
            reason = brief(msg)
        raise CheckpointError(f"checkpoint: {path} cannot be read safely ({reason})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint: {path} is not an infogan checkpoint")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(
            f"checkpoint: {path} has format version {state.get('version')}, this infogan reads "
            f"up to {VERSION}; upgrade infogan"
        )
    return state


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:07d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint file in ``run_dir/checkpoints``, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def newest_step(run_dir: str | Path) -> int | None:
    """The step of the newest checkpoint file in ``run_dir/checkpoints`` (None: none yet, or
    no such folder)."""
    found = list_checkpoints(run_dir)
    return found[-1][0] if found else None


def latest_checkpoint(
    run_dir: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[Path, dict[str, Any]]:
    """Newest checkpoint of a run that loads cleanly: ``(path, state)``.

    A newest file that fails to load (a disk that lied about fsync, a file copied half-way) is
    skipped in favour of the one before it, so a user never loses more than one interval of work.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run: {run_dir} is not a directory")
    errors = []
    for _, path in reversed(list_checkpoints(run_dir)):
        try:
            state = load_checkpoint(path, map_location)
        except CheckpointError as e:
            errors.append(str(e))
            continue
        if errors:
            # Said aloud: whatever is written next (a report, a resumed run's checkpoints) is
            # of this older step, and the user may still hold a good copy of the newer file.
            log.warning(
                "warning: %d newer checkpoint(s) of %s do not load (%s); using %s",
                len(errors),
                run_dir,
                errors[0],
                path.name,
            )
        return path, state
    if errors:
        raise CheckpointError(f"run: no readable checkpoint in {run_dir} ({errors[0]})")
    seeds = sorted(
        (p.parent.name for p in run_dir.glob("seed*/config.json")),
        key=lambda name: (len(name), name),  # seed2 before seed10
    )
    if (run_dir / "sweep.json").is_file() or seeds:
        # A sweep's folder holds runs, one per seed, rather than being one.
        one = seeds[0] if seeds else "seed0"
        raise CheckpointError(
            f"run: {run_dir} is a sweep's folder, not a run; give one of its seeds' folders "
            f"({run_dir / one})"
        )
    if (run_dir / "candidates").is_dir():
        raise CheckpointError(
            f"run: {run_dir} has no checkpoints yet: its candidates were not yet chosen among "
            f"(infogan info {run_dir} shows how far they are)"
        )
    if (run_dir / "checkpoints").is_dir() and (run_dir / "config.json").is_file():
        raise CheckpointError(
            f"run: {run_dir} has no checkpoints yet (stopped before its first one; "
            f"infogan train --resume {run_dir} starts it again)"
        )
    if (run_dir / "checkpoints").is_dir():
        raise CheckpointError(
            f"run: {run_dir}/checkpoints holds no checkpoint files (step_NNNNNNN.pt); is this "
            "an infogan run?"
        )
    raise CheckpointError(f"run: {run_dir} has no checkpoints (expected {run_dir}/checkpoints)")


def prune_checkpoints(run_dir: str | Path, keep: int, upto: int | None = None) -> None:
    """Delete all but the ``keep`` newest checkpoints (and stray temp files of killed writers).

    ``upto``: the step just saved; files named past it are not this run's past (a file copied
    in, a junk ``step_0000300.pt``): they are neither deleted nor counted, so they cannot push
    the run's own newest checkpoints out."""
    found = [(s, p) for s, p in list_checkpoints(run_dir) if upto is None or s <= upto]
    for _, path in found[: max(0, len(found) - keep)]:
        path.unlink(missing_ok=True)
    folder = Path(run_dir) / "checkpoints"
    if folder.is_dir():
        for p in folder.glob(".step_*.tmp"):
            p.unlink(missing_ok=True)
