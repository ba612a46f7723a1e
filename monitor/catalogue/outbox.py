"""The archived reports (``report``: path, SHA-256, pages) and the outbox: every e-mail the system
sends (report PDFs, incident alerts and recoveries).

One row per message and recipient. A row is claimed (``queued`` -> ``sending``, its Message-ID
stored; the sender commits the claim) before the SMTP conversation and marked ``sent`` once the
server confirmed it (250 to DATA); a confirmed row is never sent again (except by an operator's
forced resend). An attempt interrupted mid-send is retried with the same Message-ID
(``uncertain`` set), so that a receiver can drop the repeat. The unique constraints ``(report_id, recipient)`` and
``(incident_id, kind, recipient)`` are the last guard against a second e-mail of the same thing to
the same person. The state machine itself is in :func:`monitor.reports.delivery.send_pending`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from monitor.catalogue.models import (
    Outbox,
    Report,
)
from monitor.catalogue.states import OutboxKind, OutboxStatus

__all__ = [
    "archived_reports",
    "queue_outbox",
    "queue_incident_mail",
    "outbox_of_report",
    "outbox_of_incident",
    "stale_sending",
    "due_outbox",
    "claim_outbox",
    "requeue_interrupted",
    "save_outbox",
    "requeue_failed",
    "oldest_queued",
    "undelivered",
    "add_report",
    "report_by_id",
    "reports_of_period",
]


def queue_outbox(session: Session, report_id: int, recipients: Sequence[str], now: datetime) -> list[Outbox]:
    """Add a queued outbox row for each recipient that has none for this report (not committed).

    A recipient that already has a row (sent, queued or failed) is left alone.
    """
    have = set(session.exec(select(Outbox.recipient).where(Outbox.report_id == report_id)).all())
    rows = []
    for rcpt in dict.fromkeys(recipients):  # keep order, drop repeats
        if rcpt in have:
            continue
        row = Outbox(kind=OutboxKind.REPORT, report_id=report_id, recipient=rcpt, status=OutboxStatus.QUEUED,
                     attempts=0, next_attempt_at=now, created_at=now)
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def queue_incident_mail(
    session: Session, incident_id: int, kind: OutboxKind, recipients: Sequence[str], subject: str, body: str,
    now: datetime,
) -> list[Outbox]:
    """Queue the ``alert`` or ``recovery`` e-mail of an incident for each recipient (not committed)."""
    have = set(session.exec(
        select(Outbox.recipient).where(Outbox.incident_id == incident_id, Outbox.kind == kind)).all())
    rows = []
    for rcpt in dict.fromkeys(recipients):
        if rcpt in have:
            continue
        row = Outbox(kind=kind, incident_id=incident_id, subject=subject[:255], body=body[:8000], recipient=rcpt,
                     status=OutboxStatus.QUEUED, attempts=0, next_attempt_at=now, created_at=now)
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def outbox_of_report(session: Session, report_id: int) -> list[Outbox]:
    return list(session.exec(select(Outbox).where(Outbox.report_id == report_id).order_by(col(Outbox.id))).all())


def outbox_of_incident(session: Session, incident_id: int) -> list[Outbox]:
    return list(session.exec(select(Outbox).where(Outbox.incident_id == incident_id).order_by(col(Outbox.id))).all())


def stale_sending(session: Session, started_before: datetime) -> list[Outbox]:
    """Rows left in ``sending`` whose attempt started before ``started_before`` (a crash mid-send)."""
    q = (
        select(Outbox)
        .where(Outbox.status == OutboxStatus.SENDING, Outbox.next_attempt_at < started_before)
        .order_by(col(Outbox.id))
    )
    return list(session.exec(q).all())


def due_outbox(session: Session, now: datetime) -> list[Outbox]:
    """Queued rows whose next attempt is due, oldest first."""
    q = (select(Outbox).where(Outbox.status == OutboxStatus.QUEUED, Outbox.next_attempt_at <= now)
         .order_by(col(Outbox.id)))
    return list(session.exec(q).all())


def claim_outbox(session: Session, outbox_id: int, now: datetime, message_id: str) -> Outbox | None:
    """Atomically move one row from ``queued`` to ``sending``; return the fresh row. The caller
    commits the claim before it talks to the SMTP server.

    ``next_attempt_at`` becomes the start of this attempt (used to recognise a stale ``sending``
    row after a crash). ``message_id`` is stored if the row has none yet: from then on, every
    attempt sends the row's stored Message-ID. None when another process claimed or changed the
    row first.
    """
    result = session.execute(
        sa.update(Outbox)
        .where(col(Outbox.id) == outbox_id, col(Outbox.status) == OutboxStatus.QUEUED)
        .values(status=OutboxStatus.SENDING, next_attempt_at=now,
                message_id=sa.case((col(Outbox.message_id) == "", message_id), else_=col(Outbox.message_id)))
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return session.get(Outbox, outbox_id, populate_existing=True)


def requeue_interrupted(session: Session, row: Outbox, now: datetime, **values: Any) -> bool:
    """Put a stale ``sending`` row back in the queue (due ``now``) with ``values``.

    Only if the row is still in the attempt it was found in (same status and start time): an
    attempt that finished meanwhile is left as it ended. Returns whether the row was requeued.
    """
    result = session.execute(
        sa.update(Outbox)
        .where(col(Outbox.id) == row.id, col(Outbox.status) == OutboxStatus.SENDING,
               col(Outbox.next_attempt_at) == row.next_attempt_at)
        .values(status=OutboxStatus.QUEUED, next_attempt_at=now, **values)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def save_outbox(session: Session, row: Outbox, **values: Any) -> None:
    """Set fields of an outbox row (as it is in the database now)."""
    fresh = session.get(Outbox, row.id, populate_existing=True)
    assert fresh is not None
    for k, v in values.items():
        setattr(fresh, k, v)
    session.add(fresh)


def requeue_failed(session: Session, report_id: int, now: datetime, force: bool = False) -> list[Outbox]:
    """Put the ``failed`` rows of a report back in the queue, due now.

    They keep their Message-ID (an earlier attempt may have reached the recipient). Rows
    ``sent`` (confirmed by the server) are left alone, unless ``force``: then they are queued
    again as a deliberate new copy, with a new Message-ID (assigned at the next attempt) so that a
    receiver does not drop it as a repeat.
    """
    wanted = (OutboxStatus.FAILED, OutboxStatus.SENT) if force else (OutboxStatus.FAILED,)
    rows = list(session.exec(
        select(Outbox).where(Outbox.report_id == report_id, col(Outbox.status).in_(wanted)).order_by(col(Outbox.id))
    ).all())
    for row in rows:
        when = f"{now:%Y-%m-%dT%H:%M:%SZ}"
        if row.status == OutboxStatus.SENT:
            sent = f"{row.sent_at:%Y-%m-%dT%H:%M:%SZ}" if row.sent_at else "?"
            row.last_error = (f"forced resend by the operator at {when} (a new copy with a new Message-ID); "
                              f"before: sent {sent} with Message-ID {row.message_id or '?'}")[:2000]
            row.message_id = ""
            row.attempts = 0
            row.uncertain = False
            row.sent_at = None
        else:
            row.last_error = f"requeued by the operator at {when}; before: {row.last_error}"[:2000]
        row.status = OutboxStatus.QUEUED
        row.next_attempt_at = now
        session.add(row)
    return rows


def oldest_queued(session: Session) -> tuple[int, datetime | None]:
    """(number of e-mails waiting to be sent, creation time of the oldest)."""
    n, oldest = session.exec(
        select(func.count(), func.min(Outbox.created_at))
        .where(col(Outbox.status).in_((OutboxStatus.QUEUED, OutboxStatus.SENDING)))
    ).one()
    return int(n), oldest


def undelivered(session: Session, limit: int = 20) -> list[Outbox]:
    """E-mails not confirmed by the server (``queued``, ``sending``, ``failed``), plus ``sent``
    ones an interrupted attempt may have duplicated (``uncertain``): newest first, at most ``limit``."""
    q = (
        select(Outbox)
        .where(sa.or_(col(Outbox.status).in_((OutboxStatus.QUEUED, OutboxStatus.SENDING, OutboxStatus.FAILED)),
                      col(Outbox.uncertain)))
        .order_by(col(Outbox.id).desc())
        .limit(limit)
    )
    return list(session.exec(q).all())


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


def archived_reports(session: Session, limit: int | None = None) -> list[tuple[Report, dict[str, int], int]]:
    """The archived reports, newest first (at most ``limit``), each with the number of its e-mails
    in each :class:`OutboxStatus` (only the states it has) and how many are ``uncertain``. Two queries."""
    q = select(Report).order_by(col(Report.created_at).desc(), col(Report.id).desc())
    if limit is not None:
        q = q.limit(limit)
    reports = list(session.exec(q).all())
    counts: dict[int, dict[str, int]] = {r.id: {} for r in reports if r.id is not None}
    uncertain: dict[int, int] = dict.fromkeys(counts, 0)
    if counts:
        rows = session.exec(
            select(Outbox.report_id, Outbox.status, func.count(),
                   func.sum(sa.case((col(Outbox.uncertain), 1), else_=0)))
            .where(col(Outbox.report_id).in_(list(counts)), Outbox.kind == OutboxKind.REPORT)
            .group_by(col(Outbox.report_id), Outbox.status)
        ).all()
        for report_id, status, n, n_uncertain in rows:
            assert report_id is not None
            counts[report_id][status] = int(n)
            uncertain[report_id] += int(n_uncertain or 0)
    return [(r, counts[r.id], uncertain[r.id]) for r in reports if r.id is not None]
