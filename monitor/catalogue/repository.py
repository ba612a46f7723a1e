"""Repository functions: every query of the system lives here (use-cases never build SQL)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, overload

import numpy as np
import sqlalchemy as sa
from pydantic_core import PydanticUndefined
from sqlmodel import Session, col, func, select

from monitor import __version__
from monitor.catalogue.models import (
    Acquisition,
    BandImage,
    BandRow,
    GeomHeaderRow,
    ProcessingRun,
    Rejection,
    SatelliteRow,
    StarRow,
)
from monitor.domain import (
    BANDS_BY_MISSION,
    ICD_VERSION,
    MISSION_OF_SATELLITE,
    REF_VERSION,
    AcquisitionHeader,
    GeomHeader,
)

__all__ = [
    "seed_reference",
    "acquisitions_by_sha",
    "acquisitions_by_acq_ids",
    "archive_paths_taken",
    "NewAcquisition",
    "add_acquisitions",
    "storage_problem",
    "column_limit",
    "fit_column",
    "mark_acquisitions_archived",
    "mark_acquisition",
    "acquisitions_in_state",
    "add_rejection",
    "mark_rejection",
    "rejections_in_state",
    "quarantine_path_taken",
    "archive_path_taken",
    "start_run",
    "finish_run",
    "last_runs",
    "recent_rejections",
    "CatalogueCounts",
    "catalogue_counts",
    "all_rejections",
    "band_images_of",
    "export_rows",
    "star_traces",
]


# --------------------------------------------------------------------------- reference data


def seed_reference(session: Session) -> int:
    """Insert satellites, bands and reference stars that are missing (idempotent).

    Returns the number of rows inserted.
    """
    from monitor.io.reference_data import load_star_catalogue

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
    session.commit()
    return n


# --------------------------------------------------------------------------- acquisitions


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
        archive_path=it.archive_path, status="archiving", received_at=it.received_at, archived_at=None,
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
    return dict(acquisition_id=acq_id, focal_mm=g.focal_mm, pixpitch_um=g.pixpitch_um, nsamp=g.nsamp,
                lineper_ms=g.lineper_ms, t0_fore=g.t0_fore, t0_aft=g.t0_aft, pitch_fore_deg=g.pitch_fore_deg,
                pitch_aft_deg=g.pitch_aft_deg)


# ----------------------------------------------------------- what the schema can hold

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


def _table(model: Any) -> sa.Table:
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
        session.execute(sa.update(table).where(table.c.id.in_(list(ids))).values(status="archived",
                                                                                  archived_at=when))


def mark_acquisition(session: Session, acq: Acquisition, status: str, when: datetime | None = None) -> None:
    """Record the outcome of the file move of an acquisition (``archived`` or ``missing``)."""
    acq.status = status
    if status == "archived":
        acq.archived_at = when
    session.add(acq)


def acquisitions_in_state(session: Session, status: str) -> Sequence[Acquisition]:
    return session.exec(select(Acquisition).where(Acquisition.status == status)).all()


def band_images_of(session: Session, acquisition_id: int) -> Sequence[BandImage]:
    return session.exec(select(BandImage).where(BandImage.acquisition_id == acquisition_id)).all()


# --------------------------------------------------------------------------- rejections


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
        state="moving",
    )
    session.add(rej)
    return rej


def mark_rejection(session: Session, rej: Rejection, state: str) -> None:
    rej.state = state
    session.add(rej)


def rejections_in_state(session: Session, state: str) -> Sequence[Rejection]:
    return session.exec(select(Rejection).where(Rejection.state == state)).all()


def quarantine_path_taken(session: Session, quarantine_path: str) -> bool:
    q = select(func.count()).select_from(Rejection).where(Rejection.quarantine_path == quarantine_path)
    return session.exec(q).one() > 0


def recent_rejections(session: Session, limit: int = 10) -> Sequence[Rejection]:
    q = select(Rejection).order_by(col(Rejection.received_at).desc(), col(Rejection.id).desc()).limit(limit)
    return session.exec(q).all()


def all_rejections(
    session: Session, since: datetime | None = None, until: datetime | None = None
) -> Sequence[Rejection]:
    q = select(Rejection)
    if since is not None:
        q = q.where(Rejection.received_at >= since)
    if until is not None:
        q = q.where(Rejection.received_at < until)
    return session.exec(q.order_by(col(Rejection.id))).all()


# --------------------------------------------------------------------------- runs and jobs


def start_run(session: Session, kind: str, now: datetime) -> ProcessingRun:
    """Insert and commit a ``processing_run`` row carrying the versions in use."""
    from monitor.io.reference_data import reference_checksums

    run = ProcessingRun(
        kind=kind,
        code_version=__version__,
        icd_version=ICD_VERSION,
        reference_model=REF_VERSION,
        reference_checksums=reference_checksums(),
        started_at=now,
    )
    session.add(run)
    session.commit()
    session.refresh(run)
    return run


def finish_run(
    session: Session, run: ProcessingRun, now: datetime, outcome: str, message: str = "", n_items: int = 0
) -> None:
    run.finished_at = now
    run.outcome = outcome
    run.message = message[:4000]
    run.n_items = n_items
    session.add(run)
    session.commit()


def last_runs(session: Session, limit: int = 5) -> Sequence[ProcessingRun]:
    q = select(ProcessingRun).order_by(col(ProcessingRun.id).desc()).limit(limit)
    return session.exec(q).all()


# --------------------------------------------------------------------------- status


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


# --------------------------------------------------------------------------- results export


def _latest_ids(model: Any, keys: Sequence[Any]) -> Any:
    """Subquery of the newest row id (max id: rows are append-only) per group of ``keys``."""
    return select(func.max(model.id)).group_by(*keys)


def export_rows(
    session: Session,
    *,
    satellite: str | None = None,
    band: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Rows of the ICD 5 results export (latest version of every result), as plain dicts."""
    from monitor.catalogue.models import (
        DriftResult,
        GeometryResult,
        MoonMeasurement,
        MtfResult,
        StarPhotometry,
        Starpool,
        StarpoolResult,
    )

    def keep(sat: str, b: str | None, epoch: datetime | None) -> bool:
        if satellite is not None and sat != satellite:
            return False
        if band is not None and b != band:  # rows without a band (geometry) are not of that band
            return False
        if epoch is not None and since is not None and epoch < since:
            return False
        return not (epoch is not None and until is not None and epoch >= until)

    out: dict[str, list[dict[str, Any]]] = {
        "calibration": [], "mtf": [], "drift": [], "measurements": [], "geometry": [],
    }
    latest = _latest_ids(StarpoolResult, [StarpoolResult.starpool_id, StarpoolResult.band])
    q = (
        select(StarpoolResult, Starpool)
        .join(Starpool, col(Starpool.id) == col(StarpoolResult.starpool_id))
        .where(col(StarpoolResult.id).in_(latest))
        .order_by(Starpool.satellite, StarpoolResult.band, StarpoolResult.epoch)
    )
    star_a: dict[tuple[str, str], tuple[Any, Any]] = {}  # (acq_id, band) -> corrected (a, a_sigma)
    for res, pool in session.exec(q).all():
        for acq_id, entry in (res.per_star or {}).items():
            star_a[(acq_id, res.band)] = (entry.get("a"), entry.get("a_sigma"))
        if keep(pool.satellite, res.band, res.epoch):
            out["calibration"].append({
                "satellite": pool.satellite, "band": res.band, "method": "STAR", "epoch": res.epoch,
                "a": res.a, "a_sigma": res.a_sigma, "n": res.n_used, "starpool": pool.period_key,
            })
    latest_moon = _latest_ids(MoonMeasurement, [MoonMeasurement.acquisition_id, MoonMeasurement.band])
    qm = (
        select(MoonMeasurement, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(MoonMeasurement.acquisition_id))
        .where(col(MoonMeasurement.id).in_(latest_moon))
        .order_by(Acquisition.satellite, MoonMeasurement.band, Acquisition.date_obs)
    )
    moon_by_acq_band: dict[tuple[int, str], MoonMeasurement] = {}
    for mm, acq in session.exec(qm).all():
        moon_by_acq_band[(mm.acquisition_id, mm.band)] = mm
        # flagged (|g| outside the ICD 2.3 range) and rejected bands are no calibration result
        if mm.a is not None and mm.status == "ok" and keep(acq.satellite, mm.band, acq.date_obs):
            out["calibration"].append({
                "satellite": acq.satellite, "band": mm.band, "method": "MOON", "epoch": acq.date_obs,
                "a": mm.a, "a_sigma": mm.a_sigma, "n": 1, "starpool": None,
            })
    latest_mtf = _latest_ids(MtfResult, [MtfResult.starpool_id, MtfResult.band, MtfResult.direction,
                                         MtfResult.method])
    qf = (
        select(MtfResult, Starpool)
        .join(Starpool, col(Starpool.id) == col(MtfResult.starpool_id))
        .where(col(MtfResult.id).in_(latest_mtf), MtfResult.method == "parametric")
        .order_by(Starpool.satellite, MtfResult.band, Starpool.period_start, MtfResult.direction)
    )
    for mtf, pool in session.exec(qf).all():
        if keep(pool.satellite, mtf.band, pool.period_start):
            out["mtf"].append({
                "satellite": pool.satellite, "band": mtf.band, "direction": mtf.direction,
                "frequency": 0.5, "mtf": mtf.mtf_nyquist, "mtf_sigma": mtf.mtf_nyquist_sigma,
                "starpool": pool.period_key,
            })
    # ICD 5 reports the linear drift (rate_per_year = dA/A per year); the exponential fit is kept
    # in the catalogue and the report as an alternative model.
    latest_drift = _latest_ids(DriftResult, [DriftResult.satellite, DriftResult.band, DriftResult.method,
                                             DriftResult.quantity, DriftResult.model])
    qd = (
        select(DriftResult)
        .where(col(DriftResult.id).in_(latest_drift), DriftResult.quantity == "a", DriftResult.model == "linear")
        .order_by(DriftResult.satellite, DriftResult.band, DriftResult.method)
    )
    for d in session.exec(qd).all():
        if keep(d.satellite, d.band, None):
            out["drift"].append({
                "satellite": d.satellite, "band": d.band, "method": d.method,
                "rate_per_year": d.rate_per_year, "rate_sigma": d.rate_sigma,
                "reference_epoch": d.reference_epoch,
            })
    latest_phot = _latest_ids(StarPhotometry, [StarPhotometry.acquisition_id, StarPhotometry.band])
    phot: dict[tuple[int, str], StarPhotometry] = {
        (p.acquisition_id, p.band): p
        for p in session.exec(select(StarPhotometry).where(col(StarPhotometry.id).in_(latest_phot))).all()
    }
    qa = (
        select(Acquisition, BandImage)
        .join(BandImage, col(BandImage.acquisition_id) == col(Acquisition.id), isouter=True)
        .order_by(Acquisition.date_obs, Acquisition.acq_id, BandImage.id)
    )
    for acq, bimg in session.exec(qa).all():
        b = bimg.band if bimg is not None else None
        if not keep(acq.satellite, b, acq.date_obs):
            continue
        entry: dict[str, Any] = {
            "acq_id": acq.acq_id, "file": acq.file_name, "band": b,
            "status": "ok", "reason": None, "a": None, "a_sigma": None,
        }
        assert acq.id is not None
        result: Any = None
        if b is not None:
            result = phot.get((acq.id, b)) or moon_by_acq_band.get((acq.id, b))
        if result is not None:
            if result.status == "rejected":
                entry["status"], entry["reason"] = "rejected", result.reason
            entry["a"], entry["a_sigma"] = result.a, result.a_sigma
            if result.status == "ok" and (acq.acq_id, b) in star_a:  # EE-corrected, from its starpool
                entry["a"], entry["a_sigma"] = star_a[(acq.acq_id, b)]
        out["measurements"].append(entry)
    for rej in all_rejections(session, since, until):
        if satellite is not None or band is not None:
            continue  # a refused file has no trustworthy satellite/band
        out["measurements"].append({
            "acq_id": rej.acq_id, "file": rej.file_name, "band": None,
            "status": "duplicate" if rej.reason == "duplicate" else "rejected",
            "reason": rej.reason, "a": None, "a_sigma": None,
        })
    latest_geo = _latest_ids(GeometryResult, [GeometryResult.acquisition_id])
    qg = (
        select(GeometryResult, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(GeometryResult.acquisition_id))
        .where(col(GeometryResult.id).in_(latest_geo), GeometryResult.status == "ok")
        .order_by(Acquisition.date_obs)
    )
    for g, acq in session.exec(qg).all():
        if keep(acq.satellite, None, acq.date_obs):
            out["geometry"].append({
                "acq_id": acq.acq_id, "n_control": g.n_control, "n_check": g.n_check,
                "check_rmse_m": {"e": g.check_rmse_e_m, "n": g.check_rmse_n_m, "u": g.check_rmse_u_m},
                "velocity_m_s": [g.velocity_x_m_s, g.velocity_y_m_s, g.velocity_z_m_s],
                "velocity_sigma_m_s": [g.velocity_sigma_x_m_s, g.velocity_sigma_y_m_s, g.velocity_sigma_z_m_s],
                "position_sigma_m": g.position_sigma_m, "orbit_model": g.orbit_model,
            })
    return out


