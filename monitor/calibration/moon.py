"""Moon method use-case (PNEO3/PNEO4): per acquisition and band A_k -> drift per satellite and band.

1. *Measurements*: every archived MOON acquisition without Moon measurements (``reprocess``: every
   one, as a new run) gets, per band, one ``moon_measurement`` row: the geometry of ``DATE-OBS``
   and ``SC_POS`` (ICD 2.3), the REF-1 band irradiance ``E_k``, the disk photometry read from the
   archived file in row strips (bounded memory), ``A_k = S_k Omega_pix / (o G E_k)`` (ICD 1.3)
   with its relative uncertainty budget (noise, background, aperture, geometry, model) and the
   provenance (run id -> code, ICD and reference-model versions and checksums; the budget JSON
   also names the model and the aperture). Status ``ok``; ``flagged`` (kept, ``in_trend`` False)
   when ``|g|`` is outside ``[moon] min_phase_deg..max_phase_deg`` (ICD 2.3); ``rejected`` with
   the ICD 5 reason when the band cannot be measured (the data's verdict: no REF-1 spectral
   response for the band, no usable disk, NaN or saturation on it...). One commit per
   acquisition; an acquisition whose measurement fails otherwise (its file cannot be read, a
   defect of the code: :mod:`monitor.calibration.pending`) gets no row at all and stays pending.
2. *Trends*: for every satellite and band with measurements newer than its latest drift fit, a
   weighted linear drift fit of the in-trend A_k (``drift_result`` method ``MOON``) and its alerts.

Derived on the fly (no table; used by tests): :func:`moon_phase_slope` (residuals of the drift fit
versus ``|g|``: a slope there reveals a lunar-model phase error, not instrument drift). The
PNEO3/PNEO4 ratio at similar geometry is the report's (:func:`monitor.reports.lunar.pneo_ratio`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlmodel import Session

from monitor.calibration.alerts import AlertCondition, drift_conditions
from monitor.calibration.drift_refit import refit_drift_series
from monitor.calibration.pending import StageSummary, after_commit, unit_of_work
from monitor.catalogue import acquisitions, drift_results, moon_results, versions
from monitor.catalogue.models import Acquisition, BandImage, DriftResult, MoonMeasurement, ProcessingRun
from monitor.domain import (
    BANDS_BY_MISSION,
    MISSION_OF_SATELLITE,
    REF_VERSION,
    BandHeader,
    Mission,
    MoonStatus,
    RejectReason,
    Satellite,
)
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.fits_structure import check_structure
from monitor.io.reference_data import load_rolo_coefficients, load_rsr, load_solar_spectrum
from monitor.io.strips import image_strips_factory
from monitor.science.constants import SECONDS_PER_YEAR
from monitor.science.drift import drift_alerts, drift_model, fit_drift
from monitor.science.exceptions import AllNaNError, InsufficientDataError, MoonPhotometryError, ScienceError
from monitor.science.lunar_comparison import FLAG_LIBRATION, model_rel_sigma, quality_flags
from monitor.science.lunar_geometry import LunarGeometry, lunar_geometry
from monitor.science.lunar_model import lunar_band_irradiance
from monitor.science.moon_photometry import (
    DEFAULT_MODEL_REL_SIGMA,
    MoonPhotometry,
    measure_moon_band,
)
from monitor.science.moon_trends import PhaseSlope, phase_residual_slope
from monitor.settings import Settings

__all__ = [
    "MoonSummary",
    "run_moon_calibration",
    "moon_irradiance",
    "moon_phase_slope",
    "FLAG_PHASE",
    "FLAG_LIBRATION",
    "phase_aliased_rate_sigma",
    "geometry_columns",
]

log = logging.getLogger(__name__)

ROWS_PER_STRIP = 512  # rows read at a time from the archived image (memory ~ rows x cols x 8 B)
FLAG_PHASE = "phase-out-of-range"


@dataclass
class MoonSummary(StageSummary):
    """What one Moon run did (``ProcessingSummary.parts["moon"]``)."""

    acquisitions: int = 0  # acquisitions measured
    bands_ok: int = 0
    bands_flagged: int = 0  # |g| outside the valid range: kept, excluded from trends
    bands_rejected: int = 0
    drift_fits: int = 0
    alerts: int = 0
    seconds: float = 0.0  # wall time of the measurement stage

    def __str__(self) -> str:
        return (
            f"{self.acquisitions} acquisitions ({self.bands_ok} bands ok, {self.bands_flagged} flagged, "
            f"{self.bands_rejected} rejected), {self.drift_fits} drift fits, {self.alerts} alerts"
            f"{self.pending_text()}"
        )


def _as_utc(t: datetime) -> datetime:
    """Aware UTC (SQLite gives back naive datetimes that are UTC by construction)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


