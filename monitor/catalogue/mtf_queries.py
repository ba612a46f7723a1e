"""Queries of the MTF results (part of the catalogue's SQL)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, func, select

from monitor.catalogue.models import MtfResult, Starpool

__all__ = ["latest_mtf_history"]


def latest_mtf_history(session: Session, satellite: str, band: str, direction: str,
                       method: str = "parametric") -> list[tuple[MtfResult, Starpool]]:
    """Latest version of each starpool's MTF result, ordered by starpool start."""
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
    rows: list[Any] = list(session.exec(q).all())
    return [(m, p) for m, p in rows]
