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
unit whose worker died is done again by another and never counted twice. What each kind of unit
does: :mod:`monitor.calibration.work_runners`; this module is the worker's loop (:func:`work`:
claims, leases and their heartbeat, database outages, the worker's sessions).

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

from monitor.calibration.pending import ends_the_run
from monitor.calibration.work_runners import RUNNERS, Runner, run_unit
from monitor.catalogue import work_units as wu
from monitor.catalogue.states import WorkState
from monitor.settings import Settings

__all__ = [
    "worker_id",
    "WorkerSummary",
    "Heartbeat",
    "work",
    "WorkerSessions",
]

log = logging.getLogger(__name__)


def worker_id() -> str:
    """``<host>:<pid>``: who holds a claim (also how a log line is traced to a process)."""
    return f"{socket.gethostname()}:{os.getpid()}"


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
