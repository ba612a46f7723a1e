"""Catalogue rows of the star method: photometry per band and window, starpools and their
members, versioned starpool results (A_k), and the star traces."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic_core import PydanticUndefined
from sqlmodel import Session, col, select

from monitor.catalogue.acquisitions import pending_acquisitions
from monitor.catalogue.models import (
    Acquisition,
    BandImage,
    StarPhotometry,
    Starpool,
    StarpoolMember,
    StarpoolResult,
    StarWindow,
)
from monitor.catalogue.versions import in_period, is_latest
from monitor.domain import AcqType, PhotometryStatus

__all__ = [
    "latest_per_star",
    "with_latest_per_star",
    "star_acquisitions_pending",
    "add_star_photometry_batch",
    "get_or_create_starpool",
    "add_starpool_members",
    "mark_starpools_pending",
    "starpools_pending",
    "clear_starpool_pending",
    "StarMemberRow",
    "starpool_member_rows",
    "starpool_bands",
    "latest_starpool_results",
    "star_rejections_in",
    "latest_results_of_starpools",
    "TraceRow",
    "trace_rows",
]


def star_acquisitions_pending(session: Session, satellites: Sequence[str], reprocess_after_run: int | None = None
                              ) -> Sequence[Acquisition]:
    """Archived STAR acquisitions of ``satellites`` without photometry (or, when
    ``reprocess_after_run`` is given, without photometry from a run newer than that id)."""
    return pending_acquisitions(session, AcqType.STAR, StarPhotometry, reprocess_after_run, satellites)


def add_star_photometry_batch(
    session: Session, items: Sequence[tuple[dict[str, Any], Sequence[dict[str, Any]]]]
) -> None:
    """Insert many bands' photometry (column dicts) and their per-window rows (not committed).

    Core executemany with ``RETURNING`` in parameter order (SQLite >= 3.35, PostgreSQL): no ORM
    object per row, which halved the photometry stage's database time (benchmarks/star.py).
    Columns a dict leaves out take the model's defaults.
    """
    if not items:
        return
    defaults = {name: f.default for name, f in StarPhotometry.model_fields.items()
                if name != "id" and f.default is not PydanticUndefined}
    rows = [{**defaults, **phot} for phot, _ in items]
    table = StarPhotometry.__table__  # type: ignore[attr-defined]
    ids = session.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars().all()
    windows = [{**w, "photometry_id": pid} for pid, (_, ws) in zip(ids, items, strict=True) for w in ws]
    if windows:
        session.execute(sa.insert(StarWindow.__table__), windows)  # type: ignore[attr-defined]


def get_or_create_starpool(session: Session, satellite: str, period_key: str, start: datetime, end: datetime,
                           now: datetime) -> Starpool:
    """The starpool of ``satellite`` and campaign period ``period_key``, created (flushed) if new."""
    pool = session.exec(
        select(Starpool).where(Starpool.satellite == satellite, Starpool.period_key == period_key)
    ).first()
    if pool is None:
        pool = Starpool(satellite=satellite, period_key=period_key, period_start=start, period_end=end,
                        created_at=now)
        session.add(pool)
        session.flush()
    return pool


def add_starpool_members(session: Session, pairs: Sequence[tuple[int, int]], now: datetime) -> int:
    """Add (starpool id, acquisition id) memberships in one query and one INSERT; acquisitions
    that already belong to a starpool are left where they are. Returns the number added."""
    if not pairs:
        return 0
    ids = [a for _, a in pairs]
    taken = set(session.exec(select(StarpoolMember.acquisition_id).where(
        StarpoolMember.acquisition_id.in_(ids))).all())  # type: ignore[attr-defined]
    new: dict[int, int] = {}
    for pool_id, acq_id in pairs:
        if acq_id not in taken:
            new.setdefault(acq_id, pool_id)
    if new:
        session.execute(sa.insert(StarpoolMember), [
            {"starpool_id": p, "acquisition_id": a, "joined_at": now} for a, p in new.items()])
    return len(new)


def mark_starpools_pending(session: Session, starpool_ids: Sequence[int], now: datetime) -> None:
    """Record that these starpools owe a recomputation (not committed: commit it with the
    photometry that joins them). A starpool already owing keeps its older ``pending_since``."""
    if not starpool_ids:
        return
    session.execute(
        sa.update(Starpool)
        .where(col(Starpool.id).in_(sorted(set(starpool_ids))), col(Starpool.pending_since).is_(None))
        .values(pending_since=now)
    )


def starpools_pending(session: Session) -> Sequence[Starpool]:
    """Starpools that owe a recomputation of their results, oldest start first (each starpool's ePSF reads
    the spikes of the starpools that start before it: monitor.calibration.psf.spike_prior), then by id."""
    q = (select(Starpool).where(col(Starpool.pending_since).is_not(None))
         .order_by(col(Starpool.period_start), col(Starpool.id)))
    return session.exec(q).all()


def clear_starpool_pending(session: Session, starpool_id: int) -> None:
    """The starpool's recomputation is done (not committed: commit it with the results)."""
    session.execute(sa.update(Starpool).where(col(Starpool.id) == starpool_id).values(pending_since=None))


