"""Star method use-case (PHR1A/PHR1B): photometry -> starpools -> A_k, MTF -> drift.

Incremental by construction:
1. photometry runs only on STAR acquisitions that have none yet (``--reprocess``: on all, as a
   new run); its rows (per band and per window) are the time-series traces;
2. each new acquisition joins the starpool of its satellite and campaign period, and in the same
   commit the starpool is marked as owing a recomputation (``starpool.pending_since``); every
   owing starpool (not only those of this run: an interrupted run leaves some) is recomputed
   from the stored photometry (and, for the PSF fit, from the pixels of that starpool's own
   members only), its result inserted as a new version (nothing is ever updated in place) and
   the mark cleared in the same commit;
3. the drift of A_k is refitted, from the latest per-starpool results, for every satellite and
   band with a starpool result newer than its latest drift fit.

Failures follow :mod:`monitor.failures` per unit of work (one acquisition, one starpool, one
drift series; :mod:`monitor.calibration.pending`): a data problem is a ``rejected`` row (or no
starpool result) with its reason; a transient or internal failure leaves the unit pending for
the next run, without a verdict, and the stage goes on.

All numbers follow ICD-1 §1.3 (measurement equation), §2.2 (REF-1 star model) and §4.

This module runs the stages in order; each lives in its own module: 1.
:mod:`monitor.calibration.star_photometry`, 2. :mod:`monitor.calibration.starpool_stage` (after the
MTF stage of each starpool, :mod:`monitor.calibration.mtf_stage`), 3.
:mod:`monitor.calibration.star_drift_stage`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from monitor.calibration.alerts import evaluate_mtf_alerts
from monitor.calibration.pending import StageSummary, unit_of_work
from monitor.calibration.star_drift_stage import drift_stage
from monitor.calibration.star_photometry import photometry_stage
from monitor.calibration.starpool_stage import EeProvider, starpool_stage
from monitor.catalogue.models import ProcessingRun
from monitor.settings import Settings

__all__ = ["StarSummary", "run_star_calibration"]

log = logging.getLogger(__name__)


@dataclass
class StarSummary(StageSummary):
    """What one star run did (``ProcessingSummary.parts["star"]``)."""

    photometry: int = 0  # acquisitions measured
    rejected_bands: int = 0
    starpools: list[str] = field(default_factory=list)  # starpool keys recomputed
    drift_fits: int = 0
    alerts: int = 0
    mtf_fits: int = 0  # starpool bands whose PSF fit gave MTF rows (the MTF stage)
    mtf_drift_fits: int = 0
    mtf_off: str | None = None  # the MTF stage is off ([star] mtf = false): said first

    def __str__(self) -> str:
        mtf = f", MTF of {self.mtf_fits} starpool band(s), {self.mtf_drift_fits} MTF drift fits" \
            if self.mtf_fits or self.mtf_drift_fits else ""
        return (
            (f"{self.mtf_off}; " if self.mtf_off else "")
            + f"{self.photometry} acquisitions measured ({self.rejected_bands} bands rejected), "
            f"starpools recomputed: {', '.join(self.starpools) or 'none'}, {self.drift_fits} drift fits, "
            f"{self.alerts} alerts{mtf}{self.pending_text()}"
        )


# --------------------------------------------------------------------------- entry point


def run_star_calibration(
    session: Session,
    settings: Settings,
    run: ProcessingRun,
    now: datetime,
    *,
    reprocess: bool = False,
    ee_provider: EeProvider | None = None,
    progress: Callable[..., None] | None = None,
) -> StarSummary:
    """Photometry of pending STAR acquisitions, recomputation of the starpools that owe it (the MTF
    stage, then A_k with the EE correction of ``ee_provider`` from the stage's fits; None: EE = 1),
    drift of the series with new starpool and MTF results (see the module docstring). The MTF stage
    runs whatever ``ee_provider`` is, unless ``[star] mtf = false`` (then the summary says so)."""
    from monitor.calibration.mtf_stage import mtf_off_note

    summary = StarSummary(mtf_off=mtf_off_note(settings))
    photometry_stage(session, settings, run, now, reprocess, summary, progress)
    starpool_stage(session, settings, run, now, summary, ee_provider, progress)
    drift_stage(session, settings, run, now, summary)
    with unit_of_work(session, summary, "MTF alerts", log, "mtf alerts"):
        summary.alerts += evaluate_mtf_alerts(session, run, now).opened
        session.commit()
    return summary
