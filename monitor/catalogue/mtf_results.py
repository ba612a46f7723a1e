"""Catalogue rows of the MTF results (per starpool, band, direction and method; versioned)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from monitor.catalogue.models import (
    MtfResult,
    Starpool,
)

__all__ = [
    "mtf_history",
    "latest_mtf_history",
]


def mtf_history(
    session: Session, satellite: str, band: str, direction: str, until: datetime, since: datetime | None = None,
    method: str = "parametric",
) -> list[tuple[MtfResult, Starpool]]:
    """Latest MTF (``parametric`` fit or ``epsf`` cross-check) of each starpool starting before
    ``until`` (and ending after ``since``)."""
    return latest_mtf_history(session, satellite, band, direction, method, until=until, since=since)


def latest_mtf_history(
    session: Session, satellite: str, band: str, direction: str, method: str = "parametric",
    *, until: datetime | None = None, since: datetime | None = None,
) -> list[tuple[MtfResult, Starpool]]:
    """Latest version of each starpool's MTF result (``parametric`` fit or ``epsf`` cross-check),
    ordered by starpool start; optionally only starpools starting before ``until`` and ending
    after ``since``."""
    latest = (
        select(func.max(MtfResult.id))
        .join(Starpool, col(Starpool.id) == col(MtfResult.starpool_id))
        .where(Starpool.satellite == satellite, MtfResult.band == band, MtfResult.direction == direction,
               MtfResult.method == method)
        .group_by(MtfResult.starpool_id)
    )
    q = (
        select(MtfResult, Starpool)
        .join(Starpool, col(Starpool.id) == col(MtfResult.starpool_id))
        .where(col(MtfResult.id).in_(latest))
        .order_by(Starpool.period_start)
    )
    if until is not None:
        q = q.where(Starpool.period_start < until)
    if since is not None:
        q = q.where(Starpool.period_end > since)
    rows: list[Any] = list(session.exec(q).all())
    return [(m, p) for m, p in rows]
