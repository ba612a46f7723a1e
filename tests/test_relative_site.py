"""A site given as a relative path (``monitor demo d_base``, ``--site d_base``) is resolved once,
where its settings are loaded: every path the site's commands use afterwards (catalogue, inbox,
archive, the archive paths of the catalogue) is absolute, so a change of working directory later
in the process cannot send a command to files that are not there (issue 20: a relative demo
directory was reported ending with FileNotFoundError on archived files)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from monitor.calibration.service import run_processing
from monitor.ingest.service import run_ingest
from monitor.settings import load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, session_scope

NOW = datetime(2025, 2, 3, tzinfo=UTC)


def test_relative_site_paths_are_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings("d_base", env={})
    site = tmp_path.resolve() / "d_base"
    assert settings.site == site
    for path in (settings.inbox, settings.archive, settings.quarantine, settings.reports_dir):
        assert path.is_absolute() and path.parent == site
    assert Path(make_url(settings.database_url).database or "") == site / "monitor.db"


def test_relative_site_is_processed_after_a_change_of_directory(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Created and ingested from one working directory, processed from another: the archived
    files are found (read through ``settings.site``), nothing is written where the process is."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings("d_base", env={"MONITOR_INGEST_SETTLE_SECONDS": "0"})
    init_site(settings)
    simulate_campaigns(settings.inbox, start=datetime(2025, 1, 1, tzinfo=UTC), months=1, seed=3,
                       satellites=("PHR1A",), stars_per_campaign=2, moon_per_month=0, geom_per_month=0,
                       bad_files=False)
    with session_scope(settings) as session:
        ingested = run_ingest(session, settings, NOW)
    assert len(ingested.ingested) == 2 and not ingested.rejected
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with session_scope(settings) as session:
        summary = run_processing(session, settings, NOW)
    assert summary.problems == []
    star = next(line for line in summary.lines() if line.startswith("star:"))
    assert star.startswith("star: 2 acquisitions measured (0 bands rejected)"), star
    assert list(elsewhere.iterdir()) == []
