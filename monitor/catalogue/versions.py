"""Append-only result history: result rows are inserted, never updated.

A recomputation inserts a new row (with the next ``version`` where the result has one); nothing
is updated in place. The *latest version* of a group of rows (the result of a starpool in a band,
the photometry of an acquisition in a band, the runs of a job...) is therefore the row with the
highest id: :func:`is_latest` states that rule once, for every query of the catalogue.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, func, select

__all__ = ["is_latest", "in_period", "next_result_version", "add_rows"]


class _Row(Protocol):
    id: int | None


class _Versioned(Protocol):
    version: int


def is_latest(model: type[_Row], *group_by: Any, where: Iterable[sa.ColumnElement[bool]] = ()
              ) -> sa.ColumnElement[bool]:
    """SQL condition: a row of ``model`` is the newest (highest id) of its group.

    Parameters
    ----------
    model
        A table whose rows are append-only (ids grow in insertion order).
    *group_by
        The columns that make a group, e.g. ``StarpoolResult.starpool_id, StarpoolResult.band``.
    where
        Conditions that narrow the groups looked at, on group keys only (a band, an
        acquisition): a condition on another column would find the newest row *among those that
        pass it*, not the newest row of the group.

    Examples
    --------
    ``select(StarpoolResult).where(is_latest(StarpoolResult, StarpoolResult.starpool_id,
    StarpoolResult.band))`` is the latest result of every starpool and band.
    """
    newest = select(func.max(model.id)).where(*where).group_by(*group_by)
    return col(model.id).in_(newest)


def in_period(column: Any, since: datetime | None, until: datetime | None) -> list[sa.ColumnElement[bool]]:
    """SQL conditions ``since <= column < until`` (a bound that is None is left out)."""
    out = []
    if since is not None:
        out.append(col(column) >= since)
    if until is not None:
        out.append(col(column) < until)
    return out


def next_result_version(session: Session, model: type[_Versioned], **keys: object) -> int:
    """The ``version`` a new result row of ``model`` with these column values gets (1 for the first)."""
    q = select(func.max(model.version))
    for k, v in keys.items():
        q = q.where(getattr(model, k) == v)
    current = session.exec(q).one()
    return 1 if current is None else int(current) + 1


def add_rows(session: Session, rows: Iterable[SQLModel]) -> None:
    """Insert result rows (append-only history; not committed)."""
    session.add_all(list(rows))
