"""An e-mail interrupted mid-transaction is retried automatically with the same Message-ID, and
``--resend`` never sends again what the server confirmed (250 to DATA), unless forced.

Real parts: the catalogue of ``catalogue_url`` (SQLite file, or PostgreSQL in the CI pass), a real
SMTP server (aiosmtpd on 127.0.0.1) that holds or drops its reply to DATA, and a real
``monitor report --resend`` process killed with SIGKILL while the server has the message.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlmodel import Session

from monitor.catalogue import outbox
from monitor.catalogue.models import Outbox
from monitor.reports.delivery import SENDING_STALE, resend_report, send_pending
from monitor.settings import Settings, load_settings
from monitor.site import init_site, open_engine
from tests.harness import REPO_ROOT, command
from tests.reports.conftest import SmtpServer

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
NOW = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)


def _site(tmp_path: Path, catalogue_url: str, smtp: SmtpServer) -> Settings:
    settings = load_settings(tmp_path / "site", env={
        "MONITOR_DATABASE_URL": catalogue_url, "MONITOR_SMTP_HOST": smtp.host, "MONITOR_SMTP_PORT": str(smtp.port),
        "MONITOR_SMTP_SECURITY": "none", "MONITOR_SMTP_SENDER": "monitor@example.org",
        "MONITOR_SMTP_TIMEOUT_S": "5", "MONITOR_REPORT_RECIPIENTS": "ops@example.org"})
    init_site(settings)
    return settings


def _report(settings: Settings, session: Session) -> int:
    """An archived report (a small PDF and its e-mail body) with no e-mail yet."""
    path = settings.reports_dir / "monitor-report-2025-02.pdf"
    path.write_bytes(PDF)
    path.with_suffix(".txt").write_text("February 2025 report attached.\n")
    row = outbox.add_report(session, period="2025-02", path="reports/monitor-report-2025-02.pdf",
                        sha256=hashlib.sha256(PDF).hexdigest(), pages=1, size_bytes=len(PDF), created_at=NOW)
    session.commit()
    assert row.id is not None
    return row.id


def _rows(session: Session, report_id: int) -> list[Outbox]:
    session.expire_all()
    return outbox.outbox_of_report(session, report_id)


def _message_ids(raw: list[bytes]) -> list[str]:
    return [str(BytesParser(policy=policy.default).parsebytes(b)["Message-ID"]) for b in raw]


def _monitor_status(settings: Settings, catalogue_url: str, *args: str) -> str:
    env = dict(os.environ, MONITOR_DATABASE_URL=catalogue_url, COLUMNS="250")
    done = subprocess.run(command("status", *args, "--site", str(settings.site)), env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _wait_for(predicate: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow  # two monitor processes
def test_killed_mid_send_is_retried_with_the_same_message_id(tmp_path: Path, catalogue_url: str,
                                                             smtp_server: SmtpServer) -> None:
    settings = _site(tmp_path, catalogue_url, smtp_server)
    engine = open_engine(settings)
    with Session(engine, expire_on_commit=False) as session:
        report_id = _report(settings, session)
    # a real `monitor report --resend` process; the server receives the whole message and holds its
    # reply; the process is killed with SIGKILL then: did the recipient get it? The server has it.
    smtp_server.handler.stall_data_s = 30.0
    env = dict(os.environ, MONITOR_DATABASE_URL=catalogue_url, MONITOR_SMTP_HOST=smtp_server.host,
               MONITOR_SMTP_PORT=str(smtp_server.port), MONITOR_SMTP_SECURITY="none", MONITOR_SMTP_TIMEOUT_S="30",
               MONITOR_SMTP_SENDER="monitor@example.org", MONITOR_REPORT_RECIPIENTS="ops@example.org")
    proc = subprocess.Popen(command("report", "--resend", str(report_id), "--site", str(settings.site)), env=env,
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: len(smtp_server.handler.data_received) == 1 or proc.poll() is not None, 60,
                  "the message at the server")
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
        if proc.stderr:
            proc.stderr.close()
    smtp_server.handler.stall_data_s = 0.0
    with Session(engine, expire_on_commit=False) as session:
        [row] = _rows(session, report_id)
        assert row.status == "sending" and row.message_id  # stored before the first attempt
        first_id = row.message_id
        started = row.next_attempt_at
        # soon after: the attempt may still be in flight in a live process; left alone
        soon = send_pending(session, settings, started + timedelta(minutes=1))
        assert (soon.sent, soon.interrupted) == (0, 0)
        assert _rows(session, report_id)[0].status == "sending"
        # the next email_retry run after SENDING_STALE retries it automatically, with the same Message-ID
        later = send_pending(session, settings, started + SENDING_STALE + timedelta(minutes=1))
        assert (later.sent, later.interrupted) == (1, 1)
        [row] = _rows(session, report_id)
        assert (row.status, row.attempts, row.message_id) == ("sent", 2, first_id)
        assert row.uncertain  # an earlier attempt may also have reached the recipient
        assert "interrupted" in row.last_error and "same Message-ID" in row.last_error
        assert _message_ids(smtp_server.handler.data_received) == [first_id, first_id]
        # --resend never sends again what the server confirmed
        n, mail = resend_report(session, settings, started + timedelta(days=1), report_id)
        assert (n, mail.sent) == (0, 0)
        assert len(smtp_server.handler.data_received) == 2
        # ... unless forced: a deliberate new copy, with a new Message-ID (a receiver must not drop it)
        n, mail = resend_report(session, settings, started + timedelta(days=1), report_id, force=True)
        assert (n, mail.sent) == (1, 1)
        [row] = _rows(session, report_id)
        assert row.status == "sent" and row.message_id != first_id
        assert _message_ids(smtp_server.handler.data_received)[2] == row.message_id
    engine.dispose()


@pytest.mark.slow  # two monitor status processes
def test_reply_to_data_lost_is_retried_with_the_same_message_id(tmp_path: Path, catalogue_url: str,
                                                                smtp_server: SmtpServer) -> None:
    settings = _site(tmp_path, catalogue_url, smtp_server)
    engine = open_engine(settings)
    with Session(engine, expire_on_commit=False) as session:
        report_id = _report(settings, session)
        outbox.queue_outbox(session, report_id, settings.report.recipients, NOW)
        session.commit()
        smtp_server.handler.drop_after_data = True  # the server gets the message, the reply is lost
        first = send_pending(session, settings, NOW)
        assert (first.sent, first.retrying) == (0, 1)
        [row] = _rows(session, report_id)
        assert (row.status, row.attempts, row.uncertain) == ("queued", 1, True)
        assert "may have" in row.last_error and "same Message-ID" in row.last_error
        # `monitor status` says so
        doc = json.loads(_monitor_status(settings, catalogue_url, "--format", "json"))
        [mail] = doc["emails"]
        assert (mail["status"], mail["attempts"], mail["uncertain"], mail["message_id"]) == (
            "queued", 1, True, row.message_id)
        assert "same Message-ID" in mail["note"]
        assert "queued, uncertain" in _monitor_status(settings, catalogue_url)
        smtp_server.handler.drop_after_data = False
        second = send_pending(session, settings, row.next_attempt_at)
        assert second.sent == 1
        [row] = _rows(session, report_id)
        assert (row.status, row.attempts, row.uncertain) == ("sent", 2, True)
        assert "same Message-ID" in row.last_error
        ids = _message_ids(smtp_server.handler.data_received)
        assert ids == [row.message_id, row.message_id]
    engine.dispose()


def test_message_id_is_kept_when_the_sender_changes(tmp_path: Path, catalogue_url: str,
                                                    smtp_server: SmtpServer) -> None:
    """The Message-ID is stored, not derived at each attempt: a changed [smtp] sender between two
    attempts does not change it."""
    settings = _site(tmp_path, catalogue_url, smtp_server)
    engine = open_engine(settings)
    with Session(engine, expire_on_commit=False) as session:
        report_id = _report(settings, session)
        outbox.queue_outbox(session, report_id, settings.report.recipients, NOW)
        session.commit()
        smtp_server.handler.drop_after_data = True
        send_pending(session, settings, NOW)
        smtp_server.handler.drop_after_data = False
        moved = replace(settings, smtp=replace(settings.smtp, sender="monitor@new-domain.example"))
        [row] = _rows(session, report_id)
        assert send_pending(session, moved, row.next_attempt_at).sent == 1
        ids = _message_ids(smtp_server.handler.data_received)
        assert len(ids) == 2 and ids[0] == ids[1]
    engine.dispose()


@pytest.mark.parametrize("status", ["failed"])
def test_resend_requeues_only_what_was_not_confirmed(tmp_path: Path, catalogue_url: str,
                                                     smtp_server: SmtpServer, status: str) -> None:
    settings = _site(tmp_path, catalogue_url, smtp_server)
    settings = replace(settings, report=replace(settings.report, recipients=("ops@example.org", "cal@example.org")))
    engine = open_engine(settings)
    with Session(engine, expire_on_commit=False) as session:
        report_id = _report(settings, session)
        [ops, cal] = outbox.queue_outbox(session, report_id, settings.report.recipients, NOW)
        session.commit()
        outbox.save_outbox(session, cal, status=status, attempts=8, last_error="gave up after 8 attempts")
        session.commit()
        assert send_pending(session, settings, NOW).sent == 1  # ops
        n, mail = resend_report(session, settings, NOW + timedelta(hours=1), report_id)
        assert (n, mail.sent) == (1, 1)  # cal only; ops was confirmed
        rcpts = [r for e in smtp_server.handler.envelopes for r in e.rcpt_tos]
        assert sorted(rcpts) == ["cal@example.org", "ops@example.org"]
    engine.dispose()


def test_login_without_tls_keeps_the_email_queued_with_the_reason(tmp_path: Path, catalogue_url: str,
                                                                  smtp_auth_server: SmtpServer) -> None:
    settings = _site(tmp_path, catalogue_url, smtp_auth_server)
    settings = replace(settings, smtp=replace(settings.smtp, user="monitor", password="s3cret"))  # security none
    engine = open_engine(settings)
    with Session(engine, expire_on_commit=False) as session:
        report_id = _report(settings, session)
        outbox.queue_outbox(session, report_id, settings.report.recipients, NOW)
        session.commit()
        summary = send_pending(session, settings, NOW)
        assert (summary.sent, summary.retrying) == (0, 1)
        [row] = _rows(session, report_id)
        assert row.status == "queued" and "without TLS" in row.last_error and "s3cret" not in row.last_error
        assert smtp_auth_server.handler.auth_commands == [] and smtp_auth_server.handler.data_received == []
        # the site allows it explicitly: the next attempt goes out
        allowed = replace(settings, smtp=replace(settings.smtp, allow_plaintext_auth=True))
        assert send_pending(session, allowed, row.next_attempt_at).sent == 1
        assert len(smtp_auth_server.handler.auth_commands) == 1
    engine.dispose()
