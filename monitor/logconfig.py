"""Logging configuration, done once by the command line (rich on a terminal, plain otherwise)."""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["configure_logging", "stderr_console", "CurrentStderrHandler"]

_STDERR_CONSOLE = None


class CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A plain handler on whatever ``sys.stderr`` is when a record is emitted (as the standard
    library's own last-resort handler does), not on the stream that was current when logging was
    configured: a standard error replaced and closed later (a redirected child process, a test
    runner's capture) never leaves the root logger writing to a closed file, which made every later
    record of a library thread (the SMTP server's ``mail.log``) print a "Logging error" traceback."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        """The stream is always the current ``sys.stderr``; setting it does nothing."""


def stderr_console() -> Any:
    """The one rich console on standard error: the command line's error messages, the rich log
    handler and the progress bars share it, so that log records are printed above a live bar
    instead of through it."""
    global _STDERR_CONSOLE
    if _STDERR_CONSOLE is None:
        from rich.console import Console

        _STDERR_CONSOLE = Console(stderr=True, soft_wrap=not sys.stderr.isatty())
    return _STDERR_CONSOLE


def configure_logging(level: str = "INFO", rich_console: bool | None = None, tag: str = "") -> None:
    """Log to stderr (rich on a terminal); ``tag`` (e.g. ``job ingest``) prefixes every line of a
    job's child process so that the daemon's log tells the jobs apart."""
    interactive = sys.stderr.isatty() if rich_console is None else rich_console
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    handler: logging.Handler
    if interactive:
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False, console=stderr_console())
        handler.setFormatter(logging.Formatter("%(message)s", datefmt="%H:%M:%S"))
    else:
        handler = CurrentStderrHandler()
        prefix = f"[{tag}] " if tag else ""
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("matplotlib", "fontTools", "weasyprint", "PIL", "alembic.runtime.migration",
                  "alembic.runtime.plugins", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger(noisy).level))
