"""E-mail of the reports and incident messages through the outbox (delivered once per
recipient, never lost).

:func:`send_pending` marks a due row ``sending``, with the Message-ID it will carry stored in the
row, and commits **before** talking to the SMTP server, then marks it ``sent`` when the server
confirmed the message (250 to DATA). A failure puts it back to ``queued`` with exponential
backoff (:func:`monitor.reports.mail.next_retry_delay`); a permanent refusal (5xx for the
recipient) or :data:`MAX_ATTEMPTS` attempts makes it ``failed``.

An attempt interrupted where the server may already have the message (a row still ``sending``
after :data:`SENDING_STALE`: the process was killed or crashed mid-send; or the reply to DATA
never came) is retried automatically, by the next :func:`send_pending` (the daemon's
``email_retry`` job, ``monitor report --send``), with the **same** Message-ID, so that a receiving
system can drop the repeat. The row says so: ``uncertain`` set, ``attempts`` counted, and a note
in ``last_error`` ("interrupted ... retried with the same Message-ID <...>"), kept once sent.
E-mail is thus at least once, with one Message-ID per recipient for deduplication.
``monitor report --resend REPORT_ID`` requeues the ``failed`` rows (same Message-ID) and never
sends a ``sent`` row again; ``--resend REPORT_ID --force`` also sends the confirmed ones again, as
a deliberate new copy with a new Message-ID.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlmodel import Session

from monitor.catalogue import outbox
from monitor.catalogue.models import Outbox
from monitor.catalogue.states import OutboxKind, OutboxStatus
from monitor.reports.mail import (
    MailDeliveryError,
    build_report_message,
    build_text_message,
    domain_of,
    next_retry_delay,
    send_message,
)
from monitor.reports.period import ReportError
from monitor.reports.view import TITLE
from monitor.settings import Settings

__all__ = [
    "SENDING_STALE",
    "MAX_ATTEMPTS",
    "SendSummary",
    "send_pending",
    "resend_report",
]

log = logging.getLogger(__name__)

SENDING_STALE = timedelta(minutes=10)  # a 'sending' row older than this was interrupted


MAX_ATTEMPTS = 20  # ~6 days of backoff (5 min doubling, capped at 12 h), then 'failed'


@dataclass
class SendSummary:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    interrupted: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"e-mail: sent {self.sent}, retrying {self.retrying}, failed {self.failed}"
        if self.interrupted:
            text += f", interrupted earlier (retried with the same Message-ID) {self.interrupted}"
        return text

    @property
    def problems(self) -> list[str]:
        """E-mails not delivered by this run (a job that leaves any reports a failure). An
        interrupted send retried in this run is one only if the retry failed too (in errors)."""
        return list(self.errors)


def _new_message_id(row: Outbox, sender: str) -> str:
    """The Message-ID stored in an outbox row at its first attempt, then sent at every attempt.

    Unique (a random part), so that an operator's forced resend gets a new one. A row queued
    before the ids were stored (``attempts`` > 0, schema 0004) keeps the id the older code derived
    from the row, which its earlier attempts carried.
    """
    what = f"report-{row.report_id}" if row.kind == OutboxKind.REPORT else f"{row.kind}-{row.incident_id}"
    if row.attempts > 0:
        return f"<monitor-{what}-{row.id}@{domain_of(sender)}>"
    return f"<monitor-{what}-{row.id}.{secrets.token_hex(6)}@{domain_of(sender)}>"


def _message_of(session: Session, settings: Settings, row: Outbox) -> tuple[EmailMessage | None, str]:
    """The e-mail of an outbox row, or ``(None, reason)`` when it can never be sent (the report
    file is gone or changed since it was archived)."""
    sender = settings.smtp.sender
    if row.kind != OutboxKind.REPORT:
        return build_text_message(sender=sender, recipients=[row.recipient], subject=row.subject,
                                  body_text=row.body, message_id=row.message_id), ""
    assert row.report_id is not None
    report = outbox.report_by_id(session, row.report_id)
    assert report is not None
    pdf_path = settings.site / report.path
    try:
        pdf = pdf_path.read_bytes()
    except OSError as exc:
        return None, f"cannot read the report file {report.path}: {exc.strerror or exc}"
    if hashlib.sha256(pdf).hexdigest() != report.sha256:
        return None, f"report file {report.path} changed since it was archived (SHA-256 mismatch)"
    body_path = pdf_path.with_suffix(".txt")
    body = body_path.read_text(encoding="utf-8") if body_path.is_file() else (
        f"{TITLE}: report {report.period} attached.\n")
    return build_report_message(
        sender=sender, recipients=[row.recipient], subject=f"[monitor] calibration report {report.period}",
        body_text=body, pdf_bytes=pdf, pdf_filename=pdf_path.name, message_id=row.message_id,
    ), ""


def _what(row: Outbox) -> str:
    """What an outbox row carries, for the log: ``report 12``, ``alert of incident 3``."""
    return f"report {row.report_id}" if row.kind == OutboxKind.REPORT else f"{row.kind} of incident {row.incident_id}"


def _record(session: Session, row: Outbox, **values: object) -> None:
    """Record the outcome of one attempt (a unit of work of its own: committed)."""
    outbox.save_outbox(session, row, **values)
    session.commit()


def send_pending(session: Session, settings: Settings, now: datetime) -> SendSummary:
    """Send every due outbox row once (see the module docstring for the state machine): report
    PDFs and the alert/recovery e-mails of incidents alike."""
    summary = SendSummary()
    for row in outbox.stale_sending(session, now - SENDING_STALE):
        # killed or crashed mid-send: the server may have the message; retry now, same Message-ID
        what = _what(row)
        attempts = row.attempts + 1
        note = (f"attempt {attempts} interrupted (started {row.next_attempt_at:%Y-%m-%dT%H:%M:%SZ}; process "
                f"killed or crashed mid-send): {row.recipient} may have it; retried with the same Message-ID "
                f"{row.message_id}")
        requeued = outbox.requeue_interrupted(session, row, now, attempts=attempts, uncertain=True,
                                              last_error=note[:2000])
        session.commit()
        if requeued:
            log.warning("outbox %s (%s): %s", row.id, what, note)
            summary.interrupted += 1
    for row in outbox.due_outbox(session, now):
        assert row.id is not None
        claimed = outbox.claim_outbox(session, row.id, now, _new_message_id(row, settings.smtp.sender))
        session.commit()  # the claim and its Message-ID, before the SMTP conversation
        if claimed is None:
            continue  # another sender took it
        row = claimed
        attempts = row.attempts + 1
        what = _what(row)
        try:
            message, error = _message_of(session, settings, row)
        except OSError as exc:  # transient (the body file): back in the queue
            _record(session, row, status=OutboxStatus.QUEUED, attempts=row.attempts, last_error=str(exc)[:2000])
            summary.retrying += 1
            summary.errors.append(str(exc))
            continue
        if message is None:
            _record(session, row, status=OutboxStatus.FAILED, attempts=attempts, last_error=error)
            log.error("outbox %s (%s): %s", row.id, what, error)
            summary.failed += 1
            summary.errors.append(error)
            continue
        try:
            send_message(settings.smtp, message)
        except MailDeliveryError as exc:
            permanent = any(int(code) >= 500 for code, _ in exc.refused.values())
            uncertain = row.uncertain or exc.uncertain
            error = str(exc) + (f"; retried with the same Message-ID {row.message_id}" if exc.uncertain else "")
            if permanent or attempts >= MAX_ATTEMPTS:
                why = "refused permanently" if permanent else f"gave up after {attempts} attempts"
                _record(session, row, status=OutboxStatus.FAILED, attempts=attempts, uncertain=uncertain,
                        last_error=f"{why}: {error}"[:2000])
                log.error("outbox %s (%s to %s): %s: %s", row.id, what, row.recipient, why, error)
                summary.failed += 1
            else:
                delay = next_retry_delay(attempts)
                _record(session, row, status=OutboxStatus.QUEUED, attempts=attempts, next_attempt_at=now + delay,
                        uncertain=uncertain, last_error=error[:2000])
                log.warning("outbox %s (%s to %s): attempt %d failed, retry in %s: %s", row.id, what,
                            row.recipient, attempts, delay, exc)
                summary.retrying += 1
            summary.errors.append(str(exc))
            continue
        note = ""
        if row.uncertain:  # the recipient may see it twice: both copies carry this one Message-ID
            note = (f"sent at attempt {attempts} with the same Message-ID {row.message_id} as an earlier, "
                    f"interrupted attempt; before: {row.last_error}")[:2000]
        _record(session, row, status=OutboxStatus.SENT, attempts=attempts, sent_at=now, last_error=note)
        log.info("outbox %s (%s) sent to %s%s", row.id, what, row.recipient,
                 " (same Message-ID as an interrupted attempt)" if row.uncertain else "")
        summary.sent += 1
    return summary


def resend_report(session: Session, settings: Settings, now: datetime, report_id: int,
                  force: bool = False) -> tuple[int, SendSummary]:
    """Requeue the failed e-mails of a report (and queue recipients added since), then send.

    Rows already ``sent`` (the server confirmed them) are never sent again, unless ``force``: then
    they go again as a new copy with a new Message-ID. Returns (rows queued, send summary).

    Raises
    ------
    ReportError
        Unknown report, or no recipient / SMTP host configured.
    """
    report = outbox.report_by_id(session, report_id)
    if report is None:
        raise ReportError(f"no report with id {report_id}")
    if not settings.smtp.host:
        raise ReportError("--resend: e-mail is disabled ([smtp] host is empty in monitor.toml)")
    requeued = outbox.requeue_failed(session, report_id, now, force=force)
    added = outbox.queue_outbox(session, report_id, settings.report.recipients, now)
    session.commit()
    if not requeued and not added:
        return 0, send_pending(session, settings, now)
    return len(requeued) + len(added), send_pending(session, settings, now)
