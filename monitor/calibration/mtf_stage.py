"""The MTF stage of the star method: the PSF fit of every starpool and band, its MTF, and the
MTF-at-Nyquist drift with its alerts.

Before issue 15 the PSF fit was a side effect of the encircled-energy provider of the starpool
stage: a caller passing no provider silently got no MTF. Now:

1. :func:`starpool_mtf` is the stage of one starpool: for each band the joint PSF fit
   (:func:`monitor.calibration.psf.fit_starpool_band`) and its MTF rows, along and across track,
   parametric and stacked-ePSF, each with its frequency grid, MTF and 1-sigma
   (:func:`monitor.calibration.psf.store_mtf`). It runs first in the starpool's unit of work
   (``monitor process``: :func:`monitor.calibration.starpool_stage.starpool_stage`; the workers:
   :func:`monitor.calibration.work_runners._run_starpool`), and the EE correction of A_k consumes the fit
   it returns (:func:`monitor.calibration.psf.starpool_ee_correction`) instead of fitting again.
   Its rows are committed with the starpool's A_k and its cleared pending mark, in one (fenced,
   for the workers) transaction: a crash before the commit leaves the starpool owing and stores
   nothing, the next run fits it once; a starpool that owes nothing is never fitted again, so an
   MTF is computed and stored once per version of a starpool's membership (``--reprocess``: once
   more, as new versions).
2. :func:`refit_mtf_drifts` refits, after the starpools (in-process drift stage; the workers'
   ``star_drift`` unit of the satellite), the linear drift of the MTF at Nyquist along and across
   track of every satellite and band with MTF rows newer than its last MTF drift fit
   (``drift_result`` quantity ``mtf_along``/``mtf_across``), and evaluates its alerts
   (``mtf-drift-rate``, ``mtf-drift-departure``, :func:`mtf_drift_conditions`).

``[star] mtf = false`` turns the stage off explicitly: no PSF fit, no MTF row, no MTF drift, A_k
from the largest window with EE = 1 (its ``ee_source`` says why), and the processing status
(:data:`MTF_OFF`) and the reports say so.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
from sqlmodel import Session

from monitor.calibration.alerts import AlertChanges, AlertCondition, drift_conditions, reconcile
from monitor.calibration.psf import StarpoolPsf, fit_starpool_band, store_mtf
from monitor.catalogue import drift_results, star_results, versions
from monitor.catalogue.models import DriftResult, ProcessingRun, Starpool
from monitor.catalogue.mtf_results import REPORTED, latest_mtf_history
from monitor.catalogue.states import AlertKind
from monitor.science.constants import SECONDS_PER_YEAR
from monitor.science.drift import drift_alerts, fit_drift
from monitor.science.exceptions import ScienceError
from monitor.settings import Settings

__all__ = ["MTF_OFF", "MTF_DRIFT_KINDS", "MTF_DIRECTIONS", "mtf_off_note", "starpool_mtf", "mtf_drift_rows",
           "mtf_drift_conditions", "refit_mtf_drifts"]

log = logging.getLogger(__name__)

MTF_OFF = "MTF stage off ([star] mtf = false): no PSF fit, no MTF, A_k without EE correction"
MTF_DRIFT_KINDS = (AlertKind.MTF_DRIFT_RATE, AlertKind.MTF_DRIFT_DEPARTURE)
MTF_DIRECTIONS = ("along", "across")
MIN_MTF_DRIFT_POINTS = 3  # starpools below which no MTF drift is fitted
MTF_SIGMA_FLOOR = 1e-6  # a stored sigma of 0 (never from the fit) would make the weights infinite


def mtf_off_note(settings: Settings) -> str | None:
    """:data:`MTF_OFF` when ``[star] mtf = false``, else None."""
    return None if settings.star.mtf else MTF_OFF


def starpool_mtf(session: Session, settings: Settings, pool: Starpool, run: ProcessingRun, now: datetime,
                 progress: Callable[[str, int, int], None] | None = None) -> dict[str, StarpoolPsf | None]:
    """The MTF stage of one starpool: band -> its PSF fit (None: no fit), MTF rows added (flushed,
    not committed: the caller commits them with the starpool's A_k). Empty when the stage is off.

    ``progress(band, j, n)`` is called before the fit of each of the ``n`` bands. A file that
    cannot be read raises (transient: the starpool stays owing and nothing of it is stored).
    """
    if not settings.star.mtf:
        return {}
    assert pool.id is not None
    bands = star_results.starpool_bands(session, pool.id)
    out: dict[str, StarpoolPsf | None] = {}
    for j, band in enumerate(bands):
        if progress is not None:
            progress(band, j, len(bands))
        rows = star_results.starpool_member_rows(session, pool.id, band)
        if not rows:
            continue
        psf = fit_starpool_band(session, settings, pool, band, rows)
        if psf is not None:
            store_mtf(session, settings, pool, band, psf, run, now)
        out[band] = psf
    return out


def mtf_drift_rows(session: Session, settings: Settings, run: ProcessingRun, now: datetime, satellite: str,
                   band: str) -> tuple[list[DriftResult], list[AlertCondition]]:
    """The linear drift of the reported MTF at Nyquist (parametric, or ePSF where the fit was flagged),
    along and across track, over the latest result of each starpool of one satellite and band
    (``A0 (1 + r dt)``, r relative per year,
    :func:`monitor.science.drift.fit_drift`; per-point sigma the fit's MTF sigma; dt from the
    starpools' start), and the alert conditions that hold (:func:`mtf_drift_conditions`). None
    from fewer than :data:`MIN_MTF_DRIFT_POINTS` starpools."""
    rows: list[DriftResult] = []
    conditions: dict[AlertKind, list[tuple[str, AlertCondition]]] = {}
    for direction in MTF_DIRECTIONS:
        history = latest_mtf_history(session, satellite, band, direction, REPORTED)
        if len(history) < MIN_MTF_DRIFT_POINTS:
            continue
        t0 = history[0][1].period_start
        t = np.array([(p.period_start - t0).total_seconds() / SECONDS_PER_YEAR for _, p in history])
        v = np.array([m.mtf_nyquist for m, _ in history])
        s = np.array([max(m.mtf_nyquist_sigma, MTF_SIGMA_FLOOR) for m, _ in history])
        try:
            fit = fit_drift(t, v, s, model="linear")
        except (ScienceError, ValueError) as exc:
            log.info("MTF drift %s %s %s: %s", satellite, band, direction, exc)
            continue
        rows.append(DriftResult(
            run_id=run.id, satellite=satellite, band=band, method="STAR", quantity=f"mtf_{direction}",
            model="linear", reference_epoch=t0 + timedelta(seconds=fit.reference_time_years * SECONDS_PER_YEAR),
            a0=fit.a0, a0_sigma=fit.a0_sigma, rate_per_year=fit.rate_per_year, rate_sigma=fit.rate_sigma_per_year,
            chi2_dof=fit.chi2 / fit.dof if fit.dof > 0 else None, n_points=len(history), created_at=now,
        ))
        alerts = drift_alerts(fit, t, v, s, settings.star.drift_alert_sigma,
                              settings.star.mtf_drift_alert_rate_per_year, settings.star.drift_alert_rate_sigmas,
                              settings.star.drift_alert_min_epochs)
        for cond in drift_conditions(alerts, [p.period_key for _, p in history], fit.rate_sigma_per_year):
            kind = (AlertKind.MTF_DRIFT_RATE if cond.kind == AlertKind.DRIFT_RATE
                    else AlertKind.MTF_DRIFT_DEPARTURE)
            conditions.setdefault(kind, []).append((direction, cond))
    return rows, mtf_drift_conditions(conditions)


def mtf_drift_conditions(found: dict[AlertKind, list[tuple[str, AlertCondition]]]) -> list[AlertCondition]:
    """One condition per MTF alert kind (an alert is per satellite, band and kind): the direction
    with the largest |value| (rate per year, or departure in sigma), the other named after it."""
    out: list[AlertCondition] = []
    for kind in MTF_DRIFT_KINDS:
        held = found.get(kind, [])
        if not held:
            continue
        direction, worst = max(held, key=lambda dc: abs(dc[1].value or 0.0))
        others = [f"{d}: {c.message}" for d, c in held if d != direction]
        message = f"MTF at Nyquist {direction} track: {worst.message}" + (f"; {'; '.join(others)}" if others else "")
        out.append(dataclasses.replace(worst, kind=kind, message=message[:1000]))
    return out


def refit_mtf_drifts(session: Session, settings: Settings, run: ProcessingRun, now: datetime,
                     satellite: str | None = None) -> tuple[int, AlertChanges]:
    """Refit the MTF drift (and reconcile its alerts) of every satellite (or only ``satellite``)
    and band with parametric MTF rows newer than its last MTF drift fit. Flushes; the caller
    commits. Returns (drift rows added, alert changes). Nothing when the stage is off."""
    total = AlertChanges()
    n = 0
    if not settings.star.mtf:
        return n, total
    for sat, band in drift_results.mtf_drift_pending(session):
        if satellite is not None and sat != satellite:
            continue
        rows, conditions = mtf_drift_rows(session, settings, run, now, sat, band)
        versions.add_rows(session, rows)
        n += len(rows)
        changes = reconcile(session, run, now, sat, band, "STAR", MTF_DRIFT_KINDS, conditions)
        total.opened += changes.opened
        total.closed += changes.closed
        total.kept += changes.kept
    return n, total

