"""Catalogue of GSICS lunar observations (GLOD files, ICD 6) and their lunar comparisons.

Tables (revision 0008, defined in :mod:`monitor.catalogue.models` with the others):
- ``glod_observation``: one accepted GLOD file, with the crash-safe move state of the ingest
  (``archiving`` -> ``archived``, as ``acquisition.status``); unique by SHA-256 and by
  observation id (``<instrument> <UTC time>``);
- ``lunar_comparison``: per observation and channel, the system's integration, the observed and
  model irradiances, their ratio with its uncertainty and the geometry (append-only, one set per
  processing run).
Repository functions for both; no science here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from monitor.catalogue.drift_results import latest_drifts
from monitor.catalogue.models import (
    Acquisition,
    BandImage,
    DriftResult,
    GlodObservationRow,
    LunarComparisonRow,
    MoonMeasurement,
)
from monitor.catalogue.states import AcquisitionStatus
from monitor.catalogue.versions import is_latest
from monitor.domain import AcqType, MoonStatus

__all__ = [
    "GlodObservationRow",
    "LunarComparisonRow",
    "glod_by_sha",
    "glod_by_observation_id",
    "add_glod_observation",
    "glods_in_state",
    "mark_glod",
    "glods_pending",
    "latest_lunar_comparisons",
    "glod_archive_path_taken",
    "moon_export_rows",
    "latest_moon_drift",
]


def glod_by_sha(session: Session, sha256: str) -> GlodObservationRow | None:
    return session.exec(select(GlodObservationRow).where(GlodObservationRow.sha256 == sha256)).first()


def glod_by_observation_id(session: Session, observation_id: str) -> GlodObservationRow | None:
    q = select(GlodObservationRow).where(GlodObservationRow.observation_id == observation_id)
    return session.exec(q).first()


def glod_archive_path_taken(session: Session, rel: str) -> bool:
    q = select(GlodObservationRow.id).where(GlodObservationRow.archive_path == rel)
    return session.exec(q).first() is not None


def add_glod_observation(session: Session, **fields: Any) -> GlodObservationRow:
    """Insert an accepted observation in state ``archiving`` (not committed)."""
    row = GlodObservationRow(**fields, status=AcquisitionStatus.ARCHIVING)
    session.add(row)
    session.flush()
    return row


def glods_in_state(session: Session, state: str) -> Sequence[GlodObservationRow]:
    return session.exec(select(GlodObservationRow).where(GlodObservationRow.status == AcquisitionStatus(state))).all()


def mark_glod(session: Session, row: GlodObservationRow, status: str, now: datetime) -> None:
    row.status = AcquisitionStatus(status)
    if row.status == AcquisitionStatus.ARCHIVED:
        row.archived_at = now
    session.add(row)


def glods_pending(session: Session, reprocess_after_run: int | None = None) -> Sequence[GlodObservationRow]:
    """Archived observations without comparisons (or none from a run newer than
    ``reprocess_after_run``), oldest first."""
    done = select(LunarComparisonRow.observation_id)
    if reprocess_after_run is not None:
        done = done.where(LunarComparisonRow.run_id > reprocess_after_run)
    q = (
        select(GlodObservationRow)
        .where(GlodObservationRow.status == AcquisitionStatus.ARCHIVED, col(GlodObservationRow.id).not_in(done))
        .order_by(GlodObservationRow.date_obs, GlodObservationRow.id)
    )
    return session.exec(q).all()


def latest_lunar_comparisons(
    session: Session,
    instrument: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[LunarComparisonRow, GlodObservationRow]]:
    """The comparisons of the latest run of each observation, by date then channel."""
    latest = (
        select(LunarComparisonRow.observation_id, func.max(LunarComparisonRow.run_id).label("run_id"))
        .group_by(LunarComparisonRow.observation_id)
        .subquery()
    )
    q = (
        select(LunarComparisonRow, GlodObservationRow)
        .join(latest, sa.and_(col(LunarComparisonRow.observation_id) == latest.c.observation_id,
                              col(LunarComparisonRow.run_id) == latest.c.run_id))
        .join(GlodObservationRow, col(GlodObservationRow.id) == col(LunarComparisonRow.observation_id))
    )
    if instrument is not None:
        q = q.where(GlodObservationRow.instrument == instrument)
    if since is not None:
        q = q.where(col(GlodObservationRow.date_obs) >= since)
    if until is not None:
        q = q.where(col(GlodObservationRow.date_obs) <= until)
    q = q.order_by(GlodObservationRow.date_obs, GlodObservationRow.id, LunarComparisonRow.channel)
    return [(c, o) for c, o in session.exec(q).all()]


def moon_export_rows(
    session: Session, satellite: str
) -> list[tuple[Acquisition, list[tuple[MoonMeasurement, BandImage]]]]:
    """For the GLOD export: each archived MOON acquisition of ``satellite`` (by time) with the
    latest measurement of each of its bands that has an A_k (status ok or flagged) and the band's
    image metadata: ``[(Acquisition, [(MoonMeasurement, BandImage), ...]), ...]``."""
    q = (
        select(Acquisition, MoonMeasurement, BandImage)
        .join(MoonMeasurement, col(MoonMeasurement.acquisition_id) == col(Acquisition.id))
        .join(BandImage, sa.and_(col(BandImage.acquisition_id) == col(Acquisition.id),
                                 col(BandImage.band) == col(MoonMeasurement.band)))
        .where(Acquisition.satellite == satellite, Acquisition.acq_type == AcqType.MOON,
               Acquisition.status == AcquisitionStatus.ARCHIVED,
               is_latest(MoonMeasurement, MoonMeasurement.acquisition_id, MoonMeasurement.band),
               col(MoonMeasurement.status).in_([MoonStatus.OK, MoonStatus.FLAGGED]),
               col(MoonMeasurement.a).is_not(None))
        .order_by(col(Acquisition.date_obs), col(Acquisition.id), col(BandImage.id))
    )
    out: list[tuple[Acquisition, list[tuple[MoonMeasurement, BandImage]]]] = []
    for acq, m, b in session.exec(q).all():
        if not out or out[-1][0].id != acq.id:
            out.append((acq, []))
        out[-1][1].append((m, b))
    return out


def latest_moon_drift(session: Session, satellite: str, band: str) -> DriftResult | None:
    """The latest MOON linear drift fit of A_k of one satellite and band, or None."""
    fits = latest_drifts(session, satellite=satellite, band=band, method=AcqType.MOON)
    return fits[0] if fits else None