# --------------------------------------------------------------------------- reference irradiance


@functools.lru_cache(maxsize=4096)
def moon_irradiance(
    mission: str,
    band: str,
    phase_angle_deg: float,
    sun_selenographic_lon_deg: float,
    observer_lat_deg: float,
    observer_lon_deg: float,
    d_sun_moon_km: float,
    d_obs_moon_km: float,
) -> float:
    """REF-1 band irradiance E_k of the Moon at the satellite, W m^-2 um^-1 (ICD 2.1, 2.3).

    Cached per band and geometry (a reprocessing of the same acquisition costs nothing).

    Parameters
    ----------
    mission : str
        ``PHR`` or ``PNEO`` (selects the RSR file).
    band : str
        Band name.
    phase_angle_deg, sun_selenographic_lon_deg, observer_lat_deg, observer_lon_deg : float
        g (signed), Phi, theta, phi, degrees.
    d_sun_moon_km, d_obs_moon_km : float
        Distances, km.

    Returns
    -------
    float
        E_k, W m^-2 um^-1.
    """
    rsr = load_rsr(mission, band)
    sun = load_solar_spectrum()
    return lunar_band_irradiance(
        phase_angle_deg, sun_selenographic_lon_deg, observer_lat_deg, observer_lon_deg, d_sun_moon_km,
        d_obs_moon_km, coeffs=load_rolo_coefficients(), rsr_wavelength_nm=rsr.wavelength_nm, rsr=rsr.values,
        solar_wavelength_nm=sun.wavelength_nm, solar_irradiance_w_m2_um=sun.values,
    )  # fmt: skip


def _band_header(b: BandImage) -> BandHeader:
    return BandHeader(
        band=b.band, shape=(b.rows, b.cols), dark_dn=b.dark_dn, gain_factor=b.gain_factor, oversamp=b.oversamp,
        binning=b.binning, pixscale_urad=b.pixscale_urad, lineper_ms=b.lineper_ms, saturate_dn=b.saturate_dn,
        bunit=b.bunit,
    )  # fmt: skip


def geometry_columns(geo: LunarGeometry) -> dict[str, Any]:
    """The geometry columns (ICD 4: g, Phi, theta, phi, d_SM, d_OM) of a Moon or lunar-comparison row."""
    return dict(
        phase_angle_deg=geo.phase_angle_deg, sun_selenographic_lon_deg=geo.sun_selenographic_lon_deg,
        obs_selenographic_lat_deg=geo.observer_selenographic_lat_deg,
        obs_selenographic_lon_deg=geo.observer_selenographic_lon_deg, d_sun_moon_km=geo.d_sun_moon_km,
        d_obs_moon_km=geo.d_obs_moon_km,
    )  # fmt: skip


