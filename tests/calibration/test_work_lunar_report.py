"""The lunar comparisons (GLOD) and the render of a due scheduled report as claimable units (issue 18).

Lunar comparison units give exactly the rows of the in-process ``monitor process`` (same inputs,
same numbers to 1e-12: the truth here is the in-process stage, so this catches a unit that reads
other inputs or writes other rows, not an error of the comparison itself, which
test_lunar_comparison_chain.py pins against the files' own irradiances); a unit whose claim was
lost writes nothing and the observation is compared once.

With ``[compute] workers = false`` the scheduled report job enqueues one ``report`` unit instead of
rendering; a worker that knows the report runner renders it, archives one PDF, records one report
row and queues its e-mails in the outbox once, even when a first render lost its claim; a worker
without that runner (the Dask client's aggregation worker) neither claims it nor waits for it.
"""

from __future__ import annotations

import math
import shutil
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
from monitor.calibration.work_runners import RUNNERS
from monitor.catalogue import work_units as wu
from monitor.catalogue.models import GlodObservationRow, LunarComparisonRow, Outbox, ProcessingRun, Report, WorkUnit
from monitor.catalogue.states import RunOutcome, UnitKind, WorkState
from monitor.ingest.service import run_ingest
from monitor.reports import render as render_mod
from monitor.reports.service import run_report
from monitor.reports.units import REPORT_RUNNERS
from monitor.settings import Settings, load_settings
from monitor.site import init_site, open_engine, session_scope, utc_now

pytestmark = pytest.mark.slow  # GLOD comparisons and two report renders: ~40 s on 2 busy cores

SRF = "W_XX-EUMETSAT-Darmstadt_VIS+IR+SRF_MSG3+SEVIRI_C_EUMG.nc"
OBS = ["W_XX-EUMETSAT-Darmstadt,VISNIR+SUBSET+MOON,MSG3+SEVIRI_C_EUMG_20130101145644_01.nc",
       "W_XX-EUMETSAT-Darmstadt,VISNIR+SUBSET+MOON,MSG3+SEVIRI_C_EUMG_20140318140112_01.nc"]
N_CHANNELS = 3  # VIS006, VIS008, NIR016


def _site(root: Path, glod: Path | None = None, **env: str) -> Settings:
    root.mkdir()
    if glod is not None:
        (root / "monitor.toml").write_text(f'[instruments."MSG3 SEVIRI"]\nsrf = "{glod / SRF}"\n')
    settings = load_settings(root, env={"MONITOR_INGEST_SETTLE_SECONDS": "0", **env})
    init_site(settings)
    if glod is not None:
        for name in OBS:
            shutil.copy(glod / name, settings.inbox / name)
        with session_scope(settings) as session:
            assert len(run_ingest(session, settings, utc_now()).ingested) == len(OBS)
    return settings


def _work(settings: Settings, **kw: Any) -> work_mod.WorkerSummary:
    engine = open_engine(settings)
    try:
        return work(engine, settings, utc_now, until_idle=True, **kw)
    finally:
        engine.dispose()


def _comparisons(settings: Settings) -> dict[tuple[str, str], tuple[Any, ...]]:
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            on = col(LunarComparisonRow.observation_id) == col(GlodObservationRow.id)
            rows = s.exec(select(LunarComparisonRow, GlodObservationRow.observation_id)
                          .join(GlodObservationRow, on)).all()
    finally:
        engine.dispose()
    out: dict[tuple[str, str], tuple[Any, ...]] = {}
    for r, obs in rows:
        assert (obs, r.channel) not in out, f"{obs} {r.channel} compared twice"
        out[(obs, r.channel)] = (r.status, r.reason, r.dc_integrated, r.dc_file, r.irr_obs, r.irr_model, r.ratio,
                                 r.ratio_sigma, r.phase_angle_deg, r.d_obs_moon_km, r.in_trend)
    return out


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return all(math.isclose(x, y, rel_tol=1e-12, abs_tol=0.0) if isinstance(x, float) and isinstance(y, float)
               else x == y for x, y in zip(a, b, strict=True))


def test_lunar_comparison_units_give_the_in_process_rows(tmp_path: Path, glod_reference: Path) -> None:
    reference = _site(tmp_path / "ref", glod_reference)
    with session_scope(reference) as session:
        assert run_processing(session, reference, utc_now()).parts["lunar comparison"].observations == len(OBS)
    settings = _site(tmp_path / "units", glod_reference, MONITOR_COMPUTE_WORKERS="false")
    with session_scope(settings) as session:
        summary = run_processing(session, settings, utc_now())
        assert "lunar comparison" not in summary.parts  # enqueued, not run by the scheduler
        assert session.exec(select(LunarComparisonRow)).all() == []
        enq = summary.parts["star"].enqueued  # type: ignore[attr-defined]
        assert (enq.photometry, enq.moon, enq.geometry, enq.lunar) == (0, 0, 0, len(OBS)), enq
    done = _work(settings)
    assert done.done == {"lunar_comparison": len(OBS), "run": 1}, done
    ref, got = _comparisons(reference), _comparisons(settings)
    assert len(ref) == len(OBS) * N_CHANNELS and sum(v[0] in ("ok", "flagged") for v in ref.values()) == 6
    assert ref.keys() == got.keys()
    assert all(_same(ref[k], got[k]) for k in ref), (ref, got)
    with session_scope(settings) as session:
        run = session.get(ProcessingRun, enq.run_id)
        assert run is not None and run.outcome == RunOutcome.OK and run.n_items == len(OBS)
        assert "2 GLOD observations compared" in run.message
        assert run_processing(session, settings, utc_now()).parts["star"].enqueued.run_id is None  # type: ignore[attr-defined]


