"""A real ``monitor daemon --site SITE`` started from an unrelated directory, without MONITOR_SITE.

Files arrive and get ingested into SITE's catalogue by the jobs' child processes; a queued
report e-mail is delivered by the e-mail job; a second daemon on the same catalogue is refused
with a clear message; SIGTERM in the middle of an ingest run lets the run finish and the process
exit 0, with every file either archived and catalogued or still in the inbox; nothing is ever
created in the working directory; ``monitor status`` and ``monitor check`` tell the truth.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from sqlmodel import Session

from monitor.catalogue import acquisitions
from monitor.daemon import lock as daemon_lock
from monitor.settings import Settings, load_settings
from monitor.site import init_site, open_engine
from tests.harness import INGEST_FAULT_ENV, command
from tests.ingest.files import write_star
from tests.reports.conftest import SmtpServer

from .conftest import daemon_env, job_runs, queue_report_mail, smtp_env, start_daemon, stop_daemon, wait_for


def _counts(settings: Settings) -> tuple[int, int]:
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            archived = len(acquisitions.acquisitions_in_state(s, "archived"))
            moving = len(acquisitions.acquisitions_in_state(s, "archiving"))
    finally:
        engine.dispose()
    return archived, moving


def _inbox_fits(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.inbox.iterdir() if p.name.endswith(".fits"))


def _cli(settings: Settings, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args, "--site", str(settings.site)), env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_daemon_with_site_option_from_another_directory(tmp_path: Path, catalogue_url: str, smtp: SmtpServer) -> None:
    settings = load_settings(tmp_path / "site", env={"MONITOR_DATABASE_URL": catalogue_url})
    init_site(settings)
    elsewhere = tmp_path / "elsewhere"  # the daemon's working directory: must stay empty
    elsewhere.mkdir()
    queue_report_mail(settings)  # a report e-mail waiting in the outbox (as after an SMTP outage)
    first_batch = [write_star(settings.inbox, f"a{i}.fits", f"PHR1A-STAR-20250314T0215{i:02d}-00{i:02d}", seed=i,
                              hip=32349).name for i in range(3)]
    env = daemon_env(settings, **smtp_env(smtp), MONITOR_REPORT_RECIPIENTS="ops@example.org",
                     MONITOR_SCHEDULER_PROCESS_MINUTES="0.1",
                     MONITOR_INGEST_BATCH_FILES="2")  # files archived two by two: the inbox drains visibly
    slow_env = {**env, INGEST_FAULT_ENV: "slow:0.15"}  # every ingest step pauses: SIGTERM lands mid-run
    assert "MONITOR_SITE" not in env
    log1 = tmp_path / "daemon1.log"
    with log1.open("wb") as log_file:
        d1 = start_daemon(settings, slow_env, elsewhere, log_file)
        try:
            wait_for(lambda: _counts(settings)[0] == len(first_batch), 60, "the first files to be ingested")
            wait_for(lambda: len(smtp.handler.envelopes) == 1, 30, "the queued e-mail")
            wait_for(lambda: any(r.outcome == "ok" for r in job_runs(settings, "process")), 60,
                     "a processing run of the ingested files")
            assert _inbox_fits(settings) == []

            # a second daemon on the same catalogue is refused, naming the first one
            second = _cli(settings, env, elsewhere, "daemon")
            assert second.returncode == 1
            assert f"another monitor daemon is running for this catalogue (pid {d1.pid})" in second.stderr

            # a monitoring probe sees a healthy daemon; status --format json says the same
            check = _cli(settings, env, elsewhere, "check")
            assert check.returncode == 0, check.stdout + check.stderr
            assert check.stdout.startswith("OK")
            doc = json.loads(_cli(settings, env, elsewhere, "status", "--format", "json").stdout)
            assert doc["daemon_running"] is True and doc["daemon_pid"] == str(d1.pid)
            assert {j["job_id"] for j in doc["jobs"]} == {"ingest", "process", "weekly_report", "monthly_report",
                                                           "email_retry"}
            assert doc["incidents"] == []

            # more files arrive; SIGTERM while the next ingest run is moving them
            more = [write_star(settings.inbox, f"b{i}.fits", f"PHR1A-STAR-20250315T0215{i:02d}-01{i:02d}",
                               seed=10 + i, hip=32349).name for i in range(6)]
            wait_for(lambda: 0 < len(_inbox_fits(settings)) < len(more), 30, "the second ingest run to start")
            assert stop_daemon(d1) == 0
        finally:
            if d1.poll() is None:
                d1.kill()
                d1.wait()
    out = log1.read_text()
    assert "stop requested; waiting for running jobs to finish" in out
    assert "scheduler stopped" in out
    assert f"site {settings.site}" in out

    # nothing lost: every file is catalogued and archived, or still in the inbox; nothing half-moved
    archived, moving = _counts(settings)
    assert moving == 0
    left = _inbox_fits(settings)
    assert archived + len(left) == len(first_batch) + len(more)
    assert len(list(settings.archive.rglob("*.fits"))) == archived
    assert len(smtp.handler.envelopes) == 1  # the e-mail went out once
    # the jobs ran on SITE, and nothing was created where the daemon was started
    assert list(elsewhere.iterdir()) == []
    runs = job_runs(settings)
    assert {r.job_id for r in runs if r.outcome == "ok"} >= {"ingest", "process", "email_retry"}
    assert all(r.outcome in ("ok", "running") for r in runs), [(r.job_id, r.outcome, r.message) for r in runs]
    assert all(r.exit_code == 0 for r in runs if r.outcome == "ok")

    # status shows the jobs, their next runs and the last runs with their outcome; check: no daemon
    status = _cli(settings, env, elsewhere, "status")
    assert status.returncode == 0, status.stderr
    for job in ("ingest", "process", "weekly_report", "monthly_report", "email_retry"):
        assert job in status.stdout
    assert "Last job runs" in status.stdout and " ok " in status.stdout and "daemon: not running" in status.stdout
    check = _cli(settings, env, elsewhere, "check")
    assert check.returncode == 1
    assert "CRITICAL: the daemon is not running" in check.stdout


@pytest.mark.postgres
def test_postgres_advisory_lock_names_the_holder(postgres_url: str) -> None:
    from monitor.catalogue.engine import make_engine

    a, b = make_engine(postgres_url), make_engine(postgres_url)
    try:
        assert daemon_lock.daemon_holder(b) is None
        held = daemon_lock.acquire_daemon_lock(a)
        with pytest.raises(daemon_lock.DaemonLockedError,
                           match=rf"another monitor daemon is running .* \(pid {os.getpid()}\)"):
            daemon_lock.acquire_daemon_lock(b)
        assert daemon_lock.daemon_holder(b) == str(os.getpid())
        held.release()
        assert daemon_lock.daemon_holder(b) is None
        daemon_lock.acquire_daemon_lock(b).release()  # free again once released
    finally:
        a.dispose()
        b.dispose()
