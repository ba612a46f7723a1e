"""Calibration alerts with a state: the rules that open, refresh and close them.

Called by the processing stages within the unit of work that stores the results they judge, so an
alert and its evidence are committed together; a re-run or a restart evaluates the same condition
again and finds the alert already active (never a duplicate).

- ``drift-rate`` and ``drift-departure`` (method STAR or MOON): after each drift refit of a
  series, from :func:`monitor.science.drift.drift_alerts` on its linear fit (significance test
  ``|rate| - k sigma > threshold`` and a minimum number of epochs; departures of the points from
  the trend). The departures of a series make one alert, with the largest departure as its value.
- ``mtf-disagreement`` (method STAR): the parametric and ePSF MTF at Nyquist of the latest
  starpool of a satellite and band disagree beyond the tolerance of
  :func:`monitor.science.mtf_select.compare_mtf` in some direction (``mtf_result.agrees_with_epsf``).

A condition that holds opens an alert when none of its series and kind is active, else refreshes
the active one (value, message, ``last_run_id``; an acknowledged alert stays acknowledged). A kind
that was evaluated and does not hold closes the active alert.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from monitor.catalogue import alerts as alert_rows
from monitor.catalogue import mtf_results
from monitor.catalogue.models import Alert, MtfResult, ProcessingRun, Starpool
from monitor.catalogue.states import AlertKind, AlertState
from monitor.science.drift import AlertKind as DriftAlertKind
from monitor.science.drift import DriftAlert

__all__ = ["AlertCondition", "AlertChanges", "DRIFT_KINDS", "drift_conditions", "reconcile", "evaluate_mtf_alerts"]

log = logging.getLogger(__name__)

DRIFT_KINDS = (AlertKind.DRIFT_RATE, AlertKind.DRIFT_DEPARTURE)
MTF_TOLERANCE = 0.02  # fixed tolerance (MTF units) of rows stored before the bootstrap comparison (issue 15)
MTF_N_SIGMA = 3.0


@dataclass(frozen=True)
class AlertCondition:
    """A condition found to hold for a series: what an alert of ``kind`` says."""

    kind: AlertKind
    message: str
    value: float | None = None
    sigma: float | None = None
    threshold: float | None = None


@dataclass
class AlertChanges:
    opened: int = 0
    closed: int = 0
    kept: int = 0


def drift_conditions(alerts: Sequence[DriftAlert], labels: Sequence[str], rate_sigma: float) -> list[AlertCondition]:
    """The conditions of the alerts of one linear drift fit: one ``drift-rate`` (value the rate per
    year, sigma its sigma), one ``drift-departure`` for all departing points (value the largest
    departure in sigma; ``labels[i]`` names point ``i``, e.g. its starpool or acquisition)."""
    out: list[AlertCondition] = []
    departures = [a for a in alerts if a.kind == DriftAlertKind.DEPARTURE]
    if departures:
        worst = max(departures, key=lambda a: abs(a.value))
        named = [labels[a.index] if a.index is not None and a.index < len(labels) else "?" for a in departures]
        text = f"{len(departures)} point(s) depart from the trend ({', '.join(named[:5])}" + \
            (", ..." if len(named) > 5 else "") + f"); worst: {_label(worst, labels)} {worst.message}"
        out.append(AlertCondition(AlertKind.DRIFT_DEPARTURE, text[:1000], worst.value, None, worst.threshold))
    for a in alerts:
        if a.kind == DriftAlertKind.RATE:
            out.append(AlertCondition(AlertKind.DRIFT_RATE, a.message[:1000], a.value, rate_sigma, a.threshold))
    return out


def _label(alert: DriftAlert, labels: Sequence[str]) -> str:
    return labels[alert.index] if alert.index is not None and alert.index < len(labels) else ""


def reconcile(session: Session, run: ProcessingRun, now: datetime, satellite: str, band: str, method: str,
              kinds: Sequence[AlertKind], conditions: Sequence[AlertCondition]) -> AlertChanges:
    """Bring the alerts of one series and of the evaluated ``kinds`` in line with ``conditions``
    (those that hold; each kind at most once). Flushes; the caller commits."""
    assert run.id is not None
    changes = AlertChanges()
    holding = {c.kind: c for c in conditions}
    active = alert_rows.active_alerts_of(session, satellite, band, method, [str(k) for k in kinds])
    for kind in kinds:
        cond, alert = holding.get(kind), active.get(str(kind))
        if cond is None and alert is not None:
            alert.state, alert.closed_at, alert.updated_at, alert.last_run_id = AlertState.CLOSED, now, now, run.id
            session.add(alert)
            changes.closed += 1
            log.info("alert #%s %s %s %s %s closed: the condition no longer holds", alert.id, satellite, band,
                     method, kind)
        elif cond is not None and alert is not None:
            alert.message, alert.value, alert.sigma, alert.threshold = cond.message, cond.value, cond.sigma, \
                cond.threshold
            alert.updated_at, alert.last_run_id = now, run.id
            session.add(alert)
            changes.kept += 1
        elif cond is not None:
            alert_rows.add_alert(session, Alert(
                run_id=run.id, satellite=satellite, band=band, method=method, kind=str(kind), message=cond.message,
                opened_at=now, state=AlertState.OPEN, value=cond.value, sigma=cond.sigma, threshold=cond.threshold,
                last_run_id=run.id, updated_at=now))
            changes.opened += 1
            log.warning("alert opened: %s %s %s %s: %s", satellite, band, method, kind, cond.message)
    session.flush()
    return changes


def evaluate_mtf_alerts(session: Session, run: ProcessingRun, now: datetime) -> AlertChanges:
    """Open, refresh or close the ``mtf-disagreement`` alert of every satellite and band with MTF
    results, from the latest starpool's parametric and ePSF MTF at Nyquist."""
    latest: dict[tuple[str, str], tuple[Starpool, list[MtfResult]]] = {}
    for mtf, pool in mtf_results.latest_mtf_history(session, method=None):
        key = (pool.satellite, mtf.band)
        if key not in latest or pool.period_start > latest[key][0].period_start:
            latest[key] = (pool, [])
        if latest[key][0].id == pool.id:
            latest[key][1].append(mtf)
    total = AlertChanges()
    for (satellite, band), (pool, rows) in sorted(latest.items()):
        conditions = _mtf_conditions(pool, rows)
        changes = reconcile(session, run, now, satellite, band, "STAR", [AlertKind.MTF_DISAGREEMENT], conditions)
        total.opened += changes.opened
        total.closed += changes.closed
        total.kept += changes.kept
    return total