# --------------------------------------------------------------------------- star method


def star_acquisitions_pending(session: Session, satellites: Sequence[str], reprocess_after_run: int | None = None
                              ) -> Sequence[Acquisition]:
    """Archived STAR acquisitions of ``satellites`` without photometry (or, when
    ``reprocess_after_run`` is given, without photometry from a run newer than that id)."""
    from monitor.catalogue.models import StarPhotometry

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


def band_images_by_acquisition(session: Session, acquisition_ids: Sequence[int]) -> dict[int, list[BandImage]]:
    out: dict[int, list[BandImage]] = {i: [] for i in acquisition_ids}
    if not acquisition_ids:
        return out
    q = select(BandImage).where(col(BandImage.acquisition_id).in_(list(acquisition_ids))).order_by(BandImage.id)
    for b in session.exec(q).all():
        out[b.acquisition_id].append(b)
    return out


def add_star_photometry_batch(
    session: Session, items: Sequence[tuple[dict[str, Any], Sequence[dict[str, Any]]]]
) -> None:
    """Insert many bands' photometry (column dicts) and their per-window rows (not committed).

    Core executemany with ``RETURNING`` in parameter order (SQLite >= 3.35, PostgreSQL): no ORM
    object per row, which halved the photometry stage's database time (benchmarks/star.py).
    Columns a dict leaves out take the model's defaults.
    """
    from monitor.catalogue.models import StarPhotometry, StarWindow

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
                           now: datetime) -> Any:
    from monitor.catalogue.models import Starpool

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
    from monitor.catalogue.models import StarpoolMember

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
    from monitor.catalogue.models import Starpool

    if not starpool_ids:
        return
    session.execute(
        sa.update(Starpool)
        .where(col(Starpool.id).in_(sorted(set(starpool_ids))), col(Starpool.pending_since).is_(None))
        .values(pending_since=now)
    )


