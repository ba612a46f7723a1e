"""The star method run as claimable units (monitor.calibration.work) gives exactly the results of
the in-process ``monitor process``; the aggregations run once, after their members; a run's units
end the run row; a unit that fails without a verdict is retried, then failed (run 'partial')."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from monitor.calibration import star_photometry as photometry_mod
from monitor.calibration import work_runners as runners_mod
from monitor.calibration.service import run_processing
from monitor.calibration.work import work
from monitor.calibration.work_enqueue import enqueue_star_processing
from monitor.catalogue import work_units as wu
from monitor.catalogue.models import ProcessingRun, StarpoolResult, WorkUnit
from monitor.catalogue.states import RunOutcome, UnitKind, WorkState
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import open_engine, session_scope, utc_now
from tests.calibration.work_site import assert_same, make_site, snapshot
from tests.harness import REPO_ROOT, command

pytestmark = pytest.mark.slow  # sites ingested and processed, a worker subprocess: ~60 s on 2 busy cores


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two monthly campaigns of PHR1A, 6 stars each (the starpools get their PSF fit and MTF)."""
    out = tmp_path_factory.mktemp("sim")
    simulate_campaigns(out, start=datetime(2025, 1, 1, tzinfo=UTC), months=2, seed=11, satellites=["PHR1A"],
                       stars_per_campaign=6, moon_per_month=0, geom_per_month=0, bad_files=False, gzip_fraction=0.0)
    return out


def _work_until_idle(settings, **kw):  # type: ignore[no-untyped-def]
    engine = open_engine(settings)
    try:
        return work(engine, settings, utc_now, until_idle=True, **kw)
    finally:
        engine.dispose()


def test_units_give_the_in_process_results_and_each_aggregation_runs_once(files: Path, tmp_path: Path) -> None:
    reference = make_site(tmp_path / "ref", files)
    with session_scope(reference) as session:
        run_processing(session, reference, utc_now())
    settings = make_site(tmp_path / "units", files)
    with session_scope(settings) as session:
        enqueued = enqueue_star_processing(session, settings, utc_now())
        assert (enqueued.photometry, enqueued.starpools, enqueued.drifts) == (12, 2, 1)
        again = enqueue_star_processing(session, settings, utc_now())
        assert again.run_id is None and "not ended" in again.reason  # one run's units in flight at a time
    summary = _work_until_idle(settings)
    assert summary.done == {"star_photometry": 12, "starpool": 2, "star_drift": 1, "run": 1}, summary
    assert not summary.given_back and not summary.failed and not summary.lost
    n = assert_same(snapshot(reference), snapshot(settings), rel=1e-12)
    assert n > 500
    with session_scope(settings) as session:
        run = session.get(ProcessingRun, enqueued.run_id)
        assert run is not None and run.outcome == RunOutcome.OK and run.n_items == 12 and run.finished_at
        assert len(session.exec(select(StarpoolResult)).all()) == 2 * 5  # once per starpool and band
        assert wu.state_counts(session, enqueued.run_id) == {WorkState.DONE: 16}
        reason = enqueue_star_processing(session, settings, utc_now()).reason
        assert reason == "no star, Moon, GEOM acquisition or GLOD observation pending"  # GLOD units since issue 18


