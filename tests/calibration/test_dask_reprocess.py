"""``monitor process --reprocess --dask local:2`` gives the numbers of the in-process reprocessing
(to 1e-12) for the same inputs: the photometry measured on a Dask LocalCluster of two worker
processes and written through the claim protocol, the aggregations (starpools, drift, run) run as
Dask tasks after their members, claimed by the client and written fenced by the task."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import func, select

from monitor.calibration.service import run_processing
from monitor.catalogue import work_units as wu
from monitor.catalogue.models import StarPhotometry, StarpoolResult
from monitor.catalogue.states import WorkState
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import session_scope, utc_now
from tests.calibration.work_site import assert_same, make_site, snapshot
from tests.harness import REPO_ROOT, command

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate_campaigns(out, start=datetime(2025, 1, 1, tzinfo=UTC), months=2, seed=5, satellites=["PHR1A"],
                       stars_per_campaign=6, moon_per_month=0, geom_per_month=0, bad_files=False, gzip_fraction=0.0)
    return out


def test_dask_local_2_reprocessing_gives_the_in_process_numbers(files: Path, tmp_path: Path) -> None:
    reference = make_site(tmp_path / "ref", files)
    dask_site = make_site(tmp_path / "dask", files)
    for settings in (reference, dask_site):
        with session_scope(settings) as session:
            run_processing(session, settings, utc_now())
    # Both reprocessings in processes with one BLAS thread: the PSF rendering is a BLAS matrix
    # product, whose last bits depend on the thread count, and the iterative PSF fit carries them
    # to ~1e-9 in A; the comparison is of the in-process path with the Dask one, not of BLAS builds.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MONITOR_LOG_LEVEL="WARNING")
    in_process = subprocess.run(command("process", "--reprocess", "--site", str(reference.site)),
                                env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert in_process.returncode == 0, in_process.stderr[-3000:]
    done = subprocess.run(command("process", "--reprocess", "--dask", "local:2", "--site", str(dask_site.site)),
                          env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dask local:2: 12 acquisition(s) measured" in done.stdout, done.stdout
    # the aggregations ran as Dask tasks after their members, not in the client
    assert "on dask: 1 run, 1 star_drift, 2 starpool" in done.stdout, done.stdout
    assert "left to the client: worker" in done.stdout and "done nothing" in done.stdout, done.stdout
    assert assert_same(snapshot(reference), snapshot(dask_site), rel=1e-12) > 500
    # the numbers compared are the new versions (the first run's rows, equal by construction, are older)
    with session_scope(dask_site) as session:
        assert wu.state_counts(session) == {WorkState.DONE: 12 + 2 + 1 + 1}
        runs = session.exec(select(StarPhotometry.run_id, func.count()).group_by(StarPhotometry.run_id)).all()
        assert sorted(n for _, n in runs) == [60, 60]  # 12 acquisitions x 5 bands, per run
        assert session.exec(select(func.max(StarpoolResult.version))).one() == 2
