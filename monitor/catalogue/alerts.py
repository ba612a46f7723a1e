"""Catalogue rows of the calibration alerts (table ``alert``, revision 0011) and their states.

An alert is about one satellite, band, method and kind (:class:`monitor.catalogue.states.AlertKind`).
At most one is active (``open`` or ``acknowledged``) per satellite, band, method and kind: the
database refuses a second one (partial unique index ``ix_alert_active``). Whether a condition
holds is decided by the processing (:mod:`monitor.calibration.alerts`); this module only reads and
writes the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from monitor.catalogue.models import Alert
from monitor.catalogue.states import ACTIVE_ALERT_STATES, AlertState

__all__ = [
    "AlertRow",
    "AlertStateError",
    "open_alerts",
    "list_alerts",
    "alerts_for_period",
    "count_by_state",
    "active_alerts_of",
    "add_alert",
    "acknowledge",
]


class AlertStateError(LookupError):
    """No such alert, or an acknowledgement of an alert that is closed."""


@dataclass(frozen=True)
class AlertRow:
    """One alert as plain values (no ORM object escapes to the callers)."""

    id: int
    kind: str
    satellite: str
    band: str
    method: str
    opened_at: datetime
    state: str
    message: str
    value: float | None
    sigma: float | None
    threshold: float | None = None
    updated_at: datetime | None = None
    acknowledged_at: datetime | None = None
    note: str | None = None
    closed_at: datetime | None = None


def _row(a: Alert) -> AlertRow:
    assert a.id is not None
    return AlertRow(id=a.id, kind=a.kind, satellite=a.satellite, band=a.band, method=a.method, opened_at=a.opened_at,
                    state=a.state, message=a.message, value=a.value, sigma=a.sigma, threshold=a.threshold,
                    updated_at=a.updated_at, acknowledged_at=a.acknowledged_at, note=a.note, closed_at=a.closed_at)


def _ordered(q: SelectOfScalar[Alert]) -> SelectOfScalar[Alert]:
    return q.order_by(Alert.satellite, Alert.band, Alert.method, Alert.kind, col(Alert.id))


def open_alerts(session: Session) -> list[AlertRow]:
    """The active alerts (``open`` and ``acknowledged``: their condition still holds), ordered by
    satellite, band, method and kind."""
    return [_row(a) for a in session.exec(_ordered(select(Alert).where(col(Alert.state).in_(ACTIVE_ALERT_STATES))))]


def list_alerts(session: Session, *, include_closed: bool = False, satellite: str | None = None,
                band: str | None = None) -> list[AlertRow]:
    """The active alerts, or every alert with ``include_closed`` (by satellite, band, method,
    kind, then opening); optionally of one satellite and band."""
    q = select(Alert)
    if not include_closed:
        q = q.where(col(Alert.state).in_(ACTIVE_ALERT_STATES))
    if satellite is not None:
        q = q.where(Alert.satellite == satellite)
    if band is not None:
        q = q.where(Alert.band == band)
    return [_row(a) for a in session.exec(_ordered(q))]


def alerts_for_period(session: Session, start: datetime, end: datetime) -> list[AlertRow]:
    """The alerts that concern a period ``[start, end)``: opened before its end and not closed
    before its start (still active, or closed during or after the period)."""
    q = select(Alert).where(Alert.opened_at < end,
                            sa.or_(col(Alert.closed_at).is_(None), col(Alert.closed_at) >= start))
    return [_row(a) for a in session.exec(_ordered(q))]


def count_by_state(session: Session) -> dict[str, int]:
    """Number of alerts in each state (every state listed, 0 when none)."""
    counts = {str(s): 0 for s in AlertState}
    for state, n in session.exec(select(Alert.state, sa.func.count()).group_by(Alert.state)).all():
        counts[state] = int(n)
    return counts


def active_alerts_of(session: Session, satellite: str, band: str, method: str,
                     kinds: Sequence[str]) -> dict[str, Alert]:
    """The active alert of each of ``kinds`` for one series (kind -> row; absent when none), to
    be refreshed or closed by the caller."""
    q = select(Alert).where(Alert.satellite == satellite, Alert.band == band, Alert.method == method,
                            col(Alert.kind).in_(list(kinds)), col(Alert.state).in_(ACTIVE_ALERT_STATES))
    return {a.kind: a for a in session.exec(q)}


def add_alert(session: Session, alert: Alert) -> None:
    """Insert a new alert (the caller has checked that none of its series and kind is active)."""
    session.add(alert)
    session.flush()


def acknowledge(session: Session, alert_id: int, now: datetime, note: str | None = None) -> AlertRow:
    """Mark an active alert ``acknowledged`` (again: the note and time are replaced).

    Raises
    ------
    AlertStateError
        No alert ``alert_id``, or it is closed.
    """
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertStateError(f"no alert #{alert_id}")
    if alert.state == AlertState.CLOSED:
        raise AlertStateError(f"alert #{alert_id} is closed (its condition no longer holds): nothing to acknowledge")
    alert.state = AlertState.ACKNOWLEDGED
    alert.acknowledged_at = now
    alert.note = note
    session.add(alert)
    session.flush()
    return _row(alert)
