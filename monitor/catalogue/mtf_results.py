"""Catalogue rows of the MTF results (per starpool, band, direction and method; versioned)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from monitor.catalogue.models import MtfResult, Starpool
from monitor.catalogue.versions import is_latest

__all__ = ["latest_mtf_history", "count_of_run"]


def count_of_run(session: Session, run_id: int | None) -> int:
    """The starpool bands given a parametric MTF by one processing run (along rows: one per band)."""
    q = select(func.count()).select_from(MtfResult).where(
        MtfResult.run_id == run_id, MtfResult.method == "parametric", MtfResult.direction == "along")
    return int(session.exec(q).one())


def latest_mtf_history(
    session: Session, satellite: str | None = None, band: str | None = None, direction: str | None = None,
    method: str | None = "parametric", *, until: datetime | None = None, since: datetime | None = None,
    starts_from: datetime | None = None,
) -> list[tuple[MtfResult, Starpool]]:
    """Latest version of each starpool's MTF result, with its starpool, ordered by satellite, band,
    starpool start and direction.

    Parameters
    ----------
    satellite, band, direction
        Only these (None: all).
    method
        ``parametric`` (the PSF fit, default), ``epsf`` (the stacked-ePSF cross-check), or None
        for both.
    until, since
        Only starpools that start before ``until`` and end after ``since`` (that overlap
        ``[since, until)``).
    starts_from
        Only starpools that start at or after this time.
    """
    keys = [column == value for column, value in ((MtfResult.band, band), (MtfResult.direction, direction),
                                                  (MtfResult.method, method)) if value is not None]
    q = (
        select(MtfResult, Starpool)
        .join(Starpool, col(Starpool.id) == col(MtfResult.starpool_id))
        .where(is_latest(MtfResult, MtfResult.starpool_id, MtfResult.band, MtfResult.direction, MtfResult.method,
                         where=keys))
        .order_by(Starpool.satellite, MtfResult.band, Starpool.period_start, MtfResult.direction)
    )
    if satellite is not None:
        q = q.where(Starpool.satellite == satellite)
    if until is not None:
        q = q.where(Starpool.period_start < until)
    if since is not None:
        q = q.where(Starpool.period_end > since)
    if starts_from is not None:
        q = q.where(Starpool.period_start >= starts_from)
    return [(m, p) for m, p in session.exec(q).all()]
