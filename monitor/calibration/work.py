"""Processing shared by any number of workers on one catalogue: the star method as claimable units.

The single scheduler (the daemon's process job with ``[compute] workers = false``, or ``monitor
process --enqueue``, or ``monitor process --dask``) enqueues one processing run as a tree of units
(:func:`monitor.calibration.work_enqueue.enqueue_star_processing`)::

    run                       finishes the processing_run row (ok / partial)
    ├── star_drift <sat>      drift of A_k and of the MTF at Nyquist of every band of one satellite
    │   └── starpool <id>     the MTF stage (PSF fit, MTF rows), then A_k, of one starpool, all bands
    │       └── star_photometry <acquisition id>   one file: the photometry of every band
    ├── moon_drift <sat>      MOON drift of A_k (and its alerts) of every band of one satellite
    │   └── moon <acquisition id>   one MOON file: the Moon measurement of every band
    ├── geometry <acquisition id>   one GEOM file: the stereo adjustment
    └── lunar_comparison <glod_observation id>   one GLOD file compared with REF-1

An aggregation waits for all its members and is run once, by whichever worker finishes the last of
them (:mod:`monitor.catalogue.work_units`). Each unit reuses the functions of the in-process
stages (:mod:`monitor.calibration.star`, :mod:`monitor.calibration.moon`) and commits its results
in the transaction that marks it done, only while the worker still holds it (a fenced write): a
unit whose worker died is done again by another and never counted twice.

Failures follow :mod:`monitor.calibration.pending`: data problems are verdict rows (the unit is
done); a transient failure or an internal error gives the unit back (:func:`work_units.release`),
claimable again until its ``max_attempts`` claims are used, then ``failed`` (the run is recorded
``partial``). The render of a due scheduled report is a unit too (``report``, no parent: its
runner is :mod:`monitor.reports.units`, added by ``monitor worker``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
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

__all__ = [
    "UnitKind",
    "worker_id",
    "photometry_job",
    "write_photometry",
    "run_unit",
    "WorkerSummary",
    "Heartbeat",
    "work",
    "LostClaim",
    "give_back",
    "WorkerSessions",
]

log = logging.getLogger(__name__)


def worker_id() -> str:
    """``<host>:<pid>``: who holds a claim (also how a log line is traced to a process)."""
    return f"{socket.gethostname()}:{os.getpid()}"


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


# --------------------------------------------------------------------------- the worker loop


@dataclass
class WorkerSummary:
    """What one worker did."""

    worker: str
    done: dict[str, int] = field(default_factory=dict)  # units done per kind
    given_back: int = 0
    failed: int = 0
    lost: int = 0
    reaped: int = 0
    outages: int = 0  # database outages survived (monitor.calibration.work._Outage)
    elapsed_s: float = 0.0
    busy_s: dict[str, float] = field(default_factory=dict)  # s (wall) running units, per kind
    idle_s: float = 0.0  # s (wall) waiting for a claimable unit (idle polls)
    cpu_s: float = 0.0  # s: CPU time (user + system) of the worker's process over its loop

    def count(self, kind: str, outcome: str) -> None:
        if outcome == WorkState.DONE:
            self.done[kind] = self.done.get(kind, 0) + 1
        elif outcome == WorkState.PENDING:
            self.given_back += 1
        elif outcome == WorkState.FAILED:
            self.failed += 1
        else:
            self.lost += 1

    def __str__(self) -> str:
        done = ", ".join(f"{n} {k}" for k, n in sorted(self.done.items())) or "nothing"
        return (f"worker {self.worker}: done {done}; {self.given_back} given back, {self.failed} failed, "
                f"{self.lost} lost, {self.reaped} expired lease(s) reaped, {self.outages} database outage(s) survived, "
                f"{self.elapsed_s:.1f} s ({sum(self.busy_s.values()):.1f} s running units: "
                + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(self.busy_s.items()))
                + f"; {self.idle_s:.1f} s idle; CPU {self.cpu_s:.1f} s)")

    def timing(self) -> dict[str, Any]:
        """Where the worker's time went: wall s running units per kind, idle s, CPU s, elapsed s."""
        return {"elapsed_s": round(self.elapsed_s, 3), "cpu_s": round(self.cpu_s, 3), "idle_s": round(self.idle_s, 3),
                "busy_s": {k: round(v, 3) for k, v in sorted(self.busy_s.items())}}