def test_a_failing_unit_is_retried_then_failed_and_the_run_is_partial(files: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_site(tmp_path / "site", files, env={"MONITOR_COMPUTE_MAX_ATTEMPTS": "2"})
    with session_scope(settings) as session:
        enqueued = enqueue_star_processing(session, settings, utc_now(), max_attempts=2)
        victim = session.exec(select(WorkUnit.key).where(WorkUnit.kind == UnitKind.STAR_PHOTOMETRY)
                              .order_by(WorkUnit.id)).first()
    calls: list[str] = []
    real = photometry_mod.measure_file

    def measure(job: photometry_mod.FileJob):  # type: ignore[no-untyped-def]
        if str(job.acquisition_id) == victim:
            calls.append(job.acq_id)
            raise RuntimeError("defect of the code")
        return real(job)

    monkeypatch.setattr(runners_mod, "measure_file", measure)
    summary = _work_until_idle(settings)
    assert len(calls) == 2 and summary.given_back == 1 and summary.failed == 1
    assert summary.done["star_photometry"] == 11 and summary.done["starpool"] == 2  # its starpool still ran
    with session_scope(settings) as session:
        run = session.get(ProcessingRun, enqueued.run_id)
        assert run is not None and run.outcome == RunOutcome.PARTIAL and "1 unit(s) failed" in run.message
        counts = wu.state_counts(session, enqueued.run_id)
    assert counts == {WorkState.DONE: 15, WorkState.FAILED: 1}


def test_stop_finishes_the_unit_in_hand(files: Path, tmp_path: Path) -> None:
    settings = make_site(tmp_path / "site", files)
    with session_scope(settings) as session:
        enqueue_star_processing(session, settings, utc_now())
    stop = threading.Event()
    seen: list[str] = []

    def on_unit(unit: wu.ClaimedUnit, outcome: str) -> None:
        seen.append(outcome)
        if len(seen) == 3:
            stop.set()  # as SIGTERM does: the loop ends after this unit

    summary = _work_until_idle(settings, stop=stop, on_unit=on_unit)
    assert seen == ["done"] * 3 and summary.done == {"star_photometry": 3}
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            counts = wu.state_counts(s)
    finally:
        engine.dispose()
    assert counts[WorkState.DONE] == 3 and WorkState.CLAIMED not in counts  # nothing left half-held


def test_with_compute_workers_false_processing_enqueues_the_star_method_for_the_workers(files: Path,
                                                                                        tmp_path: Path) -> None:
    settings = make_site(tmp_path / "site", files, env={"MONITOR_COMPUTE_WORKERS": "false"})
    with session_scope(settings) as session:
        summary = run_processing(session, settings, utc_now())
        assert "12 acquisition(s), 2 starpool(s), 1 drift series" in str(summary.parts["star"])
        assert session.exec(select(StarpoolResult)).all() == []  # nothing computed by the scheduler
    assert _work_until_idle(settings).done["star_photometry"] == 12
    with session_scope(settings) as session:
        assert len(session.exec(select(StarpoolResult)).all()) == 10


def test_the_heartbeat_keeps_a_long_unit_from_being_reaped(files: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit that runs 5 leases long: the heartbeat renews the lease, so a reaper running meanwhile
    (another worker's) returns nothing and the unit's results are written."""
    settings = make_site(tmp_path / "site", files, env={"MONITOR_COMPUTE_LEASE_SECONDS": "0.4"})
    with session_scope(settings) as session:
        enqueue_star_processing(session, settings, utc_now())
    real = photometry_mod.measure_file
    reaped: list[tuple[int, int]] = []

    def slow(job: photometry_mod.FileJob):  # type: ignore[no-untyped-def]
        if not reaped:
            time.sleep(2.0)
            engine = open_engine(settings)
            try:
                with Session(engine) as s:
                    reaped.append(wu.reap(s, utc_now()))
                    s.commit()
            finally:
                engine.dispose()
        return real(job)

    monkeypatch.setattr(runners_mod, "measure_file", slow)
    summary = _work_until_idle(settings)
    assert reaped == [(0, 0)]
    assert summary.done["star_photometry"] == 12 and not summary.lost and not summary.reaped


def test_sigterm_lets_the_worker_finish_its_unit_and_exit(files: Path, tmp_path: Path) -> None:
    settings = make_site(tmp_path / "site", files)
    with session_scope(settings) as session:
        enqueue_star_processing(session, settings, utc_now())
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update(OMP_NUM_THREADS="1", MONITOR_LOG_LEVEL="WARNING")
    proc = subprocess.Popen(command("worker", "--site", str(settings.site)), env=env, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    engine = open_engine(settings)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            with Session(engine) as s:
                if wu.state_counts(s).get(WorkState.DONE, 0) >= 2:
                    break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, errs = proc.communicate(timeout=30)
        with Session(engine) as s:
            counts = wu.state_counts(s)
    finally:
        engine.dispose()
    assert proc.returncode == 0, errs[-2000:]
    assert "SIGTERM: finishing the unit in hand" in errs and "worker " in out
    assert WorkState.CLAIMED not in counts and 2 <= counts[WorkState.DONE] < 16, counts
