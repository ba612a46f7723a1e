"""Units of processing work shared by any number of workers on one catalogue (issue 18).

The protocol (every function here is one statement or a few, none commits; the caller commits
each step on its own):

- :func:`add_units` / :func:`add_unit`: the single scheduler enqueues the units of a run;
- :func:`claim`: a worker takes the oldest claimable units. PostgreSQL: ``WITH picked AS
  (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED) UPDATE ... WHERE id IN (SELECT id FROM picked)
  RETURNING``, so concurrent workers never wait for each other and never take the same unit;
  SQLite: the same ``UPDATE ... RETURNING`` (the single writer makes the statement atomic;
  SQLAlchemy drops ``FOR UPDATE`` there). The claim sets a lease (``lease_until``) and increments
  ``attempts``, the claim's *fencing token*;
- :func:`heartbeat` renews the lease while the unit runs;
- :func:`finish` is a statement of the transaction that writes a unit's results: it marks the
  unit done only if it is still claimed by this worker with this token, and the caller commits
  its results only when it returns True (else rolls back). It locks the unit's row and its
  parent's until the commit: a unit that computes inside its transaction (a starpool, a drift
  refit) runs it last, just before the commit, since the parent (a satellite's drift unit) is
  shared by every starpool unit of the satellite and would otherwise hold them all back. A
  worker that lost its unit (its lease expired and the unit was reaped and claimed again)
  therefore writes nothing: a unit done twice is never counted twice. On PostgreSQL the row
  lock taken by this UPDATE also orders it against a concurrent reaper or finisher (the loser
  re-reads the row and matches nothing);
- :func:`release` gives a unit back after a failure without a verdict (``failed`` once its
  ``max_attempts`` claims are used); :func:`reap` does the same for expired leases (a worker that
  died);
- a unit that ends (done or failed) decrements its parent's ``waiting`` in the same transaction;
  the one that brings it to 0 makes the parent claimable (an aggregation runs once, after all its
  members, whoever finishes last).

Times are the workers' clocks (aware UTC): hosts sharing a catalogue must be NTP-synchronised to
well within a lease.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from monitor.catalogue.models import WorkUnit
from monitor.catalogue.states import ACTIVE_WORK_STATES, WorkState

__all__ = [
    "ClaimedUnit",
    "LostClaim",
    "finish_or_lost",
    "add_unit",
    "add_units",
    "claim",
    "heartbeat",
    "finish",
    "release",
    "reap",
    "active_units",
    "active_keys",
    "state_counts",
    "queue_counts",
    "units_of_run",
    "key_of",
]

_T = WorkUnit.__table__  # type: ignore[attr-defined]
_PARENT = _T.alias("parent")


@dataclass(frozen=True)
class ClaimedUnit:
    """A unit a worker holds: what it is about and its fencing token (``attempts`` at the claim)."""

    id: int
    run_id: int
    kind: str
    key: str
    token: int
    parent_id: int | None
    parent_key: str | None = None  # the key of the parent unit (e.g. a photometry unit's starpool id)


def add_unit(session: Session, run_id: int, kind: str, key: str, now: datetime, *, waiting: int = 0,
             parent_id: int | None = None, max_attempts: int = 3) -> int:
    """Insert one unit (``waiting`` on that many members, else claimable); returns its id."""
    return add_units(session, run_id, kind, [key], now, waiting=[waiting], parent_ids=[parent_id],
                     max_attempts=max_attempts)[0]


def add_units(session: Session, run_id: int, kind: str, keys: Sequence[str], now: datetime, *,
              waiting: Sequence[int] | None = None, parent_ids: Sequence[int | None] | None = None,
              max_attempts: int = 3) -> list[int]:
    """Insert units of one kind in one statement; returns their ids in the order of ``keys``."""
    if not keys:
        return []
    waits = list(waiting) if waiting is not None else [0] * len(keys)
    parents = list(parent_ids) if parent_ids is not None else [None] * len(keys)
    rows = [dict(run_id=run_id, kind=kind, key=k, state=WorkState.WAITING if w > 0 else WorkState.PENDING,
                 parent_id=p, waiting=w, attempts=0, max_attempts=max_attempts, created_at=now, error="")
            for k, w, p in zip(keys, waits, parents, strict=True)]
    stmt = sa.insert(_T).returning(_T.c.id, sort_by_parameter_order=True)
    return [int(i) for i in session.execute(stmt, rows).scalars().all()]


def claim(session: Session, worker_id: str, now: datetime, lease_s: float, *, kinds: Collection[str] | None = None,
          limit: int = 1) -> list[ClaimedUnit]:
    """Claim up to ``limit`` claimable units (oldest first, of ``kinds`` or any): one statement.

    On PostgreSQL the claim's transaction is committed asynchronously (``synchronous_commit`` off
    for that transaction only, set by the statement itself: no wait for the WAL flush): a claim
    lost by a server crash only makes the unit claimable again, and the worker that believed it
    held it fails the fence of :func:`finish` (writes nothing). Commit the claim on its own, before
    any result is written; on a connection in autocommit mode (the worker's claim connection, see
    :func:`monitor.calibration.work.work`) the statement is its own transaction: one round trip.
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    stmt = _claim_statement(postgres, None if kinds is None else tuple(sorted(kinds)), limit)
    rows = session.execute(stmt, {"c_worker": worker_id, "c_lease": now + timedelta(seconds=lease_s),
                                  "c_now": now}).all()
    return sorted((ClaimedUnit(int(r.id), int(r.run_id), r.kind, r.key, int(r.attempts), r.parent_id, r.parent_key)
                   for r in rows), key=lambda u: u.id)


