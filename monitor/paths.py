"""Where the non-Python parts of the system live: source tree first, then the wheel's bundle."""

from __future__ import annotations

from pathlib import Path

__all__ = ["templates_dir", "migrations_dir"]

_PACKAGE = Path(__file__).resolve().parent


def _locate(name: str) -> Path:
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "_bundled" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name}/ directory next to or inside the monitor package")


def templates_dir() -> Path:
    """The Jinja2 templates, CSS and fonts of the PDF reports."""
    return _locate("templates")


def migrations_dir() -> Path:
    """The Alembic migration scripts of the catalogue."""
    return _locate("migrations")
