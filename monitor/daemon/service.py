"""``monitor daemon``: the scheduler, its job runner, the catalogue lock and the heartbeat.

The settings are resolved once, by the command line, from ``--site``, ``MONITOR_SITE`` or the
working directory; every job's child process gets exactly that settings object, so a daemon
started with ``--site /srv/site`` from any directory works on /srv/site only.

The main thread (a ``BackgroundScheduler`` shut down with ``wait=True`` outside the signal handler: APScheduler 3
user guide, "Shutting down the scheduler"): the signal handlers only set an event; the
loop wakes every second and, on its own clock,

- verifies the catalogue lock (``[scheduler] lock_check_seconds``): a lost PostgreSQL lock is
  taken again when the server is back; if another daemon took it meanwhile, this daemon kills
  its running jobs and exits 1 (so that systemd restarts it, and it is then refused cleanly);
- writes the job runs kept in memory while the catalogue was unreachable;
- writes the heartbeat (``daemon_state``) and the schedule (``scheduled_job``);
- checks that the scheduler thread is alive (exit 1 otherwise: a daemon that schedules nothing
  must not look healthy).

On SIGTERM/SIGINT the scheduler is shut down with ``wait=True``: running jobs finish (each within
its own time limit) and the process exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine
from sqlmodel import Session

from monitor import __version__
from monitor.catalogue import operations as ops
from monitor.catalogue.engine import make_engine
from monitor.daemon.lock import DaemonLock, DaemonLockLostError, acquire_daemon_lock
from monitor.daemon.runner import JobRunner
from monitor.failures import is_transient
from monitor.scheduler.wiring import JOB_IDS, build_scheduler, catch_up_reports, next_runs, register_jobs
from monitor.settings import Settings

__all__ = ["run_daemon", "HEARTBEAT_S"]

log = logging.getLogger(__name__)

HEARTBEAT_S = 30.0  # s between two heartbeats (monitor check: stale after a few of them)


def _now() -> datetime:
    return datetime.now(UTC)


class _Daemon:
    def __init__(self, settings: Settings, engine: Engine, lock: DaemonLock) -> None:
        self.settings = settings
        self.engine = engine
        self.lock = lock
        self.started = _now()
        self.scheduler: BackgroundScheduler = build_scheduler(settings)
        self.runner = JobRunner(settings, engine, lambda: self.lock.held, on_mail=self.mail_now)
        register_jobs(self.scheduler, settings, self.runner.run)

    def mail_now(self) -> None:
        """Bring the e-mail job forward (alert and recovery e-mails were queued)."""
        try:
            self.scheduler.modify_job("email_retry", next_run_time=_now())
        except Exception:  # noqa: BLE001 - the regular run sends them anyway
            log.warning("could not bring the e-mail job forward; it sends at its next run")

    def _db(self, what: str, work: Any) -> bool:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                work(session)
                session.commit()
            return True
        except Exception as exc:
            if is_transient(exc):
                log.warning("%s: catalogue unreachable: %s", what, str(exc).strip().splitlines()[0])
            else:
                log.exception("%s failed", what)
            return False

    def write_state(self) -> None:
        now = _now()
        schedule = [(job_id, next_run, self.settings.scheduler.timeout_s(job_id))
                    for job_id, next_run in next_runs(self.scheduler)]

        def write(session: Session) -> None:
            ops.save_daemon_state(session, pid=os.getpid(), host=socket.gethostname(), code_version=__version__,
                                  started_at=self.started, heartbeat_at=now)
            ops.save_schedule(session, schedule, now)

        self._db("heartbeat", write)

    def start(self) -> None:
        self._db("runs left running by a previous daemon", lambda s: _interrupted(s, self.started))
        self.scheduler.start(paused=True)
        catch_up_reports(self.scheduler, self.settings, _now())
        self.write_state()
        self.scheduler.resume()
        log.info("scheduler started; next runs: %s", ", ".join(
            f"{job_id} {t:%Y-%m-%dT%H:%M:%SZ}" for job_id, t in next_runs(self.scheduler) if t is not None))

    def loop(self, stop: threading.Event) -> int:
        """Until ``stop`` is set; returns the exit code (1 when the daemon must not go on)."""
        check_s = self.settings.scheduler.lock_check_seconds
        next_check = next_beat = time.monotonic()
        while not stop.wait(timeout=1.0):
            now = time.monotonic()
            if now >= next_check:
                next_check = now + check_s
                try:
                    self.lock.verify()
                except DaemonLockLostError as exc:
                    log.critical("%s", exc)
                    self.scheduler.shutdown(wait=False)
                    self.runner.kill_all("the catalogue lock is held by another daemon")
                    return 1
                if self.lock.held:
                    self.runner.flush()
            if not _scheduler_alive(self.scheduler):
                log.critical("the scheduler thread has stopped; exiting so that the service manager restarts "
                             "the daemon")
                return 1
            if now >= next_beat:
                next_beat = now + HEARTBEAT_S
                if self.lock.held:
                    self.write_state()
        log.info("stop requested; waiting for running jobs to finish")
        return 0


def _interrupted(session: Session, now: datetime) -> None:
    n = ops.interrupt_running_job_runs(session, now)
    if n:
        log.warning("%d job run(s) were still 'running' from a daemon that died: marked 'interrupted'", n)


def _scheduler_alive(scheduler: BackgroundScheduler) -> bool:
    thread = getattr(scheduler, "_thread", None)  # APScheduler 3 keeps its main loop thread here
    return bool(scheduler.running and thread is not None and thread.is_alive())


def run_daemon(settings: Settings, stop_event: threading.Event | None = None) -> int:
    """Run the scheduler until SIGTERM/SIGINT (or ``stop_event``), then stop cleanly.

    Returns the process exit code: 0 after a requested stop, 1 when the daemon lost its lock to
    another daemon or its scheduler thread died.

    Raises
    ------
    monitor.daemon.lock.DaemonLockedError
        Another daemon holds the catalogue's lock ("another monitor daemon is running for this
        catalogue (pid N)"); nothing was started.
    """
    stop = stop_event or threading.Event()
    engine = make_engine(settings.database_url, settings.database_password)
    try:
        lock = acquire_daemon_lock(engine)
    except BaseException:
        engine.dispose()
        raise
    log.info("daemon pid %d holds the catalogue lock (%s); site %s; jobs %s", os.getpid(), lock.description,
             settings.site, ", ".join(JOB_IDS))
    if not settings.alerts.recipients or not settings.smtp.host:
        log.warning("no alert e-mails ([alerts] recipients or [smtp] host empty): incidents only show in "
                    "'monitor status' and 'monitor check'")
    daemon = _Daemon(settings, engine, lock)
    previous: dict[signal.Signals, Any] = {}

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _on_signal)
    code = 1
    try:
        daemon.start()
        code = daemon.loop(stop)
    finally:
        if daemon.scheduler.running:
            daemon.scheduler.shutdown(wait=True)
        daemon.runner.flush()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        lock.release()
        engine.dispose()
    log.info("scheduler stopped")
    return code
