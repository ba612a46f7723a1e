"""Append-only result history: result rows are inserted, never updated, each with a version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, func, select

__all__ = [
    "next_result_version",
    "add_rows",
]


def next_result_version(session: Session, model: Any, **keys: Any) -> int:
    q = select(func.max(model.version))
    for k, v in keys.items():
        q = q.where(getattr(model, k) == v)
    current = session.exec(q).one()
    return 1 if current is None else int(current) + 1


def add_rows(session: Session, rows: Sequence[Any]) -> None:
    """Insert result rows (append-only history; not committed)."""
    session.add_all(list(rows))
