"""Logging configuration, done once by the command line (rich on a terminal, plain otherwise)."""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["configure_logging", "stderr_console"]

_STDERR_CONSOLE = None


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
        handler = logging.StreamHandler(sys.stderr)
        prefix = f"[{tag}] " if tag else ""
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("matplotlib", "fontTools", "weasyprint", "PIL", "alembic.runtime.migration",
                  "alembic.runtime.plugins", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger(noisy).level))
