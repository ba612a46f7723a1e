"""Incident policy on a real catalogue: one alert per incident, one recovery, no storm, no secret.

Job runs are recorded as the runner records them (operations.add_job_run), then after_job_run is
called; the e-mails are checked in the outbox and, at the end, delivered to a real SMTP server
through the same send_pending as the report e-mails.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from monitor.catalogue import operations as ops
from monitor.catalogue.models import Incident, Outbox
from monitor.daemon.incidents import after_job_run, scrub
from monitor.reports.delivery import send_pending
from monitor.settings import Settings, load_settings
from monitor.site import init_site, open_engine
from tests.reports.conftest import SmtpServer, _serve

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
SECRET = "s3cr3t-pa55"


@pytest.fixture
def smtp():
    yield from _serve()


@pytest.fixture
def settings(tmp_path: Path, catalogue_url: str, smtp: SmtpServer) -> Settings:
    env = {"MONITOR_DATABASE_URL": catalogue_url, "MONITOR_SMTP_HOST": smtp.host, "MONITOR_SMTP_PORT": str(smtp.port),
           "MONITOR_SMTP_SENDER": "monitor@example.org", "MONITOR_ALERTS_RECIPIENTS": "ops@example.org,cal@example.org",
           "MONITOR_SMTP_PASSWORD": SECRET, "MONITOR_SMTP_SECURITY": "none"}
    s = load_settings(tmp_path / "site", env=env)
    init_site(s)
    return s


def _runs(session: Session, settings: Settings, job_id: str, outcomes: str, start: datetime) -> list[object]:
    """Record one run per letter (f = failed, t = timeout, c = crashed, o = ok), one minute apart,
    as the runner does (its message scrubbed of secrets)."""
    names = {"f": "failed", "t": "timeout", "c": "crashed", "o": "ok"}
    changes = []
    for k, letter in enumerate(outcomes):
        t = start + timedelta(minutes=k)
        message = f"transient: OperationalError: password {SECRET} refused" if letter != "o" else "fine"
        ops.add_job_run(session, job_id, t, t + timedelta(seconds=5), names[letter], scrub(message, settings), 0)
        changes.append(after_job_run(session, settings, job_id, names[letter], message, t + timedelta(seconds=5)))
        session.commit()  # the runner commits each run with its incident change
    return changes


def test_one_alert_after_n_failures_one_recovery_and_no_storm(settings: Settings, smtp: SmtpServer) -> None:
    engine = open_engine(settings)
    try:
        with Session(engine, expire_on_commit=False) as s:
            changes = _runs(s, settings, "ingest", "ff", T0)
            assert changes == [None, None] and ops.open_incidents(s) == []  # 2 < after_failures = 3
            [opened] = _runs(s, settings, "ingest", "t", T0 + timedelta(minutes=2))
            assert opened.kind == "opened" and opened.emails == 2
            # more failures of any kind: the incident counts them, nobody gets another e-mail
            assert _runs(s, settings, "ingest", "cfffffff", T0 + timedelta(minutes=3)) == [None] * 8
            [inc] = ops.open_incidents(s)
            assert (inc.job_id, inc.failures, inc.last_outcome) == ("ingest", 11, "failed")
            assert inc.first_failure_at == T0
            # another job's failures are their own business
            assert _runs(s, settings, "process", "ff", T0) == [None, None]
            [closed] = _runs(s, settings, "ingest", "o", T0 + timedelta(minutes=20))
            assert closed.kind == "closed" and closed.incident_id == inc.id and closed.emails == 2
            assert ops.open_incidents(s) == []
            assert _runs(s, settings, "ingest", "o", T0 + timedelta(minutes=21)) == [None]
            rows = s.exec(select(Outbox).order_by(Outbox.id)).all()
            assert [(r.kind, r.recipient) for r in rows] == [
                ("alert", "ops@example.org"), ("alert", "cal@example.org"),
                ("recovery", "ops@example.org"), ("recovery", "cal@example.org")]
            alert = rows[0]
            assert alert.subject == "[monitor] ALERT: job ingest failed 3 times in a row"
            assert "First failure:  2026-12-04 08:00:00 UTC" in alert.body
            assert SECRET not in alert.body and "password *** refused" in alert.body
            assert SECRET not in s.exec(select(Incident)).one().last_message
            # a new streak of failures is a new incident with its own alert
            [_, _, again] = _runs(s, settings, "ingest", "fff", T0 + timedelta(minutes=30))
            assert again.kind == "opened" and again.incident_id != inc.id
            summary = send_pending(s, settings, T0 + timedelta(hours=1))
    finally:
        engine.dispose()
    assert summary.sent == 6 and summary.failed == 0
    subjects = sorted(env.content.decode().split("Subject: ")[1].splitlines()[0] for env in smtp.handler.envelopes)
    assert subjects == ["[monitor] ALERT: job ingest failed 3 times in a row"] * 4 + [
        "[monitor] RECOVERED: job ingest succeeds again"] * 2
    assert all(SECRET.encode() not in env.content for env in smtp.handler.envelopes)


def test_interrupted_runs_neither_break_nor_extend_a_streak(settings: Settings) -> None:
    engine = open_engine(settings)
    try:
        with Session(engine, expire_on_commit=False) as s:
            _runs(s, settings, "process", "ff", T0)
            ops.add_job_run(s, "process", T0 + timedelta(minutes=5), T0 + timedelta(minutes=6), "interrupted", "", None)
            [opened] = _runs(s, settings, "process", "f", T0 + timedelta(minutes=7))
            assert opened is not None and opened.kind == "opened"
    finally:
        engine.dispose()


def test_no_recipients_still_opens_the_incident(tmp_path: Path, catalogue_url: str) -> None:
    s0 = load_settings(tmp_path / "quiet", env={"MONITOR_DATABASE_URL": catalogue_url})
    init_site(s0)
    engine = open_engine(s0)
    try:
        with Session(engine, expire_on_commit=False) as s:
            changes = _runs(s, s0, "email_retry", "ccc", T0)
            assert changes[-1] is not None and changes[-1].emails == 0
            assert [i.job_id for i in ops.open_incidents(s)] == ["email_retry"]
            assert s.exec(select(Outbox)).all() == []
    finally:
        engine.dispose()


def test_status_and_check_show_the_open_incident(settings: Settings) -> None:
    """``monitor status`` (table and JSON) and ``monitor check`` name the open incident."""
    import json

    from typer.testing import CliRunner

    from monitor.cli import app

    # `monitor check` judges the backlog against the real clock: the runs (and the alert e-mails they
    # queue) are one hour old, well inside [alerts] backlog_hours, whatever day the test runs.
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    engine = open_engine(settings)
    try:
        with Session(engine, expire_on_commit=False) as s:
            _runs(s, settings, "process", "fft", t0)
    finally:
        engine.dispose()
    env = {"MONITOR_DATABASE_URL": settings.database_url, "COLUMNS": "200"}
    runner = CliRunner()
    table = runner.invoke(app, ["status", "--site", str(settings.site)], env=env)
    assert table.exit_code == 0, table.output
    assert "Open incidents" in table.output and "process" in table.output and "timeout" in table.output
    assert SECRET not in table.output
    doc = json.loads(runner.invoke(app, ["status", "--format", "json", "--site", str(settings.site)], env=env).output)
    [inc] = doc["incidents"]
    assert (inc["job_id"], inc["failures"], inc["last_outcome"]) == ("process", 3, "timeout")
    assert doc["daemon_running"] is False
    check = runner.invoke(app, ["check", "--site", str(settings.site)], env=env)
    assert check.exit_code == 1
    assert check.output.splitlines() == [
        "CRITICAL: the daemon is not running (nobody holds the catalogue lock)",
        f"CRITICAL: open incident #{inc['id']}: job process failed 3 times in a row since {t0:%Y-%m-%dT%H:%M:%SZ} "
        f"(last: timeout: transient: OperationalError: password *** refused)",
    ]