def starpools_pending(session: Session) -> Sequence[Any]:
    """Starpools (``Starpool``) that owe a recomputation of their results, by id."""
    from monitor.catalogue.models import Starpool

    q = select(Starpool).where(col(Starpool.pending_since).is_not(None)).order_by(col(Starpool.id))
    return session.exec(q).all()


def clear_starpool_pending(session: Session, starpool_id: int) -> None:
    """The starpool's recomputation is done (not committed: commit it with the results)."""
    from monitor.catalogue.models import Starpool

    session.execute(sa.update(Starpool).where(col(Starpool.id) == starpool_id).values(pending_since=None))


@dataclass(frozen=True)
class StarMemberRow:
    """Latest photometry of one starpool member in one band, with its windows."""

    acquisition: Acquisition
    band_image: BandImage
    photometry: Any  # StarPhotometry
    windows: list[Any]  # StarWindow, ordered by half-width


def starpool_member_rows(session: Session, starpool_id: int, band: str) -> list[StarMemberRow]:
    from monitor.catalogue.models import StarPhotometry, StarpoolMember, StarWindow

    members = select(StarpoolMember.acquisition_id).where(StarpoolMember.starpool_id == starpool_id)
    latest = (
        select(func.max(StarPhotometry.id))
        .where(col(StarPhotometry.acquisition_id).in_(members), StarPhotometry.band == band)
        .group_by(StarPhotometry.acquisition_id)
    )
    q = (
        select(StarPhotometry, Acquisition, BandImage)
        .join(Acquisition, col(Acquisition.id) == col(StarPhotometry.acquisition_id))
        .join(BandImage, sa.and_(col(BandImage.acquisition_id) == col(Acquisition.id), BandImage.band == band))
        .where(col(StarPhotometry.id).in_(latest))
        .order_by(Acquisition.date_obs, Acquisition.id)
    )
    rows = session.exec(q).all()
    ids = [p.id for p, _, _ in rows]
    windows: dict[int, list[Any]] = {i: [] for i in ids if i is not None}
    if ids:
        wq = select(StarWindow).where(col(StarWindow.photometry_id).in_(ids)).order_by(StarWindow.half_width_px)
        for w in session.exec(wq).all():
            windows[w.photometry_id].append(w)
    return [StarMemberRow(a, b, p, windows[p.id]) for p, a, b in rows]