def test_a_lunar_comparison_unit_that_lost_its_claim_writes_nothing(tmp_path: Path, glod_reference: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _site(tmp_path / "site", glod_reference)
    with session_scope(settings) as session:
        assert enqueue_star_processing(session, settings, utc_now()).lunar == len(OBS)
    real = runners_mod.lunar_mod.observation_rows
    stolen: list[int] = []

    def compare_then_lose(obs, s, run_id, now):  # type: ignore[no-untyped-def]
        rows = real(obs, s, run_id, now)
        if not stolen:  # the unit is reaped and claimed again meanwhile: this claim is stale
            _steal(settings, UnitKind.LUNAR_COMPARISON, str(obs.id))
            stolen.append(obs.id)
        return rows

    monkeypatch.setattr(runners_mod.lunar_mod, "observation_rows", compare_then_lose)
    summary = _work(settings)
    assert stolen and summary.lost == 1 and summary.done == {"lunar_comparison": len(OBS), "run": 1}, summary
    assert len(_comparisons(settings)) == len(OBS) * N_CHANNELS  # _comparisons asserts each (obs, channel) once


def _steal(settings: Settings, kind: str, key: str) -> None:
    """What a reap followed by another claim does to the unit: its claim token moves on."""
    engine = open_engine(settings)
    try:
        with Session(engine) as s:
            unit = s.exec(select(WorkUnit).where(WorkUnit.kind == kind, WorkUnit.key == key)).one()
            unit.state, unit.worker_id, unit.attempts = WorkState.PENDING, None, unit.attempts + 1
            s.add(unit)
            s.commit()
    finally:
        engine.dispose()


def test_a_due_report_is_a_unit_rendered_once_by_a_worker_and_queued_once(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _site(tmp_path / "site", MONITOR_COMPUTE_WORKERS="false", MONITOR_REPORT_RECIPIENTS="ops@example.org",
                     MONITOR_SMTP_HOST="127.0.0.1", MONITOR_SMTP_PORT="9", MONITOR_SMTP_SECURITY="none",
                     MONITOR_SMTP_SENDER="monitor@example.org")  # port 9: refused, the e-mail stays queued
    now = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # Monday: the weekly report of 2026-W49 is due
    with session_scope(settings) as session:
        first = run_report(session, settings, now, "weekly")
        assert first.period == "2026-W49" and first.skipped.startswith("enqueued for the workers"), first
        assert run_report(session, settings, now, "weekly").skipped == "already enqueued for the workers"
        assert session.exec(select(Report)).all() == []  # the scheduler rendered nothing
    assert not list(settings.reports_dir.glob("*.pdf"))

    # the Dask client's aggregation worker (no report runner) neither claims it nor waits for it
    assert _work(settings, runners=RUNNERS).done == {}

    real = render_mod.render_report
    renders: list[int] = []

    def render_then_lose(*args, **kw):  # type: ignore[no-untyped-def]
        out = real(*args, **kw)
        renders.append(1)
        if len(renders) == 1:
            _steal(settings, UnitKind.REPORT, "2026-W49")
        return out

    monkeypatch.setattr(render_mod, "render_report", render_then_lose)
    summary = _work(settings, runners={**RUNNERS, **REPORT_RUNNERS})
    assert len(renders) == 2 and summary.lost == 1 and summary.done == {"report": 1}, summary
    pdfs = list(settings.reports_dir.glob("*.pdf"))
    assert len(pdfs) == 1, pdfs  # the stale render archived nothing
    with session_scope(settings) as session:
        reports = session.exec(select(Report)).all()
        assert [r.period for r in reports] == ["2026-W49"]
        mails = session.exec(select(Outbox)).all()
        assert [(m.report_id, m.recipient) for m in mails] == [(reports[0].id, "ops@example.org")]  # queued once
        unit = session.exec(select(WorkUnit).where(WorkUnit.kind == UnitKind.REPORT)).one()
        assert (unit.state, unit.attempts) == (WorkState.DONE, 3)  # claimed, stolen (a reap + claim), claimed
        run = session.get(ProcessingRun, unit.run_id)
        assert run is not None and run.kind == "report" and run.outcome == RunOutcome.OK
        assert run_report(session, settings, now, "weekly").skipped == "already made"
        assert wu.active_units(session) == 0
