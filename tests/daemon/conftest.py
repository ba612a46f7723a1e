"""Fixtures of the daemon tests: a real ``monitor daemon`` subprocess (through tests/harness.py),
a real SMTP server, a real site."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest
from sqlmodel import Session, select

from monitor.catalogue import outbox
from monitor.catalogue.models import JobRun
from monitor.settings import Settings
from monitor.site import open_engine
from tests.harness import REPO_ROOT, command
from tests.reports.conftest import SmtpServer, _serve


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd), as in the report tests."""
    yield from _serve()


def daemon_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a daemon on ``settings``' catalogue: no MONITOR_SITE (the site is given
    with --site), the harness importable from anywhere, short intervals."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update({
        "PYTHONPATH": str(REPO_ROOT),
        "MONITOR_DATABASE_URL": settings.database_url,
        "MONITOR_INGEST_SETTLE_SECONDS": "0",
        "MONITOR_SCHEDULER_INGEST_MINUTES": "0.05",  # 3 s
        "MONITOR_SCHEDULER_PROCESS_MINUTES": "0.25",  # 15 s: a processing child costs ~3 s of CPU
        "MONITOR_SCHEDULER_EMAIL_RETRY_MINUTES": "0.1",  # 6 s; alert e-mails are brought forward anyway
        "MONITOR_SCHEDULER_LOCK_CHECK_SECONDS": "1",
        # report runs on 29 February only: no missed report is caught up at start, whatever the date
        "MONITOR_REPORT_WEEKLY_CRON": "0 6 29 2 *",
        "MONITOR_REPORT_MONTHLY_CRON": "0 6 29 2 *",
        "MONITOR_LOG_LEVEL": "INFO",
        "OMP_NUM_THREADS": "1",
    })
    env.update(extra)
    return env


def smtp_env(smtp: SmtpServer) -> dict[str, str]:
    return {"MONITOR_SMTP_HOST": smtp.host, "MONITOR_SMTP_PORT": str(smtp.port),
            "MONITOR_SMTP_SECURITY": "none",  # the test server is a plain relay without login
            "MONITOR_SMTP_SENDER": "monitor@example.org"}


def start_daemon(settings: Settings, env: dict[str, str], cwd: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """``monitor daemon --site SITE`` started from ``cwd``."""
    return subprocess.Popen(command("daemon", "--site", str(settings.site)), env=env, cwd=cwd, stdout=log,
                            stderr=subprocess.STDOUT)


def stop_daemon(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """SIGTERM, then wait; kills it if it does not stop in time (and fails the test)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("the daemon did not stop after SIGTERM") from None


def queue_report_mail(settings: Settings, recipient: str = "ops@example.org") -> None:
    """A report PDF archived in the site with one e-mail waiting in the outbox (as after an SMTP
    outage): the e-mail job has something to send."""
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 20 + b"\n%%EOF\n"
    (settings.reports_dir / "monitor-report-2025-02.pdf").write_bytes(pdf)
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            row = outbox.add_report(s, period="2025-02", path="reports/monitor-report-2025-02.pdf",
                                sha256=hashlib.sha256(pdf).hexdigest(), pages=1, size_bytes=len(pdf),
                                created_at=datetime(2025, 3, 14, 2, 15, tzinfo=UTC))
            assert row.id is not None
            outbox.queue_outbox(s, row.id, [recipient], row.created_at)
            s.commit()
    finally:
        engine.dispose()


def wait_for(cond: Callable[[], bool], timeout: float, what: str, step: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def job_runs(settings: Settings, job_id: str | None = None) -> list[JobRun]:
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            q = select(JobRun).order_by(JobRun.id)  # type: ignore[arg-type]
            if job_id is not None:
                q = q.where(JobRun.job_id == job_id)
            return list(s.exec(q).all())
    finally:
        engine.dispose()
