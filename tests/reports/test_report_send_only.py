"""`monitor report` e-mails only with --send (issue 20): `--period weekly|monthly` without it made
and archived the report and e-mailed the recipients; `--period ""` did too (it meant "monthly").
Real `monitor` processes against a real SMTP server (aiosmtpd on 127.0.0.1), e-mail configured."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlmodel import Session, select

from monitor.catalogue.models import Outbox, Report
from monitor.settings import load_settings
from monitor.site import init_site, open_engine
from tests.harness import REPO_ROOT, command
from tests.reports.conftest import SmtpServer


def _run(site: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command("report", *args, "--site", str(site)), env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # four report processes (~15 s)
@pytest.mark.e2e
def test_only_send_emails(tmp_path: Path, catalogue_url: str, smtp_server: SmtpServer) -> None:
    overrides = {
        "MONITOR_DATABASE_URL": catalogue_url, "MONITOR_SMTP_HOST": smtp_server.host,
        "MONITOR_SMTP_PORT": str(smtp_server.port), "MONITOR_SMTP_SECURITY": "none",
        "MONITOR_SMTP_SENDER": "monitor@example.org", "MONITOR_SMTP_TIMEOUT_S": "10",
        "MONITOR_REPORT_RECIPIENTS": "ops@example.org",
    }
    settings = load_settings(tmp_path / "site", env=overrides)
    init_site(settings)
    env = dict(os.environ, COLUMNS="250", **overrides)
    for period in ("monthly", "weekly"):
        done = _run(settings.site, env, "--period", period, "--force")  # an empty site: forced
        assert done.returncode == 0, done.stderr
        assert smtp_server.handler.data_received == [], period
    done = _run(settings.site, env, "--period", "")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "period" in lines[0] and "Traceback" not in done.stderr, done.stderr
    assert smtp_server.handler.data_received == []
    # without --force, a period without data is refused, before anything is made or sent
    done = _run(settings.site, env, "--period", "2025-02", "--send")
    assert done.returncode != 0 and "no data in 2025-02" in done.stderr and "--force" in done.stderr, done.stderr
    engine = open_engine(settings)
    with Session(engine) as session:
        assert len(session.exec(select(Report)).all()) == 2  # made and archived, not queued
        assert session.exec(select(Outbox)).all() == []
    # with --send: one message, to the recipient
    done = _run(settings.site, env, "--period", "2025-02", "--send", "--force")
    assert done.returncode == 0, done.stderr
    assert len(smtp_server.handler.envelopes) == 1
    assert smtp_server.handler.envelopes[0].rcpt_tos == ["ops@example.org"]
    engine.dispose()
