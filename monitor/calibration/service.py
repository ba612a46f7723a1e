"""Processing use-case: every pending calibration update, recorded as one processing run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from monitor.calibration.pending import StageSummary
from monitor.catalogue import operations as ops
from monitor.catalogue.locks import site_operation
from monitor.catalogue.models import ProcessingRun
from monitor.catalogue.states import RunOutcome
from monitor.failures import is_transient
from monitor.settings import Settings

__all__ = ["ProcessingSummary", "run_processing"]

log = logging.getLogger(__name__)

MAX_PROBLEM_LINES = 10  # problem lines spelled out by ProcessingSummary.lines() (all are in .problems)


@dataclass
class ProcessingSummary:
    """What one processing run did: the summary of each stage and the units it left pending.

    ``problems`` holds one line per unit of work left pending for the next run (a transient
    failure or an internal error, never a data verdict): ``"<ACQ_ID or starpool key>: transient:
    <error>"`` or ``"<...>: internal error: <ExceptionType>: <message>"``. The run is recorded
    ``partial`` when it is not empty.
    """

    run_id: int | None = None
    parts: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, name: str, part: StageSummary) -> None:
        """Record a stage's summary and the problems it left."""
        self.parts[name] = part
        self.problems.extend(part.problems)

    def problems_line(self) -> str | None:
        """One line about the units left pending (the first :data:`MAX_PROBLEM_LINES`), or None."""
        if not self.problems:
            return None
        shown = "; ".join(self.problems[:MAX_PROBLEM_LINES])
        more = len(self.problems) - MAX_PROBLEM_LINES
        return (f"problems: {len(self.problems)} unit(s) left pending for the next run: {shown}"
                + (f"; and {more} more" if more > 0 else ""))

    def stage_lines(self) -> list[str]:
        """One line per stage: ``"<stage>: <its summary>"``."""
        return [f"{name}: {part}" for name, part in self.parts.items()]

    def lines(self) -> list[str]:
        """The stage lines, then the problems line when units were left pending."""
        problems = self.problems_line()
        return self.stage_lines() + ([problems] if problems else [])


@site_operation("process")  # one process run at a time per site: never the same acquisition twice
def run_processing(
    session: Session,
    settings: Settings,
    now: datetime,
    *,
    reprocess: bool = False,
    progress: Callable[..., None] | None = None,
) -> ProcessingSummary:
    """Run the star, geometry and Moon updates on what is pending (``reprocess``: on everything,
    as new versions). The run is recorded with the code, ICD and reference-model versions.

    A unit of work that fails without a data verdict (transient, internal) is left pending by its
    stage and listed in ``problems``: the run goes on and is recorded ``partial``. Only a failure
    that stops the run itself (the database connection is lost, a stage cannot start) is recorded
    ``failed`` on the run row and re-raised.

    ``progress(done, total, label)`` follows the star photometry (label ``photometry``) and the
    PSF/MTF fits of the starpools (label ``PSF/MTF <starpool> <band>``), see :mod:`monitor.progress`.
    """
    from monitor.calibration.geometry import GeometrySummary, run_geometry_calibration
    from monitor.calibration.lunar_comparison import LunarComparisonSummary, run_lunar_comparison
    from monitor.calibration.moon import MoonSummary, run_moon_calibration
    from monitor.calibration.psf import starpool_ee_correction
    from monitor.calibration.star import run_star_calibration
    from monitor.calibration.star_model import resolve_star_model

    star_model = resolve_star_model(settings)  # a configured library that cannot be read stops here
    run = ops.start_run(session, "process", now, reference_model=star_model.model,
                        external_references=star_model.record())
    session.commit()  # the run is recorded before its first unit of work
    summary = ProcessingSummary(run_id=run.id)
    try:
        if settings.compute.workers:
            star: StageSummary = run_star_calibration(session, settings, run, now, reprocess=reprocess,
                                                      ee_provider=starpool_ee_correction, progress=progress)
        else:  # [compute] workers = false: the star method is enqueued for `monitor worker`s (issue 18)
            from monitor.calibration.work_enqueue import enqueue_star_stage
            star = enqueue_star_stage(session, settings, now, reprocess=reprocess)
        summary.add("star", star)
        geometry, moon = GeometrySummary(), MoonSummary()
        if settings.compute.workers:  # else the GEOM and MOON acquisitions were enqueued with the star units
            geometry = run_geometry_calibration(session, settings, run, now, reprocess=reprocess)
            summary.add("geometry", geometry)
            moon = run_moon_calibration(session, settings, run, now, reprocess=reprocess)
            summary.add("moon", moon)
        lunar = LunarComparisonSummary()
        if settings.compute.workers:  # else the GLOD observations were enqueued with the star units
            lunar = run_lunar_comparison(session, settings, run, now, reprocess=reprocess)
            summary.add("lunar comparison", lunar)
    except Exception as exc:
        _record_failed_run(session, run, now, exc)
        raise
    n = getattr(star, "photometry", 0) + geometry.processed + moon.acquisitions + lunar.observations
    problems = summary.problems_line()  # first in the message: it is cut to the column's size
    message = "; ".join(([problems] if problems else []) + summary.stage_lines())
    ops.finish_run(session, run, now, RunOutcome.PARTIAL if problems else RunOutcome.OK, message, n_items=n)
    session.commit()
    return summary


def _record_failed_run(session: Session, run: ProcessingRun, now: datetime, exc: Exception) -> None:
    """Record the run as ``failed`` with the error that stopped it. When the database itself is
    what failed this may be impossible: that is logged, and the caller re-raises ``exc``."""
    run_id = run.id
    try:
        session.rollback()
        ops.finish_run(session, run, now, RunOutcome.FAILED, f"{type(exc).__name__}: {exc}")
        session.commit()
    except Exception as again:  # noqa: BLE001 - the run's own error is re-raised by the caller
        if is_transient(again):  # the catalogue is gone: the run stays 'running' until the next run
            log.error("processing run %s: cannot record that it failed (%s): catalogue unreachable", run_id,
                      type(exc).__name__)
        else:
            log.exception("processing run %s: cannot record that it failed (%s)", run_id, type(exc).__name__)
