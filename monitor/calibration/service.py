"""Processing use-case: every pending calibration update, recorded as one processing run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from monitor.catalogue import repository as repo
from monitor.settings import Settings

__all__ = ["ProcessingSummary", "run_processing"]

log = logging.getLogger(__name__)


@dataclass
class ProcessingSummary:
    run_id: int | None = None
    parts: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [f"{name}: {part}" for name, part in self.parts.items()]


def run_processing(
    session: Session,
    settings: Settings,
    now: datetime,
    *,
    reprocess: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ProcessingSummary:
    """Run the star, Moon and geometry updates on what is pending (``reprocess``: on everything,
    as new versions). The run is recorded with the code, ICD and reference-model versions; a
    failure is recorded on the run row and re-raised."""
    from monitor.calibration.geometry import run_geometry_calibration
    from monitor.calibration.moon import run_moon_calibration
    from monitor.calibration.star import run_star_calibration

    run = repo.start_run(session, "process", now)
    summary = ProcessingSummary(run_id=run.id)
    try:
        star = run_star_calibration(session, settings, run, now, reprocess=reprocess,
                                    ee_provider=_ee_provider(), progress=progress)
        summary.parts["star"] = star
        geometry = run_geometry_calibration(session, settings, run, now, reprocess=reprocess)
        summary.parts["geometry"] = geometry
        moon = run_moon_calibration(session, settings, run, now, reprocess=reprocess)
        summary.parts["moon"] = moon
    except Exception as exc:
        session.rollback()
        repo.finish_run(session, run, now, "failed", f"{type(exc).__name__}: {exc}")
        raise
    n = star.photometry + geometry.processed
    n += moon.acquisitions
    repo.finish_run(session, run, now, "ok", "; ".join(summary.lines()), n_items=n)
    return summary


def _ee_provider() -> Any:
    """The encircled-energy correction from the starpool PSF fit, when available."""
    try:
        from monitor.calibration.psf import starpool_ee_correction
    except ImportError:
        return None
    return starpool_ee_correction
