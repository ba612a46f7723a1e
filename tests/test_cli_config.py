"""``monitor config check`` (every problem, one line each, without running anything) and
``monitor config show`` (effective settings, where each came from, secrets masked) (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from monitor.cli import app
from monitor.settings_loader import check, effective
from tests.test_cli_errors import _env, run

BAD = """\
log_level = "INFO"
[smtp]
port = 99999
sender = "not an address"
[star]
campaign_period = "2w"
drift_alert_sigma = -1
workers = 2.7
[report]
monthly_cron = "0 6 32 * *"
recipients = ["ops@example.org", "nobody"]
[scheduler]
ingest_minutes = 0
"""


def _site(tmp_path: Path, toml: str) -> Path:
    d = tmp_path / "site"
    for sub in ("", "inbox", "archive", "quarantine", "reports"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "monitor.toml").write_text(toml)
    return d


def test_check_lists_every_problem(tmp_path: Path) -> None:
    d = _site(tmp_path, BAD)
    problems = check(d, {"MONITOR_SMTP_HOTS": "mail", "MONITOR_MOON_MIN_PHASE_DEG": "-5",
                         "MONITOR_TEST_ANYTHING": "x"})
    keys = ["MONITOR_SMTP_HOTS", "star.campaign_period", "star.drift_alert_sigma", "star.workers", "smtp.port",
            "smtp.sender", "report.monthly_cron", "report.recipients", "scheduler.ingest_minutes",
            "MONITOR_MOON_MIN_PHASE_DEG"]
    for key in keys:
        assert sum(key in p for p in problems) == 1, (key, problems)
    assert len(problems) == len(keys), problems
    assert all("\n" not in p for p in problems)
    assert check(_site(tmp_path / "ok", ""), {}) == []
    (tmp_path / "plain").mkdir()
    (line,) = check(tmp_path / "plain", {})
    assert "not a monitor site" in line
    (line,) = check(tmp_path / "nowhere", {})
    assert "not a directory" in line


def test_check_finds_what_only_a_run_would(tmp_path: Path) -> None:
    d = _site(tmp_path, '[smtp]\nca_file = "ca.pem"\n[instruments."MSG3 SEVIRI"]\nsrf = "srf.nc"\n'
                        '[star]\nreference_half_width_px = 7\n')
    done = run("config", "check", "--site", str(d))
    assert done.returncode == 1 and '[instruments."MSG3 SEVIRI"] srf' in done.stdout  # no rich markup eaten
    (d / "inbox").rmdir()
    (d / "inbox").write_text("")
    problems = check(d, {})
    assert any("inbox" in p and "not a directory" in p for p in problems)
    assert any("smtp.ca_file" in p and "ca.pem" in p for p in problems)
    assert any("MSG3 SEVIRI" in p and "srf.nc" in p for p in problems)
    assert any("reference_half_width_px" in p for p in problems)
    assert len(problems) == 4, problems


def test_check_command_exit_status_and_lines(tmp_path: Path) -> None:
    d = _site(tmp_path, BAD)
    done = run("config", "check", "--site", str(d), env=_env(MONITOR_SMTP_HOTS="x"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 9 and all(ln.startswith("problem: ") for ln in lines), done.stdout
    assert not (d / "monitor.db").exists()  # nothing run, no catalogue created
    good = CliRunner().invoke(app, ["config", "check", "--site", str(_site(tmp_path / "g", ""))])
    assert good.exit_code == 0 and "OK" in good.output


def test_show_sources_and_masked_secrets(tmp_path: Path) -> None:
    d = _site(tmp_path, 'log_level = "WARNING"\n[smtp]\nhost = "mail.example.org"\n')
    env = {"MONITOR_SMTP_PORT": "587", "MONITOR_SMTP_PASSWORD": "s3cr3t-pw",
           "MONITOR_DATABASE_URL": "postgresql+psycopg://monitor:hunter2@db:5432/monitor"}
    settings, rows = effective(d, env)
    got = {k: (v, src) for k, v, src in rows}
    assert got["log_level"] == ("WARNING", "file")
    assert got["smtp.host"] == ("mail.example.org", "file")
    assert got["smtp.port"] == (587, "env MONITOR_SMTP_PORT")
    assert got["smtp.security"] == ("starttls", "default")
    assert got["smtp.password"] == ("***", "env MONITOR_SMTP_PASSWORD")
    assert got["database_url"][1] == "env MONITOR_DATABASE_URL" and "hunter2" not in got["database_url"][0]
    assert got["report.recipients"] == ([], "default")
    assert settings.smtp.port == 587
    done = CliRunner().invoke(app, ["config", "show", "--format", "json", "--site", str(d)], env=env)
    assert done.exit_code == 0, done.output
    assert "s3cr3t" not in done.output and "hunter2" not in done.output
    doc = {r["key"]: r for r in json.loads(done.output)}
    assert doc["smtp.port"]["value"] == 587 and doc["star.half_widths_px"]["value"] == [2, 3, 5, 8, 12, 20]
    table = CliRunner().invoke(app, ["config", "show", "--site", str(d)], env={**env, "COLUMNS": "200"})
    assert table.exit_code == 0 and "s3cr3t" not in table.output and "env MONITOR_SMTP_PORT" in table.output
