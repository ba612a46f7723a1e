"""Catalogue queries of the report use-case (the e-mails are in :mod:`monitor.catalogue.outbox`).

Everything the PDF report reads lives here, so
``monitor.reports.service`` never builds SQL. Results are the latest version of each append-only
row (max id per group), restricted to epochs before a report's period end.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, func, select

from monitor.catalogue.models import (
    Acquisition,
    Alert,
    DriftResult,
    GeometryResult,
    MoonMeasurement,
    MtfResult,
    ProcessingRun,
    Rejection,
    Report,
    StarPhotometry,
    Starpool,
    StarpoolResult,
)
from monitor.catalogue.mtf_queries import latest_mtf_history

__all__ = [
    "starpool_history",
    "latest_drift",
    "alerts_of_run",
    "mtf_history",
    "moon_history",
    "geometry_in",
    "rejections_in",
    "star_rejections_in",
    "moon_rejections_in",
    "run_code_versions",
    "add_report",
    "report_by_id",
    "reports_of_period",
]


# --------------------------------------------------------------------------- results


def starpool_history(
    session: Session, satellite: str, band: str, since: datetime, until: datetime
) -> list[tuple[StarpoolResult, Starpool]]:
    """Latest result version of each starpool of ``satellite``/``band`` with ``since <= epoch < until``."""
    latest = (
        select(func.max(StarpoolResult.id))
        .join(Starpool, col(Starpool.id) == col(StarpoolResult.starpool_id))
        .where(Starpool.satellite == satellite, StarpoolResult.band == band)
        .group_by(StarpoolResult.starpool_id)
    )
    q = (
        select(StarpoolResult, Starpool)
        .join(Starpool, col(Starpool.id) == col(StarpoolResult.starpool_id))
        .where(col(StarpoolResult.id).in_(latest), StarpoolResult.epoch >= since, StarpoolResult.epoch < until)
        .order_by(StarpoolResult.epoch)
    )
    return [(r, p) for r, p in session.exec(q).all()]


def latest_drift(
    session: Session, satellite: str, band: str, method: str, quantity: str = "a", model: str = "linear"
) -> DriftResult | None:
    """Newest drift fit of one satellite, band, method and quantity (``a``, ``mtf_along``...)."""
    q = (
        select(DriftResult)
        .where(DriftResult.satellite == satellite, DriftResult.band == band, DriftResult.method == method,
               DriftResult.quantity == quantity, DriftResult.model == model)
        .order_by(col(DriftResult.id).desc())
        .limit(1)
    )
    return session.exec(q).first()


def alerts_of_run(session: Session, run_id: int, satellite: str, band: str, method: str) -> list[Alert]:
    """Alerts raised by processing run ``run_id`` for one satellite, band and method."""
    q = (
        select(Alert)
        .where(Alert.run_id == run_id, Alert.satellite == satellite, Alert.band == band, Alert.method == method)
        .order_by(Alert.id)
    )
    return list(session.exec(q).all())


def mtf_history(
    session: Session, satellite: str, band: str, direction: str, until: datetime, since: datetime | None = None,
    method: str = "parametric",
) -> list[tuple[MtfResult, Starpool]]:
    """Latest MTF (``parametric`` fit or ``epsf`` cross-check) of each starpool starting before
    ``until`` (and ending after ``since``)."""
    return latest_mtf_history(session, satellite, band, direction, method, until=until, since=since)


def moon_history(
    session: Session, satellite: str, since: datetime, until: datetime
) -> list[tuple[MoonMeasurement, Acquisition]]:
    """Latest Moon measurement per acquisition and band with a value of A, ``since <= date_obs < until``."""
    latest = select(func.max(MoonMeasurement.id)).group_by(MoonMeasurement.acquisition_id, MoonMeasurement.band)
    q = (
        select(MoonMeasurement, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(MoonMeasurement.acquisition_id))
        .where(col(MoonMeasurement.id).in_(latest), Acquisition.satellite == satellite,
               Acquisition.date_obs >= since, Acquisition.date_obs < until,
               MoonMeasurement.status != "rejected", col(MoonMeasurement.a).is_not(None))
        .order_by(Acquisition.date_obs, MoonMeasurement.band)
    )
    return [(m, a) for m, a in session.exec(q).all()]


def moon_rejections_in(
    session: Session, satellite: str, since: datetime, until: datetime
) -> list[tuple[MoonMeasurement, Acquisition]]:
    """Latest Moon measurements refused by processing, ``since <= date_obs < until``."""
    latest = select(func.max(MoonMeasurement.id)).group_by(MoonMeasurement.acquisition_id, MoonMeasurement.band)
    q = (
        select(MoonMeasurement, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(MoonMeasurement.acquisition_id))
        .where(col(MoonMeasurement.id).in_(latest), Acquisition.satellite == satellite,
               Acquisition.date_obs >= since, Acquisition.date_obs < until, MoonMeasurement.status == "rejected")
        .order_by(Acquisition.date_obs, MoonMeasurement.band)
    )
    return [(m, a) for m, a in session.exec(q).all()]


def star_rejections_in(
    session: Session, satellite: str, since: datetime, until: datetime
) -> list[tuple[StarPhotometry, Acquisition]]:
    """Latest star photometry refused by processing (saturated, off-frame...), ``since <= date_obs < until``."""
    latest = select(func.max(StarPhotometry.id)).group_by(StarPhotometry.acquisition_id, StarPhotometry.band)
    q = (
        select(StarPhotometry, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(StarPhotometry.acquisition_id))
        .where(col(StarPhotometry.id).in_(latest), Acquisition.satellite == satellite,
               Acquisition.date_obs >= since, Acquisition.date_obs < until, StarPhotometry.status == "rejected")
        .order_by(Acquisition.date_obs, StarPhotometry.band)
    )
    return [(p, a) for p, a in session.exec(q).all()]


def geometry_in(
    session: Session, satellite: str, since: datetime, until: datetime
) -> list[tuple[GeometryResult, Acquisition]]:
    """Latest successful geometry result per GEOM acquisition, ``since <= date_obs < until``."""
    latest = select(func.max(GeometryResult.id)).group_by(GeometryResult.acquisition_id)
    q = (
        select(GeometryResult, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(GeometryResult.acquisition_id))
        .where(col(GeometryResult.id).in_(latest), GeometryResult.status == "ok",
               Acquisition.satellite == satellite, Acquisition.date_obs >= since, Acquisition.date_obs < until)
        .order_by(Acquisition.date_obs)
    )
    return [(g, a) for g, a in session.exec(q).all()]


def rejections_in(session: Session, since: datetime, until: datetime) -> list[Rejection]:
    """Files refused at ingest (and duplicate deliveries) received in ``[since, until)``."""
    q = (
        select(Rejection)
        .where(Rejection.received_at >= since, Rejection.received_at < until)
        .order_by(Rejection.received_at, Rejection.id)
    )
    return list(session.exec(q).all())


def run_code_versions(session: Session, run_ids: Sequence[int]) -> list[str]:
    """Distinct ``code_version (ICD, reference model)`` of the given processing runs."""
    if not run_ids:
        return []
    q = (
        select(ProcessingRun.code_version, ProcessingRun.icd_version, ProcessingRun.reference_model)
        .where(col(ProcessingRun.id).in_(sorted(set(run_ids))))
        .distinct()
    )
    return sorted(f"{c} ({i}, {r})" for c, i, r in session.exec(q).all())


# --------------------------------------------------------------------------- reports


def add_report(
    session: Session, *, period: str, path: str, sha256: str, pages: int, size_bytes: int, created_at: datetime
) -> Report:
    """Insert a report row (flushed, not committed: the caller commits it with its outbox rows)."""
    row = Report(period=period, path=path, sha256=sha256, pages=pages, size_bytes=size_bytes, created_at=created_at)
    session.add(row)
    session.flush()
    return row


def report_by_id(session: Session, report_id: int) -> Report | None:
    return session.get(Report, report_id)


def reports_of_period(session: Session, period: str) -> list[Report]:
    return list(session.exec(select(Report).where(Report.period == period).order_by(Report.id)).all())
