"""APScheduler 3.x wiring: job ids, triggers, job defaults, the job store and the daemon loop.

All schedules are UTC. Jobs are registered at every start with fixed ids and
``replace_existing=True``: the persistent job store only caches ``next_run_time``, the code is the
source of truth (a renamed job function can never leave a stale pickled job behind for long).
Job callables are textual references (``monitor.scheduler.jobs:<name>``) without arguments, so
the pickled job state holds no objects.

Job defaults: ``coalesce=True`` (a backlog after downtime collapses into one run),
``max_instances=1`` (never two runs of the same job at once) and an explicit
``misfire_grace_time`` (APScheduler's default of 1 s silently drops runs after a restart or while
the single worker is busy). The weekly and monthly reports get ``report_grace_hours``.

One worker thread: jobs run one after another, so ingest, processing, reports and the e-mail
retry never compete for the catalogue (SQLite) or the two CPU cores; a queued run waits for the
previous one and still runs as long as it is within its grace time.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from monitor.settings import ConfigError, Settings

__all__ = [
    "JOB_IDS",
    "JOBS_MODULE",
    "JOB_DEFAULTS_GRACE_S",
    "INTERVAL_EPOCH",
    "job_defaults",
    "cron_trigger",
    "register_jobs",
    "build_scheduler",
    "scheduled_jobs",
    "run_daemon",
]

log = logging.getLogger(__name__)

JOBS_MODULE = "monitor.scheduler.jobs"
JOB_IDS = ("ingest", "process", "weekly_report", "monthly_report", "email_retry")
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


def register_jobs(scheduler: BaseScheduler, settings: Settings) -> None:
    """Add (or replace) the five jobs of the daemon.

    ========================  =====================================  =======================
    id                        trigger                                misfire grace
    ========================  =====================================  =======================
    ``ingest``                every ``scheduler.ingest_minutes``     default (1 h)
    ``process``               same period, 1 min after ingest        default (1 h)
    ``weekly_report``         ``report.weekly_cron`` (UTC)           ``report_grace_hours``
    ``monthly_report``        ``report.monthly_cron`` (UTC)          ``report_grace_hours``
    ``email_retry``           every ``scheduler.email_retry_minutes``  default (1 h)
    ========================  =====================================  =======================
    """
    sch = settings.scheduler
    report_grace_s = int(sch.report_grace_hours * 3600)
    specs: list[tuple[str, Any, dict[str, Any]]] = [
        ("ingest", _interval(sch.ingest_minutes), {}),
        ("process", _interval(sch.ingest_minutes, PROCESS_OFFSET_S), {}),
        ("weekly_report", cron_trigger(settings.report.weekly_cron), {"misfire_grace_time": report_grace_s}),
        ("monthly_report", cron_trigger(settings.report.monthly_cron), {"misfire_grace_time": report_grace_s}),
        ("email_retry", _interval(sch.email_retry_minutes), {}),
    ]
    for job_id, trigger, extra in specs:
        scheduler.add_job(
            f"{JOBS_MODULE}:{job_id}",
            trigger=trigger,
            id=job_id,
            name=job_id,
            replace_existing=True,
            **extra,
        )
    log.info("registered jobs: %s", ", ".join(j for j, _, _ in specs))


def build_scheduler(engine: Engine | None, settings: Settings) -> BackgroundScheduler:
    """A (not yet started) UTC BackgroundScheduler with the job store on ``engine``.

    ``engine=None`` keeps jobs in memory (tests). The job store's table ``apscheduler_jobs`` lives
    in the catalogue database and is created by APScheduler; Alembic must ignore it
    (``include_name`` filter in ``migrations/env.py``).
    """
    jobstores: dict[str, Any] = {}
    if engine is not None:
        jobstores["default"] = SQLAlchemyJobStore(engine=engine)
    return BackgroundScheduler(
        jobstores=jobstores,
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults=job_defaults(settings),
        timezone=UTC,
    )


def scheduled_jobs(engine: Engine, settings: Settings) -> list[tuple[str, datetime | None]]:
    """``(job id, next run time UTC or None when paused)`` as stored by the daemon, sorted by id.

    For ``monitor status``: reads only the id and next-run columns of APScheduler's own table
    (no unpickling, so a CLI of another code version can never make the store drop a job).
    Empty when the daemon has never run on this catalogue.
    """
    import sqlalchemy as sa

    store = SQLAlchemyJobStore(engine=engine)
    if not sa.inspect(engine).has_table(store.jobs_t.name):
        return []
    table = store.jobs_t
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.id, table.c.next_run_time).order_by(table.c.id)).all()
    return [(str(i), None if t is None else datetime.fromtimestamp(float(t), UTC)) for i, t in rows]


def run_daemon(settings: Settings, stop_event: threading.Event | None = None) -> int:
    """Run the scheduler until SIGTERM/SIGINT (or ``stop_event``) then stop cleanly.

    Pattern A of notes/ecosystem.md §1.4: the signal handlers only set an event; the main thread
    waits for it and then calls ``shutdown(wait=True)``, which lets a running job finish. Give
    systemd a ``TimeoutStopSec`` longer than the longest job. Returns the process exit code (0).

    Only one daemon may run per catalogue: a second one raises
    :class:`monitor.catalogue.report_queries.DaemonLockedError` ("another monitor daemon is
    running for this catalogue (pid N)") before touching the job store.
    """
    from monitor.catalogue.engine import make_engine
    from monitor.catalogue.report_queries import acquire_daemon_lock

    stop = stop_event or threading.Event()
    engine = make_engine(settings.database_url, settings.database_password)
    try:
        lock = acquire_daemon_lock(engine)  # one daemon per catalogue (DaemonLockedError otherwise)
    except BaseException:
        engine.dispose()
        raise
    log.info("daemon pid %d holds the catalogue lock (%s)", os.getpid(), lock.description)
    scheduler = build_scheduler(engine, settings)
    register_jobs(scheduler, settings)

    previous: dict[signal.Signals, Any] = {}
    in_main = threading.current_thread() is threading.main_thread()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    if in_main:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _on_signal)
    try:
        scheduler.start()
        log.info(
            "scheduler started; next runs: %s",
            ", ".join(
                f"{j.id} {j.next_run_time:%Y-%m-%dT%H:%MZ}" for j in scheduler.get_jobs() if j.next_run_time is not None
            ),
        )
        while not stop.wait(timeout=1.0):
            pass
        log.info("stop requested; waiting for running jobs to finish")
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        lock.release()
        engine.dispose()
    log.info("scheduler stopped")
    return 0
