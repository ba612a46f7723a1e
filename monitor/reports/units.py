"""The render of a due scheduled report as a unit of work (issue 18, ``[compute] workers = false``).

The daemon's report job stays the scheduler: when a weekly or monthly report is due and not made
yet, it enqueues one ``report`` unit (key: the period, ``2025-W11`` or ``2025-03``; its own
``processing_run`` row of kind ``report``) instead of rendering. A ``monitor worker`` claims it like
any other unit (:mod:`monitor.catalogue.work_units`) and renders the PDF outside any transaction;
then, in one transaction, the fence (:func:`work_units.finish_or_lost`: nothing is written when
the claim was lost), the archived PDF's row, its e-mails queued in the outbox and the run row
finished. The e-mails go through the outbox as before (sent right after by this worker, else by
the daemon's e-mail job: the outbox claims each row once).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from monitor.catalogue import operations
from monitor.catalogue import work_units as wu
from monitor.catalogue.models import ProcessingRun
from monitor.catalogue.states import RunOutcome, UnitKind
from monitor.reports.period import parse_period
from monitor.reports.service import already_made, make_report
from monitor.settings import Settings

__all__ = ["enqueue_report", "run_report_unit", "REPORT_RUNNERS"]


def enqueue_report(session: Session, settings: Settings, now: datetime, period_key: str) -> int | None:
    """Enqueue the render of the report of ``period_key`` (not committed); None when a unit of that
    period is already waiting or running (at most one active unit per kind and key)."""
    if period_key in wu.active_keys(session, UnitKind.REPORT):
        return None
    run = operations.start_run(session, "report", now)
    assert run.id is not None
    return wu.add_unit(session, run.id, UnitKind.REPORT, period_key, now, max_attempts=settings.compute.max_attempts)


def run_report_unit(session: Session, settings: Settings, unit: wu.ClaimedUnit, worker: str,
                    clock: Callable[[], datetime]) -> None:
    """Render, archive and queue the scheduled report of the unit's period, written fenced."""
    p = parse_period(unit.key)
    run = session.get(ProcessingRun, unit.run_id)
    assert run is not None

    def fence(message: str) -> None:
        now = clock()
        wu.finish_or_lost(session, unit, worker, now)
        operations.finish_run(session, run, now, RunOutcome.OK, message, n_items=1)

    if already_made(session, settings, p):  # e.g. `monitor report` made it since the unit was enqueued
        fence(f"report {p.key}: already made")
        session.commit()
        return
    make_report(session, settings, clock(), p, scheduled=True, send=None,
                before_write=lambda: fence(f"report {p.key} rendered by {worker}"))


# The runner of a report unit, by kind: added to a worker's runners by whoever composes it
# (monitor.cli_worker), the processing use-case does not import the reports one.
REPORT_RUNNERS: dict[str, Callable[[Session, Settings, wu.ClaimedUnit, str, Callable[[], datetime]], None]] = {
    UnitKind.REPORT: run_report_unit}
