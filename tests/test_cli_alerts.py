"""``monitor alerts``, ``monitor alerts ack``, the alert count of ``monitor status`` and the
``alerts`` of ``monitor results`` (issue 20): real ``monitor`` subprocesses on a real catalogue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.calibration.alerts import DRIFT_KINDS, AlertCondition, reconcile
from monitor.catalogue.states import AlertKind
from monitor.settings import load_settings
from monitor.site import init_site, session_scope
from tests.catalogue import rows
from tests.test_cli_errors import _env, one_error_line, run

T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture()
def site(tmp_path: Path, catalogue_url: str) -> tuple[Path, dict[str, str]]:
    """A site with two alerts: PHR1A P STAR drift-rate open, PNEO3 NIR MOON drift-rate closed."""
    env = {"MONITOR_DATABASE_URL": catalogue_url}
    settings = load_settings(tmp_path / "site", env=env)
    init_site(settings)
    with session_scope(settings) as session:
        r1, r2 = rows.run(session, T0), rows.run(session, T0 + timedelta(days=1))
        cond = AlertCondition(AlertKind.DRIFT_RATE, "drift rate -5.0 +- 0.5 %/year exceeds 2.0 %/year",
                              value=-0.05, sigma=0.005, threshold=0.02)
        reconcile(session, r1, T0, "PHR1A", "P", "STAR", DRIFT_KINDS, [cond])
        reconcile(session, r1, T0, "PNEO3", "NIR", "MOON", DRIFT_KINDS, [cond])
        reconcile(session, r2, T0 + timedelta(days=1), "PNEO3", "NIR", "MOON", DRIFT_KINDS, [])
        session.commit()
    return settings.site, _env(**env)


def test_list_ack_status_results(site: tuple[Path, dict[str, str]]) -> None:
    """In process (typer's runner) for speed; the one-line errors below run real subprocesses."""
    from typer.testing import CliRunner

    from monitor.cli import app

    d, env = site
    env = {"MONITOR_DATABASE_URL": env["MONITOR_DATABASE_URL"], "COLUMNS": "200"}
    runner = CliRunner()

    def run(*args: str, env: dict[str, str]) -> Any:
        done = runner.invoke(app, list(args), env=env)
        done.returncode = done.exit_code
        return done
    done = run("alerts", "--format", "json", "--site", str(d), env=env)
    assert done.returncode == 0, done.output
    (a,) = json.loads(done.stdout)
    assert (a["satellite"], a["band"], a["method"], a["kind"], a["state"]) == ("PHR1A", "P", "STAR", "drift-rate",
                                                                                "open")
    assert a["opened_at"] == "2025-03-01T00:00:00.000Z" and a["value"] == -0.05 and a["closed_at"] is None
    every = json.loads(run("alerts", "--all", "--format", "json", "--site", str(d), env=env).stdout)
    assert [(x["satellite"], x["state"]) for x in every] == [("PHR1A", "open"), ("PNEO3", "closed")]
    table = run("alerts", "--site", str(d), env=env)
    assert table.returncode == 0 and "PHR1A P (STAR)" in table.stdout and "PNEO3" not in table.stdout
    status = run("status", "--site", str(d), env=env)
    assert "calibration alerts: 1 open, 0 acknowledged" in status.stdout, status.stdout
    assert json.loads(run("status", "--format", "json", "--site", str(d), env=env).stdout)["calibration_alerts"] == {
        "open": 1, "acknowledged": 0, "closed": 1}

    ack = run("alerts", "ack", str(a["id"]), "--note", "known: [sensor] team informed", "--site", str(d), env=env)
    assert ack.returncode == 0, ack.output
    assert "acknowledged" in ack.stdout
    (b,) = json.loads(run("alerts", "--format", "json", "--site", str(d), env=env).stdout)
    assert (b["state"], b["note"]) == ("acknowledged", "known: [sensor] team informed")
    assert "1 acknowledged" in run("status", "--site", str(d), env=env).stdout

    doc = json.loads(run("results", "--site", str(d), env=env).stdout)
    assert [(x["satellite"], x["state"]) for x in doc["alerts"]] == [("PHR1A", "acknowledged"), ("PNEO3", "closed")]
    assert {"calibration", "mtf", "drift", "measurements", "geometry"} <= set(doc)  # ICD 5 unchanged
    only = json.loads(run("results", "--satellite", "PNEO3", "--site", str(d), env=env).stdout)
    assert [x["satellite"] for x in only["alerts"]] == ["PNEO3"]
    later = json.loads(run("results", "--since", "2025-03-05", "--site", str(d), env=env).stdout)
    assert [x["satellite"] for x in later["alerts"]] == ["PHR1A"]  # PNEO3's closed on 2025-03-02


def test_ack_mistakes_are_one_line(site: tuple[Path, dict[str, str]]) -> None:
    d, env = site
    assert "no alert #999" in one_error_line(run("alerts", "ack", "999", "--site", str(d), env=env), code=1)
    closed = json.loads(run("alerts", "--all", "--format", "json", "--site", str(d), env=env).stdout)[1]
    line = one_error_line(run("alerts", "ack", str(closed["id"]), "--site", str(d), env=env), code=1)
    assert "closed" in line
    assert "yaml" in one_error_line(run("alerts", "--format", "yaml", "--site", str(d), env=env), code=2)
