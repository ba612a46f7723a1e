"""The daemon as the single scheduler with ``[compute] workers = false`` and a separate ``monitor
worker`` doing the processing (issue 18), end to end.

A real ``monitor daemon`` subprocess (short schedule) and a real ``monitor worker`` subprocess (its
loop, not --until-idle: started before there is any work, stopped with SIGTERM) share one site.
Simulated STAR files dropped in the inbox are ingested by the daemon's ingest job; its process job
only enqueues them as units; the worker measures them, runs the starpool, drift and run units; the
weekly report job (its cron fires every minute, so the start-up catch-up runs it at once) enqueues
the render of the due report as a unit, which the worker renders and archives.

What it catches: a daemon that processes itself although told not to (nothing left to enqueue: no
unit, or units not held by the worker's pid), a process job that enqueues nothing or enqueues the same
acquisitions twice (units per key), a worker that does not pick up units enqueued after it started,
a report job broken by the setting. What it cannot catch: more than one worker (tests/calibration/
test_workers_postgres.py), the numbers themselves (test_work_star.py compares them with the
in-process run).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from monitor.catalogue import acquisitions
from monitor.catalogue.models import ProcessingRun, StarPhotometry, StarpoolResult, WorkUnit
from monitor.catalogue.states import RunOutcome, UnitKind, WorkState
from monitor.settings import Settings, load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, open_engine
from tests.harness import REPO_ROOT, command

from .conftest import daemon_env, job_runs, start_daemon, stop_daemon, wait_for

N_STAR = 6  # PHR1A, one monthly campaign
N_BANDS = 5


def _count(settings: Settings, stmt) -> int:  # type: ignore[no-untyped-def]
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            return int(s.exec(stmt).one())
    finally:
        engine.dispose()


def _archived(settings: Settings) -> int:
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            return len(acquisitions.acquisitions_in_state(s, "archived"))
    finally:
        engine.dispose()


def _units_done(settings: Settings, kind: str) -> int:
    return _count(settings, select(func.count()).select_from(WorkUnit).where(
        WorkUnit.kind == kind, WorkUnit.state == WorkState.DONE))


@pytest.mark.slow
def test_daemon_enqueues_and_a_separate_worker_processes_and_the_report_job_still_runs(
        tmp_path: Path, catalogue_url: str) -> None:
    sim = tmp_path / "sim"
    simulate_campaigns(sim, start=datetime(2025, 1, 1, tzinfo=UTC), months=1, seed=11, satellites=["PHR1A"],
                       stars_per_campaign=N_STAR, moon_per_month=0, geom_per_month=0, bad_files=False,
                       gzip_fraction=0.0)
    settings = load_settings(tmp_path / "site", env={"MONITOR_DATABASE_URL": catalogue_url})
    init_site(settings)
    env = daemon_env(settings, MONITOR_COMPUTE_WORKERS="false", MONITOR_SCHEDULER_PROCESS_MINUTES="0.1",
                     MONITOR_REPORT_WEEKLY_CRON="* * * * *")  # a weekly run fired < 1 min ago: caught up at start
    worker_env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    worker_env.update(MONITOR_DATABASE_URL=settings.database_url, MONITOR_COMPUTE_POLL_SECONDS="0.3",
                      MONITOR_LOG_LEVEL="WARNING", OMP_NUM_THREADS="1")
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        daemon = start_daemon(settings, env, tmp_path, log)
        worker = subprocess.Popen(command("worker", "--site", str(settings.site)), env=worker_env, cwd=REPO_ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for f in sorted(sim.iterdir()):  # files arrive after both are up: the worker waits for units
                shutil.copy2(f, settings.inbox / f.name)
            wait_for(lambda: _archived(settings) == N_STAR, 90, "the daemon to ingest the files")
            wait_for(lambda: _units_done(settings, UnitKind.RUN) >= 1, 150, "the worker to end the run's units")
            wait_for(lambda: any(r.outcome == "ok" for r in job_runs(settings, "weekly_report")), 120,
                     "the weekly report job")
            wait_for(lambda: bool(list(settings.reports_dir.glob("*.pdf"))), 120, "the worker to render the report")
            assert worker.poll() is None, "the worker loop ended on its own"
            worker.send_signal(signal.SIGTERM)
            out, errs = worker.communicate(timeout=60)
            assert stop_daemon(daemon) == 0
        finally:
            for p in (worker, daemon):
                if p.poll() is None:
                    p.kill()
                    p.wait()
    assert worker.returncode == 0, errs[-3000:]
    assert f"done {N_STAR} star_photometry" in out or f", {N_STAR} star_photometry" in out, out
    daemon_log = log_path.read_text()
    assert "run " in daemon_log and "enqueued:" in daemon_log, daemon_log[-3000:]  # the process job enqueued
    assert "enqueued for the workers" in daemon_log, daemon_log[-3000:]  # so did the report job

    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            phot = s.exec(select(StarPhotometry)).all()
            assert len(phot) == N_STAR * N_BANDS
            assert len({(p.acquisition_id, p.band) for p in phot}) == N_STAR * N_BANDS  # each measured once
            units = s.exec(select(WorkUnit)).all()
            photometry_units = [u for u in units if u.kind == UnitKind.STAR_PHOTOMETRY]
            assert len(photometry_units) == N_STAR == len({u.key for u in photometry_units})  # enqueued once
            assert {u.state for u in units} == {WorkState.DONE}
            assert all(str(u.worker_id).endswith(f":{worker.pid}") for u in units)  # all done by the worker
            assert len(s.exec(select(StarpoolResult)).all()) == N_BANDS  # one starpool, every band, once
            run_ids = {u.run_id for u in units}
            runs = [s.get(ProcessingRun, r) for r in run_ids]
            assert all(r is not None and r.outcome == RunOutcome.OK for r in runs), runs
            assert sorted(r.kind for r in runs if r is not None).count("report") == 1  # rendered once
    finally:
        engine.dispose()
    assert len(list(settings.reports_dir.glob("*.pdf"))) == 1
    runs = job_runs(settings)
    assert {r.job_id for r in runs if r.outcome == "ok"} >= {"ingest", "process", "weekly_report"}
    assert all(r.outcome in ("ok", "running") for r in runs), [(r.job_id, r.outcome, r.message) for r in runs]
