"""PostgreSQL under a running daemon: an outage, and a lock taken by someone else.

1. Outage: the daemon's catalogue is a private PostgreSQL cluster (tests/daemon/pg_cluster.py;
   the machine's own server is never stopped). Files are ingested; the cluster is stopped for a
   while (every connection cut, the advisory lock gone with its connection) and files keep
   arriving; the daemon must stay up, log each job attempt it cannot record, take its lock again
   when the server is back, write the attempts it kept in memory, and ingest every file exactly
   once.
2. Lock stolen: the daemon's lock connection is terminated and another session takes the
   advisory lock before the daemon can: the daemon must kill its jobs and exit 1 rather than run
   beside the new holder.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from monitor.catalogue.engine import make_engine
from monitor.catalogue.models import Acquisition, Incident
from monitor.daemon.lock import PG_LOCK_KEY, daemon_holder
from monitor.settings import Settings, load_settings
from monitor.site import init_site, open_engine
from tests.ingest.files import write_star

from .conftest import daemon_env, job_runs, start_daemon, stop_daemon, wait_for
from .pg_cluster import PgCluster, pg_cluster  # noqa: F401  (fixture)

OUTAGE_S = 12.0  # s: several job periods (1.8 s) and lock checks (1 s)


def _acquisitions(settings: Settings) -> list[Acquisition]:
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            return list(s.exec(select(Acquisition)).all())
    finally:
        engine.dispose()


def _incidents(settings: Settings) -> list[Incident]:
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            return list(s.exec(select(Incident)).all())
    finally:
        engine.dispose()


def _holder(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return daemon_holder(engine)
    except sa.exc.OperationalError:
        return None
    finally:
        engine.dispose()


def _deliver(settings: Settings, prefix: str, n: int, seed: int) -> set[str]:
    ids = set()
    for i in range(n):
        acq_id = f"PHR1A-STAR-20250314T0215{i:02d}-{prefix}{i:02d}"
        write_star(settings.inbox, f"{prefix}{i}.fits", acq_id, seed=seed + i)
        ids.add(acq_id)
    return ids


@pytest.mark.slow  # its own cluster: not the server of MONITOR_TEST_DATABASE_URL, so not marked postgres
def test_daemon_survives_a_postgres_outage(tmp_path: Path, pg_cluster: PgCluster) -> None:  # noqa: F811
    settings = load_settings(tmp_path / "site", env={"MONITOR_DATABASE_URL": pg_cluster.url})
    init_site(settings)
    expected = _deliver(settings, "a", 3, 0)
    env = daemon_env(settings)
    log_path = tmp_path / "daemon.log"
    with log_path.open("wb") as log:
        daemon = start_daemon(settings, env, tmp_path, log)
        try:
            wait_for(lambda: len(_acquisitions(settings)) == 3, 60, "the first files")
            runs_before = len(job_runs(settings))
            pg_cluster.stop()
            t_down = time.monotonic()
            expected |= _deliver(settings, "b", 3, 10)  # files keep arriving during the outage
            while time.monotonic() - t_down < OUTAGE_S:
                assert daemon.poll() is None, "the daemon died during the outage"
                time.sleep(0.5)
            pg_cluster.start()
            wait_for(lambda: _holder(pg_cluster.url) == str(daemon.pid), 30, "the daemon to take its lock again")
            wait_for(lambda: len(_acquisitions(settings)) == 6, 60, "the files delivered during the outage")
            wait_for(lambda: not any(settings.inbox.glob("*.fits")), 30, "an empty inbox")
            wait_for(lambda: _incidents(settings) and all(i.closed_at for i in _incidents(settings)), 60,
                     "the incidents of the outage to close once every job succeeds again")
        finally:
            code = stop_daemon(daemon)
    assert code == 0
    text = log_path.read_text()
    assert "the catalogue lock connection is lost" in text
    assert "catalogue lock taken again" in text
    assert "not started: the catalogue lock is not held" in text or "kept in memory" in text
    assert "Traceback" not in text

    # every file exactly once, nothing half-moved, nothing left behind
    acqs = _acquisitions(settings)
    assert sorted(a.acq_id for a in acqs) == sorted(expected)
    assert all(a.status == "archived" for a in acqs)
    assert len(list(settings.archive.rglob("*.fits"))) == 6
    # the attempts made while the catalogue was down were recorded afterwards, in order
    runs = job_runs(settings)
    during = [r for r in runs[runs_before:] if r.outcome == "failed" and r.message.startswith("not started")]
    assert len(during) >= 3, [(r.job_id, r.outcome, r.message[:60]) for r in runs[runs_before:]]
    assert [r.id for r in runs] == sorted(r.id for r in runs)
    assert all(r.started_at <= r.finished_at for r in runs if r.finished_at is not None)
    # the outage was an incident of the jobs that kept failing, closed once they succeeded again
    assert "ingest" in {i.job_id for i in _incidents(settings)}


@pytest.mark.slow
@pytest.mark.postgres
def test_daemon_exits_when_another_takes_its_lost_lock(tmp_path: Path, postgres_url: str) -> None:
    settings = load_settings(tmp_path / "site", env={"MONITOR_DATABASE_URL": postgres_url})
    init_site(settings)
    env = daemon_env(settings, MONITOR_SCHEDULER_LOCK_CHECK_SECONDS="3")
    log_path = tmp_path / "daemon.log"
    thief = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with log_path.open("wb") as log, thief.connect() as conn:
        daemon = start_daemon(settings, env, tmp_path, log)
        try:
            wait_for(lambda: _holder(postgres_url) == str(daemon.pid), 30, "the daemon's lock")
            stolen = False
            for _ in range(20):  # cut the daemon's lock connection, take the lock before it does
                conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE application_name = 'monitor-daemon pid={daemon.pid}' AND datname = current_database()")
                for _ in range(50):
                    if conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({PG_LOCK_KEY})").scalar():
                        stolen = True
                        break
                    time.sleep(0.02)
                if stolen:
                    break
            assert stolen
            assert daemon.wait(timeout=60) == 1
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
    thief.dispose()
    text = log_path.read_text()
    assert "the catalogue lock was lost and another monitor daemon is running for this catalogue" in text
    assert "this daemon stops so as not to run beside it" in text
