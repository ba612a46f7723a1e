"""PSF/MTF of each starpool and the encircled-energy (EE) correction of the star calibration.

For a starpool and band, the dark-subtracted vignettes of its accepted stars are fitted jointly
with the physical PSF model (:func:`monitor.science.mtf_fit.fit_starpool_psf`: diffraction of the
annular pupil, fitted Gaussian blur along/across, detector diffusion, TDI smear, pixel box; per
star flux, centre and background). From the fit:

- the MTF along and across track (at Nyquist and as a curve, with 1-sigma from the Fisher
  matrix) is stored as ``mtf_result`` rows, with a non-parametric ePSF cross-check;
- the *effective* EE of every window of every star is obtained by rendering the fitted PSF at
  that star's fitted centre and oversampling and running the very same photometry on the
  noiseless model (:mod:`monitor.science.ee_correction`). It therefore includes the far
  diffraction wings (r^-3), the row quantisation of the window and the part of the wing that
  the background estimate absorbs, so ``A = S_w / EE_eff(w)`` is independent of the window up
  to noise;
- the MTF at Nyquist is trended over the starpools (relative drift per year,
  :mod:`monitor.calibration.mtf_stage`).

The fit is made once per starpool and band by the MTF stage (:mod:`monitor.calibration.mtf_stage`:
:func:`fit_starpool_band`, then :func:`store_mtf`); the EE correction (:func:`starpool_ee_correction`)
consumes that fit and never fits on its own. Only the pixels of the starpool's own members are read
(never older history).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlmodel import Session

from monitor.calibration.star import EeCorrection
from monitor.catalogue import star_results, versions
from monitor.catalogue.models import MtfResult, ProcessingRun, Starpool
from monitor.domain import MISSION_OF_SATELLITE, PhotometryStatus, Satellite
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.pixels import read_band
from monitor.science.ee_correction import effective_ee_with_sigma, effective_encircled_energy
from monitor.science.epsf import compare_mtf, epsf_mtf
from monitor.science.exceptions import ScienceError
from monitor.science.instrument import nominal_psf_params
from monitor.science.mtf_fit import InsufficientStarsError as PsfInsufficientStarsError
from monitor.science.mtf_fit import PsfFitError, fit_starpool_psf
from monitor.science.photometry import dark_subtracted_vignette
from monitor.settings import Settings

__all__ = ["StarpoolPsf", "fit_starpool_band", "store_mtf", "starpool_ee_correction", "MIN_PSF_STARS",
           "MTF_FREQUENCIES"]

log = logging.getLogger(__name__)

MIN_PSF_STARS = 5  # below this the joint fit is not attempted (no EE correction: EE = 1)
MTF_FREQUENCIES = np.linspace(0.0, 1.0, 21)  # cycles per native pixel


@dataclass(frozen=True, eq=False)
class StarpoolPsf:
    """The PSF fit of one starpool and band made by the MTF stage, handed to the EE correction.

    ``photometry_ids`` are the member rows the fit was made from (``StarMemberRow.photometry.id``,
    in order); ``used`` the indices of those rows that entered the fit (a damaged file is left out).
    """

    fit: Any  # monitor.science.mtf_fit.PsfFitResult
    vignettes: list[np.ndarray]
    oversamps: list[float]
    used: list[int]
    half_widths: list[int]
    photometry_ids: tuple[int | None, ...]


def fit_starpool_band(session: Session, settings: Settings, pool: Starpool, band: str,
                      rows: list[star_results.StarMemberRow]) -> StarpoolPsf | None:
    """The joint PSF fit of a starpool's accepted members in one band (the MTF stage's fit).

    Returns None when the starpool has fewer than :data:`MIN_PSF_STARS` accepted stars or the fit
    fails (then no MTF row and no EE correction). A member whose file is damaged is left out of the
    fit; one whose file cannot be read at all (transient) raises: a fit without it would be a
    degraded result, so the starpool is recomputed later.
    """
    half_widths = sorted({w.half_width_px for r in rows for w in r.windows})
    members = [i for i, r in enumerate(rows) if r.photometry.status == PhotometryStatus.OK]
    if len(members) < MIN_PSF_STARS:
        log.info("starpool %s %s: %d stars, no PSF fit", pool.period_key, band, len(members))
        return None
    mission = MISSION_OF_SATELLITE[Satellite(pool.satellite)].value
    vignettes, oversamps, centers, gains, used = [], [], [], [], []
    for i in members:
        r = rows[i]
        b = r.band_image
        try:  # OSError (the file cannot be read) propagates: no degraded result, the starpool stays owing
            raw = read_band(settings.site / r.acquisition.archive_path, band).astype(np.float64)
        except InvalidAcquisitionError as exc:  # a damaged file: that star is left out of the fit
            log.warning("starpool %s: %s band %s left out of the PSF fit: %s", pool.period_key,
                        r.acquisition.acq_id, band, exc)
            continue
        vignettes.append(dark_subtracted_vignette(raw, b.dark_dn, b.binning, b.saturate_dn))
        oversamps.append(float(b.oversamp))
        centers.append((r.photometry.centroid_x, r.photometry.centroid_y))
        gains.append(settings.star.e_per_dn_reference / b.gain_factor)
        used.append(i)
    initial = nominal_psf_params(mission, band)
    try:
        fit = fit_starpool_psf(vignettes, oversamps, initial, read_noise_dn=settings.star.read_noise_dn,
                               gain_e_per_dn=float(np.median(gains)), centers_xy=np.array(centers),
                               ee_half_widths_px=half_widths, frequencies_cy_px=MTF_FREQUENCIES)
    except (PsfFitError, PsfInsufficientStarsError, ScienceError, ValueError) as exc:
        log.warning("starpool %s %s: PSF fit failed: %s", pool.period_key, band, exc)
        return None
    return StarpoolPsf(fit=fit, vignettes=vignettes, oversamps=oversamps, used=used, half_widths=half_widths,
                       photometry_ids=tuple(r.photometry.id for r in rows))


def starpool_ee_correction(session: Session, settings: Settings, pool: Starpool, band: str,
                           rows: list[star_results.StarMemberRow], run: ProcessingRun,
                           now: datetime, psf: StarpoolPsf | None = None) -> EeCorrection | None:
    """The per-star effective EE (and PSF-fit signals) from the MTF stage's fit ``psf``.

    Returns None (the caller then reports the largest window with EE = 1 and says so) when the
    stage made no fit (fewer than :data:`MIN_PSF_STARS` stars, the fit failed, or ``[star] mtf =
    false``): this function never fits on its own. A fit of other member rows than ``rows`` is
    refused (ValueError: a defect of the caller).
    """
    if psf is None:
        return None
    if psf.photometry_ids != tuple(r.photometry.id for r in rows):
        raise ValueError(f"starpool {pool.period_key} {band}: the PSF fit is of other member rows")
    fit, vignettes, oversamps, used, half_widths = psf.fit, psf.vignettes, psf.oversamps, psf.used, psf.half_widths

    # effective EE of every member at its own centre and oversampling, for the configured windows
    n, m = len(rows), len(half_widths)
    ee = np.ones((n, m))
    measured = [j for j, h in enumerate(half_widths) if h in settings.star.half_widths_px]
    for k, i in enumerate(used):
        cx, cy = fit.centers_xy[k]
        ee[i] = np.nan  # a stored window that is no longer configured: EE unknown (1 below)
        if not measured:
            continue
        try:
            ee[i, measured] = effective_encircled_energy(fit.params, vignettes[k].shape, (float(cx), float(cy)),
                                                         oversamps[k], [half_widths[j] for j in measured])
        except ScienceError as exc:
            log.warning("effective EE of %s failed: %s", rows[i].acquisition.acq_id, exc)
            ee[i] = np.nan
    ee, ee_sigma = effective_ee_with_sigma(ee, half_widths, fit.ee_half_widths_px, fit.ee, fit.ee_sigma)

    flux = np.full(n, np.nan)
    flux_sigma = np.full(n, np.nan)
    flux[used] = fit.fluxes_dn
    flux_sigma[used] = fit.fluxes_sigma_dn
    return EeCorrection(ee=ee, ee_sigma=ee_sigma,
                        source=f"psf-fit ({len(used)} stars, chi2/dof {fit.chi2_dof:.2f})",
                        psf_flux_dn=flux, psf_flux_sigma_dn=flux_sigma)


def store_mtf(session: Session, settings: Settings, pool: Starpool, band: str, psf: StarpoolPsf,
              run: ProcessingRun, now: datetime) -> list[MtfResult]:
    """Insert the parametric and ePSF MTF rows of the starpool (new versions): for each direction
    and method the MTF at Nyquist with its 1-sigma and the curve ``{"f", "mtf", "sigma"}`` (f in
    cycles per native pixel). The ePSF's sigma is its own when the estimator gives one, else the
    jackknife over the stars (:func:`_epsf_jackknife_sigma`)."""
    fit, vignettes, oversamps = psf.fit, psf.vignettes, psf.oversamps
    try:
        ep = epsf_mtf(vignettes, oversamps, fit.centers_xy, fluxes_dn=fit.fluxes_dn,
                      backgrounds_dn=fit.backgrounds_dn, frequencies_cy_px=MTF_FREQUENCIES)
        cmp = compare_mtf((fit.mtf_nyquist_along, fit.mtf_nyquist_across),
                          (ep.mtf_nyquist_along, ep.mtf_nyquist_across),
                          parametric_sigma=(fit.mtf_nyquist_along_sigma, fit.mtf_nyquist_across_sigma))
    except (ScienceError, ValueError) as exc:
        log.warning("starpool %s %s: ePSF cross-check failed: %s", pool.period_key, band, exc)
        ep, cmp = None, None
    ep_sigma = _epsf_sigma(ep, fit, vignettes, oversamps) if ep is not None else None
    params = {k: v for k, v in fit.params.__dict__.items() if isinstance(v, int | float)}
    rows: list[Any] = []
    for direction in ("along", "across"):
        version = versions.next_result_version(session, MtfResult, starpool_id=pool.id, band=band,
                                           direction=direction, method="parametric")
        curve = getattr(fit, f"mtf_{direction}")
        sigma = getattr(fit, f"mtf_{direction}_sigma")
        agrees = None if cmp is None else direction not in cmp.flagged
        rows.append(MtfResult(
            starpool_id=pool.id, band=band, direction=direction, version=version, run_id=run.id,
            mtf_nyquist=float(getattr(fit, f"mtf_nyquist_{direction}")),
            mtf_nyquist_sigma=float(getattr(fit, f"mtf_nyquist_{direction}_sigma")), method="parametric",
            curve={"f": fit.frequencies_cy_px.tolist(), "mtf": curve.tolist(), "sigma": sigma.tolist()},
            params={**params, "chi2_dof": float(fit.chi2_dof), "n_stars": len(vignettes)},
            agrees_with_epsf=agrees, created_at=now,
        ))
        if ep is not None:
            nyq_sigma, curve_sigma = ep_sigma[direction] if ep_sigma is not None else (0.0, None)
            rows.append(MtfResult(
                starpool_id=pool.id, band=band, direction=direction, version=version, run_id=run.id,
                mtf_nyquist=float(getattr(ep, f"mtf_nyquist_{direction}")), mtf_nyquist_sigma=nyq_sigma,
                method="epsf",
                curve={"f": ep.frequencies_cy_px.tolist(), "mtf": getattr(ep, f"mtf_{direction}").tolist(),
                       **({"sigma": curve_sigma} if curve_sigma is not None else {})},
                params={"n_stars": int(ep.n_stars),
                        "sigma": "estimator" if hasattr(ep, f"mtf_{direction}_sigma") else "jackknife over stars"},
                agrees_with_epsf=agrees, created_at=now,
            ))
        if agrees is False:
            log.warning("starpool %s %s: parametric and ePSF MTF at Nyquist disagree %s", pool.period_key, band,
                        direction)
    versions.add_rows(session, rows)
    session.flush()
    return rows


def _epsf_sigma(ep: Any, fit: Any, vignettes: list[np.ndarray], oversamps: list[float]
                ) -> dict[str, tuple[float, list[float]]] | None:
    """Per direction, the 1-sigma of the ePSF MTF at Nyquist and of its curve: the estimator's own
    (``mtf_<direction>_sigma`` and ``mtf_nyquist_<direction>_sigma`` when it gives them), else the
    delete-one jackknife over the stars, ``var = (n-1)/n * sum_i (m_(i) - mean)^2`` (Efron &
    Tibshirani 1993, eq. 11.5). Deterministic (no random draw): every path gives the same rows.
    None when neither is available (fewer than 3 stars or a failing leave-one-out stack)."""
    if all(hasattr(ep, f"mtf_{d}_sigma") for d in ("along", "across")):
        return {d: (float(getattr(ep, f"mtf_nyquist_{d}_sigma", 0.0)),
                    np.asarray(getattr(ep, f"mtf_{d}_sigma"), dtype=float).tolist()) for d in ("along", "across")}
    n = len(vignettes)
    if n < 3:
        return None
    keep = np.ones(n, dtype=bool)
    curves: dict[str, list[np.ndarray]] = {"along": [], "across": []}
    nyq: dict[str, list[float]] = {"along": [], "across": []}
    for i in range(n):  # n leave-one-out stacks (n = the starpool's stars, 5-30)
        keep[:] = True
        keep[i] = False
        idx = np.flatnonzero(keep)
        try:
            loo = epsf_mtf([vignettes[k] for k in idx], [oversamps[k] for k in idx], fit.centers_xy[idx],
                           fluxes_dn=fit.fluxes_dn[idx], backgrounds_dn=fit.backgrounds_dn[idx],
                           frequencies_cy_px=MTF_FREQUENCIES)
        except (ScienceError, ValueError) as exc:
            log.info("ePSF jackknife: a leave-one-out stack failed (%s): no ePSF sigma", exc)
            return None
        for d in ("along", "across"):
            curves[d].append(np.asarray(getattr(loo, f"mtf_{d}"), dtype=float))
            nyq[d].append(float(getattr(loo, f"mtf_nyquist_{d}")))
    out: dict[str, tuple[float, list[float]]] = {}
    for d in ("along", "across"):
        c = np.array(curves[d])
        s_curve = np.sqrt((n - 1) / n * np.sum((c - c.mean(axis=0)) ** 2, axis=0))
        v = np.array(nyq[d])
        out[d] = (float(np.sqrt((n - 1) / n * np.sum((v - v.mean()) ** 2))), s_curve.tolist())
    return out
