"""Queries of the MTF results (part of the catalogue's SQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from monitor.catalogue.models import MtfResult, Starpool

__all__ = ["latest_mtf_history"]


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
