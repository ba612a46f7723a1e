"""The Moon method and the GEOM adjustments run as claimable units (monitor.calibration.work) give
exactly the numbers of the in-process ``monitor process``; the Moon drift refit runs once per
satellite, after its Moon units; a Moon unit done twice (its first worker lost the claim) writes
its rows once."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from monitor.calibration import work as work_mod
from monitor.calibration import work_runners as runners_mod
from monitor.calibration.service import run_processing
from monitor.calibration.work import work
from monitor.calibration.work_enqueue import enqueue_star_processing
from monitor.catalogue import work_units as wu
from monitor.catalogue.models import (
    Acquisition,
    DriftResult,
    GeometryResult,
    MoonMeasurement,
    ProcessingRun,
    WorkUnit,
)
from monitor.catalogue.states import RunOutcome, UnitKind, WorkState
from monitor.domain import BANDS_BY_MISSION, Mission
from monitor.settings import Settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import open_engine, session_scope, utc_now
from tests.calibration.work_site import make_site
from tests.test_cli_errors import _env, run

pytestmark = pytest.mark.slow  # sites ingested and processed, three `monitor status`: ~30 s on 2 busy cores

N_MOON = 4  # PNEO3: one MOON acquisition per month
N_GEOM = 4  # and one GEOM acquisition per month
N_BANDS = len(BANDS_BY_MISSION[Mission.PNEO])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate_campaigns(out, start=datetime(2025, 1, 1, tzinfo=UTC), months=N_MOON, seed=5, satellites=["PNEO3"],
                       stars_per_campaign=0, moon_per_month=1, geom_per_month=1, bad_files=False, gzip_fraction=0.0)
    return out


def _moon(settings: Settings) -> tuple[dict[tuple[str, str], tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(acq_id, band) -> the Moon measurement's numbers; the MOON drift rows' numbers."""
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            rows = s.exec(select(MoonMeasurement, Acquisition.acq_id)
                          .join(Acquisition, col(MoonMeasurement.acquisition_id) == col(Acquisition.id))).all()
            drift = s.exec(select(DriftResult).where(DriftResult.method == "MOON")
                           .order_by(DriftResult.satellite, DriftResult.band)).all()
    finally:
        engine.dispose()
    meas: dict[tuple[str, str], tuple[Any, ...]] = {}
    for m, acq in rows:
        assert (acq, m.band) not in meas, f"{acq} {m.band} measured twice"
        meas[(acq, m.band)] = (m.status, m.reason, m.signal_dn, m.irradiance_w_m2_um, m.a, m.a_sigma,
                               m.phase_angle_deg, m.aperture_radius_px, m.in_trend)
    return meas, [(d.satellite, d.band, d.a0, d.a0_sigma, d.rate_per_year, d.rate_sigma, d.chi2_dof, d.n_points,
                   d.reference_epoch) for d in drift]


def _geometry(settings: Settings) -> dict[str, tuple[Any, ...]]:
    """acq_id -> the numbers of its geometry result (not the message: it holds the wall time)."""
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            rows = s.exec(select(GeometryResult, Acquisition.acq_id)
                          .join(Acquisition, col(GeometryResult.acquisition_id) == col(Acquisition.id))).all()
    finally:
        engine.dispose()
    out: dict[str, tuple[Any, ...]] = {}
    for g, acq in rows:
        assert acq not in out, f"{acq} adjusted twice"
        out[acq] = (g.status, g.n_control, g.n_check, g.check_rmse_e_m, g.check_rmse_n_m, g.check_rmse_u_m,
                    g.velocity_x_m_s, g.velocity_y_m_s, g.velocity_z_m_s, g.sigma0, g.dof, str(g.blunders),
                    g.velocity_sigma_x_m_s, g.position_sigma_m, g.orbit_model, g.orbit_order)
    return out


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-12, abs_tol=0.0) if isinstance(x, float) and isinstance(y, float)
               else x == y for x, y in zip(a, b, strict=True))


def _work_until_idle(settings: Settings, **kw: Any) -> work_mod.WorkerSummary:
    engine = open_engine(settings)
    try:
        return work(engine, settings, utc_now, until_idle=True, **kw)
    finally:
        engine.dispose()


