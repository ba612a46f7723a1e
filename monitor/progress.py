"""Progress of long commands: a rich bar on a terminal, periodic one-line log records otherwise.

A use-case reports progress through a plain callback ``(done, total, label)`` and knows nothing of
terminals. :func:`progress_reporter` turns it into

* on a terminal: a transient rich bar on the standard-error console, with the log records of the
  same console printed *above* the bar (rich's live display redirects them), so log lines never
  drown it;
* with no terminal (cron, systemd, a pipe): one INFO line ``"<task>: <label> <done>/<total> (<p> %),
  <elapsed> s"`` when a stage starts (first word of the label), at each further 10 % and at least
  every 30 s.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console

__all__ = ["ProgressCallback", "progress_reporter", "LogProgress", "LOG_EVERY_FRACTION", "LOG_EVERY_S"]

LOG_EVERY_FRACTION = 0.10  # without a terminal: a line at each further 10 % ...
LOG_EVERY_S = 30.0  # ... and at least every 30 s

log = logging.getLogger("monitor.progress")


class ProgressCallback(Protocol):
    """``(done, total, label)``: ``done`` of ``total`` units, ``label`` names the stage or the unit."""

    def __call__(self, done: int, total: int, label: str = "") -> None: ...


class LogProgress:
    """The no-terminal reporter: one log line per 10 % step or per 30 s, whichever comes first.

    ``clock`` is injectable for tests (seconds, monotonic).
    """

    def __init__(self, task: str, logger: logging.Logger = log,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.task = task
        self._log = logger
        self._clock = clock
        self._t0 = clock()
        self._last_t = self._t0
        self._last_step = -1
        self._last_label = ""
        self.lines = 0

    def __call__(self, done: int, total: int, label: str = "") -> None:
        now = self._clock()
        fraction = done / total if total > 0 else 0.0
        step = math.floor(fraction / LOG_EVERY_FRACTION + 1e-9)  # 10 % steps reached
        new_stage = label.split(" ", 1)[0] != self._last_label.split(" ", 1)[0]
        due = new_stage or step > self._last_step or now - self._last_t >= LOG_EVERY_S
        self._last_label = label
        if not due:
            return
        self._last_t = now
        self._last_step = step
        self.lines += 1
        pct = f" ({100 * fraction:.0f} %)" if total > 0 else ""
        self._log.info("%s: %s %d/%d%s, %.0f s", self.task, label or "progress", done, total, pct, now - self._t0)


@contextmanager
def progress_reporter(task: str, console: Console | None = None) -> Iterator[ProgressCallback]:
    """A progress callback for ``task`` (e.g. ``"process"``): a rich bar when ``console`` is a
    terminal, else :class:`LogProgress`. The bar is removed when the block ends."""
    if console is None or not console.is_terminal:
        yield LogProgress(task)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn(f"{task}"), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
                  redirect_stderr=True, redirect_stdout=False) as bar:
        bar_task = bar.add_task("", total=None)

        def update(done: int, total: int, label: str = "") -> None:
            bar.update(bar_task, completed=done, total=total or None, description=label)

        yield update
