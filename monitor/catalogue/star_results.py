"""Catalogue rows of the star method: photometry per band and window, starpools and their
members, versioned starpool results (A_k), and the star traces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from pydantic_core import PydanticUndefined
from sqlmodel import Session, col, select

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

__all__ = [
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
    "star_traces",
]


def star_acquisitions_pending(session: Session, satellites: Sequence[str], reprocess_after_run: int | None = None
                              ) -> Sequence[Acquisition]:
    """Archived STAR acquisitions of ``satellites`` without photometry (or, when
    ``reprocess_after_run`` is given, without photometry from a run newer than that id)."""
    done = select(StarPhotometry.acquisition_id)
    if reprocess_after_run is not None:
        done = done.where(StarPhotometry.run_id > reprocess_after_run)
    q = (
        select(Acquisition)
        .where(Acquisition.acq_type == "STAR", Acquisition.status == "archived",
               col(Acquisition.satellite).in_(list(satellites)), col(Acquisition.id).not_in(done))
        .order_by(Acquisition.date_obs, Acquisition.id)
    )
    return session.exec(q).all()


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
    """Starpools that owe a recomputation of their results, by id."""
    q = select(Starpool).where(col(Starpool.pending_since).is_not(None)).order_by(col(Starpool.id))
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
    session: Session, satellite: str, since: datetime, until: datetime
) -> list[tuple[StarPhotometry, Acquisition]]:
    """Latest star photometry refused by processing (saturated, off-frame...), ``since <= date_obs < until``."""
    q = (
        select(StarPhotometry, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(StarPhotometry.acquisition_id))
        .where(is_latest(StarPhotometry, StarPhotometry.acquisition_id, StarPhotometry.band),
               Acquisition.satellite == satellite, *in_period(Acquisition.date_obs, since, until),
               StarPhotometry.status == "rejected")
        .order_by(Acquisition.date_obs, StarPhotometry.band)
    )
    return [(p, a) for p, a in session.exec(q).all()]


def star_traces(session: Session, satellite: str, band: str, hip: int | None = None) -> list[dict[str, Any]]:
    """Time series of each star's normalised count per window (latest photometry of each
    acquisition), with the ratio to the prediction of its starpool's latest result:
    ``ratio = A_raw(h) / (EE(h) * A_pool)`` (1 when the star behaves as the starpool predicts).

    A star rejected from its starpool (outlier, rejected photometry) is not ``usable`` (its
    ``reason`` says why) and has no ratio: its EE predicts nothing."""
    latest = is_latest(StarPhotometry, StarPhotometry.acquisition_id, where=[StarPhotometry.band == band])
    q = (
        select(StarWindow, StarPhotometry, Acquisition, StarpoolMember.starpool_id)
        .join(StarPhotometry, col(StarPhotometry.id) == col(StarWindow.photometry_id))
        .join(Acquisition, col(Acquisition.id) == col(StarPhotometry.acquisition_id))
        .join(StarpoolMember, col(StarpoolMember.acquisition_id) == col(Acquisition.id), isouter=True)
        .where(latest, Acquisition.satellite == satellite)
        .order_by(Acquisition.date_obs, StarWindow.half_width_px)
    )
    if hip is not None:
        q = q.where(Acquisition.hip == hip)
    rows = session.exec(q).all()
    pool_ids = {pid for *_, pid in rows if pid is not None}
    pools: dict[int, StarpoolResult] = {}
    if pool_ids:
        latest_res = is_latest(StarpoolResult, StarpoolResult.starpool_id,
                               where=[col(StarpoolResult.starpool_id).in_(pool_ids), StarpoolResult.band == band])
        for r in session.exec(select(StarpoolResult).where(latest_res)).all():
            pools[r.starpool_id] = r
    out = []
    for w, p, acq, pool_id in rows:
        res = pools.get(pool_id) if pool_id is not None else None
        ratio = None
        usable = w.a is not None
        reason = p.reason
        star = (res.per_star.get(acq.acq_id) or {}) if res is not None else {}
        why = next((r for r in (res.rejected or []) if r.get("acq_id") == acq.acq_id), None) if res else None
        if why is not None:
            # rejected from its starpool: its EE (evaluated at a meaningless fitted centre, down
            # to ~1e-8) predicts nothing; the row is not usable and says why
            usable = False
            reason = reason or f"rejected from its starpool: {why.get('reason') or 'unknown'}"
        if res is not None and usable and w.a is not None and res.a:
            ee = star.get("ee", {}).get(str(w.half_width_px), 1.0)
            if ee is not None and bool(np.isfinite(ee)) and ee > 0.0:
                ratio = w.a / (ee * res.a)
        out.append({
            "time": acq.date_obs, "acq_id": acq.acq_id, "star": acq.target, "band": band,
            "half_width_px": w.half_width_px, "normalised_count_dn": w.normalised_count,
            "sum_dn": w.sum_dn, "sigma_dn": w.sigma_dn, "status": p.status, "reason": reason,
            "usable": usable, "ratio_to_prediction": ratio,
        })
    return out
