"""Kill a real ``monitor process`` (SIGKILL) just after each kind of commit, run a plain
``monitor process`` again, and check that the catalogue holds exactly what an uninterrupted run
gives: the same ICD 5 export, and the same number of rows of every result table (nothing lost,
nothing computed twice).

The site is ingested once (two monthly starpools of PHR1A, with the PSF fit and MTF; Moon and GEOM
acquisitions) and copied for each trial, so that every trial starts from the same catalogue. What
this cannot catch: a kill between two statements of one commit (a transaction is atomic, so that
is the same as a kill at the commit before).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, func, select

from monitor.catalogue.models import (
    DriftResult,
    GeometryResult,
    MoonMeasurement,
    MtfResult,
    StarPhotometry,
    StarpoolResult,
    StarWindow,
)
from monitor.ingest.service import run_ingest
from monitor.results import build_results
from monitor.settings import Settings, load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, open_engine, session_scope, utc_now
from tests.harness import PROCESS_FAULT_ENV, REPO_ROOT, command

TABLES = (StarPhotometry, StarWindow, StarpoolResult, MtfResult, DriftResult, MoonMeasurement, GeometryResult)
# (point, n): killed just after the n-th commit of that kind
FAULTS = [("photometry", 1), ("starpool", 1), ("star_drift", 1), ("geometry", 1), ("moon", 1), ("moon_drift", 1)]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site with its inbox ingested, not processed (SQLite catalogue inside the site)."""
    root = tmp_path_factory.mktemp("template")
    settings = load_settings(root / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0"})
    init_site(settings)
    simulate_campaigns(settings.inbox, start=datetime(2025, 1, 1, tzinfo=UTC), months=2, seed=11,
                       satellites=["PHR1A", "PNEO3"], stars_per_campaign=6, moon_per_month=1, geom_per_month=1,
                       bad_files=False, gzip_fraction=0.0, star_satellites=["PHR1A"], moon_satellites=["PNEO3"])
    with session_scope(settings) as session:
        summary = run_ingest(session, settings, utc_now())
    assert summary.ingested and not summary.rejected
    return settings.site


def _copy(template: Path, dest: Path) -> Settings:
    shutil.copytree(template, dest)
    return load_settings(dest, env={})


def _process(settings: Settings, fault: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update({PROCESS_FAULT_ENV: fault, "OMP_NUM_THREADS": "1"})
    return subprocess.run(command("process", "--site", str(settings.site)), env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)


# The alert times are the wall clock of the run that opened (refreshed, closed) the alert, and two
# runs never share one; everything else of an alert (id, series, kind, state, value, sigma,
# threshold, message) must be the same after a kill as without it.
ALERT_TIMES = ("opened_at", "closed_at", "acknowledged_at", "updated_at")


def _without_run_times(doc: dict[str, Any]) -> dict[str, Any]:
    alerts = [{k: (v is not None) if k in ALERT_TIMES else v for k, v in a.items()} for a in doc.get("alerts", [])]
    return {**doc, "alerts": alerts}


def _state(settings: Settings) -> tuple[dict[str, Any], dict[str, int]]:
    """(ICD 5 export without the alerts' wall-clock times, rows per result table)."""
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            doc = _without_run_times(build_results(s))
            counts = {t.__tablename__: int(s.exec(select(func.count()).select_from(t)).one()) for t in TABLES}
    finally:
        engine.dispose()
    return doc, counts


@pytest.fixture(scope="module")
def reference(template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, int]]:
    """What one uninterrupted run gives."""
    settings = _copy(template, tmp_path_factory.mktemp("reference") / "site")
    done = _process(settings)
    assert done.returncode == 0, done.stderr[-3000:]
    doc, counts = _state(settings)
    assert doc["calibration"] and doc["mtf"] and doc["drift"] and doc["geometry"]  # every stage has results
    assert all(counts.values()), counts
    return doc, counts


@pytest.mark.slow
@pytest.mark.parametrize(("point", "n"), FAULTS, ids=[f"{p}:{n}" for p, n in FAULTS])
def test_kill_after_a_commit_then_a_plain_run_gives_the_uninterrupted_result(
    template: Path, reference: tuple[dict[str, Any], dict[str, int]], tmp_path: Path, point: str, n: int
) -> None:
    settings = _copy(template, tmp_path / "site")
    killed = _process(settings, f"{point}:{n}")
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-3000:])
    assert f"fault injection: killing the process at {point}" in killed.stderr
    done = _process(settings)
    assert done.returncode == 0, done.stderr[-3000:]
    doc, counts = _state(settings)
    ref_doc, ref_counts = reference
    assert counts == ref_counts  # nothing lost, nothing computed twice
    assert doc == ref_doc  # the same numbers, to the last bit
    again = _process(settings)  # and a third run has nothing left to do
    assert again.returncode == 0 and _state(settings)[1] == ref_counts
