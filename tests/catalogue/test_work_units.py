"""The claim protocol of :mod:`monitor.catalogue.work_units` on a real catalogue (SQLite by default,
PostgreSQL in the CI's PostgreSQL pass): claims, leases, the reaper, the fenced finish, the retry
limit and the parent barrier (an aggregation becomes claimable when its last member ends)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from monitor.catalogue import migrate
from monitor.catalogue import operations as ops
from monitor.catalogue import work_units as wu
from monitor.catalogue.engine import make_engine
from monitor.catalogue.states import WorkState

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
LEASE_S = 60.0


@pytest.fixture()
def engine(catalogue_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(catalogue_url)
    migrate.upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture()
def session(engine: sa.Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


def _run(session: Session) -> int:
    run = ops.start_run(session, "process", T0)
    session.commit()
    assert run.id is not None
    return run.id


def _state(session: Session, unit_id: int) -> dict[str, object]:
    row = next(r for r in wu.units_of_run(session, _run_of(session, unit_id)) if r["id"] == unit_id)
    return row


def _run_of(session: Session, unit_id: int) -> int:
    return int(session.execute(sa.text("SELECT run_id FROM work_unit WHERE id = :i"), {"i": unit_id}).scalar_one())


def test_claims_take_each_unit_once_oldest_first_with_a_lease(session: Session) -> None:
    run = _run(session)
    ids = wu.add_units(session, run, "star_photometry", ["10", "11", "12"], T0)
    session.commit()
    first = wu.claim(session, "w1", T0, LEASE_S)
    both = wu.claim(session, "w2", T0, LEASE_S, limit=5)
    session.commit()
    assert [u.id for u in first] == ids[:1] and [u.id for u in both] == ids[1:]
    assert [u.key for u in first + both] == ["10", "11", "12"] and {u.token for u in first + both} == {1}
    assert wu.claim(session, "w3", T0, LEASE_S) == []
    row = _state(session, ids[0])
    assert row["state"] == WorkState.CLAIMED and row["worker_id"] == "w1" and row["attempts"] == 1
    assert row["lease_until"] == T0 + timedelta(seconds=LEASE_S)
    assert wu.claim(session, "w3", T0, LEASE_S, kinds={"starpool"}) == []


def test_only_the_holder_with_its_token_finishes_and_a_reaped_unit_is_done_once(session: Session) -> None:
    run = _run(session)
    wu.add_units(session, run, "star_photometry", ["10"], T0)
    session.commit()
    (held,) = wu.claim(session, "w1", T0, LEASE_S)
    session.commit()
    assert not wu.finish(session, held, "w2", T0)  # another worker
    # the lease is renewed by the heartbeat: not reaped at its first expiry
    assert wu.heartbeat(session, [held], "w1", T0 + timedelta(seconds=50), LEASE_S) == 1
    assert wu.reap(session, T0 + timedelta(seconds=LEASE_S + 1)) == (0, 0)
    # w1 stops beating (dies): the reaper gives the unit back; w2 claims it with token 2
    assert wu.reap(session, T0 + timedelta(seconds=50 + LEASE_S + 1)) == (1, 0)
    session.commit()
    (again,) = wu.claim(session, "w2", T0 + timedelta(seconds=200), LEASE_S)
    session.commit()
    assert again.id == held.id and again.token == 2
    assert not wu.finish(session, held, "w1", T0 + timedelta(seconds=201))  # w1 was only slow: writes nothing
    assert wu.heartbeat(session, [held], "w1", T0 + timedelta(seconds=201), LEASE_S) == 0
    session.rollback()
    assert wu.finish(session, again, "w2", T0 + timedelta(seconds=202))
    session.commit()
    assert not wu.finish(session, again, "w2", T0 + timedelta(seconds=203))  # done once, never twice
    assert wu.state_counts(session, run) == {WorkState.DONE: 1}


def test_release_retries_until_max_attempts_then_fails(session: Session) -> None:
    run = _run(session)
    wu.add_units(session, run, "star_photometry", ["10"], T0, max_attempts=2)
    session.commit()
    (u1,) = wu.claim(session, "w1", T0, LEASE_S)
    assert wu.release(session, u1, "w1", T0, "OSError: disk gone") == WorkState.PENDING
    session.commit()
    (u2,) = wu.claim(session, "w1", T0, LEASE_S)
    assert u2.token == 2
    assert wu.release(session, u1, "w1", T0, "stale token") is None  # an old claim cannot release
    assert wu.release(session, u2, "w1", T0, "OSError: disk gone") == WorkState.FAILED
    session.commit()
    assert wu.claim(session, "w1", T0, LEASE_S) == []
    row = _state(session, u2.id)
    assert row["state"] == WorkState.FAILED and row["error"] == "OSError: disk gone" and row["attempts"] == 2


def test_an_aggregation_is_claimable_once_its_last_member_ends_done_or_failed(session: Session) -> None:
    run = _run(session)
    parent = wu.add_unit(session, run, "starpool", "7", T0, waiting=3)
    members = wu.add_units(session, run, "star_photometry", ["1", "2", "3"], T0, parent_ids=[parent] * 3,
                           max_attempts=1)
    session.commit()
    claimed = wu.claim(session, "w", T0, LEASE_S, limit=10)
    session.commit()
    assert [u.id for u in claimed] == members  # the waiting parent is not claimable
    assert wu.finish(session, claimed[0], "w", T0)
    assert wu.release(session, claimed[1], "w", T0, "internal") == WorkState.FAILED  # ends it too
    session.commit()
    assert _state(session, parent)["state"] == WorkState.WAITING and _state(session, parent)["waiting"] == 1
    assert wu.claim(session, "w", T0, LEASE_S) == []
    assert wu.finish(session, claimed[2], "w", T0)
    session.commit()
    (agg,) = wu.claim(session, "w", T0, LEASE_S)
    assert agg.id == parent and agg.key == "7"


def test_a_reaped_unit_out_of_attempts_fails_and_releases_its_parent(session: Session) -> None:
    run = _run(session)
    parent = wu.add_unit(session, run, "run", str(run), T0, waiting=1)
    wu.add_units(session, run, "star_drift", ["PHR1A"], T0, parent_ids=[parent], max_attempts=1)
    session.commit()
    wu.claim(session, "dead", T0, LEASE_S)
    session.commit()
    assert wu.reap(session, T0 + timedelta(seconds=LEASE_S - 1)) == (0, 0)
    assert wu.reap(session, T0 + timedelta(seconds=LEASE_S + 1)) == (0, 1)
    session.commit()
    assert [u.id for u in wu.claim(session, "w", T0, LEASE_S)] == [parent]


def test_one_active_unit_per_kind_and_key_but_a_new_run_may_redo_a_done_one(session: Session) -> None:
    run1 = _run(session)
    wu.add_units(session, run1, "star_photometry", ["10"], T0)
    session.commit()
    run2 = _run(session)
    with pytest.raises(sa.exc.IntegrityError):
        wu.add_units(session, run2, "star_photometry", ["10"], T0)
        session.flush()
    session.rollback()
    (u,) = wu.claim(session, "w", T0, LEASE_S)
    assert wu.finish(session, u, "w", T0)
    session.commit()
    wu.add_units(session, run2, "star_photometry", ["10"], T0)  # reprocessing: a new unit of a new run
    session.commit()
    assert wu.active_keys(session, "star_photometry") == {"10"} and wu.active_units(session) == 1


def test_concurrent_claims_never_take_the_same_unit(engine: sa.Engine) -> None:
    """Two sessions claim alternately with open transactions (on PostgreSQL the second skips the
    rows the first has locked; on SQLite the second waits for the writer): disjoint claims."""
    with Session(engine) as s:
        run = _run(s)
        wu.add_units(s, run, "star_photometry", [str(i) for i in range(20)], T0)
        s.commit()
    taken: list[int] = []
    with Session(engine) as a, Session(engine) as b:
        for _ in range(10):
            taken += [u.id for u in wu.claim(a, "a", T0, LEASE_S)]
            a.commit()
            taken += [u.id for u in wu.claim(b, "b", T0, LEASE_S)]
            b.commit()
    assert len(taken) == len(set(taken)) == 20


def test_queue_counts_by_kind_and_state_leave_done_units_out(session: Session) -> None:
    run = _run(session)
    parent = wu.add_unit(session, run, "agg", "a", T0, waiting=3)
    wu.add_units(session, run, "member", ["1", "2", "3"], T0, parent_ids=[parent] * 3, max_attempts=1)
    wu.add_unit(session, run, "other", "x", T0)
    session.commit()
    assert wu.queue_counts(session) == [("agg", "waiting", 1), ("member", "pending", 3), ("other", "pending", 1)]
    done, lost, held = wu.claim(session, "w1", T0, LEASE_S, kinds={"member"}, limit=3)
    session.commit()
    assert wu.finish(session, done, "w1", T0)
    assert wu.release(session, lost, "w1", T0, "boom") == WorkState.FAILED  # its one attempt used
    session.commit()
    assert wu.queue_counts(session) == [("agg", "waiting", 1), ("member", "claimed", 1), ("member", "failed", 1),
                                        ("other", "pending", 1)]
    assert wu.finish(session, held, "w1", T0)
    session.commit()
    assert wu.queue_counts(session) == [("agg", "pending", 1), ("member", "failed", 1), ("other", "pending", 1)]


def test_a_claim_carries_its_parents_key_and_commits_asynchronously_on_postgresql(session: Session) -> None:
    """The claim returns the key of the unit's parent (a photometry unit's starpool: no second
    query) and, on PostgreSQL, sets ``synchronous_commit`` off for its own transaction only (the
    results' transactions that follow wait for the WAL flush)."""
    run = _run(session)
    pool = wu.add_unit(session, run, "starpool", "77", T0, waiting=1)
    wu.add_unit(session, run, "star_photometry", "10", T0, parent_id=pool)
    session.commit()
    (unit,) = wu.claim(session, "w1", T0, LEASE_S, kinds={"star_photometry"})
    assert (unit.parent_id, unit.parent_key) == (pool, "77")
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        assert session.execute(sa.text("SELECT current_setting('synchronous_commit')")).scalar_one() == "off"
    session.commit()
    if postgres:
        assert session.execute(sa.text("SELECT current_setting('synchronous_commit')")).scalar_one() == "on"
    session.rollback()
    (orphan,) = wu.claim(session, "w1", T0, LEASE_S, kinds={"starpool"}) or [None]  # still waiting: nothing
    assert orphan is None


def test_a_workers_sessions_keep_their_connections_and_a_claim_is_one_statement(engine: sa.Engine) -> None:
    """What a unit costs the protocol on a worker's sessions (monitor.calibration.work.WorkerSessions):
    no connection check-out (hence no pre-ping round trip) per transaction, one statement per
    claim and per finish (benchmarks/scale.py times them)."""
    from monitor.calibration.work import WorkerSessions

    with Session(engine) as s:
        run = _run(s)
        wu.add_units(s, run, "star_photometry", [str(i) for i in range(20)], T0)
        s.commit()
    checkouts: list[int] = []
    statements: list[str] = []
    sa.event.listen(engine, "checkout", lambda *_: checkouts.append(1))
    sa.event.listen(engine, "before_cursor_execute", lambda _c, _cur, stmt, *_: statements.append(stmt))
    with WorkerSessions(engine) as conns:
        for _ in range(20):
            (unit,) = wu.claim(conns.claims, "w", T0, LEASE_S)
            conns.claims.commit()
            assert wu.finish(conns.session, unit, "w", T0)
            conns.session.commit()
    postgres = engine.dialect.name == "postgresql"
    assert len(checkouts) == (2 if postgres else 1)  # one per session for the worker's life
    assert len(statements) == 40  # claim, finish: no SET LOCAL, no SELECT