def _budget(phot: MoonPhotometry, geo: LunarGeometry, e_k: float, b: BandImage) -> dict[str, Any]:
    """Relative uncertainty budget plus the quantities needed to trace and recompute A_k (ICD 4)."""
    u = phot.uncertainty
    return {
        "noise": u.noise, "background": u.background, "aperture": u.aperture, "geometry": u.geometry,
        "model": u.model, "model_temporal": DEFAULT_MODEL_REL_SIGMA, "total": u.total,
        "reference_model": REF_VERSION, "irradiance_w_m2_um": e_k,
        "signal_total_dn": phot.signal_dn, "oversamp": b.oversamp, "gain_factor": b.gain_factor,
        "binning": b.binning, "pixscale_urad": b.pixscale_urad,
        "aperture_radius_px": phot.aperture_radius_px, "max_radius_px": phot.max_radius_px,
        "disk_radius_px": phot.disk_radius_px, "centre_row": phot.centre_row, "centre_col": phot.centre_col,
        "background_dn": phot.background_dn, "background_slope_dn_per_px": list(phot.background_slope_dn_per_px),
        "background_noise_dn": phot.background_noise_dn, "n_aperture_pixels": phot.n_aperture_pixels,
        "n_nan_ignored": phot.n_nan_ignored, "flags": list(phot.flags),
        "sun_selenographic_lat_deg": geo.sun_selenographic_lat_deg,
        "moon_ra_deg": geo.moon_ra_deg, "moon_dec_deg": geo.moon_dec_deg,
    }  # fmt: skip


def _is_phase_in_range(g: float, settings: Settings) -> bool:
    return settings.moon.min_phase_deg <= abs(g) <= settings.moon.max_phase_deg


def _reject_reason(exc: ScienceError | InvalidAcquisitionError) -> str:
    if isinstance(exc, InvalidAcquisitionError):
        return exc.reason.value
    if isinstance(exc, MoonPhotometryError):
        return str(exc.reason)
    if isinstance(exc, AllNaNError):
        return RejectReason.ALL_NAN.value
    return RejectReason.BAD_VALUE.value


def _has_reference_rsr(mission: str, band: str) -> bool:
    """Whether REF-1 has a spectral response for this band (one per band of the mission, ICD 2.1)."""
    return band in BANDS_BY_MISSION[Mission(mission)]


def _rejected(row: dict[str, Any], reason: str, message: str, **extra: Any) -> MoonMeasurement:
    return MoonMeasurement(**row, **extra, status=MoonStatus.REJECTED, reason=reason, message=message[:1000],
                           in_trend=False)