def _mtf_conditions(pool: Starpool, rows: Sequence[MtfResult]) -> list[AlertCondition]:
    by_direction: dict[str, dict[str, MtfResult]] = defaultdict(dict)
    for r in rows:
        by_direction[r.direction][r.method] = r
    worst: tuple[float, str, MtfResult, MtfResult] | None = None
    for direction, methods in sorted(by_direction.items()):
        p, e = methods.get("parametric"), methods.get("epsf")
        if p is None or e is None or p.agrees_with_epsf is not False:
            continue
        diff = p.mtf_nyquist - e.mtf_nyquist
        if worst is None or abs(diff) > abs(worst[0]):
            worst = (diff, direction, p, e)
    if worst is None:
        return []
    diff, direction, p, e = worst
    selection = p.params.get("selection") or {}
    # the comparison's own threshold (3 x the combined sigma of fit and ePSF bootstrap) when recorded
    threshold = float(selection.get(f"threshold_{direction}", MTF_TOLERANCE + MTF_N_SIGMA * p.mtf_nyquist_sigma))
    reported = "the ePSF is reported" if e.params.get("selected") else "the parametric fit is reported"
    return [AlertCondition(
        AlertKind.MTF_DISAGREEMENT,
        f"starpool {pool.period_key}: parametric MTF at Nyquist {direction} {p.mtf_nyquist:.3f} ± "
        f"{p.mtf_nyquist_sigma:.3f} vs ePSF {e.mtf_nyquist:.3f} ± {e.mtf_nyquist_sigma:.3f} (difference "
        f"{diff:+.3f}, threshold {threshold:.3f}); {reported}",
        value=diff, sigma=p.mtf_nyquist_sigma, threshold=threshold)]