def starpool_bands(session: Session, starpool_id: int) -> list[str]:
    from monitor.catalogue.models import StarpoolMember

    members = select(StarpoolMember.acquisition_id).where(StarpoolMember.starpool_id == starpool_id)
    q = select(BandImage.band).where(col(BandImage.acquisition_id).in_(members)).distinct()
    return sorted(session.exec(q).all())


def next_result_version(session: Session, model: Any, **keys: Any) -> int:
    q = select(func.max(model.version))
    for k, v in keys.items():
        q = q.where(getattr(model, k) == v)
    current = session.exec(q).one()
    return 1 if current is None else int(current) + 1


def latest_starpool_results(session: Session, satellite: str, band: str) -> list[tuple[Any, Any]]:
    """(StarpoolResult, Starpool) latest version per starpool, ordered by epoch."""
    from monitor.catalogue.models import Starpool, StarpoolResult

    latest = (
        select(func.max(StarpoolResult.id))
        .join(Starpool, col(Starpool.id) == col(StarpoolResult.starpool_id))
        .where(Starpool.satellite == satellite, StarpoolResult.band == band)
        .group_by(StarpoolResult.starpool_id)
    )
    q = (
        select(StarpoolResult, Starpool)
        .join(Starpool, col(Starpool.id) == col(StarpoolResult.starpool_id))
        .where(col(StarpoolResult.id).in_(latest))
        .order_by(StarpoolResult.epoch)
    )
    return [(r, p) for r, p in session.exec(q).all()]


