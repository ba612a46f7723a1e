"""A real ``monitor daemon`` process: short intervals, a real inbox, a real SMTP server (aiosmtpd).

Files arrive and get ingested; a queued report e-mail is delivered by the retry job; a second
daemon on the same catalogue is refused with a clear message; SIGTERM in the middle of an ingest
run lets the run finish and the process exit 0, with every file either archived and catalogued
or still in the inbox.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest
from sqlmodel import Session

from monitor.catalogue import report_queries as rq
from monitor.catalogue import repository as repo
from monitor.settings import Settings, load_settings
from monitor.site import init_site, open_engine
from tests.ingest.files import write_star
from tests.reports.conftest import SmtpServer, _serve


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd), as in the report tests."""
    yield from _serve()


T0 = datetime(2025, 3, 14, 2, 15, tzinfo=UTC)


def _env(settings: Settings, smtp: SmtpServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update({
        "MONITOR_SITE": str(settings.site),
        "MONITOR_DATABASE_URL": settings.database_url,
        "MONITOR_INGEST_SETTLE_SECONDS": "0",
        "MONITOR_INGEST_FAULT_POINT": "slow:0.15",  # every ingest step pauses: SIGTERM lands mid-run
        "MONITOR_INGEST_BATCH_FILES": "2",  # files archived two by two: the inbox drains visibly
        "MONITOR_SCHEDULER_INGEST_MINUTES": "0.03",  # 1.8 s
        "MONITOR_SCHEDULER_EMAIL_RETRY_MINUTES": "0.03",
        "MONITOR_SMTP_HOST": smtp.host,
        "MONITOR_SMTP_PORT": str(smtp.port),
        "MONITOR_SMTP_SENDER": "monitor@example.org",
        "MONITOR_REPORT_RECIPIENTS": "ops@example.org",
        "MONITOR_LOG_LEVEL": "INFO",
        "OMP_NUM_THREADS": "1",
    })
    return env


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _daemon(env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "monitor.cli", "daemon"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def _counts(settings: Settings) -> tuple[int, int]:
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            archived = len(repo.acquisitions_in_state(s, "archived"))
            moving = len(repo.acquisitions_in_state(s, "archiving"))
    finally:
        engine.dispose()
    return archived, moving


def _inbox_fits(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.inbox.iterdir() if p.name.endswith(".fits"))


@pytest.mark.slow
def test_daemon_ingests_mails_refuses_a_second_and_stops_cleanly(
    tmp_path: Path, catalogue_url: str, smtp: SmtpServer
) -> None:
    settings = load_settings(tmp_path / "site", env={"MONITOR_DATABASE_URL": catalogue_url})
    init_site(settings)
    # a report waiting in the outbox (as after an SMTP outage)
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 20 + b"\n%%EOF\n"
    (settings.reports_dir / "monitor-report-2025-02.pdf").write_bytes(pdf)
    engine = open_engine(settings)
    with Session(engine) as s:
        row = rq.add_report(s, period="2025-02", path="reports/monitor-report-2025-02.pdf",
                            sha256=hashlib.sha256(pdf).hexdigest(), pages=1, size_bytes=len(pdf), created_at=T0)
        rq.queue_outbox(s, row.id, ["ops@example.org"], T0)  # type: ignore[arg-type]
        s.commit()
    engine.dispose()
    first_batch = [write_star(settings.inbox, f"a{i}.fits", f"PHR1A-STAR-20250314T0215{i:02d}-00{i:02d}", seed=i,
                              hip=32349).name for i in range(3)]
    env = _env(settings, smtp)
    log1 = tmp_path / "daemon1.log"
    log_file = log1.open("wb")
    d1 = _daemon(env, log_file)
    try:
        _wait(lambda: _counts(settings)[0] == len(first_batch), 60, "the first files to be ingested")
        _wait(lambda: len(smtp.handler.envelopes) == 1, 30, "the queued e-mail")
        assert _inbox_fits(settings) == []

        # a second daemon on the same catalogue is refused, naming the first one
        second = subprocess.run([sys.executable, "-m", "monitor.cli", "daemon"], env=env, capture_output=True,
                                timeout=60)
        assert second.returncode == 1
        assert f"another monitor daemon is running for this catalogue (pid {d1.pid})" in second.stderr.decode()

        # more files arrive; SIGTERM while the next ingest run is moving them
        more = [write_star(settings.inbox, f"b{i}.fits", f"PHR1A-STAR-20250315T0215{i:02d}-01{i:02d}", seed=10 + i,
                           hip=32349).name for i in range(6)]
        _wait(lambda: 0 < len(_inbox_fits(settings)) < len(more), 30, "the second ingest run to start")
        d1.send_signal(signal.SIGTERM)
        assert d1.wait(timeout=60) == 0
    finally:
        if d1.poll() is None:
            d1.kill()
            d1.wait()
        log_file.close()
    out = log1.read_text()
    assert "stop requested; waiting for running jobs to finish" in out
    assert "scheduler stopped" in out

    # nothing lost: every file is catalogued and archived, or still in the inbox; nothing half-moved
    archived, moving = _counts(settings)
    assert moving == 0
    left = _inbox_fits(settings)
    assert archived + len(left) == len(first_batch) + len(more)
    assert not any((settings.work_dir).glob("*")) if settings.work_dir.exists() else True
    assert len(list(settings.archive.rglob("*.fits"))) == archived
    assert len(smtp.handler.envelopes) == 1  # the e-mail went out once

    # status shows the jobs, their next runs and the last runs with their outcome
    status = subprocess.run([sys.executable, "-m", "monitor.cli", "status"], env=env, capture_output=True,
                            timeout=60)
    text = status.stdout.decode()
    assert status.returncode == 0, status.stderr.decode()
    for job in ("ingest", "process", "weekly_report", "monthly_report", "email_retry"):
        assert job in text
    assert "Last job runs" in text and " ok " in text


@pytest.mark.postgres
def test_postgres_advisory_lock_names_the_holder(postgres_url: str) -> None:
    from monitor.catalogue.engine import make_engine

    a, b = make_engine(postgres_url), make_engine(postgres_url)
    try:
        held = rq.acquire_daemon_lock(a)
        with pytest.raises(rq.DaemonLockedError, match=rf"another monitor daemon is running .* \(pid {os.getpid()}\)"):
            rq.acquire_daemon_lock(b)
        held.release()
        rq.acquire_daemon_lock(b).release()  # free again once released
    finally:
        a.dispose()
        b.dispose()
