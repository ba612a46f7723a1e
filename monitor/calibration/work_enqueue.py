"""The scheduler's side of the processing shared by workers: one processing run enqueued as a
tree of units (:func:`enqueue_star_processing`; the tree and its protocol:
:mod:`monitor.calibration.work`), by the daemon's process job with ``[compute] workers = false``
(:func:`enqueue_star_stage`), ``monitor process --enqueue`` and ``monitor process --dask``
(:func:`enqueue_star_run`). What each unit does: :mod:`monitor.calibration.work_runners`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from monitor.calibration.pending import StageSummary
from monitor.calibration.star_model import resolve_star_model
from monitor.calibration.star_photometry import campaign_period
from monitor.catalogue import (
    drift_results,
    geometry_results,
    lunar_comparisons,
    moon_results,
    operations,
    star_results,
)
from monitor.catalogue import work_units as wu
from monitor.catalogue.locks import site_operation
from monitor.catalogue.models import Starpool
from monitor.catalogue.states import PROCESSING_UNIT_KINDS, UnitKind
from monitor.domain import STAR_SATELLITES
from monitor.settings import Settings

__all__ = ["Enqueued", "enqueue_star_processing", "enqueue_star_run", "EnqueuedStage", "enqueue_star_stage"]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the scheduler's side


@dataclass(frozen=True)
class Enqueued:
    """A run enqueued as units (``run_id`` None: nothing to do, or an earlier run still has units)."""

    run_id: int | None
    photometry: int = 0
    starpools: int = 0
    drifts: int = 0
    moon: int = 0  # MOON acquisitions
    moon_drifts: int = 0  # satellites whose MOON drift is refitted
    geometry: int = 0  # GEOM acquisitions
    lunar: int = 0  # GLOD observations to compare
    reason: str = ""

    def __str__(self) -> str:
        if self.run_id is None:
            return f"nothing enqueued: {self.reason}"
        return (f"run {self.run_id} enqueued: {self.photometry} acquisition(s), {self.starpools} starpool(s), "
                f"{self.drifts} drift series; {self.moon} Moon acquisition(s), {self.moon_drifts} Moon drift series; "
                f"{self.geometry} GEOM acquisition(s); {self.lunar} GLOD observation(s)")


def enqueue_star_processing(session: Session, settings: Settings, now: datetime, *, reprocess: bool = False,
                            max_attempts: int = 3) -> Enqueued:
    """Enqueue the star, Moon and geometry processing of what is pending (``reprocess``: of every
    STAR, MOON and GEOM acquisition) as one run of units, committed. Only one run's units are in
    flight at a time: while units of an earlier run are not ended, nothing is enqueued (the
    scheduler tries again at its next tick)."""
    outstanding = wu.active_units(session, PROCESSING_UNIT_KINDS)  # a report unit does not hold a run back
    if outstanding:
        return Enqueued(None, reason=f"{outstanding} unit(s) of an earlier run not ended yet")
    sats = [s.value for s in STAR_SATELLITES]
    star_model = resolve_star_model(settings)  # the run's provenance, as the in-process run records it
    run = operations.start_run(session, "process", now, reference_model=star_model.model,
                               external_references=star_model.record())  # flushed; rolled back if nothing to do
    assert run.id is not None
    pending = star_results.star_acquisitions_pending(session, sats, run.id - 1 if reprocess else None)
    owing = list(star_results.starpools_pending(session))
    moon_pending = moon_results.moon_acquisitions_pending(session, run.id - 1 if reprocess else None)
    moon_owing = {s for s, _ in drift_results.moon_drift_pending(session)}  # an interrupted refit
    geom_pending = geometry_results.geom_acquisitions_pending(session, run.id - 1 if reprocess else None)
    glods = [o.id for o in lunar_comparisons.glods_pending(session, run.id - 1 if reprocess else None)]
    if not pending and not owing and not moon_pending and not moon_owing and not geom_pending and not glods:
        session.rollback()
        return Enqueued(None, reason="no star, Moon, GEOM acquisition or GLOD observation pending")
    pools: dict[int, Starpool] = {p.id: p for p in owing if p.id is not None}
    members: dict[int, list[int]] = {}
    for acq in pending:
        assert acq.id is not None
        key, p0, p1 = campaign_period(acq.date_obs, settings.star.campaign_period)
        pool = star_results.get_or_create_starpool(session, acq.satellite, f"{acq.satellite}-{key}", p0, p1, now)
        assert pool.id is not None
        pools[pool.id] = pool
        members.setdefault(pool.id, []).append(acq.id)
    by_sat: dict[str, list[int]] = {}
    for pool_id, pool in sorted(pools.items()):
        by_sat.setdefault(pool.satellite, []).append(pool_id)
    moon_of_sat: dict[str, list[int]] = {s: [] for s in moon_owing}
    for acq in moon_pending:
        assert acq.id is not None
        moon_of_sat.setdefault(acq.satellite, []).append(acq.id)
    run_unit_id = wu.add_unit(session, run.id, UnitKind.RUN, str(run.id), now,
                              waiting=len(by_sat) + len(moon_of_sat) + len(geom_pending) + len(glods),
                              max_attempts=max_attempts)
    sat_names = sorted(by_sat)
    drift_ids = wu.add_units(session, run.id, UnitKind.STAR_DRIFT, sat_names, now,
                             waiting=[len(by_sat[s]) for s in sat_names], parent_ids=[run_unit_id] * len(sat_names),
                             max_attempts=max_attempts)
    drift_of = dict(zip(sat_names, drift_ids, strict=True))
    pool_ids = [pid for s in sat_names for pid in by_sat[s]]
    pool_units = wu.add_units(session, run.id, UnitKind.STARPOOL, [str(p) for p in pool_ids], now,
                              waiting=[len(members.get(p, [])) for p in pool_ids],
                              parent_ids=[drift_of[pools[p].satellite] for p in pool_ids], max_attempts=max_attempts)
    unit_of_pool = dict(zip(pool_ids, pool_units, strict=True))
    acq_ids = [a for p in pool_ids for a in members.get(p, [])]
    parents = [unit_of_pool[p] for p in pool_ids for _ in members.get(p, [])]
    wu.add_units(session, run.id, UnitKind.STAR_PHOTOMETRY, [str(a) for a in acq_ids], now, parent_ids=parents,
                 max_attempts=max_attempts)
    moon_sats = sorted(moon_of_sat)
    moon_drift_ids = wu.add_units(session, run.id, UnitKind.MOON_DRIFT, moon_sats, now,
                                  waiting=[len(moon_of_sat[s]) for s in moon_sats],
                                  parent_ids=[run_unit_id] * len(moon_sats), max_attempts=max_attempts)
    moon_ids = [a for s in moon_sats for a in moon_of_sat[s]]
    moon_parents = [d for s, d in zip(moon_sats, moon_drift_ids, strict=True) for _ in moon_of_sat[s]]
    wu.add_units(session, run.id, UnitKind.MOON, [str(a) for a in moon_ids], now, parent_ids=moon_parents,
                 max_attempts=max_attempts)
    wu.add_units(session, run.id, UnitKind.GEOMETRY, [str(a.id) for a in geom_pending], now,
                 parent_ids=[run_unit_id] * len(geom_pending), max_attempts=max_attempts)
    wu.add_units(session, run.id, UnitKind.LUNAR_COMPARISON, [str(i) for i in glods], now,
                 parent_ids=[run_unit_id] * len(glods), max_attempts=max_attempts)
    session.commit()
    return Enqueued(run.id, photometry=len(acq_ids), starpools=len(pool_ids), drifts=len(sat_names),
                    moon=len(moon_ids), moon_drifts=len(moon_sats), geometry=len(geom_pending), lunar=len(glods))


@site_operation("process")  # never beside a `monitor process` of the site (or another enqueue)
def enqueue_star_run(session: Session, settings: Settings, now: datetime, *, reprocess: bool = False) -> Enqueued:
    """:func:`enqueue_star_processing` holding the site's process lock (``monitor process
    --enqueue`` and ``--dask``; the daemon's process job already holds it)."""
    return enqueue_star_processing(session, settings, now, reprocess=reprocess,
                                   max_attempts=settings.compute.max_attempts)


@dataclass
class EnqueuedStage(StageSummary):
    """The star stage of ``monitor process`` when ``[compute] workers = false``: enqueued, not run."""

    enqueued: Enqueued | None = None

    def __str__(self) -> str:
        return f"{self.enqueued} (done by 'monitor worker' processes)"


def enqueue_star_stage(session: Session, settings: Settings, now: datetime, *, reprocess: bool = False
                       ) -> EnqueuedStage:
    """The star stage of a processing run handed to the workers (see :func:`enqueue_star_processing`)."""
    enqueued = enqueue_star_processing(session, settings, now, reprocess=reprocess,
                                       max_attempts=settings.compute.max_attempts)
    log.info("%s", enqueued)
    return EnqueuedStage(enqueued=enqueued)