def star_drift_pending(session: Session) -> list[tuple[str, str]]:
    """(satellite, band) whose STAR drift of A_k owes a refit: a starpool result of a later run
    than the latest drift fit (or no drift fit yet), ordered.

    Derived from the catalogue, so a run interrupted between the starpool results and the drift
    fit is caught up by the next one. Series with fewer than two starpools stay listed (nothing
    can be fitted yet): their check costs one query per run.
    """
    from monitor.catalogue.models import Starpool, StarpoolResult

    results = (
        select(Starpool.satellite, StarpoolResult.band, func.max(StarpoolResult.run_id).label("run_id"))
        .join(Starpool, col(Starpool.id) == col(StarpoolResult.starpool_id))
        .group_by(Starpool.satellite, StarpoolResult.band)
        .subquery()
    )
    return _drift_pending(session, results, "STAR")


def latest_photometry_run_id(session: Session) -> int | None:
    from monitor.catalogue.models import StarPhotometry

    return session.exec(select(func.max(StarPhotometry.run_id))).one()


def add_rows(session: Session, rows: Sequence[Any]) -> None:
    """Insert result rows (append-only history; not committed)."""
    session.add_all(list(rows))


def star_traces(session: Session, satellite: str, band: str, hip: int | None = None) -> list[dict[str, Any]]:
    """Time series of each star's normalised count per window (latest photometry of each
    acquisition), with the ratio to the prediction of its starpool's latest result:
    ``ratio = A_raw(h) / (EE(h) * A_pool)`` (1 when the star behaves as the starpool predicts).

    A star rejected from its starpool (outlier, rejected photometry) is not ``usable`` (its
    ``reason`` says why) and has no ratio: its EE predicts nothing."""
    from monitor.catalogue.models import StarPhotometry, StarpoolMember, StarpoolResult, StarWindow

    latest = (
        select(func.max(StarPhotometry.id)).where(StarPhotometry.band == band).group_by(StarPhotometry.acquisition_id)
    )
    q = (
        select(StarWindow, StarPhotometry, Acquisition, StarpoolMember.starpool_id)
        .join(StarPhotometry, col(StarPhotometry.id) == col(StarWindow.photometry_id))
        .join(Acquisition, col(Acquisition.id) == col(StarPhotometry.acquisition_id))
        .join(StarpoolMember, col(StarpoolMember.acquisition_id) == col(Acquisition.id), isouter=True)
        .where(col(StarPhotometry.id).in_(latest), Acquisition.satellite == satellite)
        .order_by(Acquisition.date_obs, StarWindow.half_width_px)
    )
    if hip is not None:
        q = q.where(Acquisition.hip == hip)
    rows = session.exec(q).all()
    pool_ids = {pid for *_, pid in rows if pid is not None}
    pools: dict[int, StarpoolResult] = {}
    if pool_ids:
        latest_res = (
            select(func.max(StarpoolResult.id))
            .where(col(StarpoolResult.starpool_id).in_(pool_ids), StarpoolResult.band == band)
            .group_by(StarpoolResult.starpool_id)
        )
        for r in session.exec(select(StarpoolResult).where(col(StarpoolResult.id).in_(latest_res))).all():
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


