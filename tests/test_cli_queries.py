"""Query commands (``results``, ``traces``) refuse a selection that cannot match anything, in one
line with a non-zero exit, instead of printing an empty answer with exit 0 (issue 20); a band
filter keeps only rows of that band (geometry has none)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.calibration.service import run_processing
from monitor.ingest.service import run_ingest
from monitor.settings import load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, session_scope
from tests.test_cli_errors import _env, one_error_line, run


@pytest.fixture(scope="module")
def empty_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("q") / "site"
    done = run("init", str(d))
    assert done.returncode == 0, done.stderr
    return d


@pytest.mark.parametrize(
    "args, needle",
    [
        (("results", "--satellite", "PHR1C"), "PHR1C"),
        (("results", "--band", "B9"), "B9"),
        (("results", "--satellite", "PHR1A", "--band", "NIR"), "NIR"),
        (("results", "--since", "2025-03-01", "--until", "2025-02-01"), "--since"),
        (("traces", "--satellite", "PNEO9", "--band", "P"), "PNEO9"),
        (("traces", "--satellite", "PHR1A", "--band", "RE"), "RE"),
        (("traces", "--satellite", "PHR1A", "--band", "P", "--star", "HIP 999999999"), "999999999"),
    ],
)
def test_impossible_selection_is_one_line(empty_site: Path, args: tuple[str, ...], needle: str) -> None:
    line = one_error_line(run(*args, "--site", str(empty_site)), code=2)
    assert needle in line


def test_valid_selection_of_an_empty_catalogue_is_fine(empty_site: Path) -> None:
    done = run("results", "--satellite", "PNEO3", "--band", "NIR", "--site", str(empty_site))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["calibration"] == []


def test_band_filter_drops_geometry(tmp_path: Path, catalogue_url: str) -> None:
    """A GEOM acquisition has no band: ``results --band P`` must not list its geometry result."""
    settings = load_settings(tmp_path / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0",
                                                     "MONITOR_DATABASE_URL": catalogue_url})
    init_site(settings)
    simulate_campaigns(settings.inbox, start=datetime(2025, 1, 1, tzinfo=UTC), months=1, seed=3,
                       satellites=("PHR1A",), stars_per_campaign=0, moon_per_month=0, geom_per_month=1,
                       bad_files=False)
    now = datetime(2025, 2, 2, tzinfo=UTC)
    with session_scope(settings) as session:
        assert run_ingest(session, settings, now).ingested
        run_processing(session, settings, now)
    env = _env(MONITOR_DATABASE_URL=catalogue_url)
    for k in ("MONITOR_TEST_DATABASE_URL",):
        if k in os.environ:
            env[k] = os.environ[k]
    everything = run("results", "--site", str(settings.site), env=env)
    assert everything.returncode == 0, everything.stderr
    assert json.loads(everything.stdout)["geometry"], "the fixture must have a geometry result"
    banded = run("results", "--band", "P", "--site", str(settings.site), env=env)
    assert banded.returncode == 0, banded.stderr
    doc = json.loads(banded.stdout)
    assert doc["geometry"] == []
    assert all(m["band"] == "P" for m in doc["measurements"]), doc["measurements"]