# The statements of the hot path (claim, finish) are built once per shape, their values bound at
# execution: building a statement costs more Python time than its round trip on a loaded host.


@functools.lru_cache(maxsize=64)
def _claim_statement(postgres: bool, kinds: tuple[str, ...] | None, limit: int) -> sa.Update:
    pick = select(_T.c.id).where(_T.c.state == WorkState.PENDING)
    if kinds is not None:
        pick = pick.where(_T.c.kind.in_(kinds))
    # a CTE: PostgreSQL evaluates it once (an IN-subquery with LIMIT may be re-run by a semi-join
    # plan and lock more rows than asked)
    picked = pick.order_by(_T.c.id).limit(limit).with_for_update(skip_locked=True).cte("picked")
    stmt = (
        sa.update(_T)
        .where(_T.c.id.in_(select(picked.c.id)), _T.c.state == WorkState.PENDING)
        .values(state=WorkState.CLAIMED, worker_id=sa.bindparam("c_worker", type_=_T.c.worker_id.type),
                attempts=_T.c.attempts + 1, lease_until=sa.bindparam("c_lease", type_=_T.c.lease_until.type),
                heartbeat_at=sa.bindparam("c_now", type_=_T.c.heartbeat_at.type))
        .returning(_T.c.id, _T.c.run_id, _T.c.kind, _T.c.key, _T.c.attempts, _T.c.parent_id, _parent_key())
    )
    if postgres:
        # SET LOCAL synchronous_commit TO OFF inside the statement (one round trip less): evaluated
        # for each claimed row; a claim of nothing writes no WAL, so its commit never waits anyway
        stmt = stmt.returning(func.set_config("synchronous_commit", "off", True))
    return stmt


_HELD_BOUND = sa.and_(_T.c.id == sa.bindparam("f_id", type_=_T.c.id.type), _T.c.state == WorkState.CLAIMED,
                      _T.c.worker_id == sa.bindparam("f_worker", type_=_T.c.worker_id.type),
                      _T.c.attempts == sa.bindparam("f_token", type_=_T.c.attempts.type))