# --------------------------------------------------------------------------- geometry (GEOM, ICD 3)


def geom_acquisitions_pending(session: Session, reprocess_after_run: int | None = None) -> Sequence[Acquisition]:
    """Archived GEOM acquisitions without a geometry result (or, when ``reprocess_after_run`` is
    given, without a geometry result from a run newer than that id), oldest first.

    A ``failed`` result counts as done: the acquisition is retried only by a reprocessing.
    """
    from monitor.catalogue.models import GeometryResult

    done = select(GeometryResult.acquisition_id)
    if reprocess_after_run is not None:
        done = done.where(GeometryResult.run_id > reprocess_after_run)
    q = (
        select(Acquisition)
        .where(Acquisition.acq_type == "GEOM", Acquisition.status == "archived", col(Acquisition.id).not_in(done))
        .order_by(col(Acquisition.date_obs), col(Acquisition.id))
    )
    return session.exec(q).all()


def geom_header_of(session: Session, acquisition_id: int) -> GeomHeaderRow | None:
    """The ICD 3 primary keys of a GEOM acquisition (None when the row is missing)."""
    return session.get(GeomHeaderRow, acquisition_id)


def geometry_results_of(session: Session, acquisition_id: int) -> Sequence[Any]:
    """Every geometry result (``GeometryResult``) of an acquisition, oldest first."""
    from monitor.catalogue.models import GeometryResult

    q = select(GeometryResult).where(GeometryResult.acquisition_id == acquisition_id).order_by(col(GeometryResult.id))
    return session.exec(q).all()


# --------------------------------------------------------------------------- moon method
# Queries of the Moon use-case (monitor.calibration.moon). Rows are append-only: the "latest"
# measurement of an acquisition and band is the one with the highest id.


def moon_acquisitions_pending(session: Session, reprocess_after_run: int | None = None) -> Sequence[Acquisition]:
    """Archived MOON acquisitions without Moon measurements (or, when ``reprocess_after_run`` is
    given, without measurements from a run newer than that id), oldest first."""
    from monitor.catalogue.models import MoonMeasurement

    done = select(MoonMeasurement.acquisition_id)
    if reprocess_after_run is not None:
        done = done.where(MoonMeasurement.run_id > reprocess_after_run)
    q = (
        select(Acquisition)
        .where(Acquisition.acq_type == "MOON", Acquisition.status == "archived",
               col(Acquisition.id).not_in(done))
        .order_by(Acquisition.date_obs, Acquisition.id)
    )
    return session.exec(q).all()