def measure_acquisition(
    acq: Acquisition, bands: list[BandImage], site: Path, settings: Settings, run_id: int, now: datetime
) -> list[MoonMeasurement]:
    """Moon measurements of every band of one archived MOON acquisition -> rows to insert.

    Data problems are rejected rows; anything else raises (the acquisition stays pending).
    """
    path = site / acq.archive_path
    mission = MISSION_OF_SATELLITE[Satellite(acq.satellite)].value
    base: dict[str, Any] = dict(run_id=run_id, acquisition_id=acq.id, created_at=now)
    sc_pos = (acq.sc_pos_x_km, acq.sc_pos_y_km, acq.sc_pos_z_km)
    if not all(math.isfinite(v) for v in sc_pos):
        message = f"no lunar geometry: SC_POS {sc_pos} km is not 3 finite numbers"
        return [_rejected(dict(base, band=b.band), RejectReason.BAD_VALUE.value, message) for b in bands]
    try:  # one structural walk per acquisition: a file damaged since its ingest is a verdict
        check_structure(path)
    except InvalidAcquisitionError as exc:
        return [_rejected(dict(base, band=b.band), exc.reason.value, f"archived file damaged: {exc.message}")
                for b in bands]
    geo = lunar_geometry(_as_utc(acq.date_obs), sc_pos)
    geom = geometry_columns(geo)
    in_range = _is_phase_in_range(geo.phase_angle_deg, settings)
    libration = FLAG_LIBRATION in quality_flags(geo.phase_angle_deg, geo.observer_selenographic_lat_deg,
                                                geo.observer_selenographic_lon_deg)
    out: list[MoonMeasurement] = []
    for b in bands:
        row = dict(base, band=b.band, **geom)
        if not _has_reference_rsr(mission, b.band):
            out.append(_rejected(row, RejectReason.UNKNOWN_BAND.value,
                                 f"no REF-1 irradiance: no spectral response for {mission} band {b.band!r}"))
            continue
        e_k = moon_irradiance(
            mission, b.band, geo.phase_angle_deg, geo.sun_selenographic_lon_deg,
            geo.observer_selenographic_lat_deg, geo.observer_selenographic_lon_deg, geo.d_sun_moon_km,
            geo.d_obs_moon_km,
        )  # fmt: skip
        try:
            phot = measure_moon_band(
                image_strips_factory(path, b.band, ROWS_PER_STRIP), _band_header(b), e_k,
                phase_angle_deg=geo.phase_angle_deg,
                gain_e_per_dn=settings.moon.e_per_dn_reference / b.gain_factor,
                model_rel_sigma=model_rel_sigma(geo.phase_angle_deg),
            )  # fmt: skip
        except (ScienceError, InvalidAcquisitionError) as exc:  # the data's verdict on this band
            out.append(_rejected(row, _reject_reason(exc), f"{type(exc).__name__}: {exc}", irradiance_w_m2_um=e_k))
            continue
        status, message, reason = MoonStatus.OK, "", None
        if libration:
            status, reason = MoonStatus.FLAGGED, FLAG_LIBRATION
            message = (
                f"{FLAG_LIBRATION}: observer selenographic lat {geo.observer_selenographic_lat_deg:.2f}, "
                f"lon {geo.observer_selenographic_lon_deg:.2f} deg outside ROLO's |7|, |8| deg; kept, not in trends"
            )
        if not in_range:
            status, reason = MoonStatus.FLAGGED, FLAG_PHASE
            message = (
                f"{FLAG_PHASE}: |g| = {abs(geo.phase_angle_deg):.2f} deg outside "
                f"[{settings.moon.min_phase_deg:g}, {settings.moon.max_phase_deg:g}] deg; kept, not in trends"
            ) + (f"; {message}" if message else "")
        out.append(
            MoonMeasurement(
                **row,
                status=status,
                reason=reason,
                message=message,
                signal_dn=phot.signal_per_oversamp_dn,
                aperture_radius_px=phot.aperture_radius_px,
                irradiance_w_m2_um=e_k,
                a=phot.a_k,
                a_sigma=phot.a_sigma,
                budget=_budget(phot, geo, e_k, b),
                in_trend=status is MoonStatus.OK,
            )
        )
    return out