class Heartbeat:
    """Renews the leases of the units a worker holds, every third of a lease, on its own connection."""

    def __init__(self, engine: sa.Engine, worker: str, lease_s: float, clock: Callable[[], datetime]) -> None:
        self.engine, self.worker, self.lease_s, self.clock = engine, worker, lease_s, clock
        self.held: dict[int, wu.ClaimedUnit] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="work-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.lease_s)

    def hold(self, unit: wu.ClaimedUnit) -> None:
        with self._lock:
            self.held[unit.id] = unit

    def drop(self, unit: wu.ClaimedUnit) -> None:
        with self._lock:
            self.held.pop(unit.id, None)

    def _loop(self) -> None:
        failing = False  # logged once per run of failed beats (an outage), not once per beat
        while not self._stop.wait(self.lease_s / 3):
            with self._lock:
                units = list(self.held.values())
            if not units:
                continue
            try:
                with Session(self.engine) as s:
                    wu.heartbeat(s, units, self.worker, self.clock(), self.lease_s)
                    s.commit()
            except Exception as exc:  # noqa: BLE001 - a missed beat only shortens the lease
                if not failing:
                    log.warning("heartbeat of %d unit(s) failed (retried every %.1f s, logged once): %s",
                                len(units), self.lease_s / 3, _first_line(exc))
                failing = True
            else:
                if failing:
                    log.warning("heartbeat renewed again (%d unit(s))", len(units))
                failing = False


