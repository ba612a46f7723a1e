"""``monitor reports`` (archived reports and their e-mail state) and the global ``--verbose`` /
``--quiet`` flags (issue 20)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from monitor.catalogue.models import Outbox
from monitor.cli import app
from monitor.settings import load_settings
from monitor.site import init_site, session_scope
from tests.catalogue import rows

T0 = datetime(2025, 4, 1, 6, tzinfo=UTC)


def test_reports_lists_archive_and_mail_state(tmp_path: Path, catalogue_url: str) -> None:
    env = {"MONITOR_DATABASE_URL": catalogue_url, "COLUMNS": "200"}
    settings = load_settings(tmp_path / "site", env=env)
    init_site(settings)
    with session_scope(settings) as session:
        r1 = rows.report(session, T0)
        r2 = rows.report(session, T0 + timedelta(days=7))
        r3 = rows.report(session, T0 + timedelta(days=14))
        for status in ("sent", "sent", "failed"):
            rows.outbox(session, status, T0, report_=r1)
        o = rows.outbox(session, "queued", T0, report_=r2)
        session.get(Outbox, o.id).uncertain = True  # type: ignore[union-attr]
        session.commit()
        paths = [r.path for r in (r1, r2, r3)]
    (settings.site / paths[2]).write_bytes(b"%PDF-")  # only the newest file is present
    runner = CliRunner()
    done = runner.invoke(app, ["reports", "--format", "json", "--site", str(settings.site)], env=env)
    assert done.exit_code == 0, done.output
    docs = json.loads(done.output)
    assert [d["id"] for d in docs] == [r3.id, r2.id, r1.id]  # newest first
    assert [d["email_state"] for d in docs] == ["not e-mailed", "1 queued (1 uncertain: maybe duplicated)",
                                                "1 failed, 2 sent"]
    assert docs[0]["emails"] == {} and docs[2]["emails"] == {"sent": 2, "failed": 1}
    assert [d["file_present"] for d in docs] == [True, False, False]
    limited = json.loads(runner.invoke(app, ["reports", "--format", "json", "--limit", "1", "--site",
                                             str(settings.site)], env=env).output)
    assert [d["id"] for d in limited] == [r3.id]
    table = runner.invoke(app, ["reports", "--site", str(settings.site)], env=env)
    assert table.exit_code == 0 and "1 failed, 2 sent" in table.output and "(missing)" in table.output
    bad = runner.invoke(app, ["reports", "--limit", "-1", "--site", str(settings.site)], env=env)
    assert bad.exit_code == 2


def test_verbose_and_quiet_override_log_level(tmp_path: Path) -> None:
    site = tmp_path / "s"
    site.mkdir()
    (site / "monitor.toml").write_text('log_level = "INFO"\n')
    runner = CliRunner()
    root = logging.getLogger()
    before = root.level
    try:
        _levels(runner, root, site)
    finally:
        root.setLevel(before)


def _levels(runner: CliRunner, root: logging.Logger, site: Path) -> None:
    for flags, level in (([], logging.INFO), (["--verbose"], logging.DEBUG), (["-q"], logging.WARNING),
                         (["-v"], logging.DEBUG)):
        done = runner.invoke(app, [*flags, "config", "show", "--format", "json", "--site", str(site)])
        assert done.exit_code == 0, done.output
        runner.invoke(app, [*flags, "alerts", "--site", str(site)])  # any command that reads the settings
        assert root.level == level, flags
    both = runner.invoke(app, ["-v", "-q", "alerts", "--site", str(site)])
    assert both.exit_code == 2 and "exclude" in both.output
