"""What each kind of unit of the shared processing does (:data:`RUNNERS`), and how a claimed unit
is run to its end (:func:`run_unit`) or given back (:func:`give_back`).

Each unit reuses the functions of the in-process stages (:mod:`monitor.calibration.star` and its
stage modules, :mod:`monitor.calibration.moon`, :mod:`monitor.calibration.geometry`,
:mod:`monitor.calibration.lunar_comparison`) and commits its results in the transaction that
marks it done, only while the worker still holds it (a fenced write,
:func:`monitor.catalogue.work_units.finish_or_lost`). The tree of units and the worker loop:
:mod:`monitor.calibration.work`; the scheduler's side: :mod:`monitor.calibration.work_enqueue`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from monitor.calibration import geometry as geometry_mod
from monitor.calibration import lunar_comparison as lunar_mod
from monitor.calibration import moon as moon_mod
from monitor.calibration.alerts import DRIFT_KINDS, evaluate_mtf_alerts, reconcile
from monitor.calibration.pending import UnitFailure, ends_the_run, unit_failure
from monitor.calibration.star_drift_stage import drift_rows
from monitor.calibration.star_model import resolve_star_model
from monitor.calibration.star_photometry import (
    FileJob,
    PhotometryRows,
    file_job,
    log_rejections,
    measure_file,
)
from monitor.calibration.starpool_stage import add_starpool_results
from monitor.catalogue import (
    acquisitions,
    drift_results,
    geometry_results,
    mtf_results,
    operations,
    star_results,
    versions,
)
from monitor.catalogue import work_units as wu
from monitor.catalogue.models import Acquisition, GlodObservationRow, ProcessingRun, Starpool
from monitor.catalogue.states import RunOutcome, UnitKind, WorkState
from monitor.settings import Settings

__all__ = ["LostClaim", "photometry_job", "write_photometry", "Runner", "RUNNERS", "run_unit", "give_back"]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the units


LostClaim = wu.LostClaim
_finish_or_lost = wu.finish_or_lost


def photometry_job(session: Session, settings: Settings, unit: wu.ClaimedUnit) -> FileJob:
    """What the photometry of a claimed acquisition needs (file path and headers: picklable)."""
    acq = session.get(Acquisition, int(unit.key))
    assert acq is not None and acq.id is not None
    bands = acquisitions.band_images_by_acquisition(session, [acq.id])[acq.id]
    return file_job(acq, bands, settings, unit.run_id, resolve_star_model(settings).key)


def _starpool_of(session: Session, unit: wu.ClaimedUnit) -> int:
    """The starpool a photometry unit joins: the key of its parent unit."""
    assert unit.parent_id is not None
    return int(unit.parent_key if unit.parent_key is not None else wu.key_of(session, unit.parent_id))


def write_photometry(session: Session, unit: wu.ClaimedUnit, worker: str, rows: PhotometryRows,
                     now: datetime, acq_id: str | None = None) -> int:
    """Commit the photometry of one acquisition (fenced) and its starpool membership; returns the
    number of rejected bands (logged with ``acq_id``, the ACQ_ID, read again when not given).
    Raises :class:`LostClaim` (nothing written) if the claim was lost."""
    pool_id = _starpool_of(session, unit)
    _finish_or_lost(session, unit, worker, now)
    star_results.add_starpool_members(session, [(pool_id, int(unit.key))], now)
    star_results.mark_starpools_pending(session, [pool_id], now)
    star_results.add_star_photometry_batch(session, rows)
    session.commit()
    if acq_id is None:
        acq = session.get(Acquisition, int(unit.key))
        acq_id = acq.acq_id if acq is not None else unit.key
    return log_rejections(acq_id, rows)


def _run_photometry(session: Session, settings: Settings, unit: wu.ClaimedUnit, worker: str,
                    clock: Callable[[], datetime]) -> UnitFailure | None:
    job = photometry_job(session, settings, unit)
    session.commit()  # no transaction is held while the pixels are measured (SQLite: readers/writers)
    measured = measure_file(job)
    if isinstance(measured, UnitFailure):
        return measured
    write_photometry(session, unit, worker, measured, clock(), job.acq_id)
    return None


def _run_starpool(session: Session, settings: Settings, unit: wu.ClaimedUnit, worker: str,
                  clock: Callable[[], datetime]) -> None:
    """The MTF stage of one starpool, then the A_k of its bands from the stage's fits, written
    fenced with the cleared pending mark (as :func:`monitor.calibration.starpool_stage.starpool_stage`).

    The fence (:func:`work_units.finish`) is the last statement before the commit, not the first:
    it locks this unit's row and its parent's (the satellite's drift unit, shared by every
    starpool of the satellite) until the commit, and taken first it held them through the PSF fits
    and the A_k of every band, so that the starpool units of all workers ran one at a time (and
    the heartbeat of the unit waited on its own row). What the unit flushed before a failed fence
    is rolled back with it, so a unit whose claim was lost still writes nothing. The bands' A_k:
    :func:`monitor.calibration.starpool_stage.add_starpool_results`, as in the in-process stage."""
    from monitor.calibration.mtf_stage import starpool_mtf
    from monitor.calibration.psf import starpool_ee_correction

    now = clock()
    pool = session.get(Starpool, int(unit.key))
    run = session.get(ProcessingRun, unit.run_id)
    assert pool is not None and pool.id is not None and run is not None
    fits = starpool_mtf(session, settings, pool, run, now)
    add_starpool_results(session, settings, run, pool, now, starpool_ee_correction, fits)
    star_results.clear_starpool_pending(session, pool.id)
    _finish_or_lost(session, unit, worker, clock())  # last: see above
    session.commit()


def _refit_drifts(session: Session, settings: Settings, unit: wu.ClaimedUnit, worker: str,
                  clock: Callable[[], datetime], method: str,
                  pending: Callable[[Session], list[tuple[str, str]]], drift_rows: Callable[..., Any],
                  also: Callable[[Session, ProcessingRun, datetime], Any] | None = None) -> None:
    """The drift refit (and its alerts) of every band of one satellite (``unit.key``) owing one, for
    one method, once, after the units it waits on; written fenced (with what ``also`` adds, e.g.
    the MTF drift of the satellite)."""
    now = clock()
    run = session.get(ProcessingRun, unit.run_id)
    assert run is not None
    for satellite, band in pending(session):
        if satellite == unit.key:
            rows, conditions = drift_rows(session, settings, run, now, satellite, band)
            versions.add_rows(session, rows)
            reconcile(session, run, now, satellite, band, method, DRIFT_KINDS, conditions)
    if also is not None:
        also(session, run, now)
    # last, as in _run_starpool: the fence locks the run unit's row (every drift, GEOM and GLOD
    # unit's parent) only for the commit; a lost claim rolls back what was flushed
    _finish_or_lost(session, unit, worker, clock())
    session.commit()


def _run_drift(session: Session, settings: Settings, unit: wu.ClaimedUnit, worker: str,
               clock: Callable[[], datetime]) -> None:
    """The STAR drift refit of one satellite, after its starpool units: A_k, then the MTF at Nyquist
    (:func:`monitor.calibration.mtf_stage.refit_mtf_drifts`), in one fenced commit."""
    from monitor.calibration.mtf_stage import refit_mtf_drifts

    def mtf(s: Session, run: ProcessingRun, now: datetime) -> None:
        refit_mtf_drifts(s, settings, run, now, satellite=unit.key)

    _refit_drifts(session, settings, unit, worker, clock, "STAR", drift_results.star_drift_pending, drift_rows,
                  also=mtf)


def _run_moon(session: Session, settings: Settings, unit: wu.ClaimedUnit, worker: str,
              clock: Callable[[], datetime]) -> None:
    """The Moon measurement of one MOON acquisition (every band), written fenced: a unit done twice
    (its first worker lost the claim) writes its rows once."""
    acq = session.get(Acquisition, int(unit.key))
    assert acq is not None and acq.id is not None
    bands = acquisitions.band_images_by_acquisition(session, [acq.id])[acq.id]
    session.commit()  # no transaction is held while the pixels are measured
    rows = moon_mod.measure_acquisition(acq, bands, settings.site, settings, unit.run_id, clock())
    _finish_or_lost(session, unit, worker, clock())
    versions.add_rows(session, rows)
    session.commit()
    moon_mod.count_rows(moon_mod.MoonSummary(), acq.acq_id, rows)  # logs the rejected bands


def _run_moon_drift(session: Session, settings: Settings, unit: wu.ClaimedUnit, worker: str,
                    clock: Callable[[], datetime]) -> None:
    """The MOON drift refit of one satellite, after its Moon units."""
    _refit_drifts(session, settings, unit, worker, clock, "MOON", drift_results.moon_drift_pending,
                  moon_mod.drift_rows)


def _run_geometry(session: Session, settings: Settings, unit: wu.ClaimedUnit, worker: str,
                  clock: Callable[[], datetime]) -> None:
    """The stereo adjustment of one GEOM acquisition, its row written fenced."""
    acq = session.get(Acquisition, int(unit.key))
    assert acq is not None and acq.id is not None
    header = geometry_results.geom_header_of(session, acq.id)
    session.commit()  # no transaction is held during the adjustment
    row = geometry_mod.adjust_acquisition(acq, header, settings, unit.run_id, clock())
    _finish_or_lost(session, unit, worker, clock())
    versions.add_rows(session, [row])
    session.commit()
    geometry_mod.log_result(acq.acq_id, row)


def _run_lunar_comparison(session: Session, settings: Settings, unit: wu.ClaimedUnit, worker: str,
                          clock: Callable[[], datetime]) -> None:
    """The comparison of one archived GLOD observation with REF-1 (every channel), written fenced."""
    obs = session.get(GlodObservationRow, int(unit.key))
    assert obs is not None and obs.id is not None
    session.commit()  # no transaction is held while the file is read and integrated
    rows = lunar_mod.observation_rows(obs, settings, unit.run_id, clock())
    _finish_or_lost(session, unit, worker, clock())
    versions.add_rows(session, rows)
    session.commit()
    lunar_mod.log_rejections(obs.observation_id, rows)


def _run_run(session: Session, settings: Settings, unit: wu.ClaimedUnit, worker: str,
             clock: Callable[[], datetime]) -> None:
    now = clock()
    run = session.get(ProcessingRun, unit.run_id)
    assert run is not None
    _finish_or_lost(session, unit, worker, now)
    star = wu.state_counts(session, run_id=unit.run_id, kind=UnitKind.STAR_PHOTOMETRY).get(WorkState.DONE, 0)
    moon = wu.state_counts(session, run_id=unit.run_id, kind=UnitKind.MOON).get(WorkState.DONE, 0)
    geom = wu.state_counts(session, run_id=unit.run_id, kind=UnitKind.GEOMETRY).get(WorkState.DONE, 0)
    lunar = wu.state_counts(session, run_id=unit.run_id, kind=UnitKind.LUNAR_COMPARISON).get(WorkState.DONE, 0)
    failed = wu.state_counts(session, run_id=unit.run_id).get(WorkState.FAILED, 0)
    from monitor.calibration.mtf_stage import mtf_off_note

    mtf = mtf_off_note(settings) or f"MTF of {mtf_results.count_of_run(session, run.id)} starpool band(s)"
    message = (f"star (workers): {star} acquisitions measured, {mtf}; moon (workers): {moon} acquisitions measured; "
               f"geometry (workers): {geom} acquisitions adjusted; "
               f"lunar comparison (workers): {lunar} GLOD observations compared; "
               f"{failed} unit(s) failed after their retries")
    evaluate_mtf_alerts(session, run, now)  # after every starpool of the run, as the in-process stage
    operations.finish_run(session, run, now, RunOutcome.PARTIAL if failed else RunOutcome.OK, message,
                          n_items=star + moon + geom + lunar)
    session.commit()


Runner = Callable[[Session, Settings, wu.ClaimedUnit, str, Callable[[], datetime]], "UnitFailure | None"]

# The units of the processing use-case. A report unit is run by monitor.reports.units: whoever
# composes a worker (monitor worker: monitor.cli_worker) adds it with ``work(runners=...)``.
RUNNERS: dict[str, Runner] = {
    UnitKind.STAR_PHOTOMETRY: _run_photometry,
    UnitKind.STARPOOL: _run_starpool,
    UnitKind.STAR_DRIFT: _run_drift,
    UnitKind.MOON: _run_moon,
    UnitKind.MOON_DRIFT: _run_moon_drift,
    UnitKind.GEOMETRY: _run_geometry,
    UnitKind.LUNAR_COMPARISON: _run_lunar_comparison,
    UnitKind.RUN: _run_run,
}


def run_unit(session: Session, settings: Settings, unit: wu.ClaimedUnit, worker: str,
             clock: Callable[[], datetime], runners: Mapping[str, Runner] | None = None) -> str:
    """Run one claimed unit to its end: ``"done"``, ``"lost"`` (claim lost, nothing written), or
    the state a failure without a verdict gave it back in (``"pending"``: retried; ``"failed"``).
    A lost database connection is re-raised (the worker's session is unusable)."""
    try:
        failure = (runners or RUNNERS)[unit.kind](session, settings, unit, worker, clock)
    except LostClaim as exc:
        log.warning("%s", exc)
        return "lost"
    except Exception as exc:  # noqa: BLE001 - the retry policy of a unit (monitor.calibration.pending)
        session.rollback()
        if ends_the_run(exc):
            raise
        failure = unit_failure(exc, f"{unit.kind} {unit.key}")
    if failure is None:
        return str(WorkState.DONE)
    return give_back(session, unit, worker, failure, clock())


def give_back(session: Session, unit: wu.ClaimedUnit, worker: str, failure: UnitFailure, now: datetime) -> str:
    """Release a unit that failed without a verdict (logged like a stage's unit left pending)."""
    state = wu.release(session, unit, worker, now, failure.error)
    session.commit()
    level = logging.WARNING if state == WorkState.PENDING else logging.ERROR
    log.log(level, "%s %s (attempt %d): %s; %s%s", unit.kind, unit.key, unit.token, failure.error,
            "given back" if state == WorkState.PENDING else "failed for good" if state else "claim lost",
            f"\n{failure.traceback.rstrip()}" if failure.traceback and failure.kind != "transient" else "")
    return str(state or "lost")