def test_moon_and_geometry_units_give_the_in_process_numbers_and_the_drift_runs_once(files: Path,
                                                                                    tmp_path: Path) -> None:
    reference = make_site(tmp_path / "ref", files)
    with session_scope(reference) as session:
        run_processing(session, reference, utc_now())
    settings = make_site(tmp_path / "units", files, env={"MONITOR_COMPUTE_WORKERS": "false"})
    with session_scope(settings) as session:  # the [compute] workers = false path of `monitor process`
        summary = run_processing(session, settings, utc_now())
        assert "moon" not in summary.parts and session.exec(select(MoonMeasurement)).all() == []
        assert "geometry" not in summary.parts and session.exec(select(GeometryResult)).all() == []
        enq = summary.parts["star"].enqueued  # type: ignore[attr-defined]
        assert (enq.photometry, enq.moon, enq.moon_drifts, enq.geometry) == (0, N_MOON, 1, N_GEOM), enq
    done = _work_until_idle(settings)
    assert done.done == {"moon": N_MOON, "moon_drift": 1, "geometry": N_GEOM, "run": 1}, done
    ref_geom, got_geom = _geometry(reference), _geometry(settings)
    assert len(ref_geom) == N_GEOM and sum(v[0] == "ok" for v in ref_geom.values()) == N_GEOM
    assert ref_geom.keys() == got_geom.keys()
    assert all(_same(ref_geom[k], got_geom[k]) for k in ref_geom), (ref_geom, got_geom)
    ref_meas, ref_drift = _moon(reference)
    got_meas, got_drift = _moon(settings)
    assert len(ref_meas) == N_MOON * N_BANDS and sum(v[0] == "ok" for v in ref_meas.values()) >= 10
    assert ref_meas.keys() == got_meas.keys()
    assert all(_same(ref_meas[k], got_meas[k]) for k in ref_meas), "Moon measurements differ"
    assert len(ref_drift) == N_BANDS and len(got_drift) == N_BANDS  # one fit per band: the refit ran once
    assert all(_same(a, b) for a, b in zip(ref_drift, got_drift, strict=True)), (ref_drift, got_drift)
    with session_scope(settings) as session:
        run = session.get(ProcessingRun, enq.run_id)
        assert run is not None and run.outcome == RunOutcome.OK and run.n_items == N_MOON + N_GEOM
        assert wu.state_counts(session, enq.run_id) == {WorkState.DONE: N_MOON + N_GEOM + 2}
        assert enqueue_star_processing(session, settings, utc_now()).run_id is None  # nothing owed any more


def test_a_moon_unit_done_twice_writes_its_rows_once(files: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The first worker measures an acquisition but loses its claim before writing (its lease
    expired, the unit was reaped and claimed again): the fence makes it write nothing, the second
    claim writes the rows, the drift counts every acquisition once."""
    settings = make_site(tmp_path / "site", files)
    with session_scope(settings) as session:
        enq = enqueue_star_processing(session, settings, utc_now())
        assert enq.moon == N_MOON and enq.geometry == N_GEOM
    real = runners_mod.moon_mod.measure_acquisition
    stolen: list[str] = []

    def measure_then_lose(acq, bands, site, s, run_id, now):  # type: ignore[no-untyped-def]
        rows = real(acq, bands, site, s, run_id, now)
        if not stolen:  # another worker takes the unit meanwhile (as after a reap): this claim is stale
            engine = open_engine(settings)
            try:
                with Session(engine) as s2:
                    unit = s2.exec(select(WorkUnit).where(WorkUnit.key == str(acq.id),
                                                                    WorkUnit.kind == UnitKind.MOON)).one()
                    unit.state, unit.worker_id, unit.attempts = WorkState.PENDING, None, unit.attempts + 1
                    s2.add(unit)
                    s2.commit()
                    stolen.append(acq.acq_id)
            finally:
                engine.dispose()
        return rows

    monkeypatch.setattr(runners_mod.moon_mod, "measure_acquisition", measure_then_lose)
    summary = _work_until_idle(settings)
    assert stolen and summary.lost == 1 and summary.done["moon"] == N_MOON and summary.done["moon_drift"] == 1
    meas, drift = _moon(settings)  # _moon asserts one row per acquisition and band
    assert len(meas) == N_MOON * N_BANDS
    in_trend = sum(bool(v[8]) for v in meas.values())
    assert in_trend >= 10 and sum(d[7] for d in drift) == in_trend  # each counted once


def test_status_shows_the_work_queue_by_kind_and_state(files: Path, tmp_path: Path) -> None:
    settings = make_site(tmp_path / "site", files)
    with session_scope(settings) as session:
        assert enqueue_star_processing(session, settings, utc_now()).moon == N_MOON
    doc = json.loads(run("status", "--format", "json", "--site", str(settings.site)).stdout)
    assert doc["work_queue"] == [{"kind": "geometry", "state": "pending", "count": N_GEOM},
                                 {"kind": "moon", "state": "pending", "count": N_MOON},
                                 {"kind": "moon_drift", "state": "waiting", "count": 1},
                                 {"kind": "run", "state": "waiting", "count": 1}]
    table = run("status", "--site", str(settings.site), env=_env(COLUMNS="160"))
    assert table.returncode == 0, table.stderr
    lines = [ln for ln in table.stdout.splitlines() if "moon" in ln or "geometry" in ln]
    assert any("geometry" in ln and "pending" in ln and f" {N_GEOM} " in ln for ln in lines), table.stdout
    assert any("moon_drift" in ln and "waiting" in ln for ln in lines), table.stdout
    _work_until_idle(settings)
    doc = json.loads(run("status", "--format", "json", "--site", str(settings.site)).stdout)
    assert doc["work_queue"] == []  # done units are not the queue
