"""Training progress for a person watching: a live bar on a terminal, plain lines in a log file.

tqdm redraws its bar with carriage returns some ten times a second; written to a file (``nohup``,
a batch job's log, ``2> train.log``) that is one line of megabytes that ``tail`` cannot show. So
when standard error is not a terminal (and not a notebook, which tqdm draws as a widget), a run
prints instead one ordinary line every :data:`PLAIN_EVERY_S` seconds and one at the end.
"""

from __future__ import annotations

import sys
import time
from typing import Any

PLAIN_EVERY_S = 60.0
"""Seconds between the plain progress lines written when standard error is not a terminal."""


def _on_terminal() -> bool:
    """Whether standard error is a terminal (or a notebook), where a live bar is readable."""
    try:
        if sys.stderr.isatty():
            return True
    except (AttributeError, ValueError):  # replaced or closed streams
        return False
    from tqdm.auto import tqdm

    # tqdm.auto picks its notebook class inside Jupyter, where stderr is not a TTY.
    return "notebook" in tqdm.__module__


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


class Progress:
    """Progress of a run from ``initial`` to ``total`` steps.

    ``enabled=False`` shows nothing. Call :meth:`update` once per step, :meth:`note` with the
    latest losses whenever they are logged, and :meth:`close` at the end."""

    def __init__(self, total: int, initial: int, enabled: bool, desc: str = "train") -> None:
        self.total, self.step, self.desc = total, initial, desc
        self.text = ""
        self._bar: Any = None
        self._plain = enabled and not _on_terminal()
        if enabled and not self._plain:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total, initial=initial, unit="step", dynamic_ncols=True, desc=desc
            )
        self._t0 = self._last = time.monotonic()
        self._step0 = self._shown = initial

    def update(self, n: int = 1) -> None:
        """Count ``n`` finished steps."""
        self.step += n
        if self._bar is not None:
            self._bar.update(n)

    def note(self, text: str) -> None:
        """The latest losses, shown beside the bar or on the next plain line."""
        self.text = text
        if self._bar is not None:
            self._bar.set_postfix_str(text)
        elif self._plain and time.monotonic() - self._last >= PLAIN_EVERY_S:
            self._line()

    def _line(self) -> None:
        now = time.monotonic()
        done = self.step - self._step0
        rate = done / max(now - self._t0, 1e-9)
        left = f", {_clock((self.total - self.step) / rate)} left" if rate > 0 else ""
        pct = 100.0 * self.step / max(self.total, 1)
        print(
            f"{self.desc}: step {self.step}/{self.total} ({pct:.0f}%), {rate:.1f} steps/s, "
            f"{_clock(now - self._t0)} elapsed{left}  {self.text}".rstrip(),
            file=sys.stderr,
            flush=True,
        )
        self._last, self._shown = now, self.step

    def close(self) -> None:
        """End the bar, or write the last plain line (unless no step ran since the previous)."""
        if self._bar is not None:
            self._bar.close()
        elif self._plain and self.step > self._shown:
            self._line()