@dataclass(frozen=True)
class StarMemberRow:
    """Latest photometry of one starpool member in one band, with its windows."""

    acquisition: Acquisition
    band_image: BandImage
    photometry: StarPhotometry
    windows: list[StarWindow]  # ordered by half-width


def starpool_member_rows(session: Session, starpool_id: int, band: str) -> list[StarMemberRow]:
    """The members of a starpool with their latest photometry in ``band``, by acquisition time."""
    members = select(StarpoolMember.acquisition_id).where(StarpoolMember.starpool_id == starpool_id)
    latest = is_latest(StarPhotometry, StarPhotometry.acquisition_id,
                       where=[col(StarPhotometry.acquisition_id).in_(members), StarPhotometry.band == band])
    q = (
        select(StarPhotometry, Acquisition, BandImage)
        .join(Acquisition, col(Acquisition.id) == col(StarPhotometry.acquisition_id))
        .join(BandImage, sa.and_(col(BandImage.acquisition_id) == col(Acquisition.id), BandImage.band == band))
        .where(latest)
        .order_by(Acquisition.date_obs, Acquisition.id)
    )
    rows = session.exec(q).all()
    ids = [p.id for p, _, _ in rows]
    windows: dict[int | None, list[StarWindow]] = {i: [] for i in ids if i is not None}
    if ids:
        wq = select(StarWindow).where(col(StarWindow.photometry_id).in_(ids)).order_by(StarWindow.half_width_px)
        for w in session.exec(wq).all():
            windows[w.photometry_id].append(w)
    return [StarMemberRow(a, b, p, windows[p.id]) for p, a, b in rows]


def starpool_bands(session: Session, starpool_id: int) -> list[str]:
    """The bands of the members of a starpool."""
    members = select(StarpoolMember.acquisition_id).where(StarpoolMember.starpool_id == starpool_id)
    q = select(BandImage.band).where(col(BandImage.acquisition_id).in_(members)).distinct()
    return sorted(session.exec(q).all())


