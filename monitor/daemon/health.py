"""Health of a site for operators: ``monitor status --format json`` and ``monitor check``.

:func:`collect_health` reads, without changing anything: whether a daemon holds the catalogue
lock (and its heartbeat), the schedule it wrote, the last run of each job, the open incidents and
the backlog (complete files waiting in the inbox, archived acquisitions without processing
results, e-mails waiting). :func:`check_health` turns that into the reasons a monitoring probe
must fail for; ``monitor check`` prints them and exits 1 when there is any.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from monitor.catalogue import operations as ops
from monitor.catalogue import outbox
from monitor.daemon.lock import daemon_holder
from monitor.daemon.service import HEARTBEAT_S
from monitor.settings import Settings

__all__ = ["Health", "collect_health", "check_health", "health_json"]


@dataclass(frozen=True)
class JobHealth:
    job_id: str
    next_run_at: datetime | None
    timeout_s: float | None
    last_outcome: str | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_message: str


@dataclass(frozen=True)
class IncidentHealth:
    id: int
    job_id: str
    opened_at: datetime
    first_failure_at: datetime
    last_failure_at: datetime
    failures: int
    last_outcome: str
    last_message: str


@dataclass(frozen=True)
class Backlog:
    inbox_files: int  # complete-looking files waiting in the inbox
    inbox_oldest_at: datetime | None  # modification time of the oldest
    processing: dict[str, int]  # STAR/MOON/GEOM archived acquisitions without results
    processing_oldest_at: datetime | None  # received_at of the oldest
    emails: int  # queued or being sent
    emails_oldest_at: datetime | None


@dataclass(frozen=True)
class Health:
    site: str
    checked_at: datetime
    daemon_running: bool
    daemon_pid: str | None
    daemon_host: str | None
    daemon_started_at: datetime | None
    heartbeat_at: datetime | None
    jobs: list[JobHealth] = field(default_factory=list)
    incidents: list[IncidentHealth] = field(default_factory=list)
    backlog: Backlog | None = None


def _inbox_backlog(settings: Settings) -> tuple[int, datetime | None]:
    """Entries of the inbox that are neither markers, partial nor hidden files (no file is opened)."""
    from datetime import UTC

    n, oldest = 0, None
    try:
        entries = list(os.scandir(settings.inbox))
    except OSError:
        return 0, None
    for entry in entries:
        name = entry.name
        if name.startswith(".") or name.endswith((".done", ".part", ".tmp")):
            continue
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        n += 1
        t = datetime.fromtimestamp(mtime, UTC)
        oldest = t if oldest is None or t < oldest else oldest
    return n, oldest


def collect_health(session: Session, settings: Settings, now: datetime) -> Health:
    """What ``monitor status --format json`` shows (read-only)."""
    engine = session.get_bind()
    pid = daemon_holder(engine)  # type: ignore[arg-type]
    state = ops.daemon_state(session)
    last = ops.last_run_of_each_job(session)
    sched = {j.job_id: j for j in ops.schedule(session)}
    jobs = []
    for job_id in sorted(set(sched) | set(last)):
        s, r = sched.get(job_id), last.get(job_id)
        jobs.append(JobHealth(
            job_id=job_id, next_run_at=s.next_run_at if s else None, timeout_s=s.timeout_s if s else None,
            last_outcome=r.outcome if r else None, last_started_at=r.started_at if r else None,
            last_finished_at=r.finished_at if r else None,
            last_message=(r.message.strip().splitlines() or [""])[0][:300] if r else ""))
    incidents = [IncidentHealth(id=i.id or 0, job_id=i.job_id, opened_at=i.opened_at,
                                first_failure_at=i.first_failure_at, last_failure_at=i.last_failure_at,
                                failures=i.failures, last_outcome=i.last_outcome,
                                last_message=(i.last_message.strip().splitlines() or [""])[0][:300])
                 for i in ops.open_incidents(session)]
    inbox_n, inbox_oldest = _inbox_backlog(settings)
    processing = ops.processing_backlog(session)
    n_mail, mail_oldest = outbox.oldest_queued(session)
    return Health(
        site=str(settings.site), checked_at=now, daemon_running=pid is not None, daemon_pid=pid,
        daemon_host=state.host if state else None, daemon_started_at=state.started_at if state else None,
        heartbeat_at=state.heartbeat_at if state else None, jobs=jobs, incidents=incidents,
        backlog=Backlog(inbox_files=inbox_n, inbox_oldest_at=inbox_oldest, processing=processing.counts,
                        processing_oldest_at=processing.oldest_received_at, emails=n_mail,
                        emails_oldest_at=mail_oldest),
    )


def _hours(now: datetime, t: datetime | None) -> float:
    return 0.0 if t is None else (now - t).total_seconds() / 3600.0


def check_health(health: Health, settings: Settings, max_backlog_hours: float | None = None) -> list[str]:
    """The reasons a monitoring probe must fail for (empty: healthy)."""
    now = health.checked_at
    limit_h = settings.alerts.backlog_hours if max_backlog_hours is None else max_backlog_hours
    problems = []
    if not health.daemon_running:
        problems.append("the daemon is not running (nobody holds the catalogue lock)")
    elif health.heartbeat_at is not None:
        stale_s = (now - health.heartbeat_at).total_seconds()
        if stale_s > 4 * HEARTBEAT_S + settings.scheduler.lock_check_seconds:
            problems.append(f"the daemon (pid {health.daemon_pid}) has not checked in for {stale_s:.0f} s")
    for inc in health.incidents:
        problems.append(f"open incident #{inc.id}: job {inc.job_id} failed {inc.failures} times in a row since "
                        f"{inc.first_failure_at:%Y-%m-%dT%H:%M:%SZ} (last: {inc.last_outcome}: {inc.last_message})")
    b = health.backlog
    if b is not None:
        for what, n, oldest in (("file(s) waiting in the inbox", b.inbox_files, b.inbox_oldest_at),
                                ("acquisition(s) waiting for processing", sum(b.processing.values()),
                                 b.processing_oldest_at),
                                ("e-mail(s) waiting to be sent", b.emails, b.emails_oldest_at)):
            age = _hours(now, oldest)
            if n and age > limit_h:
                problems.append(f"{n} {what}, the oldest for {age:.1f} h (limit {limit_h:g} h)")
    return problems


def health_json(health: Health) -> dict[str, Any]:
    """The JSON document of ``monitor status --format json`` (ISO 8601 UTC times)."""

    def conv(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return conv(asdict(health))  # type: ignore[no-any-return]