def moon_drift_pending(session: Session) -> list[tuple[str, str]]:
    """(satellite, band) whose MOON drift of A_k owes a refit: a Moon measurement of a later run
    than the latest drift fit (or no drift fit yet), ordered. Series that cannot be fitted yet
    (fewer than two in-trend points) stay listed."""
    from monitor.catalogue.models import MoonMeasurement

    measured = (
        select(Acquisition.satellite, MoonMeasurement.band, func.max(MoonMeasurement.run_id).label("run_id"))
        .join(Acquisition, col(Acquisition.id) == col(MoonMeasurement.acquisition_id))
        .group_by(Acquisition.satellite, MoonMeasurement.band)
        .subquery()
    )
    return _drift_pending(session, measured, "MOON")


def _drift_pending(session: Session, latest: Any, method: str) -> list[tuple[str, str]]:
    """(satellite, band) of ``latest`` (columns satellite, band, run_id) with no ``method`` drift
    fit of A_k from that run or a later one."""
    from monitor.catalogue.models import DriftResult

    fits = (
        select(DriftResult.satellite, DriftResult.band, func.max(DriftResult.run_id).label("run_id"))
        .where(DriftResult.method == method, DriftResult.quantity == "a")
        .group_by(DriftResult.satellite, DriftResult.band)
        .subquery()
    )
    q = (
        sa.select(latest.c.satellite, latest.c.band)
        .outerjoin(fits, sa.and_(fits.c.satellite == latest.c.satellite, fits.c.band == latest.c.band))
        .where(sa.or_(fits.c.run_id.is_(None), latest.c.run_id > fits.c.run_id))
        .order_by(latest.c.satellite, latest.c.band)
    )
    return [(s, b) for s, b in session.execute(q).all()]


def moon_trend_rows(session: Session, satellite: str, band: str) -> list[tuple[Any, Acquisition]]:
    """(MoonMeasurement, Acquisition) of the latest measurement of every acquisition of
    ``satellite`` in ``band`` when that measurement is usable for trends (status ``ok``,
    ``in_trend``, with A), ordered by acquisition time."""
    from monitor.catalogue.models import MoonMeasurement

    latest = (
        select(func.max(MoonMeasurement.id))
        .where(MoonMeasurement.band == band)
        .group_by(MoonMeasurement.acquisition_id)
    )
    q = (
        select(MoonMeasurement, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(MoonMeasurement.acquisition_id))
        .where(col(MoonMeasurement.id).in_(latest), Acquisition.satellite == satellite,
               MoonMeasurement.status == "ok", col(MoonMeasurement.in_trend).is_(True),
               col(MoonMeasurement.a).is_not(None))
        .order_by(Acquisition.date_obs, Acquisition.id)
    )
    return [(m, a) for m, a in session.exec(q).all()]


def moon_measurements_of_run(session: Session, run_id: int) -> list[tuple[Any, Acquisition]]:
    """(MoonMeasurement, Acquisition) inserted by processing run ``run_id``."""
    from monitor.catalogue.models import MoonMeasurement

    q = (
        select(MoonMeasurement, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(MoonMeasurement.acquisition_id))
        .where(MoonMeasurement.run_id == run_id)
        .order_by(Acquisition.date_obs, MoonMeasurement.band)
    )
    return [(m, a) for m, a in session.exec(q).all()]


def moon_trend_bands(session: Session, satellite: str) -> list[str]:
    """Bands of ``satellite`` with at least one Moon measurement."""
    from monitor.catalogue.models import MoonMeasurement

    q = (
        select(MoonMeasurement.band)
        .join(Acquisition, col(Acquisition.id) == col(MoonMeasurement.acquisition_id))
        .where(Acquisition.satellite == satellite)
        .distinct()
    )
    return sorted(session.exec(q).all())
