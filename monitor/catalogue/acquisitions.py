"""Catalogue rows of what arrived: reference data (satellites, bands, stars), accepted
acquisitions with their band images and GEOM keys, files refused at ingest, and the counts of
``monitor status``."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, overload

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, func, select

from monitor.catalogue.models import (
    Acquisition,
    BandImage,
    BandRow,
    GeomHeaderRow,
    Rejection,
    SatelliteRow,
    StarRow,
)
from monitor.catalogue.states import AcquisitionStatus, RejectionState
from monitor.domain import (
    BANDS_BY_MISSION,
    MISSION_OF_SATELLITE,
    AcqType,
    AcquisitionHeader,
    GeomHeader,
)
from monitor.io.reference_data import load_star_catalogue

__all__ = [
    "count_acquisitions_in",
    "seed_reference",
    "acquisitions_by_sha",
    "acquisitions_by_acq_ids",
    "archive_path_taken",
    "archive_paths_taken",
    "NewAcquisition",
    "column_limit",
    "storage_problem",
    "fit_column",
    "add_acquisitions",
    "mark_acquisitions_archived",
    "mark_acquisition",
    "acquisitions_in_state",
    "band_images_by_acquisition",
    "unprocessed",
    "pending_acquisitions",
    "add_rejection",
    "mark_rejection",
    "rejections_in_state",
    "quarantine_path_taken",
    "recent_rejections",
    "all_rejections",
    "CatalogueCounts",
    "catalogue_counts",
    "last_delivery_by_satellite",
]


def seed_reference(session: Session) -> int:
    """Insert satellites, bands and reference stars that are missing (idempotent; not committed).

    Returns the number of rows inserted.
    """
    n = 0
    have_sats = set(session.exec(select(SatelliteRow.id)).all())
    for sat, mission in MISSION_OF_SATELLITE.items():
        if sat.value not in have_sats:
            session.add(SatelliteRow(id=sat.value, mission=mission.value))
            n += 1
    have_bands = {(m, b) for m, b in session.exec(select(BandRow.mission, BandRow.name)).all()}
    for mission, bands in BANDS_BY_MISSION.items():
        for pos, band in enumerate(bands):
            if (mission.value, band) not in have_bands:
                session.add(BandRow(mission=mission.value, name=band, position=pos))
                n += 1
    cat = load_star_catalogue()
    have_stars = set(session.exec(select(StarRow.hip)).all())
    rows = [
        {
            "hip": int(h),
            "ra_deg": float(ra),
            "dec_deg": float(dec),
            "v_mag": float(v),
            "b_v": None if not np.isfinite(bv) else float(bv),
        }
        for h, ra, dec, v, bv in zip(cat.hip, cat.ra_deg, cat.dec_deg, cat.v_mag, cat.b_v, strict=True)
        if int(h) not in have_stars
    ]
    if rows:
        session.flush()
        session.execute(sa.insert(StarRow), rows)
        n += len(rows)
    return n


def acquisitions_by_sha(session: Session, shas: Sequence[str]) -> Sequence[Acquisition]:
    """Acquisitions holding any of these SHA-256 digests (one query)."""
    if not shas:
        return []
    return session.exec(select(Acquisition).where(col(Acquisition.sha256).in_(sorted(set(shas))))).all()


def acquisitions_by_acq_ids(session: Session, acq_ids: Sequence[str]) -> Sequence[Acquisition]:
    """Acquisitions with any of these ``ACQ_ID`` values (one query)."""
    if not acq_ids:
        return []
    return session.exec(select(Acquisition).where(col(Acquisition.acq_id).in_(sorted(set(acq_ids))))).all()


def archive_path_taken(session: Session, archive_path: str) -> bool:
    q = select(func.count()).select_from(Acquisition).where(Acquisition.archive_path == archive_path)
    return session.exec(q).one() > 0


def archive_paths_taken(session: Session, archive_paths: Sequence[str]) -> set[str]:
    """Which of these archive paths (relative to the site) the catalogue already uses (one query)."""
    if not archive_paths:
        return set()
    q = select(Acquisition.archive_path).where(col(Acquisition.archive_path).in_(sorted(set(archive_paths))))
    return set(session.exec(q).all())


@dataclass(frozen=True)
class NewAcquisition:
    """An accepted file, as :func:`add_acquisitions` inserts it."""

    header: AcquisitionHeader
    sha256: str
    file_name: str
    size_bytes: int
    archive_path: str
    received_at: datetime
    geom: GeomHeader | None = None


def _acquisition_row(it: NewAcquisition) -> dict[str, Any]:
    h = it.header
    return dict(
        acq_id=h.acq_id, sha256=it.sha256, file_name=it.file_name, size_bytes=it.size_bytes,
        acq_type=h.acq_type.value, satellite=h.satellite.value, target=h.target, hip=h.hip,
        date_obs=h.date_obs, sc_pos_x_km=h.sc_pos_km[0], sc_pos_y_km=h.sc_pos_km[1],
        sc_pos_z_km=h.sc_pos_km[2], sc_vel_x_km_s=h.sc_vel_km_s[0], sc_vel_y_km_s=h.sc_vel_km_s[1],
        sc_vel_z_km_s=h.sc_vel_km_s[2], ra_deg=h.ra_deg, dec_deg=h.dec_deg, icd=h.icd,
        archive_path=it.archive_path, status=AcquisitionStatus.ARCHIVING, received_at=it.received_at, archived_at=None,
    )


def _band_rows(acq_id: int | None, it: NewAcquisition) -> list[dict[str, Any]]:
    return [
        dict(acquisition_id=acq_id, band=b.band, rows=b.shape[0], cols=b.shape[1], bunit=b.bunit,
             dark_dn=b.dark_dn, gain_factor=b.gain_factor, oversamp=b.oversamp, binning=b.binning,
             pixscale_urad=b.pixscale_urad, lineper_ms=b.lineper_ms, saturate_dn=b.saturate_dn,
             star_x=b.star_x, star_y=b.star_y, flags="")
        for b in it.header.bands
    ]


def _geom_row(acq_id: int | None, g: GeomHeader) -> dict[str, Any]:
    """The ``geom_header`` row of a GEOM acquisition: its id and every field of :class:`GeomHeader`
    (the table's columns are the dataclass's fields, tests/catalogue/test_geom_header.py)."""
    return {"acquisition_id": acq_id, **{f.name: getattr(g, f.name) for f in dataclasses.fields(g)}}


# The ICD key (or what else) each stored column comes from, for a one-line reason naming it.
_COLUMN_KEYS = {
    "acquisition.acq_id": "ACQ_ID", "acquisition.target": "TARGET", "acquisition.hip": "TARGET",
    "acquisition.icd": "ICD", "acquisition.satellite": "SATELLIT", "acquisition.acq_type": "ACQTYPE",
    "acquisition.file_name": "the file name", "acquisition.size_bytes": "the file size",
    "acquisition.archive_path": "the archive path", "band_image.band": "EXTNAME", "band_image.rows": "NAXIS2",
    "band_image.cols": "NAXIS1", "band_image.bunit": "BUNIT", "band_image.binning": "BINNING",
    "geom_header.nsamp": "NSAMP",
}


_INTEGER_BITS = ((sa.SmallInteger, 16), (sa.BigInteger, 64), (sa.Integer, 32))  # subclasses first


def column_limit(column: sa.Column[Any]) -> tuple[int, int] | int | None:
    """What a column can hold, from its SQLModel definition: the maximum length of a string
    column (characters), the (min, max) of an integer column, or None.

    ``INTEGER`` is taken as 32-bit on every back end (PostgreSQL's; SQLite's is 64-bit), so that a
    file is accepted or refused alike on both.
    """
    t = column.type
    if isinstance(t, sa.types.TypeDecorator):  # SQLModel's AutoString
        t = t.impl_instance
    if isinstance(t, sa.String):
        return t.length
    for kind, bits in _INTEGER_BITS:
        if isinstance(t, kind):
            return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return None


@functools.cache
def _limits(table: sa.Table) -> dict[str, tuple[str, tuple[int, int] | int]]:
    """Column name -> (key shown, limit) of the limited columns of ``table`` (computed once)."""
    out = {}
    for column in table.c:
        limit = column_limit(column)
        if limit is not None:
            out[column.name] = (_COLUMN_KEYS.get(f"{table.name}.{column.name}", f"{table.name}.{column.name}"), limit)
    return out


def _value_problem(table: sa.Table, row: dict[str, Any], where: str = "") -> str | None:
    limits = _limits(table)
    for name, value in row.items():
        if name not in limits or value is None or isinstance(value, bool):
            continue
        key, limit = limits[name]
        if isinstance(value, str) and isinstance(limit, int) and len(value) > limit:
            return f"{key}{where} is {len(value)} characters long; the catalogue stores at most {limit}"
        if isinstance(value, int) and isinstance(limit, tuple) and not limit[0] <= value <= limit[1]:
            return f"{key}{where} is {value}; the catalogue stores integers from {limit[0]} to {limit[1]}"
    return None


def storage_problem(item: NewAcquisition) -> str | None:
    """Why the rows of ``item`` would not fit the catalogue's columns (one line naming the key:
    a string too long, an integer out of the column's range), or None when they fit.

    The limits are the table definitions themselves (:func:`column_limit`); the rows checked
    are exactly those :func:`add_acquisitions` inserts. PostgreSQL enforces them and would fail
    the insert; SQLite would store anything.
    """
    problem = _value_problem(_table(Acquisition), _acquisition_row(item))
    for band, row in zip(item.header.bands, _band_rows(None, item), strict=True):
        problem = problem or _value_problem(_table(BandImage), row, f" of band {band.band}")
    if item.geom is not None:
        problem = problem or _value_problem(_table(GeomHeaderRow), _geom_row(None, item.geom))
    return problem


def _table(model: type[SQLModel]) -> sa.Table:
    table: sa.Table = model.__table__
    return table


@overload
def fit_column(column: Any, value: str) -> str: ...


@overload
def fit_column(column: Any, value: None) -> None: ...


def fit_column(column: Any, value: str | None) -> str | None:
    """``value`` shortened (ending in an ellipsis) to the length of the string ``column`` (a model
    attribute such as ``Rejection.acq_id``), for text that is kept for people, not matched."""
    limit = column_limit(column.property.columns[0]) if hasattr(column, "property") else column_limit(column)
    if value is None or not isinstance(limit, int) or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def add_acquisitions(session: Session, items: Sequence[NewAcquisition]) -> list[int]:
    """Insert accepted acquisitions in state ``archiving`` with their band and GEOM rows (not
    committed). Returns their ids, in order. Check each with :func:`storage_problem` first.

    Core executemany with ``RETURNING`` in parameter order: one INSERT per table for the whole
    batch and no ORM object per row (the ORM path was two thirds of the ingest time,
    benchmarks/ingest.py).
    """
    if not items:
        return []
    acq_rows = [_acquisition_row(it) for it in items]
    table = Acquisition.__table__  # type: ignore[attr-defined]
    session.flush()  # pending ORM rows first, so that the statement order is the call order
    ids = list(session.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True),
                               acq_rows).scalars().all())
    band_rows = [row for acq_id, it in zip(ids, items, strict=True) for row in _band_rows(acq_id, it)]
    if band_rows:
        session.execute(sa.insert(BandImage.__table__), band_rows)  # type: ignore[attr-defined]
    geom_rows = [_geom_row(acq_id, g) for acq_id, it in zip(ids, items, strict=True) if (g := it.geom) is not None]
    if geom_rows:
        session.execute(sa.insert(GeomHeaderRow.__table__), geom_rows)  # type: ignore[attr-defined]
    return ids


def mark_acquisitions_archived(session: Session, ids: Sequence[int], when: datetime) -> None:
    """Record that the files of these acquisitions reached the archive (one UPDATE, not committed)."""
    if ids:
        table = Acquisition.__table__  # type: ignore[attr-defined]
        session.execute(sa.update(table).where(table.c.id.in_(list(ids))).values(status=AcquisitionStatus.ARCHIVED,
                                                                                  archived_at=when))


def mark_acquisition(session: Session, acq: Acquisition, status: AcquisitionStatus, when: datetime | None = None
                     ) -> None:
    """Record the outcome of the file move of an acquisition (``archived`` or ``missing``)."""
    acq.status = status
    if status == AcquisitionStatus.ARCHIVED:
        acq.archived_at = when
    session.add(acq)


def acquisitions_in_state(session: Session, status: AcquisitionStatus) -> Sequence[Acquisition]:
    return session.exec(select(Acquisition).where(Acquisition.status == status)).all()


class _Result(Protocol):
    acquisition_id: int
    run_id: int


def unprocessed(acq_type: AcqType, result: type[_Result], after_run: int | None = None
                ) -> list[sa.ColumnElement[bool]]:
    """SQL conditions on ``Acquisition``: archived, of ``acq_type``, and without a ``result`` row
    (or, with ``after_run``, without one from a run newer than that id)."""
    done = select(result.acquisition_id)
    if after_run is not None:
        done = done.where(col(result.run_id) > after_run)
    return [col(Acquisition.acq_type) == acq_type, col(Acquisition.status) == AcquisitionStatus.ARCHIVED,
            col(Acquisition.id).not_in(done)]


def pending_acquisitions(session: Session, acq_type: AcqType, result: type[_Result],
                         reprocess_after_run: int | None = None, satellites: Sequence[str] | None = None
                         ) -> Sequence[Acquisition]:
    """Archived acquisitions of ``acq_type`` (of ``satellites``) without a ``result`` row (or, when
    ``reprocess_after_run`` is given, without one from a run newer than that id), oldest first."""
    q = (select(Acquisition).where(*unprocessed(acq_type, result, reprocess_after_run))
         .order_by(Acquisition.date_obs, Acquisition.id))
    if satellites is not None:
        q = q.where(col(Acquisition.satellite).in_(list(satellites)))
    return session.exec(q).all()


def band_images_by_acquisition(session: Session, acquisition_ids: Sequence[int]) -> dict[int, list[BandImage]]:
    out: dict[int, list[BandImage]] = {i: [] for i in acquisition_ids}
    if not acquisition_ids:
        return out
    q = select(BandImage).where(col(BandImage.acquisition_id).in_(list(acquisition_ids))).order_by(BandImage.id)
    for b in session.exec(q).all():
        out[b.acquisition_id].append(b)
    return out


def add_rejection(
    session: Session,
    *,
    file_name: str,
    sha256: str | None,
    acq_id: str | None,
    reason: str,
    message: str,
    received_at: datetime,
    quarantine_path: str,
) -> Rejection:
    rej = Rejection(  # text kept for people is shortened to fit (a long ACQ_ID is itself refused)
        file_name=fit_column(Rejection.file_name, file_name),
        sha256=sha256,
        acq_id=fit_column(Rejection.acq_id, acq_id),
        reason=reason,
        message=fit_column(Rejection.message, message),
        received_at=received_at,
        quarantine_path=quarantine_path,
        state=RejectionState.MOVING,
    )
    session.add(rej)
    return rej


def mark_rejection(session: Session, rej: Rejection, state: RejectionState) -> None:
    rej.state = state
    session.add(rej)


def rejections_in_state(session: Session, state: RejectionState) -> Sequence[Rejection]:
    return session.exec(select(Rejection).where(Rejection.state == state)).all()


def quarantine_path_taken(session: Session, quarantine_path: str) -> bool:
    q = select(func.count()).select_from(Rejection).where(Rejection.quarantine_path == quarantine_path)
    return session.exec(q).one() > 0


def recent_rejections(session: Session, limit: int = 10) -> Sequence[Rejection]:
    q = select(Rejection).order_by(col(Rejection.received_at).desc(), col(Rejection.id).desc()).limit(limit)
    return session.exec(q).all()


def all_rejections(session: Session, since: datetime | None = None, until: datetime | None = None
                   ) -> list[Rejection]:
    """Files refused at ingest (and duplicate deliveries) received in ``[since, until)`` (each bound
    optional), in the order they were recorded."""
    q = select(Rejection)
    if since is not None:
        q = q.where(Rejection.received_at >= since)
    if until is not None:
        q = q.where(Rejection.received_at < until)
    return list(session.exec(q.order_by(col(Rejection.id))).all())


def count_acquisitions_in(session: Session, since: datetime, until: datetime) -> int:
    """Number of acquisitions (any type and state) dated (DATE-OBS) in ``[since, until)``."""
    q = select(func.count()).select_from(Acquisition).where(
        col(Acquisition.date_obs) >= since, col(Acquisition.date_obs) < until)
    return int(session.exec(q).one())


@dataclass(frozen=True)
class CatalogueCounts:
    acquisitions: list[tuple[str, str, str, int]]  # satellite, type, status, count
    rejections: list[tuple[str, int]]  # reason, count


def catalogue_counts(session: Session) -> CatalogueCounts:
    q = (
        select(Acquisition.satellite, Acquisition.acq_type, Acquisition.status, func.count())
        .group_by(Acquisition.satellite, Acquisition.acq_type, Acquisition.status)
        .order_by(Acquisition.satellite, Acquisition.acq_type, Acquisition.status)
    )
    acq = [(s, t, st, int(n)) for s, t, st, n in session.exec(q).all()]
    rq = select(Rejection.reason, func.count()).group_by(Rejection.reason).order_by(Rejection.reason)
    rej = [(r, int(n)) for r, n in session.exec(rq).all()]
    return CatalogueCounts(acquisitions=acq, rejections=rej)


def last_delivery_by_satellite(session: Session) -> dict[str, tuple[datetime, datetime]]:
    """Per satellite: when its newest accepted acquisition was received and the newest DATE-OBS."""
    q = (select(Acquisition.satellite, func.max(Acquisition.received_at), func.max(Acquisition.date_obs))
         .group_by(Acquisition.satellite).order_by(Acquisition.satellite))
    return {s: (received, observed) for s, received, observed in session.exec(q).all()}
