"""PSF/MTF of each starpool and the encircled-energy (EE) correction of the star calibration.

For a starpool and band, the dark-subtracted vignettes of its accepted stars are fitted jointly
with the physical PSF model (:func:`monitor.science.mtf_fit.fit_starpool_psf`: diffraction of the
annular pupil, fitted Gaussian blur along/across, detector diffusion, TDI smear, pixel box; per
star flux, centre and background). From the fit:

- the MTF along and across track (at Nyquist and as a curve) is stored as ``mtf_result`` rows
  of both estimates: the parametric fit (1-sigma from the Fisher matrix plus the model-choice
  term: the MTF change to the admissible model without the low-order wave-front error,
  ``PsfFitResult.mtf_nyquist_*_model_sigma``; the ePSF disagreement beyond noise is recorded,
  ``params["model_sigma"]``, not added: :func:`monitor.science.mtf_select.select_mtf`) and the
  non-parametric ePSF (stacked LSFs normalised by the data's own star signals,
  the largest window's sum over its effective EE; 1-sigma from a bootstrap over the stars and its
  choice terms beyond their noise). The
  fit's misfit tests (chi2 and stacked residual structure against the noise model) decide which
  one is REPORTED: ``params["selected"]`` is True on the reported row of each direction, and
  ``params["misfit"]`` / ``params["selection"]`` record the statistics of the choice
  (:func:`monitor.science.mtf_select.select_mtf`); ``agrees_with_epsf`` compares the two with the
  threshold of their combined uncertainties (no fixed margin);
- the star's total signal comes from the data: the curve of growth of its own windows
  (:func:`monitor.science.ee_correction.curve_of_growth_ee`; windows up to 80 % of the vignette
  width), the fitted PSF supplying only the light beyond the largest window (~1-3 % in PAN),
  itself scaled by the data's light between the two largest windows; the signal is the sum of the
  window that minimises the starpool's error over its curve-of-growth EE
  (:func:`monitor.science.ee_correction.curve_of_growth_signals`); that correction's uncertainty
  (statistical: ``ee_correction``; shape of the wing: ``psf_model``) is common to all members
  and carried into A_k's sigma and budget;
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
(never older history); the ePSF's spider-spike correction also reads, from the catalogue, the spike
estimates stored for the band's earlier starpools (:func:`spike_prior`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlmodel import Session

from monitor.calibration.starpool_stage import EeCorrection
from monitor.catalogue import mtf_results, star_results, versions
from monitor.catalogue.models import MtfResult, ProcessingRun, Starpool
from monitor.domain import MISSION_OF_SATELLITE, PhotometryStatus, Satellite
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.pixels import read_band
from monitor.science.ee_correction import (
    CurveOfGrowth,
    curve_of_growth_ee,
    curve_of_growth_signals,
    effective_ee_with_sigma,
    effective_encircled_energy,
    line_excess,
)
from monitor.science.exceptions import ScienceError
from monitor.science.instrument import nominal_psf_params
from monitor.science.mtf_fit import InsufficientStarsError as PsfInsufficientStarsError
from monitor.science.mtf_fit import PsfFitError, fit_starpool_psf
from monitor.science.mtf_nonparametric import SpikePrior, nonparametric_mtf, spike_history_prior
from monitor.science.mtf_select import model_choice_sigma, select_mtf
from monitor.science.photometry import dark_subtracted_vignette
from monitor.settings import Settings

__all__ = ["StarpoolPsf", "fit_starpool_band", "spike_prior", "store_mtf", "starpool_ee_correction", "MIN_PSF_STARS",
           "MTF_FREQUENCIES"]

log = logging.getLogger(__name__)

MIN_PSF_STARS = 5  # below this the joint fit is not attempted (no EE correction: EE = 1)
MTF_FREQUENCIES = np.linspace(0.0, 1.0, 21)  # cycles per native pixel
COG_MAX_WINDOW_FRACTION = 0.8  # curve-of-growth windows at most 80 % of the vignette width (background room)
EPSF_BOOTSTRAP = 100  # bootstrap resamplings of the stars for the ePSF sigma (~0.08 s per PAN starpool; ~7 % on sigma)
EPSF_MOMENT_HALF_WIDTH_PX = {True: 6, False: 4}  # moment window of the ePSF centres (PAN, MS), native px


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
    signals: StarSignals  # the members' signals and EE (:func:`_star_signals`)


@dataclass(frozen=True, eq=False)
class StarSignals:
    """The members' signals and effective EE from a starpool's fit and curve of growth, shape (n,)
    and (n, windows) over the member rows (:func:`_star_signals`); ``common`` is the relative
    1-sigma shared by all members (``ee_correction``, ``psf_model``), None without a curve of growth."""

    ee: np.ndarray
    ee_sigma: np.ndarray
    flux_dn: np.ndarray
    flux_sigma_dn: np.ndarray
    common: dict[str, float] | None
    source: str

    @property
    def common_rel_sigma(self) -> float:
        return 0.0 if self.common is None else math.sqrt(sum(v * v for v in self.common.values()))


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
                       photometry_ids=tuple(r.photometry.id for r in rows),
                       signals=_star_signals(settings, rows, fit, vignettes, oversamps, used, half_widths))


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
    sig = psf.signals
    return EeCorrection(ee=sig.ee, ee_sigma=sig.ee_sigma, source=sig.source, psf_flux_dn=sig.flux_dn,
                        psf_flux_sigma_dn=sig.flux_sigma_dn, flux_common_rel_sigma=sig.common)


def _star_signals(settings: Settings, rows: list[star_results.StarMemberRow], fit: Any, vignettes: list[np.ndarray],
                  oversamps: list[float], used: list[int], half_widths: list[int]) -> StarSignals:
    """Signals and effective EE of the members ``rows`` from the fit (of the members ``used``) and the
    starpool's curve of growth (module docstring): computed once by the MTF stage, used by the ePSF
    and the EE correction."""

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
    ee_model = np.full((n, m), np.nan)  # the fitted PSF's EE of the fitted members, NaN where unknown
    ee_model[used] = ee[used]
    ee, ee_sigma = effective_ee_with_sigma(ee, half_widths, fit.ee_half_widths_px, fit.ee, fit.ee_sigma)

    flux = np.full(n, np.nan)
    flux_sigma = np.full(n, np.nan)
    flux[used] = fit.fluxes_dn
    flux_sigma[used] = fit.fluxes_sigma_dn
    common: dict[str, float] | None = None
    source = f"psf-fit ({len(used)} stars, chi2/dof {fit.chi2_dof:.2f})"
    # windows whose sums have room for a background around them in every vignette of the fit
    cols = min(v.shape[1] for v in vignettes)
    fits = [j for j, h in enumerate(half_widths) if 2 * h + 1 <= COG_MAX_WINDOW_FRACTION * cols]
    ee_model[:, [j for j in range(m) if j not in fits]] = np.nan
    cog = _curve_of_growth(rows, half_widths, ee_model)
    if cog is not None:
        cog = _with_line_excess(settings, cog, fit, vignettes, oversamps, used, half_widths, fits, ee_model)
    try:
        chosen = None if cog is None else curve_of_growth_signals(cog[0], cog[1], cog[2])
    except ValueError as exc:
        log.info("no curve-of-growth signal: %s", exc)
        chosen = None
    if cog is not None and chosen is not None and not fit.misfit.flagged:
        # The fit is consistent with the noise model: its fluxes (near the Cramer-Rao bound) and
        # its EE stay; the data's curve of growth only checks them. Their relative difference
        # beyond its own noise is carried as the common ``psf_model`` term (model choice).
        data_flux, data_sigma, _, common_rel = chosen
        ok = np.isfinite(data_flux[used]) & (data_flux[used] > 0.0)
        if np.any(ok):
            d_flux, f_flux = data_flux[used][ok], np.asarray(fit.fluxes_dn, dtype=float)[ok]
            diff = float(np.sum(d_flux) / np.sum(f_flux) - 1.0)
            diff_sigma = math.hypot(common_rel, float(np.sqrt(np.sum(data_sigma[used][ok] ** 2)) / np.sum(d_flux)))
            # and the fit's own model-choice term of its fluxes (the admissible model without the
            # low-order wave-front error, mtf_select.alternative_model_shift)
            common = {"ee_correction": 0.0,
                      "psf_model": math.hypot(float(model_choice_sigma(diff, diff_sigma)), fit.flux_model_rel_sigma)}
            source = (f"{source}; the fit passes its misfit tests: its fluxes are used, the data's curve of "
                      f"growth agrees to {100 * diff:+.2f} +- {100 * diff_sigma:.2f} %")
    elif cog is not None and chosen is not None:  # misfit: the star signals and EE from the data's curve of growth
        curve = cog[0]
        known = np.isfinite(curve.ee)
        ee = np.where(known, curve.ee, ee)
        ee_sigma = np.where(known, curve.ee_sigma, ee_sigma)
        data_flux, data_sigma, j, common_rel = chosen
        ok = np.isfinite(data_flux) & (data_flux > 0.0)
        flux = np.where(ok, data_flux, flux)
        flux_sigma = np.where(ok, data_sigma, flux_sigma)
        ee_max = 1.0 - curve.tail
        stat = math.sqrt(max(common_rel**2 - (curve.tail_sigma_shape / ee_max) ** 2, 0.0))
        common = {"ee_correction": stat, "psf_model": curve.tail_sigma_shape / ee_max}
        source = (f"{source}; the fit is flagged (misfit): signals from window h = {half_widths[j]} px over the "
                  f"curve of growth to "
                  f"h = {curve.h_max} px, light beyond it {100 * curve.tail:.2f} +- {100 * curve.tail_sigma:.2f} % "
                  f"from the fitted PSF and, of it, {100 * curve.line_tail:.2f} +- {100 * curve.line_sigma:.2f} % "
                  "in the data's line-like (spider-vane spike) excess")

    return StarSignals(ee=ee, ee_sigma=ee_sigma, flux_dn=flux, flux_sigma_dn=flux_sigma, common=common,
                       source=source)


def _with_line_excess(settings: Settings, cog: tuple[CurveOfGrowth, np.ndarray, np.ndarray], fit: Any,
                      vignettes: list[np.ndarray], oversamps: list[float], used: list[int], half_widths: list[int],
                      fits: list[int], ee_model: np.ndarray) -> tuple[CurveOfGrowth, np.ndarray, np.ndarray]:
    """The curve of growth again with the spider-vane spikes' part of the data's excess over the fit
    (:func:`monitor.science.ee_correction.line_excess` on the fitted members' vignettes), continued by
    the spikes' own law beyond the largest window; unchanged when it cannot be measured."""
    curve, sums, sums_sigma = cog
    j = half_widths.index(curve.h_max)
    below = [c for c in fits if half_widths[c] < curve.h_max]
    if not below:
        return cog
    c2 = max(below, key=lambda c: half_widths[c])
    with np.errstate(invalid="ignore", divide="ignore"):
        signals = sums[used, j] / ee_model[used, j]
    try:
        line = line_excess(vignettes, oversamps, fit.centers_xy, fit.params, signals,
                           (half_widths[c2], curve.h_max), gain_e_per_dn=settings.star.e_per_dn_reference)
        return curve_of_growth_ee(sums, sums_sigma, ee_model, half_widths, line=line), sums, sums_sigma
    except (ScienceError, ValueError) as exc:
        log.warning("spike (line-like) excess not measured: %s", exc)
        return cog


def _curve_of_growth(rows: list[star_results.StarMemberRow], half_widths: list[int],
                     ee_model: np.ndarray) -> tuple[CurveOfGrowth, np.ndarray, np.ndarray] | None:
    """The starpool's curve of growth (:func:`monitor.science.ee_correction.curve_of_growth_ee`) from
    the members' measured window sums, with those sums and their sigmas, shape (n, m); None when
    no window has data."""
    n, m = len(rows), len(half_widths)
    sums = np.full((n, m), np.nan)
    sums_sigma = np.full((n, m), np.nan)
    for i, r in enumerate(rows):
        if r.photometry.status != PhotometryStatus.OK:
            continue
        for w in r.windows:
            if w.sum_dn is not None and w.sigma_dn is not None:
                k = half_widths.index(w.half_width_px)
                sums[i, k], sums_sigma[i, k] = w.sum_dn, w.sigma_dn
    try:
        return curve_of_growth_ee(sums, sums_sigma, ee_model, half_widths), sums, sums_sigma
    except ValueError as exc:
        log.info("no curve of growth: %s", exc)
        return None


def spike_prior(session: Session, pool: Starpool, band: str) -> SpikePrior | None:
    """The spider spikes' deficit beyond the ePSF's window over the band's starpool history: the own
    estimates (stored by :func:`store_mtf`, latest versions) of the satellite's starpools that start before
    this one and were processed before it (:func:`monitor.science.mtf_nonparametric.spike_history_prior`;
    a backlog processed in start order, as ``monitor process`` does, sees all of them; parallel workers
    may see fewer, and the ePSF row's ``params["spike_prior"]["n_pools"]`` says how many). None with too
    short a history: the pool's own gated correction."""
    history = mtf_results.spike_history(session, pool.satellite, band, pool.period_start)
    if not history:
        return None
    return spike_history_prior([d for d, _ in history], [n for _, n in history])


def store_mtf(session: Session, settings: Settings, pool: Starpool, band: str, psf: StarpoolPsf,
              run: ProcessingRun, now: datetime) -> list[MtfResult]:
    """Insert the parametric and ePSF MTF rows of the starpool (new versions): for each direction
    and method the MTF at Nyquist with its 1-sigma and the curve ``{"f", "mtf", "sigma"}`` (f in
    cycles per native pixel). The ePSF is normalised by the data's own signals and its sigma is the
    bootstrap over the stars (:func:`monitor.science.mtf_nonparametric.nonparametric_mtf`); the reported row of
    each direction has ``params["selected"]`` (:func:`monitor.science.mtf_select.select_mtf`)."""
    fit, vignettes, oversamps = psf.fit, psf.vignettes, psf.oversamps
    # the ePSF is normalised by the members' signals (the fit's, or the curve of growth's when flagged)
    data_flux, flux_rel_sigma = psf.signals.flux_dn[psf.used], psf.signals.common_rel_sigma
    prior = spike_prior(session, pool, band)
    try:
        # moment centres (no pixel-phase error), data signals, bootstrap + centring-choice sigma, the spikes'
        # deficit beyond the window from this pool and the band's history
        pan = fit.params.lambda_n_px > 0.5
        ep = nonparametric_mtf(vignettes, oversamps, fit, fluxes_dn=data_flux, flux_rel_sigma=flux_rel_sigma,
                               half_width_px=8 if pan else 6, moment_half_width_px=EPSF_MOMENT_HALF_WIDTH_PX[pan],
                               n_bootstrap=EPSF_BOOTSTRAP, frequencies_cy_px=MTF_FREQUENCIES, spike_prior=prior)
        sel = select_mtf((fit.mtf_nyquist_along, fit.mtf_nyquist_across),
                         (fit.mtf_nyquist_along_sigma, fit.mtf_nyquist_across_sigma), ep, fit.misfit.flagged,
                         parametric_model_sigma=(fit.mtf_nyquist_along_model_sigma,
                                                 fit.mtf_nyquist_across_model_sigma))
    except (ScienceError, ValueError) as exc:
        log.warning("starpool %s %s: ePSF cross-check failed: %s", pool.period_key, band, exc)
        ep, sel = None, None
    params = {k: v for k, v in fit.params.__dict__.items() if isinstance(v, int | float)}
    misfit = fit.misfit.as_dict()
    selection = {} if sel is None else {"selection": sel.as_dict()}
    rows: list[Any] = []
    for direction in ("along", "across"):
        version = versions.next_result_version(session, MtfResult, starpool_id=pool.id, band=band,
                                           direction=direction, method="parametric")
        curve = getattr(fit, f"mtf_{direction}")
        # the fit's statistical sigma and its own model-choice term (the MTF change to the admissible
        # model without the low-order wave-front error, mtf_select.alternative_model_shift)
        fit_model_sigma = float(getattr(fit, f"mtf_nyquist_{direction}_model_sigma"))
        fit_model_curve = getattr(fit, f"mtf_{direction}_model_sigma")
        sigma = getattr(fit, f"mtf_{direction}_sigma")
        if fit_model_curve is not None:
            sigma = np.hypot(sigma, fit_model_curve)
        agrees = None if sel is None else direction not in sel.comparison.flagged
        p_sigma = float(getattr(fit, f"mtf_nyquist_{direction}_sigma"))
        # the parametric-vs-ePSF spread beyond their statistical errors: recorded, not added (select_mtf)
        model_sigma = 0.0 if sel is None else float(getattr(sel, f"model_sigma_{direction}"))
        rows.append(MtfResult(
            starpool_id=pool.id, band=band, direction=direction, version=version, run_id=run.id,
            mtf_nyquist=float(getattr(fit, f"mtf_nyquist_{direction}")),
            mtf_nyquist_sigma=float(np.hypot(p_sigma, fit_model_sigma)), method="parametric",
            curve={"f": fit.frequencies_cy_px.tolist(), "mtf": curve.tolist(), "sigma": sigma.tolist()},
            params={**params, "chi2_dof": float(fit.chi2_dof), "n_stars": len(vignettes),
                    "selected": sel is None or sel.method == "parametric", "misfit": misfit,
                    "fit_sigma": p_sigma, "fit_model_sigma": fit_model_sigma, "model_sigma": model_sigma,
                    **selection},
            agrees_with_epsf=agrees, created_at=now,
        ))
        if ep is not None:
            terms = ep.nyquist_sigma_terms or {}
            j = 0 if direction == "along" else 1
            spike_names = ("spike_raw", "spike_raw_noise", "spike", "spike_noise")
            spikes: dict[str, Any] = {name: float(terms[name][j]) for name in spike_names if name in terms}
            rows.append(MtfResult(
                starpool_id=pool.id, band=band, direction=direction, version=version, run_id=run.id,
                mtf_nyquist=float(getattr(ep, f"mtf_nyquist_{direction}")),
                mtf_nyquist_sigma=float(getattr(ep, f"mtf_nyquist_{direction}_sigma")), method="epsf",
                curve={"f": ep.frequencies_cy_px.tolist(), "mtf": getattr(ep, f"mtf_{direction}").tolist(),
                       "sigma": getattr(ep, f"mtf_{direction}_sigma").tolist()},
                params={"n_stars": int(ep.n_stars), "n_bootstrap": EPSF_BOOTSTRAP,
                        "selected": sel is not None and sel.method == "epsf", "misfit": misfit, **selection,
                        **spikes, "spike_prior": None if prior is None else prior.as_dict()},
                agrees_with_epsf=agrees, created_at=now,
            ))
        if agrees is False:
            log.warning("starpool %s %s: parametric and ePSF MTF at Nyquist disagree %s", pool.period_key, band,
                        direction)
    versions.add_rows(session, rows)
    session.flush()
    return rows
