"""Catalogue rows of the MTF results (per starpool, band, direction and method; versioned)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from monitor.catalogue.models import MtfResult, Starpool
from monitor.catalogue.versions import is_latest

__all__ = ["latest_mtf_history", "count_of_run", "reported_rows", "spike_history", "REPORTED"]

# ``method`` of latest_mtf_history: per starpool, band and direction the row the system reports,
# parametric or ePSF (``params["selected"]``, monitor.science.mtf_select.select_mtf; rows stored before
# that choice existed: the parametric one).
REPORTED = "reported"


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
        ``parametric`` (the PSF fit, default), ``epsf`` (the stacked-ePSF cross-check),
        :data:`REPORTED` (the one the system reports, :func:`reported_rows`) or None for both.
    until, since
        Only starpools that start before ``until`` and end after ``since`` (that overlap
        ``[since, until)``).
    starts_from
        Only starpools that start at or after this time.
    """
    if method == REPORTED:
        return reported_rows(latest_mtf_history(session, satellite, band, direction, None, until=until, since=since,
                                                starts_from=starts_from))
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


def reported_rows(rows: list[tuple[MtfResult, Starpool]]) -> list[tuple[MtfResult, Starpool]]:
    """Of ``rows`` (both methods), per starpool, band and direction the reported one: the row whose
    ``params["selected"]`` is true, else the parametric row; order kept."""
    chosen: dict[tuple[int, str, str], MtfResult] = {}
    for m, _ in rows:
        key = (m.starpool_id, m.band, m.direction)
        if m.params.get("selected") is True:
            chosen[key] = m
        elif key not in chosen and m.method == "parametric":
            chosen[key] = m
    return [(m, p) for m, p in rows if chosen.get((m.starpool_id, m.band, m.direction)) is m]


def spike_history(session: Session, satellite: str, band: str, before: datetime) -> list[tuple[tuple[float, float],
                                                                                             tuple[float, float]]]:
    """The spider spikes' own estimates of the starpools of one satellite and band that start before
    ``before``, oldest first: per starpool ((along, across) deficit, (along, across) jackknife noise) at
    Nyquist, MTF units (the latest ePSF rows' ``params["spike_raw"]``, ``params["spike_raw_noise"]``;
    starpools whose two directions do not both have them are left out)."""
    per_pool: dict[int, dict[str, tuple[float, float]]] = {}  # in the query's order: oldest start first
    for m, p in latest_mtf_history(session, satellite, band, None, "epsf", until=before):
        d, n = m.params.get("spike_raw"), m.params.get("spike_raw_noise")
        if isinstance(d, int | float) and isinstance(n, int | float):
            assert p.id is not None
            per_pool.setdefault(p.id, {})[m.direction] = (float(d), float(n))
    return [((got["along"][0], got["across"][0]), (got["along"][1], got["across"][1]))
            for got in per_pool.values() if "along" in got and "across" in got]