def latest_per_star(session: Session, satellite: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(starpool id, band, per_star) of the latest result of every starpool and band of one
    satellite: the per-star columns only (the variability history reads nothing else; loading the
    whole rows made each starpool unit read every result of the history in full)."""
    q = (
        select(StarpoolResult.starpool_id, StarpoolResult.band, StarpoolResult.per_star)
        .join(Starpool, col(Starpool.id) == col(StarpoolResult.starpool_id))
        .where(is_latest(StarpoolResult, StarpoolResult.starpool_id, StarpoolResult.band),
               Starpool.satellite == satellite)
    )
    return [(int(i), str(b), dict(ps or {})) for i, b, ps in session.exec(q).all()]


def with_latest_per_star(per_star: list[tuple[int, str, dict[str, Any]]], starpool_id: int, band: str,
                         entries: dict[str, Any]) -> list[tuple[int, str, dict[str, Any]]]:
    """:func:`latest_per_star` once a new result of (``starpool_id``, ``band``) with these per-star
    ``entries`` is added: that starpool and band's entry replaced (in place) or appended. A unit
    computing the bands of one starpool reads the history once and keeps it current with this."""
    out = [(i, b, ps) for i, b, ps in per_star]
    for k, (i, b, _) in enumerate(out):
        if i == starpool_id and b == band:
            out[k] = (starpool_id, band, dict(entries))
            return out
    out.append((starpool_id, band, dict(entries)))
    return out


def latest_starpool_results(
    session: Session, satellite: str | None = None, band: str | None = None, *, since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[StarpoolResult, Starpool]]:
    """The latest result of every starpool and band, with its starpool, ordered by satellite, band
    and epoch; optionally of one satellite and one band, with ``since <= epoch < until``."""
    q = (
        select(StarpoolResult, Starpool)
        .join(Starpool, col(Starpool.id) == col(StarpoolResult.starpool_id))
        .where(is_latest(StarpoolResult, StarpoolResult.starpool_id, StarpoolResult.band,
                         where=[] if band is None else [StarpoolResult.band == band]),
               *in_period(StarpoolResult.epoch, since, until))
        .order_by(Starpool.satellite, StarpoolResult.band, StarpoolResult.epoch)
    )
    if satellite is not None:
        q = q.where(Starpool.satellite == satellite)
    return [(r, p) for r, p in session.exec(q).all()]


def star_rejections_in(
    session: Session, satellite: str | None, since: datetime, until: datetime
) -> list[tuple[StarPhotometry, Acquisition]]:
    """Latest star photometry refused by processing (saturated, off-frame...), ``since <= date_obs <
    until``, of one satellite (None: all), ordered by acquisition time and band."""
    q = (
        select(StarPhotometry, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(StarPhotometry.acquisition_id))
        .where(is_latest(StarPhotometry, StarPhotometry.acquisition_id, StarPhotometry.band),
               *in_period(Acquisition.date_obs, since, until), StarPhotometry.status == PhotometryStatus.REJECTED)
        .order_by(Acquisition.date_obs, StarPhotometry.band)
    )
    if satellite is not None:
        q = q.where(Acquisition.satellite == satellite)
    return [(p, a) for p, a in session.exec(q).all()]


def latest_results_of_starpools(session: Session, starpool_ids: Collection[int], band: str | None = None
                                ) -> dict[tuple[int, str], StarpoolResult]:
    """The latest result of each of these starpools in each band (or in ``band``), by (starpool
    id, band)."""
    if not starpool_ids:
        return {}
    keys = [col(StarpoolResult.starpool_id).in_(sorted(starpool_ids))]
    if band is not None:
        keys.append(col(StarpoolResult.band) == band)
    q = select(StarpoolResult).where(is_latest(StarpoolResult, StarpoolResult.starpool_id, StarpoolResult.band,
                                               where=keys))
    return {(r.starpool_id, r.band): r for r in session.exec(q).all()}


@dataclass(frozen=True)
class TraceRow:
    """One extraction window of the latest photometry of a star acquisition in one band, with the
    latest result of the acquisition's starpool in that band (None: in no starpool, or the
    starpool has no result in that band)."""

    window: StarWindow
    photometry: StarPhotometry
    acquisition: Acquisition
    starpool_result: StarpoolResult | None


def trace_rows(
    session: Session, satellite: str | None = None, band: str | None = None, *, hip: int | None = None,
    since: datetime | None = None, until: datetime | None = None,
) -> list[TraceRow]:
    """The rows of the star traces: every window of the latest photometry of every star
    acquisition and band, ordered by acquisition time, band and window; optionally of one
    satellite, one band, one star (``HIP hip``), with ``since <= date_obs < until``. Two queries."""
    q = (
        select(StarWindow, StarPhotometry, Acquisition, StarpoolMember.starpool_id)
        .join(StarPhotometry, col(StarPhotometry.id) == col(StarWindow.photometry_id))
        .join(Acquisition, col(Acquisition.id) == col(StarPhotometry.acquisition_id))
        .join(StarpoolMember, col(StarpoolMember.acquisition_id) == col(Acquisition.id), isouter=True)
        .where(is_latest(StarPhotometry, StarPhotometry.acquisition_id, StarPhotometry.band,
                         where=[] if band is None else [col(StarPhotometry.band) == band]),
               *in_period(Acquisition.date_obs, since, until))
        .order_by(Acquisition.date_obs, StarPhotometry.band, StarWindow.half_width_px)
    )
    if satellite is not None:
        q = q.where(Acquisition.satellite == satellite)
    if hip is not None:
        q = q.where(Acquisition.hip == hip)
    rows = session.exec(q).all()
    pools = latest_results_of_starpools(session, {pid for *_, pid in rows if pid is not None}, band)
    return [TraceRow(w, p, a, None if pid is None else pools.get((pid, p.band))) for w, p, a, pid in rows]


def starpool_starts(session: Session, satellite: str) -> dict[int, datetime]:
    """Period start of every starpool of one satellite, by starpool id (the order of the starpools
    in time: the mix-corrected A_k of a starpool uses the history up to it only)."""
    q = select(Starpool.id, Starpool.period_start).where(Starpool.satellite == satellite)
    return {int(i): start for i, start in session.exec(q).all() if i is not None}