@functools.lru_cache(maxsize=4)
def _finish_statement(postgres_with_parent: bool) -> sa.Executable:
    """The fenced finish (bound: f_id, f_worker, f_token, f_now; f_parent for the one-statement form)."""
    mark = sa.update(_T).where(_HELD_BOUND).values(
        state=WorkState.DONE, finished_at=sa.bindparam("f_now", type_=_T.c.finished_at.type), lease_until=None)
    if not postgres_with_parent:
        return mark
    done = mark.returning(_T.c.id).cte("done")
    parent = sa.update(_T).where(_T.c.id == sa.bindparam("f_parent", type_=_T.c.id.type),
                                 sa.exists(select(done.c.id))).values(**_parent_decrement()).cte("parent")
    return select(func.count()).select_from(done).add_cte(parent)


def _parent_key() -> sa.ColumnElement[Any]:
    """``RETURNING`` column: the key of the claimed unit's parent. The correlation is spelled out
    (SQLite renders RETURNING columns unqualified, which the subquery would take for its own)."""
    return (select(_PARENT.c.key).where(_PARENT.c.id == sa.literal_column(f"{_T.name}.parent_id"))
            .scalar_subquery().label("parent_key"))


def _held(unit: ClaimedUnit, worker_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(_T.c.id == unit.id, _T.c.state == WorkState.CLAIMED, _T.c.worker_id == worker_id,
                   _T.c.attempts == unit.token)


def heartbeat(session: Session, units: Collection[ClaimedUnit], worker_id: str, now: datetime,
              lease_s: float) -> int:
    """Renew the leases of these units still held by this worker; returns how many were renewed."""
    n = 0
    for unit in units:
        n += session.execute(sa.update(_T).where(_held(unit, worker_id)).values(
            lease_until=now + timedelta(seconds=lease_s), heartbeat_at=now)).rowcount
    return n


def _end_parent(session: Session, parent_id: int | None) -> None:
    """A member of ``parent_id`` ended: one fewer to wait for; the last one makes it claimable."""
    if parent_id is None:
        return
    session.execute(sa.update(_T).where(_T.c.id == parent_id).values(**_parent_decrement()))


def _parent_decrement() -> dict[str, Any]:
    """SET of a parent one of whose members ended: one fewer to wait for; at 0 it is claimable."""
    return dict(waiting=_T.c.waiting - 1,
                state=sa.case((sa.and_(_T.c.state == WorkState.WAITING, _T.c.waiting <= 1), WorkState.PENDING),
                              else_=_T.c.state))


def finish(session: Session, unit: ClaimedUnit, worker_id: str, now: datetime) -> bool:
    """Mark the unit done if this worker still holds it with this token (in the transaction that
    writes its results, as late as possible: it holds the unit's and the parent's row locks until
    the commit); False: the claim was lost, roll back (nothing of the unit is written).

    On PostgreSQL one statement: the fenced UPDATE and the parent's decrement are two data-modifying
    CTEs (the parent's row lock orders two members ending together, as two statements would)."""
    params = {"f_id": unit.id, "f_worker": worker_id, "f_token": unit.token, "f_now": now}
    if unit.parent_id is not None and session.get_bind().dialect.name == "postgresql":
        n = session.execute(_finish_statement(True), {**params, "f_parent": unit.parent_id}).scalar_one()
        return bool(n)
    done_n = session.execute(_finish_statement(False), params).rowcount  # type: ignore[attr-defined]
    if done_n:
        _end_parent(session, unit.parent_id)
    return bool(done_n)


class LostClaim(Exception):
    """The worker no longer holds the unit (its lease expired and it was reaped): nothing written."""


def finish_or_lost(session: Session, unit: ClaimedUnit, worker_id: str, now: datetime) -> None:
    """:func:`finish`, or roll back and raise :class:`LostClaim` when the claim was lost."""
    if not finish(session, unit, worker_id, now):
        session.rollback()
        raise LostClaim(f"{unit.kind} {unit.key}: claim lost (lease expired), nothing written")


def release(session: Session, unit: ClaimedUnit, worker_id: str, now: datetime, error: str) -> str | None:
    """Give back a unit that failed without a verdict: claimable again, or ``failed`` (its parent
    no longer waits for it) when its ``max_attempts`` claims are used. Returns the new state, or
    None when the claim was already lost."""
    row = session.execute(
        select(_T.c.attempts, _T.c.max_attempts).where(_held(unit, worker_id)).with_for_update()).first()
    if row is None:
        return None
    state = WorkState.FAILED if row.attempts >= row.max_attempts else WorkState.PENDING
    session.execute(sa.update(_T).where(_held(unit, worker_id)).values(
        state=state, worker_id=None, lease_until=None, error=error[:1000],
        finished_at=now if state == WorkState.FAILED else None))
    if state == WorkState.FAILED:
        _end_parent(session, unit.parent_id)
    return str(state)


def reap(session: Session, now: datetime) -> tuple[int, int]:
    """Return the units whose lease expired (their worker died or hung) to the queue, or fail them
    when their claims are used up. Returns (made claimable again, failed)."""
    expired = session.execute(
        select(_T.c.id, _T.c.run_id, _T.c.kind, _T.c.key, _T.c.attempts, _T.c.parent_id, _T.c.worker_id,
               _T.c.max_attempts)
        .where(_T.c.state == WorkState.CLAIMED, _T.c.lease_until < now)
        .order_by(_T.c.id).with_for_update(skip_locked=True)).all()
    again = failed = 0
    for r in expired:
        unit = ClaimedUnit(int(r.id), int(r.run_id), r.kind, r.key, int(r.attempts), r.parent_id)
        state = release(session, unit, r.worker_id, now, f"lease expired (worker {r.worker_id})")
        again += state == WorkState.PENDING
        failed += state == WorkState.FAILED
    return again, failed


def active_units(session: Session, kinds: Collection[str] | None = None) -> int:
    """Units not ended yet (waiting, claimable or claimed), of every run (of ``kinds`` or any)."""
    q = select(func.count()).select_from(WorkUnit).where(col(WorkUnit.state).in_(list(ACTIVE_WORK_STATES)))
    if kinds is not None:
        q = q.where(col(WorkUnit.kind).in_(sorted(kinds)))
    return int(session.exec(q).one())


def active_keys(session: Session, kind: str) -> set[str]:
    """Keys of the units of ``kind`` not ended yet."""
    q = select(WorkUnit.key).where(WorkUnit.kind == kind, col(WorkUnit.state).in_(list(ACTIVE_WORK_STATES)))
    return set(session.exec(q).all())


def state_counts(session: Session, run_id: int | None = None, kind: str | None = None) -> dict[str, int]:
    """Number of units per state (of one run, of one kind)."""
    q = select(WorkUnit.state, func.count()).group_by(WorkUnit.state)
    if run_id is not None:
        q = q.where(WorkUnit.run_id == run_id)
    if kind is not None:
        q = q.where(WorkUnit.kind == kind)
    return {s: int(n) for s, n in session.exec(q).all()}


def queue_counts(session: Session) -> list[tuple[str, str, int]]:
    """The work queue, of every run: (kind, state, number of units) of the units not done
    (waiting, pending, claimed, failed), by kind then state; done units are not counted."""
    q = (select(_T.c.kind, _T.c.state, func.count()).where(_T.c.state != WorkState.DONE)
         .group_by(_T.c.kind, _T.c.state).order_by(_T.c.kind, _T.c.state))
    return [(str(k), str(st), int(n)) for k, st, n in session.execute(q).all()]


def units_of_run(session: Session, run_id: int) -> list[dict[str, Any]]:
    """Every unit of a run (columns as dicts), by id."""
    return [dict(r._mapping) for r in session.execute(select(_T).where(_T.c.run_id == run_id).order_by(_T.c.id))]


def key_of(session: Session, unit_id: int) -> str:
    """The key of a unit (e.g. the starpool id of a photometry unit's parent)."""
    return str(session.execute(select(_T.c.key).where(_T.c.id == unit_id)).scalar_one())
