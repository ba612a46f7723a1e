"""Star photometry on worker processes gives exactly the rows of the in-process run."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from monitor.calibration import star_photometry as photometry_mod
from monitor.calibration.pending import UnitFailure
from monitor.calibration.star import run_star_calibration
from monitor.catalogue import operations as ops
from monitor.catalogue.models import Acquisition, StarPhotometry, StarpoolMember, StarWindow
from monitor.failures import FailureKind
from monitor.ingest.service import run_ingest
from monitor.settings import load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, session_scope, utc_now


def _process(root: Path, inbox: Path, workers: int) -> tuple[list[tuple], list[tuple], int]:
    # photometry only: no PSF fit ([star] mtf = false; since issue 15 ee_provider=None alone does not skip it)
    settings = load_settings(root, env={"MONITOR_INGEST_SETTLE_SECONDS": "0", "MONITOR_STAR_WORKERS": str(workers),
                                        "MONITOR_STAR_MTF": "false"})
    init_site(settings)
    for f in inbox.iterdir():
        shutil.copy2(f, settings.inbox / f.name)
    with session_scope(settings) as session:
        run_ingest(session, settings, utc_now())
        run = ops.start_run(session, "process", utc_now())
        session.commit()
        summary = run_star_calibration(session, settings, run, utc_now(), ee_provider=None)
        phot = session.exec(
            select(Acquisition.acq_id, StarPhotometry.band, StarPhotometry.status, StarPhotometry.reason,
                   StarPhotometry.centroid_x, StarPhotometry.centroid_y, StarPhotometry.a)
            .join(Acquisition, StarPhotometry.acquisition_id == Acquisition.id)  # type: ignore[arg-type]
        ).all()
        windows = session.exec(
            select(Acquisition.acq_id, StarPhotometry.band, StarWindow.half_width_px, StarWindow.sum_dn,
                   StarWindow.sigma_dn)
            .join(StarPhotometry, StarWindow.photometry_id == StarPhotometry.id)  # type: ignore[arg-type]
            .join(Acquisition, StarPhotometry.acquisition_id == Acquisition.id)  # type: ignore[arg-type]
        ).all()
        members = len(session.exec(select(StarpoolMember)).all())
    assert summary.photometry == members
    return sorted(tuple(r) for r in phot), sorted(tuple(r) for r in windows), members


def test_worker_processes_match_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = tmp_path / "sim"
    simulate_campaigns(inbox, start=datetime(2024, 3, 1, tzinfo=UTC), months=2, seed=3, satellites=["PHR1A"],
                       stars_per_campaign=6, moon_per_month=0, geom_per_month=0, bad_files=False)
    serial = _process(tmp_path / "serial", inbox, workers=1)
    monkeypatch.setattr(photometry_mod, "PARALLEL_MIN_FILES", 2)  # force the pool on a dozen files
    assert photometry_mod._workers(load_settings(tmp_path / "x", env={"MONITOR_STAR_WORKERS": "2"}), 12) == 2
    parallel = _process(tmp_path / "parallel", inbox, workers=2)
    assert serial[2] == parallel[2] == 12
    assert len(serial[0]) == 12 * 5
    assert serial == parallel  # bit-identical: the same code, in another process


def test_small_backlogs_stay_in_process(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={"MONITOR_STAR_WORKERS": "4"})
    assert photometry_mod._workers(settings, photometry_mod.PARALLEL_MIN_FILES - 1) == 1
    assert photometry_mod._workers(settings, 10_000) == 4
    assert photometry_mod._workers(load_settings(tmp_path, env={"MONITOR_STAR_WORKERS": "1"}), 10_000) == 1


def test_broken_pool_falls_back_to_in_process(tmp_path: Path) -> None:
    """A pool that breaks mid-way (worker killed): the remaining files are measured here."""
    from concurrent.futures.process import BrokenProcessPool

    from monitor.domain import BandHeader

    band = BandHeader(band="P", shape=(64, 64), dark_dn=0.0, gain_factor=1.0, oversamp=1.0, binning=1,
                      pixscale_urad=2.8, lineper_ms=0.07, saturate_dn=4095.0, star_x=32.0, star_y=32.0)
    jobs = [photometry_mod.FileJob(tmp_path / f"missing{i}.fits", (band,), (20.0,), (5,), acquisition_id=i + 1,
                              acq_id=f"ACQ{i}", satellite="PHR1A", hip=32349, run_id=1) for i in range(4)]

    def pool_results():  # two results, then the pool dies
        yield [({"message": "from the pool 0"}, [])]
        yield [({"message": "from the pool 1"}, [])]
        raise BrokenProcessPool("a worker was killed")

    out = list(photometry_mod._in_process_if_broken(jobs, pool_results()))
    assert [o[0][0]["message"] for o in out[:2]] == ["from the pool 0", "from the pool 1"]
    assert len(out) == 4
    for i, failure in enumerate(out[2:], start=2):  # measured in-process: the file cannot be opened
        assert isinstance(failure, UnitFailure)  # no verdict: a missing archived file is transient
        assert failure.unit == f"ACQ{i}" and failure.kind is FailureKind.TRANSIENT
        assert f"missing{i}" in failure.error and failure.line.startswith(f"ACQ{i}: transient: FileNotFoundError")


def test_worker_failures_become_file_outcomes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An exception in a worker, for one file, is that file's outcome (a transient or internal
    UnitFailure with its traceback): the pool is not broken and the other files of the batch keep
    their rows. Before: the exception ended ``pool.map`` and the whole run."""
    from monitor.io.acquisition import read_acquisition_header

    inbox = tmp_path / "sim"
    truth = simulate_campaigns(inbox, start=datetime(2024, 3, 1, tzinfo=UTC), months=1, seed=4, satellites=["PHR1A"],
                               stars_per_campaign=3, moon_per_month=0, geom_per_month=0, bad_files=False)

    def job(i: int, file: Path, **changes: object) -> photometry_mod.FileJob:
        header = read_acquisition_header(file)
        assert header.hip is not None
        good = photometry_mod.FileJob(file, header.bands, tuple(20.0 / b.gain_factor for b in header.bands),
                                 (2, 3, 5), acquisition_id=i, acq_id=f"ACQ{i}", satellite="PHR1A", hip=header.hip,
                                 run_id=1)
        return dataclasses.replace(good, **changes)  # type: ignore[arg-type]

    files = [inbox / f.file for f in truth.files]
    (tmp_path / "a-directory").mkdir()
    jobs = [
        job(0, files[0]),
        job(1, files[1], path=tmp_path / "a-directory"),  # not a file: transient
        job(2, files[1], gains_e_per_dn=(20.0,)),  # one gain for five bands: a defect (zip strict)
        job(3, files[2]),
    ]
    with caplog.at_level(logging.WARNING), photometry_mod._photometry_map(jobs, workers=2) as results:
        out = list(results)
    assert not caplog.records  # no broken pool, no fallback to in-process
    assert out[0] == photometry_mod.measure_file(jobs[0]) and out[3] == photometry_mod.measure_file(jobs[3])
    assert all(phot["status"] == "ok" for phot, _ in out[0] + out[3])
    transient, internal = out[1], out[2]
    assert isinstance(transient, UnitFailure) and transient.kind is FailureKind.TRANSIENT
    assert transient.line.startswith("ACQ1: transient: IsADirectoryError")
    assert isinstance(internal, UnitFailure) and internal.kind is FailureKind.INTERNAL
    assert internal.line.startswith("ACQ2: internal error: ValueError: zip()")
    assert "Traceback (most recent call last)" in internal.traceback and "_photometry_rows" in internal.traceback