def _first_line(exc: BaseException) -> str:
    """``"<Type>: <first line of the message>"`` (a driver error's message runs over many lines)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class _Outage:
    """A worker's view of a database outage: exponential backoff between attempts, one log line
    when the connection is lost and one when it is back (not one per failed attempt)."""

    FIRST_S = 0.5  # s: first wait after a failure (a terminated connection is back at once)
    MAX_S = 30.0  # s: longest wait between attempts during a long outage

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.since: float | None = None  # time.monotonic() of the first failure of the outage
        self.failures = 0
        self.outages = 0

    def failed(self, exc: BaseException, stop: threading.Event) -> None:
        """A statement failed for lack of the database: wait before the next attempt (or until stop)."""
        if self.since is None:
            self.since = time.monotonic()
            self.outages += 1
            log.warning("worker %s: database connection lost (%s); retrying with backoff up to %.0f s, "
                        "the unit in hand is kept", self.worker, _first_line(exc), self.MAX_S)
        self.failures += 1
        stop.wait(min(self.MAX_S, self.FIRST_S * 2 ** (self.failures - 1)))

    def ok(self) -> None:
        """A loop turn went through: the outage (if any) is over."""
        if self.since is not None:
            log.warning("worker %s: database back after %.1f s (%d failed attempt(s))", self.worker,
                        time.monotonic() - self.since, self.failures)
            self.since, self.failures = None, 0


def work(engine: sa.Engine, settings: Settings, clock: Callable[[], datetime], *, until_idle: bool = False,
         stop: threading.Event | None = None, kinds: set[str] | None = None, worker: str | None = None,
         on_unit: Callable[[wu.ClaimedUnit, str], None] | None = None,
         runners: Mapping[str, Runner] | None = None) -> WorkerSummary:
    """Claim and run units until ``stop`` is set (the unit in hand is finished first) or, with
    ``until_idle``, until no unit of any run is left (waiting, claimable or claimed by anyone): a
    worker that finds nothing to claim while others hold units waits, reaping expired leases, so
    that the units of a worker that died are still done.

    A lost database connection (:func:`ends_the_run`) does not end the worker: it rolls back, waits
    with exponential backoff (:class:`_Outage`: one log line per outage) and goes on when the
    database is back. The unit in hand is kept and run again under the same claim: its fenced write
    (:func:`work_units.finish`) goes through only if this worker still holds it with the same token,
    so a unit whose lease expired during the outage and was reaped (or done by another worker), or
    whose "done" commit did reach the server before the connection died, is written nothing more
    (counted ``lost``). The heartbeat keeps renewing the lease meanwhile, so a short outage loses
    nothing. A stop during an outage leaves the unit to the reaper.

    ``runners``: the units this worker can run, by kind (default :data:`RUNNERS`); it claims
    only those kinds (of ``kinds`` when given), and ``until_idle`` waits only for them.
    """
    compute = settings.compute
    runners = dict(runners or RUNNERS)
    kinds = set(runners) if kinds is None else set(kinds) & set(runners)
    stop = stop or threading.Event()
    me = worker or worker_id()
    summary = WorkerSummary(me)
    outage = _Outage(me)
    t0, cpu0 = time.monotonic(), time.process_time()
    last_reap = -float("inf")
    unit: wu.ClaimedUnit | None = None  # the unit in hand (kept across an outage)
    with WorkerSessions(engine) as conns, Heartbeat(engine, me, compute.lease_seconds, clock) as beat:
        while not stop.is_set():
            try:
                session = conns.session
                if unit is None:
                    if time.monotonic() - last_reap >= compute.reap_seconds:
                        again, failed = wu.reap(session, clock())
                        session.commit()
                        summary.reaped += again + failed
                        last_reap = time.monotonic()
                    claimed = wu.claim(conns.claims, me, clock(), compute.lease_seconds, kinds=kinds)
                    conns.claims.commit()
                    if not claimed:
                        idle = until_idle and wu.active_units(conns.claims, kinds) == 0
                        conns.claims.commit()
                        outage.ok()
                        if idle:
                            break
                        t_idle = time.monotonic()
                        stop.wait(compute.poll_seconds)
                        summary.idle_s += time.monotonic() - t_idle
                        continue
                    unit = claimed[0]
                    beat.hold(unit)
                t_unit = time.monotonic()
                outcome = run_unit(session, settings, unit, me, clock, runners)
                summary.busy_s[unit.kind] = summary.busy_s.get(unit.kind, 0.0) + time.monotonic() - t_unit
            except Exception as exc:  # noqa: BLE001 - only a lost database is survived, see below
                if not ends_the_run(exc):
                    raise
                conns.reset()
                outage.failed(exc, stop)
                continue
            outage.ok()
            beat.drop(unit)
            summary.count(unit.kind, outcome)
            if on_unit is not None:
                on_unit(unit, outcome)
            unit = None
        if unit is not None:
            beat.drop(unit)
            log.warning("worker %s: stopped during a database outage holding %s %s: left to the reaper "
                        "(its lease expires in at most %.0f s)", me, unit.kind, unit.key, compute.lease_seconds)
    summary.outages = outage.outages
    summary.elapsed_s = time.monotonic() - t0
    summary.cpu_s = time.process_time() - cpu0
    return summary


class WorkerSessions:
    """A worker's sessions, each on a connection it keeps from one transaction to the next.

    A session on the engine returns its connection to the pool at each commit and checks one out
    (with a ``pool_pre_ping`` round trip) at its next statement: a round trip per transaction,
    two per unit. Here ``session`` (the units: reads, fenced result transactions, reaps) and, on
    PostgreSQL, ``claims`` (autocommit: :func:`work_units.claim` is one statement, hence its own
    transaction, one round trip) are bound to connections held until :meth:`reset` (a lost
    database: they are closed and opened again, lazily, at the next use). On SQLite ``claims`` is
    ``session`` (one writer: an autocommit claim would gain nothing).
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._conns: list[sa.Connection] = []
        self._session: Session | None = None
        self._claims: Session | None = None

    def __enter__(self) -> WorkerSessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reset()

    def _open(self) -> None:
        conn = self.engine.connect()
        self._conns.append(conn)
        self._session = Session(bind=conn, expire_on_commit=False)
        if self.engine.dialect.name == "postgresql":
            claims = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._conns.append(claims)
            self._claims = Session(bind=claims, expire_on_commit=False)
        else:
            self._claims = self._session

    @property
    def session(self) -> Session:
        if self._session is None:
            self._open()
        assert self._session is not None
        return self._session

    @property
    def claims(self) -> Session:
        if self._claims is None:
            self._open()
        assert self._claims is not None
        return self._claims

    def reset(self) -> None:
        """Close the sessions and their connections (a dead connection is discarded by the pool)."""
        for s in {id(x): x for x in (self._session, self._claims) if x is not None}.values():
            with contextlib.suppress(Exception):  # the connection is gone
                s.close()
        for c in self._conns:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - the connection is gone: make sure the pool drops it
                with contextlib.suppress(Exception):
                    c.invalidate()
        self._conns, self._session, self._claims = [], None, None
