"""Incidents: tell a person when a job keeps failing, once, and again when it recovers.

After every finished job run (:func:`after_job_run`):

- a failure (``failed``, ``timeout``, ``crashed``) that makes ``[alerts] after_failures``
  consecutive failures of that job, while no incident is open for it, opens one and queues ONE
  alert e-mail per ``[alerts] recipients`` address in the same commit; further failures only
  update the open incident (no e-mail: never a storm);
- a success closes the open incident and queues ONE "recovered" e-mail per recipient, in the same
  commit.

The e-mails go through the outbox (:mod:`monitor.catalogue.outbox`), so they are retried like
report e-mails and sent at most once; the unique ``incident.open_job_id`` allows one open
incident per job whatever happens. Messages never carry a secret: the SMTP and database passwords
are scrubbed from everything that is stored or sent.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from monitor.catalogue import operations as ops
from monitor.catalogue import outbox
from monitor.catalogue.engine import redact_url
from monitor.catalogue.models import Incident
from monitor.catalogue.states import FAILED_OUTCOMES, JobOutcome, OutboxKind
from monitor.settings import Settings

__all__ = ["IncidentChange", "after_job_run", "scrub"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncidentChange:
    """What :func:`after_job_run` did: ``opened`` or ``closed`` an incident, with e-mails queued."""

    kind: str  # opened, closed
    incident_id: int
    job_id: str
    emails: int


def scrub(text: str, settings: Settings) -> str:
    """``text`` with the configured secrets replaced by ``***``."""
    for secret in (settings.smtp.password, settings.database_password):
        if secret:
            text = text.replace(secret, "***")
    return text


def _first_lines(text: str, n: int = 12) -> str:
    lines = text.strip().splitlines()
    return "\n".join(lines[-n:]) if len(lines) > n else "\n".join(lines)


def _where(settings: Settings) -> str:
    return f"site {settings.site} on {socket.gethostname()}, catalogue {redact_url(settings.database_url)}"


def _alert_text(settings: Settings, inc: Incident) -> tuple[str, str]:
    subject = f"[monitor] ALERT: job {inc.job_id} failed {inc.failures} times in a row"
    body = (
        f"The monitor daemon's job '{inc.job_id}' has failed {inc.failures} consecutive times "
        f"([alerts] after_failures = {settings.alerts.after_failures}).\n\n"
        f"Where:          {_where(settings)}\n"
        f"First failure:  {inc.first_failure_at:%Y-%m-%d %H:%M:%S} UTC\n"
        f"Last failure:   {inc.last_failure_at:%Y-%m-%d %H:%M:%S} UTC ({inc.last_outcome})\n\n"
        f"Last message:\n{_first_lines(inc.last_message)}\n\n"
        "The work the job could not do stays pending and is retried at every scheduled run; nothing\n"
        "is lost. See 'monitor status' (open incidents, last job runs) and the daemon's log\n"
        "(journalctl -u monitor). This is the only alert for this incident; one e-mail will say when\n"
        f"the job succeeds again (incident #{inc.id}).\n"
    )
    return subject, scrub(body, settings)


def _recovery_text(settings: Settings, inc: Incident) -> tuple[str, str]:
    assert inc.closed_at is not None
    subject = f"[monitor] RECOVERED: job {inc.job_id} succeeds again"
    body = (
        f"The monitor daemon's job '{inc.job_id}' succeeded again at {inc.closed_at:%Y-%m-%d %H:%M:%S} UTC, "
        f"after {inc.failures} consecutive failures\n"
        f"(from {inc.first_failure_at:%Y-%m-%d %H:%M:%S} to {inc.last_failure_at:%Y-%m-%d %H:%M:%S} UTC; "
        f"incident #{inc.id} is closed).\n\n"
        f"Where: {_where(settings)}\n"
    )
    return subject, scrub(body, settings)


def after_job_run(session: Session, settings: Settings, job_id: str, outcome: str, message: str,
                  finished_at: datetime) -> IncidentChange | None:
    """Open, update or close the incident of ``job_id`` after a finished run (committed).

    The run itself must already be recorded in ``job_run`` (the consecutive failures are counted
    there). Returns what changed when an incident was opened or closed, else None.
    """
    current = ops.open_incident(session, job_id)
    recipients = settings.alerts.recipients if settings.smtp.host else ()
    if outcome == JobOutcome.OK:
        if current is None:
            return None
        current.open_job_id = None
        current.closed_at = finished_at
        ops.save_incident(session, current)
        assert current.id is not None
        subject, body = _recovery_text(settings, current)
        mails = outbox.queue_incident_mail(session, current.id, OutboxKind.RECOVERY, recipients, subject, body,
                                           finished_at)
        session.commit()
        log.warning("incident #%d closed: job %s succeeds again after %d failures", current.id, job_id,
                    current.failures)
        return IncidentChange("closed", current.id, job_id, len(mails))
    if outcome not in FAILED_OUTCOMES:
        return None
    text = scrub(message, settings)[-2000:]
    if current is not None:
        current.failures += 1
        current.last_failure_at = finished_at
        current.last_outcome = outcome
        current.last_message = text
        ops.save_incident(session, current)
        session.commit()
        return None
    threshold = settings.alerts.after_failures
    streak = ops.consecutive_failures(session, job_id, threshold)
    if len(streak) < threshold:
        return None
    incident = ops.add_incident(session, Incident(
        job_id=job_id, open_job_id=job_id, opened_at=finished_at, first_failure_at=streak[-1].started_at,
        last_failure_at=finished_at, failures=len(streak), last_outcome=outcome, last_message=text))
    assert incident.id is not None
    subject, body = _alert_text(settings, incident)
    mails = outbox.queue_incident_mail(session, incident.id, OutboxKind.ALERT, recipients, subject, body, finished_at)
    session.commit()
    if not recipients:
        log.error("incident #%d opened: job %s failed %d times in a row; no alert e-mail (no [alerts] recipients "
                  "or no [smtp] host): see 'monitor status'", incident.id, job_id, len(streak))
    else:
        log.error("incident #%d opened: job %s failed %d times in a row; alert queued for %d recipient(s)",
                  incident.id, job_id, len(streak), len(mails))
    return IncidentChange("opened", incident.id, job_id, len(mails))
