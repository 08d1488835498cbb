"""Optional TensorBoard logging of a run (``--tensorboard``).

A run always writes ``metrics.jsonl``; with ``cfg.tensorboard`` it also writes the same rows, and
each sample grid, as TensorBoard events in ``RUN/tensorboard/``, so that ``tensorboard --logdir
RUN`` shows the losses and the bound ``L_I`` per code live, the selection's candidates
(``RUN/candidates/<i>/tensorboard``) beside the run they led to.

Resume stays exact in TensorBoard too: a resumed writer starts with a purge marker at the
checkpoint's step, so the rows an interrupted run had logged past its last checkpoint (which
the resumed run logs again) are dropped when TensorBoard reads the folder, as
``metrics.jsonl`` drops them.

The ``tensorboard`` package is an optional extra (``pip install 'infogan[tensorboard]'``):
:func:`require` turns its absence into a one-line error before a run starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from infogan.errors import SpecError

__all__ = ["TensorBoardLog", "check_dir", "require", "tag", "tensorboard_dir"]

#: Row keys that are not a scalar of the step (the step itself; the clock).
_SKIP = frozenset({"step", "wall_s"})
#: Row keys grouped under a TensorBoard section of their own; the rest keep their own names
#: (``mi/c1`` is already in the section ``mi``).
_TAGS = {
    "d_loss": "loss/d",
    "g_loss": "loss/g",
    "cr_loss": "loss/cr",
    "cr_acc": "cr/accuracy",
    "steps_per_s": "speed/steps_per_s",
}


def tensorboard_dir(run_dir: str | Path) -> Path:
    """Where a run's TensorBoard events go."""
    return Path(run_dir) / "tensorboard"


def tag(key: str) -> str:
    """The TensorBoard tag of a ``metrics.jsonl`` key."""
    return _TAGS.get(key, key)


def require() -> None:
    """Raise a one-line error when TensorBoard logging was asked for but cannot be written."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise SpecError(
            "tensorboard: logging needs the tensorboard package "
            "(pip install 'infogan[tensorboard]'), or train without it (--no-tensorboard)"
        ) from None


def check_dir(run_dir: str | Path) -> None:
    """Raise a one-line error when ``run_dir``'s events folder cannot be made (a file is in
    the way): called before a run writes anything, so no half-made run is left behind."""
    path = tensorboard_dir(run_dir)
    if path.exists() and not path.is_dir():
        raise SpecError(f"tensorboard: {path} is a file, where the events would go; move it away")


class TensorBoardLog:
    """The TensorBoard events of one run directory, written from the training loop."""

    def __init__(self, run_dir: str | Path, start_step: int) -> None:
        """``start_step``: the step the run starts or resumes at. Events that a previous
        process wrote for later steps (past its last checkpoint, or of a run that diverged
        before its first one and left its ``--out`` free) are marked for TensorBoard to drop;
        those up to ``start_step`` describe the state the run goes on from, and stay."""
        require()
        from torch.utils.tensorboard import SummaryWriter

        # TensorBoard drops every earlier event at a step >= purge_step when it reads the
        # folder (a SessionLog START marker), so the view is the one metrics.jsonl keeps.
        self._writer = SummaryWriter(str(tensorboard_dir(run_dir)), purge_step=start_step + 1)

    def row(self, row: dict[str, Any]) -> None:
        """One ``metrics.jsonl`` row: every number in it but the step and the clock."""
        step = int(row["step"])
        for key, value in row.items():
            if key not in _SKIP and isinstance(value, int | float):
                self._writer.add_scalar(tag(key), float(value), step)
        self._writer.flush()  # a row every log_every steps: cheap, and live in TensorBoard

    def image(self, name: str, grid: np.ndarray, step: int) -> None:
        """A uint8 image, ``[H, W]`` (grey) or ``[H, W, 3]``, such as a sample grid."""
        fmt = "HW" if grid.ndim == 2 else "HWC"
        self._writer.add_image(name, grid, step, dataformats=fmt)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
