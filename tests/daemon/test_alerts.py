"""Alerts from a real daemon to a real SMTP server: one alert e-mail when a job keeps failing,
one "recovered" e-mail when it succeeds again, and what ``monitor status``/``check`` say.

The failure is real: the site's inbox is replaced by a regular file (as a mistaken ``mv`` would
do), so every ingest run fails with an OSError and leaves its work pending; putting the
directory back ends it. With ``after_failures = 2``, four failures are let through before the
repair: one alert only.
"""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest

from monitor.daemon.health import check_health, collect_health
from monitor.settings import Settings, load_settings
from monitor.site import init_site, session_scope, utc_now
from tests.harness import command
from tests.ingest.files import write_star
from tests.reports.conftest import SmtpServer

from .conftest import daemon_env, job_runs, smtp_env, start_daemon, stop_daemon, wait_for


def _subjects(smtp: SmtpServer) -> list[str]:
    return [str(_message(env.content)["Subject"]) for env in smtp.handler.envelopes]


def _message(content: bytes) -> EmailMessage:
    return email.message_from_bytes(content, policy=email.policy.default)  # type: ignore[return-value]


def _problems(settings: Settings) -> list[str]:
    """What ``monitor check`` would say (read in-process: cheaper than a command per poll)."""
    with session_scope(settings) as session:
        return check_health(collect_health(session, settings, utc_now()), settings)


def _cli(settings: Settings, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args, "--site", str(settings.site)), env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow
@pytest.mark.e2e
def test_one_alert_then_one_recovery(tmp_path: Path, catalogue_url: str, smtp: SmtpServer) -> None:
    settings = load_settings(tmp_path / "site", env={"MONITOR_DATABASE_URL": catalogue_url})
    init_site(settings)
    settings.inbox.rmdir()
    settings.inbox.write_text("not a directory\n")  # the mistake
    env = daemon_env(settings, **smtp_env(smtp), MONITOR_ALERTS_RECIPIENTS="ops@example.org",
                     MONITOR_ALERTS_AFTER_FAILURES="2")
    with (tmp_path / "daemon.log").open("wb") as log:
        daemon = start_daemon(settings, env, tmp_path, log)
        try:
            wait_for(lambda: len(smtp.handler.envelopes) == 1, 60, "the alert e-mail")
            wait_for(lambda: len([r for r in job_runs(settings, "ingest") if r.outcome == "failed"]) >= 4, 60,
                     "more failed ingest runs")
            assert _subjects(smtp) == ["[monitor] ALERT: job ingest failed 2 times in a row"]  # no storm
            body = _message(smtp.handler.envelopes[0].content).get_content()
            assert "transient: FileExistsError" in body and str(settings.site) in body

            doc = json.loads(_cli(settings, env, "status", "--format", "json").stdout)
            [incident] = doc["incidents"]
            assert incident["job_id"] == "ingest" and incident["failures"] >= 4
            assert incident["last_outcome"] == "failed"
            assert f"open incident #{incident['id']}: job ingest failed" in " ".join(_problems(settings))

            # the repair: work resumes by itself, one recovery e-mail
            settings.inbox.unlink()
            settings.inbox.mkdir()
            write_star(settings.inbox, "late.fits", "PHR1A-STAR-20250314T021500-0001", seed=1)
            wait_for(lambda: len(smtp.handler.envelopes) == 2, 60, "the recovery e-mail")
            wait_for(lambda: not any(settings.inbox.glob("*.fits")), 30, "the waiting file to be ingested")
            wait_for(lambda: _problems(settings) == [], 30, "a healthy check")
            check = _cli(settings, env, "check")
            assert check.returncode == 0 and check.stdout.startswith("OK"), check.stdout
        finally:
            assert stop_daemon(daemon) == 0
    assert _subjects(smtp) == ["[monitor] ALERT: job ingest failed 2 times in a row",
                               "[monitor] RECOVERED: job ingest succeeds again"]
    assert all(env.rcpt_tos == ["ops@example.org"] for env in smtp.handler.envelopes)
    check = _cli(settings, env, "check")  # the daemon is gone now; no incident is open
    assert check.returncode == 1 and check.stdout.splitlines() == [
        "CRITICAL: the daemon is not running (nobody holds the catalogue lock)"]
