"""Catalogue queries of the report use-case, the outbox (report e-mail) and the daemon lock.

Everything the PDF report reads and every state change of the outbox lives here, so
``monitor.reports.service`` never builds SQL. Results are the latest version of each append-only
row (max id per group), restricted to epochs before a report's period end.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, col, func, select

from monitor.catalogue.models import (
    Acquisition,
    Alert,
    DriftResult,
    GeometryResult,
    MoonMeasurement,
    MtfResult,
    Outbox,
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
    "queue_outbox",
    "outbox_of_report",
    "stale_sending",
    "due_outbox",
    "claim_outbox",
    "save_outbox",
    "requeue_failed",
    "DaemonLock",
    "DaemonLockedError",
    "acquire_daemon_lock",
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


# --------------------------------------------------------------------------- outbox


def queue_outbox(session: Session, report_id: int, recipients: Sequence[str], now: datetime) -> list[Outbox]:
    """Add a queued outbox row for each recipient that has none for this report (not committed).

    A recipient that already has a row (sent, queued or failed) is left alone: the unique
    ``(report_id, recipient)`` constraint is the last guard against a second e-mail.
    """
    have = set(session.exec(select(Outbox.recipient).where(Outbox.report_id == report_id)).all())
    rows = []
    for rcpt in dict.fromkeys(recipients):  # keep order, drop repeats
        if rcpt in have:
            continue
        row = Outbox(report_id=report_id, recipient=rcpt, status="queued", attempts=0, next_attempt_at=now,
                     created_at=now)
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def outbox_of_report(session: Session, report_id: int) -> list[Outbox]:
    return list(session.exec(select(Outbox).where(Outbox.report_id == report_id).order_by(Outbox.id)).all())


def stale_sending(session: Session, started_before: datetime) -> list[Outbox]:
    """Rows left in ``sending`` whose attempt started before ``started_before`` (a crash mid-send)."""
    q = (
        select(Outbox)
        .where(Outbox.status == "sending", Outbox.next_attempt_at < started_before)
        .order_by(Outbox.id)
    )
    return list(session.exec(q).all())


def due_outbox(session: Session, now: datetime) -> list[Outbox]:
    """Queued rows whose next attempt is due, oldest first."""
    q = select(Outbox).where(Outbox.status == "queued", Outbox.next_attempt_at <= now).order_by(Outbox.id)
    return list(session.exec(q).all())


def claim_outbox(session: Session, outbox_id: int, now: datetime) -> bool:
    """Atomically move one row from ``queued`` to ``sending`` and COMMIT.

    ``next_attempt_at`` becomes the start of this attempt (used to recognise a stale ``sending``
    row after a crash). False when another process claimed or changed the row first.
    """
    result = session.execute(
        sa.update(Outbox)
        .where(col(Outbox.id) == outbox_id, col(Outbox.status) == "queued")
        .values(status="sending", next_attempt_at=now)
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0) == 1)


def save_outbox(session: Session, row: Outbox, **values: Any) -> None:
    """Set fields of an outbox row and COMMIT."""
    fresh = session.get(Outbox, row.id, populate_existing=True)
    assert fresh is not None
    for k, v in values.items():
        setattr(fresh, k, v)
    session.add(fresh)
    session.commit()


def requeue_failed(session: Session, report_id: int, now: datetime) -> list[Outbox]:
    """Put the ``failed`` rows of a report back in the queue, due now (committed)."""
    rows = list(session.exec(select(Outbox).where(Outbox.report_id == report_id, Outbox.status == "failed")).all())
    for row in rows:
        row.status = "queued"
        row.next_attempt_at = now
        row.last_error = f"requeued by the operator at {now:%Y-%m-%dT%H:%M:%SZ}; before: {row.last_error}"[:2000]
        session.add(row)
    session.commit()
    return rows


# --------------------------------------------------------------------------- one daemon per catalogue


class DaemonLockedError(RuntimeError):
    """Another daemon holds the catalogue's lock."""


_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"monitor-daemon").digest()[:8], "big", signed=True)


@dataclass
class DaemonLock:
    """A held daemon lock; :meth:`release` (or process exit) frees it."""

    description: str
    _file: Any = None
    _conn: Any = None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_LOCK_KEY})")
            finally:
                self._conn.close()
                self._conn = None


def acquire_daemon_lock(engine: Engine) -> DaemonLock:
    """Take the one-daemon-per-catalogue lock, or raise :class:`DaemonLockedError`.

    SQLite: ``fcntl.flock`` on ``<database file>.daemon.lock`` (holding the daemon's pid).
    PostgreSQL: ``pg_try_advisory_lock`` on a dedicated connection kept open while the daemon
    runs; its ``application_name`` carries the pid so a refused daemon can name the holder.
    Both locks vanish with the process, so a killed daemon never blocks the next one.
    """
    url = engine.url
    if url.get_backend_name() == "sqlite":
        db = url.database or ""
        if db in ("", ":memory:"):
            return DaemonLock("in-memory catalogue (no lock)")
        path = Path(db + ".daemon.lock")
        f = path.open("a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "unknown"
            f.close()
            raise DaemonLockedError(
                f"another monitor daemon is running for this catalogue (pid {pid}); lock file {path}"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        return DaemonLock(f"lock file {path}", _file=f)
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        conn.exec_driver_sql(f"SET application_name = 'monitor-daemon pid={os.getpid()}'")
        got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({_PG_LOCK_KEY})").scalar()
        if not got:
            holder = conn.exec_driver_sql(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted "
                f"AND l.classid::text = '{(_PG_LOCK_KEY >> 32) & 0xFFFFFFFF}' "
                f"AND l.objid::text = '{_PG_LOCK_KEY & 0xFFFFFFFF}' AND l.objsubid = 1 "
                "LIMIT 1"
            ).scalar()
            pid = str(holder).rsplit("pid=", 1)[-1] if holder and "pid=" in str(holder) else "unknown"
            raise DaemonLockedError(
                f"another monitor daemon is running for this catalogue (pid {pid}); "
                f"PostgreSQL advisory lock on {make_url(url).render_as_string(hide_password=True)}"
            )
    except BaseException:
        conn.close()
        raise
    return DaemonLock(f"PostgreSQL advisory lock {_PG_LOCK_KEY}", _conn=conn)
