"""Stage 3 of the star method: the drift of A_k, refitted for every satellite and band with
starpool results newer than its latest drift fit (linear and exponential fits of the starpool
means, the star-offsets fit insensitive to the star mix, their alert conditions), then the MTF
drift (:mod:`monitor.calibration.mtf_stage`). Run by :func:`monitor.calibration.star.run_star_calibration`
and, per series, by the work units (:mod:`monitor.calibration.work`).
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from sqlmodel import Session

from monitor.calibration.alerts import AlertCondition, drift_conditions
from monitor.calibration.drift_refit import refit_drift_series
from monitor.calibration.pending import unit_of_work
from monitor.catalogue import drift_results, star_results
from monitor.catalogue.models import DriftResult, ProcessingRun, Starpool, StarpoolResult
from monitor.science.constants import SECONDS_PER_YEAR
from monitor.science.drift import AlertKind as DriftAlertKind
from monitor.science.drift import drift_alerts, fit_drift, rate_alert
from monitor.science.exceptions import InsufficientDataError
from monitor.science.star_drift import StarOffsetDrift, fit_drift_star_offsets, is_primary
from monitor.settings import Settings

if TYPE_CHECKING:
    from monitor.calibration.star import StarSummary

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- stage 3: drift


def _years(t: datetime, t0: datetime) -> float:
    return (t - t0).total_seconds() / SECONDS_PER_YEAR


def drift_stage(session: Session, settings: Settings, run: ProcessingRun, now: datetime,
                summary: StarSummary) -> None:
    """Refit the drift of every satellite and band with starpool results newer than its drift fit,
    then the MTF drift of those with newer MTF results (:func:`monitor.calibration.mtf_stage.refit_mtf_drifts`)."""
    from monitor.calibration.mtf_stage import refit_mtf_drifts

    refit_drift_series(session, summary, run, now, drift_results.star_drift_pending(session),
                       lambda satellite, band: drift_rows(session, settings, run, now, satellite, band), "STAR", log)
    with unit_of_work(session, summary, "MTF drift", log, "mtf drift"):
        n, mtf_changes = refit_mtf_drifts(session, settings, run, now)
        session.commit()
        summary.mtf_drift_fits += n
        summary.alerts += mtf_changes.opened


def drift_rows(session: Session, settings: Settings, run: ProcessingRun, now: datetime, satellite: str,
                band: str) -> tuple[list[DriftResult], list[AlertCondition]]:
    """Star-offsets, linear and exponential drift fits of one satellite and band, and the alert
    conditions that hold (none from fewer than ``[star] drift_alert_min_epochs`` starpools).

    The ``drift-rate`` alert tests the primary star drift
    (:func:`monitor.science.star_drift.is_primary`): the star-offsets fit when enough stars were
    seen in two or more starpools, else the linear fit of the starpool means. The
    ``drift-departure`` alert tests the starpool means against their linear fit."""
    history = star_results.latest_starpool_results(session, satellite, band)
    if len(history) < 2:
        return [], []
    t_ref = history[0][0].epoch
    t = np.array([_years(r.epoch, t_ref) for r, _ in history])
    a = np.array([r.a for r, _ in history])
    s = np.array([r.a_sigma for r, _ in history])
    rows: list[DriftResult] = []
    conditions: list[AlertCondition] = []
    offsets = _star_offset_drift(run, now, satellite, band, history)
    primary = offsets[1] if offsets is not None and is_primary(offsets[1]) else None
    if offsets is not None and primary is not None:  # recorded only when primary (read so by the export)
        rows.append(offsets[0])
    elif offsets is not None:
        log.info("drift %s %s %s: %d star(s) seen in >= 2 starpools, the starpool-mean fit stays primary",
                 satellite, band, STAR_OFFSETS_MODEL, offsets[1].n_stars_linked)
    for model in ("linear", "exponential"):
        try:
            fit = fit_drift(t, a, s, model=model)
        except (InsufficientDataError, ValueError) as exc:
            log.info("drift %s %s %s: %s", satellite, band, model, exc)
            continue
        ref_epoch = t_ref + timedelta(seconds=float(fit.reference_time_years) * SECONDS_PER_YEAR)
        rows.append(DriftResult(
            run_id=run.id, satellite=satellite, band=band, method="STAR", quantity="a", model=model,
            reference_epoch=ref_epoch, a0=fit.a0, a0_sigma=fit.a0_sigma, rate_per_year=fit.rate_per_year,
            rate_sigma=fit.rate_sigma_per_year, chi2_dof=fit.chi2 / fit.dof if fit.dof > 0 else None,
            n_points=len(history), created_at=now,
        ))
        if model != "linear":
            continue
        alerts = drift_alerts(fit, t, a, s, settings.star.drift_alert_sigma, settings.star.drift_alert_rate_per_year,
                              settings.star.drift_alert_rate_sigmas, settings.star.drift_alert_min_epochs)
        rate_sigma = fit.rate_sigma_per_year
        if primary is not None:  # the rate alert on the star-offsets drift (insensitive to the star mix)
            alerts = [al for al in alerts if al.kind != DriftAlertKind.RATE]
            rate = rate_alert(primary.rate_per_year, primary.rate_sigma_per_year, len(history),
                              settings.star.drift_alert_rate_per_year, settings.star.drift_alert_rate_sigmas,
                              STAR_OFFSETS_MODEL)
            if rate is not None and len(history) >= settings.star.drift_alert_min_epochs:
                alerts.append(rate)
            rate_sigma = primary.rate_sigma_per_year
        conditions = drift_conditions(alerts, [p.period_key for _, p in history], rate_sigma)
    return rows, conditions


STAR_OFFSETS_MODEL = drift_results.STAR_OFFSETS_MODEL  # DriftResult.model of the fit with per-star offsets


def _star_offset_drift(run: ProcessingRun, now: datetime, satellite: str, band: str,
                       history: list[tuple[StarpoolResult, Starpool]]) -> tuple[DriftResult, StarOffsetDrift] | None:
    """Drift from the per-star coefficients of the latest starpool results with one offset per
    star (:func:`monitor.science.star_drift.fit_drift_star_offsets`): insensitive to which stars
    each campaign saw. Recorded beside the linear fit (model ``star-offsets``); stars not used by
    their starpool (outliers, variables, non-calibration stars) are left out, and so is every point
    of a star flagged variable by any latest result (retroactively: before its flag it was used,
    and its variation biased the rate); each point's sigma carries its star's latest excess scatter
    beyond photometric noise (benchmarks/star_ref2.py, seeds 1-10: drift error rms 0.035-0.049 %/yr
    against 0.042-0.054 without, at a fitted sigma of 0.042 %/yr). The row is
    recorded only when the fit is primary (:func:`monitor.science.star_drift.is_primary`), so a
    star-offsets row written with the linear fit of the same run is the primary drift."""
    t_ref = history[0][0].epoch
    # a star flagged variable by any latest result leaves the whole fit (its points before the flag
    # too: they carry its variation); each point's sigma carries its star's latest excess scatter
    flagged: set[int] = set()
    excess: dict[int, float] = {}
    for res, _ in history:  # ordered by epoch: the latest excess wins
        for e in (res.per_star or {}).values():
            var = e.get("variability") or {}
            if e.get("hip") is None:
                continue
            if var.get("flagged") or var.get("flagged_in_another_band_or_starpool"):
                flagged.add(int(e["hip"]))
            if var.get("excess_scatter_rel") is not None:
                excess[int(e["hip"])] = float(var["excess_scatter_rel"])
    pts = [(_years(res.epoch, t_ref), e["a"], math.hypot(e["a_sigma"], excess.get(int(e["hip"]), 0.0) * e["a"]),
            int(e["hip"]))
           for res, _ in history for e in (res.per_star or {}).values()
           if e.get("used") and e.get("hip") is not None and e.get("a") and e.get("a_sigma")
           and int(e["hip"]) not in flagged]
    if len(pts) < 3:
        return None
    arr = np.array(pts, dtype=np.float64)
    try:
        fit = fit_drift_star_offsets(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3].astype(np.int64))
    except InsufficientDataError as exc:
        log.info("drift %s %s %s: %s", satellite, band, STAR_OFFSETS_MODEL, exc)
        return None
    ref_epoch = t_ref + timedelta(seconds=fit.reference_time_years * SECONDS_PER_YEAR)
    return DriftResult(
        run_id=run.id, satellite=satellite, band=band, method="STAR", quantity="a", model=STAR_OFFSETS_MODEL,
        reference_epoch=ref_epoch, a0=fit.a0, a0_sigma=fit.a0_sigma, rate_per_year=fit.rate_per_year,
        rate_sigma=fit.rate_sigma_per_year, chi2_dof=fit.chi2_dof if np.isfinite(fit.chi2_dof) else None,
        n_points=fit.n_points, created_at=now,
    ), fit
