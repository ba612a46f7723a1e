"""Two ``monitor ingest`` (or ``monitor process``) at once on one site: real concurrent subprocesses.

The second run waits for the first (the site operation lock, :mod:`monitor.catalogue.locks`), so
every file is ingested exactly once: no phantom duplicate of itself, no crash. A run that cannot
get the lock within ``[ingest] lock_wait_seconds`` exits with one line and status 75.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from sqlmodel import Session, col, func, select

from monitor.catalogue.locks import BUSY_EXIT_CODE
from monitor.catalogue.models import Acquisition, BandImage, Rejection, StarPhotometry
from monitor.settings import Settings
from monitor.site import open_engine
from tests.harness import INGEST_FAULT_ENV, PROCESS_FAULT_ENV, REPO_ROOT, command

from .files import write_star

N_FILES = 12


def _env(site: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"MONITOR_DATABASE_URL": site.database_url, "MONITOR_INGEST_SETTLE_SECONDS": "0",
                "MONITOR_INGEST_BATCH_FILES": "2", "OMP_NUM_THREADS": "1"})
    env.update(extra)
    return env


def _start(site: Settings, *args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(command(*args, "--site", str(site.site)), env=_env(site, **extra), cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _fill(site: Settings, n: int = N_FILES) -> set[str]:
    ids = set()
    for i in range(n):
        acq_id = f"PHR1A-STAR-20250314T021533-{i:04d}"
        write_star(site.inbox, f"star_{i:02d}.fits", acq_id, seed=i)
        ids.add(acq_id)
    return ids


def test_two_concurrent_ingests_ingest_every_file_exactly_once(site: Settings) -> None:
    ids = _fill(site)
    slow = {INGEST_FAULT_ENV: "slow:0.1", "MONITOR_INGEST_LOCK_WAIT_SECONDS": "60"}
    first = _start(site, "ingest", **slow)
    second = _start(site, "ingest", **slow)
    out1, err1 = first.communicate(timeout=120)
    out2, err2 = second.communicate(timeout=120)
    assert first.returncode == 0, err1[-2000:]
    assert second.returncode == 0, err2[-2000:]
    assert "Traceback" not in err1 + err2
    engine = open_engine(site)
    with Session(engine) as session:
        acqs = session.exec(select(Acquisition)).all()
        rejections = session.exec(select(Rejection)).all()
        bands = session.exec(select(func.count()).select_from(BandImage)).one()
    engine.dispose()
    assert sorted(a.acq_id for a in acqs) == sorted(ids)  # each file exactly once
    assert all(a.status == "archived" for a in acqs)
    assert rejections == []  # no valid file recorded as a duplicate of itself
    assert bands == 2 * N_FILES  # every band row of every file
    assert list(site.inbox.iterdir()) == []
    assert len(list(site.archive.rglob("*.fits"))) == N_FILES
    # one run did the work, the other waited for it and found nothing left
    summaries = sorted(out1.strip().splitlines()[-1:] + out2.strip().splitlines()[-1:])
    assert summaries[0].startswith("ingested 0,") and summaries[1].startswith(f"ingested {N_FILES},"), summaries


@pytest.mark.parametrize("operation", ["ingest", "process"])
def test_a_run_that_cannot_get_the_lock_in_time_exits_75_with_one_line(site: Settings, operation: str) -> None:
    """The lock is held by this test process (deterministic, whatever the machine's load)."""
    from monitor.catalogue.locks import hold_site_lock

    _fill(site, 2)
    engine = open_engine(site)
    try:
        with hold_site_lock(engine, operation, 0):
            t = time.monotonic()
            second = subprocess.run(command(operation, "--site", str(site.site)), cwd=REPO_ROOT,
                                    capture_output=True, text=True, timeout=60,
                                    env=_env(site, MONITOR_INGEST_LOCK_WAIT_SECONDS="1"))
            waited = time.monotonic() - t
        assert second.returncode == BUSY_EXIT_CODE, second.stderr
        lines = second.stderr.strip().splitlines()  # a log line saying it waits, then the error line
        errors = [line for line in lines if line.startswith("error:")]
        assert errors == lines[-1:], lines
        assert errors[0].startswith(f"error: another monitor {operation} is running for this site (pid {os.getpid()};")
        assert "Traceback" not in second.stderr
        assert waited >= 1.0
        with Session(engine) as session:  # nothing done
            assert session.exec(select(func.count()).select_from(Acquisition)).one() == 0
            assert session.exec(select(func.count()).select_from(Rejection)).one() == 0
    finally:
        engine.dispose()
    assert len(list(site.inbox.glob("*.fits"))) == 2


@pytest.mark.slow
def test_two_concurrent_process_runs_measure_each_acquisition_once(site: Settings) -> None:
    ids = _fill(site, 4)
    done = subprocess.run(command("ingest", "--site", str(site.site)), cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, env=_env(site))
    assert done.returncode == 0, done.stderr[-2000:]
    slow = {PROCESS_FAULT_ENV: "slow:0.3", "MONITOR_INGEST_LOCK_WAIT_SECONDS": "120"}
    first = _start(site, "process", **slow)
    second = _start(site, "process", **slow)
    _, err1 = first.communicate(timeout=300)
    _, err2 = second.communicate(timeout=300)
    assert first.returncode == 0, err1[-2000:]
    assert second.returncode == 0, err2[-2000:]
    engine = open_engine(site)
    with Session(engine) as session:
        rows = session.exec(select(StarPhotometry.acquisition_id, StarPhotometry.band)).all()
        n_acq = session.exec(select(func.count()).select_from(Acquisition)
                             .where(col(Acquisition.acq_id).in_(sorted(ids)))).one()
    engine.dispose()
    assert n_acq == len(ids)
    assert len(rows) == 2 * len(ids)  # each acquisition and band measured once, by one of the runs
    assert len(set(rows)) == len(rows)


def test_a_held_lock_makes_the_use_case_raise_a_transient_error_and_locks_are_distinct(site: Settings) -> None:
    """In-process: what a daemon job meets when an operator's ingest holds the lock (a transient
    failure: the job is recorded failed, nothing done), and the daemon/ingest/process locks never
    block one another."""
    from dataclasses import replace

    from monitor.catalogue.locks import SiteBusyError, hold_site_lock
    from monitor.daemon.lock import acquire_daemon_lock
    from monitor.failures import is_transient
    from monitor.ingest.service import run_ingest
    from monitor.site import utc_now

    _fill(site, 2)
    quick = replace(site, ingest=replace(site.ingest, lock_wait_seconds=0.3))
    engine = open_engine(site)
    try:
        with hold_site_lock(engine, "ingest", 0), Session(engine) as session:
            with hold_site_lock(engine, "process", 0):  # another name: not blocked
                daemon = acquire_daemon_lock(engine)  # nor the daemon's lock
                daemon.release()
            t = time.monotonic()
            with pytest.raises(SiteBusyError, match=r"another monitor ingest is running .*pid \d+") as caught:
                run_ingest(session, quick, utc_now())
            assert time.monotonic() - t >= 0.3
            assert is_transient(caught.value)
            assert session.exec(select(func.count()).select_from(Acquisition)).one() == 0
        with Session(engine) as session:  # released: the next run does the work
            assert len(run_ingest(session, quick, utc_now()).ingested) == 2
    finally:
        engine.dispose()
