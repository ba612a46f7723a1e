"""Catalogue of GSICS lunar observations (GLOD files, ICD 6) and their lunar comparisons.

Tables (revision 0008):
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
from sqlmodel import JSON, Field, Session, SQLModel, col, func, select

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


class GlodObservationRow(SQLModel, table=True):
    """One accepted GLOD lunar observation file."""

    __tablename__ = "glod_observation"
    __table_args__ = (sa.CheckConstraint("status IN ('archiving', 'archived', 'missing')", name="status"),)
    id: int | None = Field(default=None, primary_key=True)
    observation_id: str = Field(max_length=120, unique=True)
    sha256: str = Field(max_length=64, unique=True)
    file_name: str = Field(max_length=255)
    size_bytes: int = Field(sa_type=sa.BigInteger)
    instrument: str = Field(max_length=64, index=True)
    date_obs: datetime = Field(index=True)
    sat_pos_x_km: float
    sat_pos_y_km: float
    sat_pos_z_km: float
    sat_pos_ref: str = Field(max_length=16)
    channels: list[str] = Field(default_factory=list, sa_type=JSON)
    archive_path: str = Field(max_length=1024)  # relative to the site directory
    status: str = Field(default="archiving", max_length=16)
    received_at: datetime
    archived_at: datetime | None = None


class LunarComparisonRow(SQLModel, table=True):
    """Observed vs REF-1 model irradiance of one GLOD observation and channel (append-only)."""

    __tablename__ = "lunar_comparison"
    __table_args__ = (sa.UniqueConstraint("run_id", "observation_id", "channel"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="processing_run.id", index=True)
    observation_id: int = Field(foreign_key="glod_observation.id", index=True)
    channel: str = Field(max_length=32)
    status: str = Field(max_length=16)  # ok, flagged, rejected
    reason: str | None = Field(default=None, max_length=32)
    message: str = Field(default="", max_length=1000)
    dc_integrated: float | None = None  # own Σ (DN - offset) over the Moon, counts
    dc_file: float | None = None  # the file's dc_obs net of its offset
    irr_obs: float | None = None  # W m^-2 um^-1, from the file
    irr_model: float | None = None  # REF-1 at the satellite, channel SRF
    ratio: float | None = None
    ratio_sigma: float | None = None
    phase_angle_deg: float | None = None  # signed, negative when waxing
    sun_selenographic_lon_deg: float | None = None
    obs_selenographic_lat_deg: float | None = None
    obs_selenographic_lon_deg: float | None = None
    d_sun_moon_km: float | None = None
    d_obs_moon_km: float | None = None
    budget: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    in_trend: bool = True
    created_at: datetime


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
    row = GlodObservationRow(**fields, status="archiving")
    session.add(row)
    session.flush()
    return row


def glods_in_state(session: Session, state: str) -> Sequence[GlodObservationRow]:
    return session.exec(select(GlodObservationRow).where(GlodObservationRow.status == state)).all()


def mark_glod(session: Session, row: GlodObservationRow, status: str, now: datetime) -> None:
    row.status = status
    if status == "archived":
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
        .where(GlodObservationRow.status == "archived", col(GlodObservationRow.id).not_in(done))
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


def moon_export_rows(session: Session, satellite: str) -> list[tuple[Any, list[tuple[Any, Any]]]]:
    """For the GLOD export: each archived MOON acquisition of ``satellite`` (by time) with the
    latest measurement of each of its bands that has an A_k (status ok or flagged) and the band's
    image metadata: ``[(Acquisition, [(MoonMeasurement, BandImage), ...]), ...]``."""
    from monitor.catalogue.models import Acquisition, BandImage, MoonMeasurement

    latest = (
        select(func.max(MoonMeasurement.id))
        .group_by(MoonMeasurement.acquisition_id, MoonMeasurement.band)
    )
    q = (
        select(Acquisition, MoonMeasurement, BandImage)
        .join(MoonMeasurement, col(MoonMeasurement.acquisition_id) == col(Acquisition.id))
        .join(BandImage, sa.and_(col(BandImage.acquisition_id) == col(Acquisition.id),
                                 col(BandImage.band) == col(MoonMeasurement.band)))
        .where(Acquisition.satellite == satellite, Acquisition.acq_type == "MOON", Acquisition.status == "archived",
               col(MoonMeasurement.id).in_(latest), col(MoonMeasurement.status).in_(["ok", "flagged"]),
               col(MoonMeasurement.a).is_not(None))
        .order_by(Acquisition.date_obs, Acquisition.id, BandImage.id)
    )
    out: list[tuple[Any, list[tuple[Any, Any]]]] = []
    for acq, m, b in session.exec(q).all():
        if not out or out[-1][0].id != acq.id:
            out.append((acq, []))
        out[-1][1].append((m, b))
    return out


def latest_moon_drift(session: Session, satellite: str, band: str) -> Any | None:
    """The latest MOON drift fit of A_k of one satellite and band, or None."""
    from monitor.catalogue.models import DriftResult

    q = (
        select(DriftResult)
        .where(DriftResult.satellite == satellite, DriftResult.band == band, DriftResult.method == "MOON",
               DriftResult.quantity == "a")
        .order_by(col(DriftResult.id).desc())
    )
    return session.exec(q).first()
