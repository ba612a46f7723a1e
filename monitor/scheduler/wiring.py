"""APScheduler 3.x wiring: job ids, triggers, job defaults and the scheduler object.

All schedules are UTC. Jobs are registered at every start with fixed ids; the callable is the
daemon's job runner (:mod:`monitor.daemon.runner`) with the job id as its only argument: this
module knows nothing of processes, catalogues or use-cases.

Job defaults: ``coalesce=True`` (a backlog after downtime collapses into one run),
``max_instances=1`` (never two runs of the same job at once) and an explicit
``misfire_grace_time`` (APScheduler's default of 1 s silently drops late runs). The weekly and
monthly reports get ``report_grace_hours``.

One thread per job: each job waits for its own child process, so a job that hangs until its
time limit never delays the others (ingest keeps running while a stuck e-mail job is killed).

The job store is in memory. The schedule is a pure function of the settings, and APScheduler's
``SQLAlchemyJobStore`` in the catalogue bought nothing but risk: jobs re-registered at start get
their next run time from the trigger anyway, and when the database went away between two of its
calls (``get_due_jobs`` then ``update_job``) the scheduler thread died while the daemon looked
healthy. Missed report runs are caught up at start instead (:func:`catch_up_reports`), and the
daemon writes its schedule into the catalogue for ``monitor status`` (``scheduled_job``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.settings import ConfigError, Settings

__all__ = [
    "JOB_IDS",
    "REPORT_JOBS",
    "JOB_DEFAULTS_GRACE_S",
    "INTERVAL_EPOCH",
    "job_defaults",
    "cron_trigger",
    "register_jobs",
    "build_scheduler",
    "catch_up_reports",
    "next_runs",
]

log = logging.getLogger(__name__)

JOB_IDS = ("ingest", "process", "weekly_report", "monthly_report", "email_retry")
REPORT_JOBS = ("weekly_report", "monthly_report")
JOB_DEFAULTS_GRACE_S = 3600  # s; interval jobs: a run up to 1 h late still runs
INTERVAL_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # interval runs are aligned on multiples from here
PROCESS_OFFSET_S = 60.0  # processing fires 1 min after ingest on the same period

_CRON_DOW = {"0": "sun", "1": "mon", "2": "tue", "3": "wed", "4": "thu", "5": "fri", "6": "sat", "7": "sun"}


def job_defaults(settings: Settings) -> dict[str, Any]:
    """Scheduler-wide job defaults (asserted in tests)."""
    return {"coalesce": True, "max_instances": 1, "misfire_grace_time": JOB_DEFAULTS_GRACE_S}


def cron_trigger(expr: str) -> CronTrigger:
    """A UTC trigger from a standard 5-field crontab expression.

    APScheduler 3.x numbers weekdays from Monday = 0 while cron uses Sunday = 0 (APScheduler
    issue #286); numeric day-of-week values are therefore translated to names (cron meaning)
    before they reach APScheduler. Step values (``*/2``) are left alone.

    Raises
    ------
    ConfigError
        Not 5 fields, or a value APScheduler rejects.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(f"cron expression needs 5 fields (min hour dom month dow): {expr!r}")
    minute, hour, dom, month, dow = fields
    parts = []
    for part in dow.split(","):
        base, sep, step = part.partition("/")
        base = re.sub(r"\d+", lambda m: _CRON_DOW.get(m.group(0), m.group(0)), base)
        parts.append(base + sep + step)
    try:
        return CronTrigger(minute=minute, hour=hour, day=dom, month=month, day_of_week=",".join(parts), timezone=UTC)
    except ValueError as exc:
        raise ConfigError(f"invalid cron expression {expr!r}: {exc}") from exc


def _interval(minutes: float, offset_s: float = 0.0) -> IntervalTrigger:
    if minutes <= 0:
        raise ConfigError(f"interval must be positive, got {minutes} min")
    return IntervalTrigger(
        seconds=minutes * 60.0, start_date=INTERVAL_EPOCH + timedelta(seconds=offset_s), timezone=UTC
    )


def register_jobs(scheduler: BaseScheduler, settings: Settings, run: Callable[[str], object]) -> None:
    """Add (or replace) the five jobs of the daemon; each calls ``run(job_id)``.

    ========================  =====================================  =======================
    id                        trigger                                misfire grace
    ========================  =====================================  =======================
    ``ingest``                every ``scheduler.ingest_minutes``     default (1 h)
    ``process``               ``process_minutes`` (0: ingest's      default (1 h)
                              period), 1 min after ingest
    ``weekly_report``         ``report.weekly_cron`` (UTC)           ``report_grace_hours``
    ``monthly_report``        ``report.monthly_cron`` (UTC)          ``report_grace_hours``
    ``email_retry``           every ``scheduler.email_retry_minutes``  default (1 h)
    ========================  =====================================  =======================
    """
    for job_id, trigger, extra in _specs(settings):
        scheduler.add_job(run, trigger=trigger, args=(job_id,), id=job_id, name=job_id, replace_existing=True,
                          **extra)
    log.info("registered jobs: %s", ", ".join(JOB_IDS))


def _specs(settings: Settings) -> list[tuple[str, Any, dict[str, Any]]]:
    sch = settings.scheduler
    report_grace_s = int(sch.report_grace_hours * 3600)
    return [
        ("ingest", _interval(sch.ingest_minutes), {}),
        ("process", _interval(sch.process_minutes or sch.ingest_minutes, PROCESS_OFFSET_S), {}),
        ("weekly_report", cron_trigger(settings.report.weekly_cron), {"misfire_grace_time": report_grace_s}),
        ("monthly_report", cron_trigger(settings.report.monthly_cron), {"misfire_grace_time": report_grace_s}),
        ("email_retry", _interval(sch.email_retry_minutes), {}),
    ]


def build_scheduler(settings: Settings) -> BackgroundScheduler:
    """A (not yet started) UTC BackgroundScheduler: memory job store, one thread per job."""
    return BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=len(JOB_IDS))},
        job_defaults=job_defaults(settings),
        timezone=UTC,
    )


def catch_up_reports(scheduler: BaseScheduler, settings: Settings, now: datetime) -> list[str]:
    """Run now the report jobs whose scheduled time passed less than ``report_grace_hours`` ago.

    A daemon that was down at 06:00 on the 1st still makes the monthly report when it comes back
    within the grace; the report use-case makes a scheduled period once, so a restart after the
    report was made costs nothing. Returns the ids of the jobs brought forward.
    """
    grace = timedelta(hours=settings.scheduler.report_grace_hours)
    caught = []
    for job_id in REPORT_JOBS:
        job = scheduler.get_job(job_id)
        if job is None:
            continue
        fire = job.trigger.get_next_fire_time(None, now - grace)
        if fire is not None and fire <= now:
            job.modify(next_run_time=now)
            caught.append(job_id)
            log.info("%s: the run of %s was missed while the daemon was down; running it now", job_id,
                     f"{fire:%Y-%m-%dT%H:%MZ}")
    return caught


def next_runs(scheduler: BaseScheduler) -> list[tuple[str, datetime | None]]:
    """``(job id, next run time UTC or None when paused)`` sorted by id."""
    return sorted((j.id, j.next_run_time.astimezone(UTC) if j.next_run_time else None) for j in scheduler.get_jobs())
