"""Calibration alerts with a state (issue 20, revision 0011): opened once, refreshed while their
condition holds, closed when it no longer does, acknowledged by a person; one active alert per
series and kind, enforced by the database. SQLite and PostgreSQL (marked ``db``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from monitor.calibration.alerts import (
    DRIFT_KINDS,
    AlertCondition,
    drift_conditions,
    evaluate_mtf_alerts,
    reconcile,
)
from monitor.catalogue import alerts, migrate
from monitor.catalogue.acquisitions import seed_reference
from monitor.catalogue.engine import make_engine
from monitor.catalogue.models import Alert, MtfResult
from monitor.catalogue.states import AlertKind, AlertState
from monitor.science.drift import drift_alerts, fit_drift
from tests.catalogue import rows

T0 = datetime(2025, 3, 1, tzinfo=UTC)
RATE = AlertCondition(AlertKind.DRIFT_RATE, "rate too high", value=-0.05, sigma=0.005, threshold=0.02)


def _states(session: Session) -> list[tuple[str, str, str]]:
    return [(a.kind, a.state, a.satellite) for a in session.exec(select(Alert).order_by(Alert.id))]


def test_opened_once_refreshed_then_closed_then_reopened(session: Session) -> None:
    r1, r2, r3, r4 = (rows.run(session, T0 + timedelta(days=i)) for i in range(4))
    c1 = reconcile(session, r1, T0, "PHR1A", "P", "STAR", DRIFT_KINDS, [RATE])
    session.commit()
    # a re-run (or a restart that evaluates the same fit again) keeps the one alert
    worse = AlertCondition(AlertKind.DRIFT_RATE, "rate worse", value=-0.08, sigma=0.005, threshold=0.02)
    c2 = reconcile(session, r2, T0 + timedelta(days=1), "PHR1A", "P", "STAR", DRIFT_KINDS, [worse])
    session.commit()
    assert (c1.opened, c2.opened, c2.kept) == (1, 0, 1)
    (active,) = alerts.open_alerts(session)
    assert (active.kind, active.state, active.value, active.message) == ("drift-rate", "open", -0.08, "rate worse")
    assert active.opened_at == T0 and active.sigma == 0.005
    # the condition no longer holds: closed, not deleted
    c3 = reconcile(session, r3, T0 + timedelta(days=2), "PHR1A", "P", "STAR", DRIFT_KINDS, [])
    session.commit()
    assert c3.closed == 1 and alerts.open_alerts(session) == []
    (closed,) = alerts.list_alerts(session, include_closed=True)
    assert closed.state == "closed" and closed.closed_at == T0 + timedelta(days=2)
    # it holds again later: a new alert, the closed one stays as history
    reconcile(session, r4, T0 + timedelta(days=3), "PHR1A", "P", "STAR", DRIFT_KINDS, [RATE])
    session.commit()
    assert _states(session) == [("drift-rate", "closed", "PHR1A"), ("drift-rate", "open", "PHR1A")]


def test_series_and_kinds_are_independent(session: Session) -> None:
    run = rows.run(session, T0)
    dep = AlertCondition(AlertKind.DRIFT_DEPARTURE, "a point departs", value=4.2, threshold=3.0)
    reconcile(session, run, T0, "PHR1A", "P", "STAR", DRIFT_KINDS, [RATE, dep])
    reconcile(session, run, T0, "PHR1A", "P", "MOON", DRIFT_KINDS, [RATE])
    reconcile(session, run, T0, "PHR1B", "P", "STAR", DRIFT_KINDS, [RATE])
    # only the MTF kind is evaluated here: the drift alerts of the series are left alone
    reconcile(session, run, T0, "PHR1A", "P", "STAR", [AlertKind.MTF_DISAGREEMENT], [])
    session.commit()
    got = {(a.satellite, a.method, a.kind) for a in alerts.open_alerts(session)}
    assert got == {("PHR1A", "STAR", "drift-rate"), ("PHR1A", "STAR", "drift-departure"),
                   ("PHR1A", "MOON", "drift-rate"), ("PHR1B", "STAR", "drift-rate")}
    assert alerts.count_by_state(session) == {"open": 4, "acknowledged": 0, "closed": 0}


def test_database_refuses_a_second_active_alert_and_bad_states(session: Session) -> None:
    run = rows.run(session, T0)
    session.commit()

    def add(**kw: object) -> None:
        fields = dict(run_id=run.id, satellite="PHR1A", band="P", method="STAR", kind="drift-rate", message="m",
                      opened_at=T0, state="open")
        fields.update(kw)
        session.add(Alert(**fields))
        session.flush()

    add()
    add(state="closed")  # any number of closed ones
    session.commit()
    for bad in ({}, {"state": "acknowledged"}, {"state": "snoozed"}, {"kind": "rate"}):
        with pytest.raises(sa.exc.IntegrityError):
            add(**bad)
        session.rollback()


def test_acknowledge(session: Session) -> None:
    r1, r2 = rows.run(session, T0), rows.run(session, T0 + timedelta(days=1))
    reconcile(session, r1, T0, "PNEO3", "NIR", "MOON", DRIFT_KINDS, [RATE])
    session.commit()
    (a,) = alerts.open_alerts(session)
    ack = alerts.acknowledge(session, a.id, T0 + timedelta(hours=5), "sensor team informed")
    session.commit()
    assert (ack.state, ack.note, ack.acknowledged_at) == ("acknowledged", "sensor team informed",
                                                          T0 + timedelta(hours=5))
    # still holding: it stays acknowledged (and still counts among the active ones)
    reconcile(session, r2, T0 + timedelta(days=1), "PNEO3", "NIR", "MOON", DRIFT_KINDS, [RATE])
    session.commit()
    assert [x.state for x in alerts.open_alerts(session)] == ["acknowledged"]
    reconcile(session, r2, T0 + timedelta(days=2), "PNEO3", "NIR", "MOON", DRIFT_KINDS, [])
    session.commit()
    with pytest.raises(alerts.AlertStateError, match="closed"):
        alerts.acknowledge(session, a.id, T0 + timedelta(days=3))
    with pytest.raises(alerts.AlertStateError, match="no alert #999"):
        alerts.acknowledge(session, 999, T0)


def test_alerts_for_period(session: Session) -> None:
    r1, r2 = rows.run(session, T0), rows.run(session, T0)
    reconcile(session, r1, T0, "PHR1A", "P", "STAR", DRIFT_KINDS, [RATE])
    reconcile(session, r2, T0 + timedelta(days=10), "PHR1A", "P", "STAR", DRIFT_KINDS, [])  # closed day 10
    reconcile(session, r2, T0 + timedelta(days=20), "PHR1B", "P", "STAR", DRIFT_KINDS, [RATE])  # opened day 20
    session.commit()

    def sats(d0: int, d1: int) -> list[str]:
        return [a.satellite for a in alerts.alerts_for_period(session, T0 + timedelta(days=d0),
                                                               T0 + timedelta(days=d1))]

    assert sats(0, 5) == ["PHR1A"]
    assert sats(11, 19) == []
    assert sats(5, 25) == ["PHR1A", "PHR1B"]
    assert sats(30, 40) == ["PHR1B"]


def test_drift_conditions_follow_the_significance_test() -> None:
    """From the science rule: a strong, well-measured drift opens drift-rate; a one-point jump
    a drift-departure naming the point; a noisy drift of the same size, nothing."""
    t = np.arange(6) * 0.5
    a = 100.0 * (1.0 - 0.06 * t)
    sigma = np.full(6, 0.1)
    fit = fit_drift(t, a, sigma)
    conds = drift_conditions(drift_alerts(fit, t, a, sigma), [f"pool{i}" for i in range(6)], fit.rate_sigma_per_year)
    assert [c.kind for c in conds] == [AlertKind.DRIFT_RATE]
    assert conds[0].value == pytest.approx(fit.rate_per_year) and conds[0].sigma == fit.rate_sigma_per_year
    noisy = np.full(6, 8.0)
    fit = fit_drift(t, a, noisy)
    assert drift_conditions(drift_alerts(fit, t, a, noisy), [""] * 6, fit.rate_sigma_per_year) == []
    jump = np.full(8, 100.0)
    jump[5] = 102.0
    t8, s8 = np.arange(8) * 0.1, np.full(8, 0.1)
    fit = fit_drift(t8, jump, s8)
    conds = drift_conditions(drift_alerts(fit, t8, jump, s8, rate_threshold_per_year=10.0), [f"p{i}" for i in range(8)],
                             fit.rate_sigma_per_year)
    assert [c.kind for c in conds] == [AlertKind.DRIFT_DEPARTURE]
    assert "p5" in conds[0].message and conds[0].value > 3.0


def _mtf_pair(session: Session, run: object, pool: object, along: tuple[float, float], agrees: bool) -> None:
    for direction in ("along", "across"):
        p, e = along if direction == "along" else (0.3, 0.3)
        ok = agrees or direction == "across"
        for method, value in (("parametric", p), ("epsf", e)):
            row = rows.mtf(session, run, pool, "P", direction, method, 1, value)  # type: ignore[arg-type]
            row.agrees_with_epsf = ok
            session.add(row)
    session.flush()


def test_mtf_disagreement_of_the_latest_starpool(session: Session) -> None:
    r1, r2, r3 = (rows.run(session, T0 + timedelta(days=40 * i)) for i in range(3))
    p1 = rows.starpool(session, "PHR1A", "2025-03", T0, T0 + timedelta(days=31))
    _mtf_pair(session, r1, p1, (0.30, 0.20), agrees=False)
    changes = evaluate_mtf_alerts(session, r1, T0 + timedelta(days=32))
    evaluate_mtf_alerts(session, r1, T0 + timedelta(days=32))  # again: no duplicate
    session.commit()
    assert changes.opened == 1
    (a,) = alerts.open_alerts(session)
    assert (a.kind, a.satellite, a.band, a.method) == ("mtf-disagreement", "PHR1A", "P", "STAR")
    assert a.value == pytest.approx(0.10) and "2025-03" in a.message and "along" in a.message
    # the next starpool agrees: closed
    p2 = rows.starpool(session, "PHR1A", "2025-04", T0 + timedelta(days=31), T0 + timedelta(days=61))
    _mtf_pair(session, r2, p2, (0.30, 0.30), agrees=True)
    assert evaluate_mtf_alerts(session, r2, T0 + timedelta(days=62)).closed == 1
    session.commit()
    assert alerts.open_alerts(session) == []
    assert session.exec(select(sa.func.count()).select_from(MtfResult)).one() == 8


def test_open_alerts_seam_fields(session: Session) -> None:
    """The fields other branches rely on (PHASE2 seam)."""
    run = rows.run(session, T0)
    reconcile(session, run, T0, "PHR1A", "B0", "STAR", DRIFT_KINDS, [RATE])
    session.commit()
    (a,) = alerts.open_alerts(session)
    for name in ("id", "kind", "satellite", "band", "method", "opened_at", "state", "message", "value", "sigma"):
        assert hasattr(a, name)
    assert a.state == AlertState.OPEN and a.opened_at.tzinfo is not None


def test_upgrade_keeps_the_alerts_of_earlier_versions(catalogue_url: str) -> None:
    """Revision 0011 on a catalogue whose every drift refit stored its alerts again: the newest
    alert of each series and kind raised by the newest drift fit stays open, the others are closed
    at their creation; the kinds get their new names."""
    engine = make_engine(catalogue_url)
    try:
        migrate.upgrade(engine, "0008")
        with Session(engine) as s:
            seed_reference(s)
            r1, r2 = rows.run(s, T0), rows.run(s, T0 + timedelta(days=30))
            rows.drift(s, r1, "PHR1A", "P", "STAR", -0.05)
            rows.drift(s, r2, "PHR1A", "P", "STAR", -0.05)
            rows.drift(s, r1, "PNEO3", "NIR", "MOON", 0.05)
            rows.drift(s, r2, "PNEO3", "NIR", "MOON", 0.0)  # its newest fit raised nothing
            s.commit()
            ids = (r1.id, r2.id)
        old = [  # run, satellite, band, method, kind
            (0, "PHR1A", "P", "STAR", "rate"), (0, "PHR1A", "P", "STAR", "departure"),
            (1, "PHR1A", "P", "STAR", "rate"), (1, "PHR1A", "P", "STAR", "departure"),
            (1, "PHR1A", "P", "STAR", "departure"),
            (0, "PNEO3", "NIR", "MOON", "rate"),
        ]
        with engine.begin() as conn:
            for i, (run_i, sat, band, method, kind) in enumerate(old):
                conn.execute(sa.text(
                    "INSERT INTO alert (run_id, satellite, band, method, kind, message, created_at) "
                    "VALUES (:r, :s, :b, :m, :k, :msg, :t)"),
                    dict(r=ids[run_i], s=sat, b=band, m=method, k=kind, msg=f"old {i}",
                         t=(T0 + timedelta(days=30 * run_i, minutes=i)).replace(tzinfo=None)))
        migrate.upgrade(engine)
        with Session(engine) as s:
            got = [(a.message, a.kind, a.state, a.closed_at is None) for a in s.exec(select(Alert).order_by(Alert.id))]
        assert got == [
            ("old 0", "drift-rate", "closed", False), ("old 1", "drift-departure", "closed", False),
            ("old 2", "drift-rate", "open", True), ("old 3", "drift-departure", "closed", False),
            ("old 4", "drift-departure", "open", True), ("old 5", "drift-rate", "closed", False),
        ]
        migrate.downgrade(engine, "0008")
        with engine.connect() as conn:
            kinds = [k for (k,) in conn.execute(sa.text("SELECT kind FROM alert ORDER BY id"))]
        assert kinds == ["rate", "departure", "rate", "departure", "departure", "rate"]
    finally:
        engine.dispose()