def _measurement_stage(
    session: Session,
    settings: Settings,
    run: ProcessingRun,
    now: datetime,
    reprocess: bool,
    summary: MoonSummary,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Measure pending acquisitions, one commit each (an acquisition left pending gets no row)."""
    assert run.id is not None
    pending = moon_results.moon_acquisitions_pending(session, run.id - 1 if reprocess else None)
    t0 = time.perf_counter()
    for k, acq in enumerate(pending):
        assert acq.id is not None
        acq_id = acq.acq_id
        with unit_of_work(session, summary, acq_id, log, "moon"):
            bands = acquisitions.band_images_by_acquisition(session, [acq.id])[acq.id]
            rows = measure_acquisition(acq, bands, settings.site, settings, run.id, now)
            versions.add_rows(session, rows)
            session.commit()
            after_commit("moon")
            count_rows(summary, acq_id, rows)
        if progress is not None:
            progress(k + 1, len(pending))
    summary.seconds = time.perf_counter() - t0


def count_rows(summary: MoonSummary, acq_id: str, rows: list[MoonMeasurement]) -> None:
    """Count the committed rows of one acquisition; log its rejected bands (WARNING, with the ACQ_ID)."""
    for r in rows:
        summary.bands_ok += r.status == MoonStatus.OK
        summary.bands_flagged += r.status == MoonStatus.FLAGGED
        summary.bands_rejected += r.status == MoonStatus.REJECTED
        if r.status == MoonStatus.REJECTED:
            log.warning("moon %s band %s rejected (%s): %s", acq_id, r.band, r.reason, r.message)
    summary.acquisitions += 1


# --------------------------------------------------------------------------- trends


def _years(t: datetime, t0: datetime) -> float:
    return (_as_utc(t) - _as_utc(t0)).total_seconds() / SECONDS_PER_YEAR


def _column(rows: list[tuple[MoonMeasurement, Acquisition]], name: str) -> NDArray[np.float64]:
    """One numeric column of measurement rows as a float array (None -> NaN)."""
    return np.array([getattr(m, name) for m, _ in rows], dtype=np.float64)


def _trend_sigma(rows: list[tuple[MoonMeasurement, Acquisition]]) -> NDArray[np.float64]:
    """1-sigma of each A_k for the drift fit: its temporal precision, i.e. the budget without the
    phase-dependent (absolute) ROLO term but with ROLO's relative precision ``model_temporal``
    (0.1 %, Kieffer & Stone 2005). A phase-dependent model error enters the drift through the
    phase-slope diagnostic instead (:func:`phase_aliased_rate_sigma`)."""
    out = []
    for m, _ in rows:
        b = m.budget or {}
        if "model_temporal" in b:
            rel = math.sqrt(sum(float(b.get(k, 0.0)) ** 2
                                for k in ("noise", "background", "aperture", "geometry", "model_temporal")))
            out.append(abs(float(m.a)) * rel)
        else:  # rows written before the phase-dependent term: their a_sigma is already temporal
            out.append(float(m.a_sigma))
    return np.asarray(out, dtype=np.float64)


def phase_aliased_rate_sigma(rate_sigma: float, years: NDArray[np.float64], phase_deg: NDArray[np.float64],
                             slope: PhaseSlope | None) -> float:
    """Drift-rate sigma with the phase-slope diagnostic fed in (per year, relative).

    A lunar-model error of slope ``s`` per degree of |g| aliases into a drift of ``beta s`` when
    the phase angles of the series trend with time (``beta`` = least-squares slope of |g| versus
    t, deg/year). The returned sigma is ``sqrt(sigma_fit^2 + beta^2 (s^2 + sigma_s^2))``:
    unchanged when the phases do not trend or no slope can be fitted.
    """
    if slope is None or years.size < 3 or np.ptp(years) == 0:
        return rate_sigma
    t = years - years.mean()
    beta = float(t @ (np.abs(phase_deg) - np.abs(phase_deg).mean()) / (t @ t))
    return math.sqrt(rate_sigma**2 + beta**2 * (slope.slope_per_deg**2 + slope.slope_sigma_per_deg**2))


def _trend_fit(
    session: Session, satellite: str, band: str
) -> tuple[Any, list[tuple[MoonMeasurement, Acquisition]], np.ndarray, datetime] | None:
    """Linear drift fit of the in-trend A_k of one satellite and band, with its inputs."""
    history = moon_results.moon_trend_rows(session, satellite, band)
    if len(history) < 2:
        return None
    t_ref = _as_utc(history[0][1].date_obs)
    t = np.array([_years(acq.date_obs, t_ref) for _, acq in history])
    a = _column(history, "a")
    s = _trend_sigma(history)
    try:
        fit = fit_drift(t, a, s, model="linear")
    except (InsufficientDataError, ValueError) as exc:
        log.info("moon drift %s %s: %s", satellite, band, exc)
        return None
    return fit, history, t, t_ref


def _drift_stage(session: Session, settings: Settings, run: ProcessingRun, now: datetime, summary: MoonSummary) -> None:
    """Refit the drift of every satellite and band with measurements newer than its drift fit
    (derived from the catalogue: a run interrupted before its fits is caught up by the next)."""
    refit_drift_series(session, summary, run, now, drift_results.moon_drift_pending(session),
                       lambda satellite, band: drift_rows(session, settings, run, now, satellite, band), "MOON", log)


def drift_rows(
    session: Session, settings: Settings, run: ProcessingRun, now: datetime, satellite: str, band: str
) -> tuple[list[DriftResult], list[AlertCondition]]:
    """Linear drift fit of one satellite and band and the alert conditions that hold on it (none
    from fewer than ``[moon] drift_alert_min_epochs`` points)."""
    assert run.id is not None
    out = _trend_fit(session, satellite, band)
    if out is None:
        return [], []
    fit, history, t, t_ref = out
    a = _column(history, "a")
    s = _trend_sigma(history)
    rate_sigma = phase_aliased_rate_sigma(fit.rate_sigma_per_year, t, _column(history, "phase_angle_deg"),
                                          _phase_slope(fit, history, t))
    fit = dataclasses.replace(fit, rate_sigma_per_year=rate_sigma)  # the rate alert judges with it too
    ref_epoch = t_ref + timedelta(seconds=float(fit.reference_time_years) * SECONDS_PER_YEAR)
    rows: list[DriftResult] = [
        DriftResult(
            run_id=run.id,
            satellite=satellite,
            band=band,
            method="MOON",
            quantity="a",
            model="linear",
            reference_epoch=ref_epoch,
            a0=fit.a0,
            a0_sigma=fit.a0_sigma,
            rate_per_year=fit.rate_per_year,
            rate_sigma=rate_sigma,
            chi2_dof=fit.chi2 / fit.dof if fit.dof > 0 else None,
            n_points=fit.n_points,
            created_at=now,
        )
    ]
    alerts = drift_alerts(fit, t, a, s, settings.moon.drift_alert_sigma, settings.moon.drift_alert_rate_per_year,
                          settings.moon.drift_alert_rate_sigmas, settings.moon.drift_alert_min_epochs)
    return rows, drift_conditions(alerts, [acq.acq_id for _, acq in history], rate_sigma)


# --------------------------------------------------------------------------- derived statistics


def moon_phase_slope(session: Session, satellite: str, band: str) -> PhaseSlope | None:
    """Slope of the relative residuals of the Moon drift fit versus ``|g|`` (per degree).

    Residuals ``a_i / A(t_i) - 1`` of the in-trend measurements about the linear drift fit; a
    significant slope is a phase error of the lunar model (or of the geometry), not instrument
    drift. Computed on the fly from the catalogue.

    Parameters
    ----------
    session : Session
        Catalogue session.
    satellite, band : str
        Series to analyse.

    Returns
    -------
    PhaseSlope or None
        None with fewer than 3 in-trend measurements or a single phase angle.
    """
    out = _trend_fit(session, satellite, band)
    if out is None:
        return None
    fit, history, t, _ = out
    return _phase_slope(fit, history, t)


def _phase_slope(fit: Any, history: list[tuple[MoonMeasurement, Acquisition]], t: NDArray[np.float64]
                 ) -> PhaseSlope | None:
    model, _ = drift_model(fit, t)
    a = _column(history, "a")
    s = _trend_sigma(history)
    g = _column(history, "phase_angle_deg")
    try:
        return phase_residual_slope(g, a / model - 1.0, s / model)
    except (InsufficientDataError, ValueError):
        return None


# --------------------------------------------------------------------------- entry point


def run_moon_calibration(
    session: Session,
    settings: Settings,
    run: ProcessingRun,
    now: datetime,
    *,
    reprocess: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MoonSummary:
    """Measure the pending MOON acquisitions (``reprocess``: all of them, as new rows) and refit
    the drift of every satellite and band with new measurements.

    Parameters
    ----------
    session : Session
        Catalogue session (committed per acquisition and per drift fit; an acquisition whose
        measurement fails without a data verdict is left pending, see the module docstring).
    settings : Settings
        Site settings (``site`` for the archive, ``moon`` for the phase range and alerts).
    run : ProcessingRun
        The processing run the rows belong to (provenance).
    now : datetime
        Aware UTC time stamped on the rows.
    reprocess : bool
        Measure every archived MOON acquisition again.
    progress : callable, optional
        ``progress(done, total)`` after each acquisition.

    Returns
    -------
    MoonSummary
    """
    summary = MoonSummary()
    _measurement_stage(session, settings, run, now, reprocess, summary, progress)
    _drift_stage(session, settings, run, now, summary)
    return summary
