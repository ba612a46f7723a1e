"""Kill a real ``monitor ingest`` process (SIGKILL) at every step and at random times, restart it,
and check that every file ends up ingested or quarantined exactly once, with nothing lost."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, select

from monitor.catalogue.models import Acquisition, Rejection
from monitor.ingest.service import FAULT_POINTS
from monitor.settings import Settings
from monitor.site import open_engine
from tests.harness import INGEST_FAULT_ENV, REPO_ROOT, command

from .files import write_bad_files, write_star

N_GOOD = 8


def _fill_inbox(site: Settings) -> tuple[set[str], set[str]]:
    """Good files, a duplicate and bad files; returns (good acq ids, refused file names)."""
    good = set()
    for i in range(N_GOOD):
        acq_id = f"PHR1A-STAR-20250314T021533-{i:04d}"
        write_star(site.inbox, f"star_{i:02d}.fits", acq_id, seed=i)
        good.add(acq_id)
    shutil.copy(site.inbox / "star_00.fits", site.inbox / "star_00_copy.fits")
    refused = set(write_bad_files(site.inbox)) | {"star_00_copy.fits"}
    return good, refused


def _run(site: Settings, fault: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update({
        "MONITOR_DATABASE_URL": site.database_url,
        "MONITOR_INGEST_SETTLE_SECONDS": "0",
        INGEST_FAULT_ENV: fault,
        "MONITOR_INGEST_BATCH_FILES": "2",  # several batches of accepted files: each step is reached >= 3 times
        "OMP_NUM_THREADS": "1",
    })
    return subprocess.run(command("ingest", "--site", str(site.site)), env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO_ROOT)


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _check_exactly_once(site: Settings, good: set[str], refused: set[str]) -> None:
    engine = open_engine(site)
    with Session(engine) as session:
        acqs = session.exec(select(Acquisition)).all()
        rejs = session.exec(select(Rejection)).all()
    engine.dispose()
    assert sorted(a.acq_id for a in acqs) == sorted(good)  # each good file exactly once
    assert all(a.status == "archived" for a in acqs)
    assert sorted(r.file_name for r in rejs) == sorted(refused)  # each refused file exactly once
    assert all(r.state == "done" for r in rejs)
    archived = _files_under(site.archive)
    assert sorted(str(p.relative_to(site.site)) for p in archived) == sorted(a.archive_path for a in acqs)
    quarantined = _files_under(site.quarantine)
    assert sorted(str(p.relative_to(site.site)) for p in quarantined) == sorted(r.quarantine_path for r in rejs)
    assert _files_under(site.inbox) == []  # nothing left behind, no stray markers or .part files
    for p in archived + quarantined:
        assert not p.name.endswith((".part", ".done"))


@pytest.mark.slow
@pytest.mark.parametrize("fault", [f"{p}:{n}" for p in FAULT_POINTS for n in (1, 3)])
def test_kill_at_each_step_then_restart(site: Settings, fault: str) -> None:
    good, refused = _fill_inbox(site)
    crashed = _run(site, fault)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    done = _run(site)
    assert done.returncode == 0, done.stderr[-2000:]
    # the interrupted step is finished by the recovery pass (a whole batch of accepted files, or one rejection)
    assert re.search(r"recovered [1-9]", done.stdout), done.stdout
    _check_exactly_once(site, good, refused)


@pytest.mark.slow
def test_kill_at_random_times_then_restart(site: Settings) -> None:
    good, refused = _fill_inbox(site)
    rng = np.random.default_rng(2025)
    env = dict(os.environ)
    env.update({"MONITOR_DATABASE_URL": site.database_url, "MONITOR_INGEST_SETTLE_SECONDS": "0",
                "OMP_NUM_THREADS": "1", INGEST_FAULT_ENV: "slow:0.3",
                "MONITOR_INGEST_BATCH_FILES": "2"})  # many small steps: kills land mid-batch
    kills = 0
    for _ in range(6):
        proc = subprocess.Popen(command("ingest", "--site", str(site.site)), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=REPO_ROOT)
        time.sleep(float(rng.uniform(1.5, 3.5)))  # start-up ~1-2 s, then ~0.6 s per batch: kill mid-work
        if proc.poll() is not None:  # it finished the remaining work before the kill
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        kills += 1
    final = _run(site)
    assert final.returncode == 0, final.stderr[-2000:]
    assert kills >= 2  # the kills really happened in the middle of the work
    _check_exactly_once(site, good, refused)
