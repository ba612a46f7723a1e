"""The drift refit loop shared by the star and Moon methods.

Each (satellite, band) series with results newer than its drift fit gets its drift rows and the
alert conditions that hold on them (:func:`monitor.calibration.alerts.reconcile`) in its own unit
of work (:func:`monitor.calibration.pending.unit_of_work`): committed alone, so a series that fails
is left pending for the next run and the others are done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from monitor.calibration.alerts import DRIFT_KINDS, AlertCondition, reconcile
from monitor.calibration.pending import StageSummary, after_commit, unit_of_work
from monitor.catalogue import versions
from monitor.catalogue.models import DriftResult, ProcessingRun

__all__ = ["DriftSummary", "refit_drift_series"]


class DriftSummary(Protocol):
    """What a stage summary counts of its drift fits (``StarSummary``, ``MoonSummary``)."""

    drift_fits: int
    alerts: int


def refit_drift_series(
    session: Session,
    summary: DriftSummary,
    run: ProcessingRun,
    now: datetime,
    pending: Iterable[tuple[str, str]],
    drift_rows: Callable[[str, str], tuple[list[DriftResult], list[AlertCondition]]],
    method: str,
    log: logging.Logger,
) -> None:
    """Refit the drift of every ``pending`` (satellite, band) of ``method`` ("STAR" or "MOON").

    ``drift_rows(satellite, band)`` returns the new drift rows and the alert conditions; the commit
    point is ``<method>_drift`` (:data:`monitor.calibration.pending.FAULT_POINTS`).
    """
    stage = method.lower()
    assert isinstance(summary, StageSummary)
    for satellite, band in pending:
        with unit_of_work(session, summary, f"{satellite} {band} drift", log, f"{stage} drift"):
            rows, conditions = drift_rows(satellite, band)
            versions.add_rows(session, rows)
            changes = reconcile(session, run, now, satellite, band, method, DRIFT_KINDS, conditions)
            session.commit()
            after_commit(f"{stage}_drift")
            summary.drift_fits += len(rows)
            summary.alerts += changes.opened
