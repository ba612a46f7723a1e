"""``monitor worker`` processes survive a lost PostgreSQL connection (issue 18).

Two ``monitor worker --until-idle`` subprocesses share 120 enqueued STAR acquisitions on the real
PostgreSQL. While they run, the test (from the server's ``postgres`` database, never from the
catalogue's) first terminates every backend of the catalogue three times
(``pg_terminate_backend``: a connection dies mid-transaction or between two), then makes the
catalogue refuse connections for 4 s, two leases long (``ALTER DATABASE ... ALLOW_CONNECTIONS
false`` and the backends terminated: every attempt to reconnect fails), then lets them in again.

What it catches: a worker that exits on a lost connection (return code, unit counts), a unit written
twice after the outage (a reaped unit's stale claim written, or a "done" commit that reached the
server replayed: the per-(acquisition, band) photometry count and starpool versions), a unit lost
(every unit done), a log line per failed attempt instead of per outage. What it cannot catch: an
outage shorter than a statement never hits anything; which of the fenced paths (renewed lease,
reaped and redone, commit already landed) each worker took is left to the timing of the run.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session, func, select

from monitor.calibration import work_runners as runners_mod
from monitor.calibration.work import work
from monitor.calibration.work_enqueue import enqueue_star_processing
from monitor.catalogue import work_units as wu
from monitor.catalogue.models import ProcessingRun, StarPhotometry, StarpoolResult, WorkUnit
from monitor.catalogue.states import RunOutcome, UnitKind, WorkState
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import open_engine, session_scope, utc_now
from tests.calibration.work_site import make_site, replicate_acquisitions
from tests.harness import REPO_ROOT, command

pytestmark = pytest.mark.slow

N_ACQUISITIONS = 120
N_POOLS = 30  # one-day campaign periods, acquisitions 6 h apart
N_BANDS = 5  # PHR1A
LEASE_S = 2.0
OUTAGE_S = 4.0  # two leases: a held unit's lease expires during it
ENV = {"MONITOR_STAR_CAMPAIGN_PERIOD": "1d", "MONITOR_COMPUTE_LEASE_SECONDS": str(LEASE_S),
       "MONITOR_COMPUTE_REAP_SECONDS": "0.5", "MONITOR_COMPUTE_POLL_SECONDS": "0.2"}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    # 6 stars: one starpool above the PSF fit's minimum of 5 (the SQLite cases process them all; the
    # PostgreSQL case clones them into its 120-acquisition backlog whatever their number)
    simulate_campaigns(out, start=datetime(2025, 1, 1, tzinfo=UTC), months=1, seed=23, satellites=["PHR1A"],
                       stars_per_campaign=6, moon_per_month=0, geom_per_month=0, bad_files=False,
                       gzip_fraction=0.0, saturated_fraction=0.0)
    return out


@pytest.mark.postgres
def test_workers_ride_out_lost_connections_and_an_outage_with_every_unit_done_once(
        files: Path, tmp_path: Path, postgres_url: str) -> None:
    env = {**ENV, "MONITOR_DATABASE_URL": postgres_url}
    settings = make_site(tmp_path / "site", files, env=env)
    replicate_acquisitions(settings, N_ACQUISITIONS, datetime(2025, 1, 1, tzinfo=UTC), timedelta(hours=6))
    with session_scope(settings) as session:
        enqueued = enqueue_star_processing(session, settings, utc_now())
    assert (enqueued.photometry, enqueued.starpools, enqueued.drifts) == (N_ACQUISITIONS, N_POOLS, 1)
    worker_env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    worker_env.update(env, OMP_NUM_THREADS="1", MONITOR_LOG_LEVEL="WARNING")

    catalogue = make_url(postgres_url)
    dbname = catalogue.database
    admin = sa.create_engine(catalogue.set(database="postgres"), isolation_level="AUTOCOMMIT")
    engine = open_engine(settings)

    def terminate() -> int:
        with admin.connect() as conn:
            return len(conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
            ), {"d": dbname}).all())

    def photometry_done() -> int:
        with Session(engine) as s:
            n = int(s.exec(select(func.count()).select_from(WorkUnit).where(
                WorkUnit.kind == UnitKind.STAR_PHOTOMETRY, WorkUnit.state == WorkState.DONE)).one())
        engine.dispose()  # no connection of the test's own left in the catalogue during the outage
        return n

    def wait_for_done(n: int) -> None:
        deadline = time.monotonic() + 90
        while photometry_done() < n:
            assert time.monotonic() < deadline and all(w.poll() is None for w in workers), "workers stalled"
            time.sleep(0.1)

    workers = [subprocess.Popen(command("worker", "--until-idle", "--site", str(settings.site)), env=worker_env,
                                cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    try:
        wait_for_done(15)
        killed = 0
        for _ in range(3):  # connections cut, the server stays up
            killed += terminate()
            time.sleep(0.3)
        assert killed >= 2  # the workers' connections (and their heartbeats') were there to cut
        wait_for_done(45)
        with admin.connect() as conn:  # a real outage: no connection accepted for two leases
            conn.execute(sa.text(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false'))
        try:
            terminate()
            time.sleep(OUTAGE_S)
            assert all(w.poll() is None for w in workers), "a worker exited during the outage"
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true'))
        outs = [w.communicate(timeout=120) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.communicate()
        admin.dispose()

    for w, (out, errs) in zip(workers, outs, strict=True):
        assert w.returncode == 0, errs[-3000:]
        m = re.search(r"(\d+) database outage\(s\) survived", out)
        assert m, out
        outages = int(m.group(1))
        assert 1 <= outages <= 4, (outages, errs[-3000:])  # the long outage at least; at most one per cut
        lost_lines = errs.count("database connection lost")
        assert lost_lines == outages, errs[-3000:]  # one line per outage, not one per failed attempt
        assert errs.count("database back after") == outages, errs[-3000:]
        assert errs.count("heartbeat of") <= outages, errs[-3000:]  # the heartbeat's too
    try:
        with Session(engine) as s:
            assert wu.state_counts(s, enqueued.run_id) == {WorkState.DONE: N_ACQUISITIONS + N_POOLS + 2}
            rows = s.exec(select(func.count()).select_from(StarPhotometry)).one()
            distinct = s.exec(select(func.count()).select_from(
                select(StarPhotometry.acquisition_id, StarPhotometry.band).distinct().subquery())).one()
            assert rows == distinct == N_ACQUISITIONS * N_BANDS  # each acquisition x band written once
            assert s.exec(select(func.max(StarpoolResult.version))).one() == 1  # no starpool computed twice
            run = s.get(ProcessingRun, enqueued.run_id)
            assert run is not None and run.outcome == RunOutcome.OK and run.n_items == N_ACQUISITIONS
    finally:
        engine.dispose()


def _lost_connection() -> sa.exc.OperationalError:
    """What psycopg/SQLAlchemy raise when the server closes the connection mid-statement."""
    return sa.exc.OperationalError("COMMIT", {}, ConnectionError("server closed the connection unexpectedly"))


@pytest.mark.parametrize("when", ["before the write, the unit reaped meanwhile", "after the commit landed"])
def test_the_unit_in_hand_is_run_again_under_its_claim_after_a_lost_connection(
        files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    """The two ambiguous cases of a connection lost while a unit is in hand, made deterministic by
    raising the driver's error once at the write (SQLite catalogue, the worker in-process):
    - before the write, while another worker reaped the unit and took it (its claim token moved
      on): the worker runs the unit again under its old claim, the fence refuses the write (lost),
      and the unit is done once, by the new claim;
    - after the results' commit reached the database (the reply was lost): the rerun finds the
      unit done, writes nothing (lost).
    Either way every acquisition x band is written once and the worker goes on to the end."""
    settings = make_site(tmp_path / "site", files)
    with session_scope(settings) as session:
        enqueued = enqueue_star_processing(session, settings, utc_now())
    real = runners_mod.write_photometry
    raised: list[int] = []

    def write(session, unit, worker, rows, now, acq_id=None):  # type: ignore[no-untyped-def]
        if raised:
            return real(session, unit, worker, rows, now, acq_id)
        raised.append(unit.id)
        if when.startswith("before"):
            engine = open_engine(settings)
            try:
                with Session(engine) as s:  # a reap and another worker's claim: the token moves on
                    row = s.get(WorkUnit, unit.id)
                    assert row is not None
                    row.state, row.worker_id, row.attempts = WorkState.PENDING, None, row.attempts + 1
                    s.add(row)
                    s.commit()
            finally:
                engine.dispose()
            raise _lost_connection()
        real(session, unit, worker, rows, now, acq_id)  # committed; then the reply is lost
        raise _lost_connection()

    monkeypatch.setattr(runners_mod, "write_photometry", write)
    engine = open_engine(settings)
    try:
        summary = work(engine, settings, utc_now, until_idle=True)
        with Session(engine) as s:
            counts = wu.state_counts(s, enqueued.run_id)
            rows = s.exec(select(func.count()).select_from(StarPhotometry)).one()
            distinct = s.exec(select(func.count()).select_from(
                select(StarPhotometry.acquisition_id, StarPhotometry.band).distinct().subquery())).one()
    finally:
        engine.dispose()
    n = enqueued.photometry
    assert raised and summary.outages == 1 and summary.lost == 1, summary
    assert summary.done["star_photometry"] == n - (0 if when.startswith("before") else 1), summary
    assert counts == {WorkState.DONE: n + enqueued.starpools + enqueued.drifts + 1}
    assert rows == distinct == n * N_BANDS
