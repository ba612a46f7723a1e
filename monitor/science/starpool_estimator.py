"""Calibration coefficient of one starpool and band: per-window estimates and the reported one.

Every accepted member star ``i`` of a starpool gives, for each window ``h``, a coefficient
``A_i(h)`` (ICD 1.3) corrected for the window's effective encircled energy
(:mod:`monitor.science.ee_correction`) and, when the starpool PSF was fitted, a coefficient from
its PSF-fit signal ``S_i`` (all the light: ICD 1.3 with EE = 1). :func:`estimate_starpool_band`
combines each of them over the members (:func:`monitor.science.starpool.combine_starpool`) and
chooses the reported estimate:

1. the PSF-fit signal when it is available: it holds all the light (no window, no EE) and
   weights the pixels optimally, which matters for faint, background-limited stars;
2. otherwise the reference window when the EE correction is available, the largest window when
   it is not (EE = 1: the least biased window);
3. if that window has too few stars, the largest window that has enough.

Arrays of a starpool and band have shape ``(n, m)``: n members (rows), m window half-widths
(columns); NaN marks a missing value.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.science.ee_correction import ee_corrected_coefficients, model_weighted_sigma
from monitor.science.exceptions import InsufficientStarsError
from monitor.science.photometry import a_coefficient, a_coefficient_sigma
from monitor.science.starpool import StarpoolEstimate, combine_starpool

__all__ = [
    "PSF_FLUX_HALF_WIDTH_PX",
    "EeModel",
    "StarpoolBandEstimate",
    "StarpoolMembers",
    "WindowEstimate",
    "estimate_starpool_band",
    "psf_flux_coefficients",
]

PSF_FLUX_HALF_WIDTH_PX = 0  # half-width reported for the PSF-fit-signal estimate (no window)


@dataclass(frozen=True, eq=False)
class StarpoolMembers:
    """Photometry of the n member stars of one starpool and band (m windows).

    Attributes
    ----------
    star_ids : tuple of str, length n
        Member identifiers (acquisition ids), reported with the rejected ones.
    accepted : ndarray of bool, shape (n,)
        Members whose photometry was accepted; only they are combined.
    half_widths_px : ndarray of int, shape (m,)
        Window half-widths, native pixels, increasing.
    a, a_sigma : ndarray, shape (n, m)
        Window coefficients ``A_k`` with EE = 1 and their 1-sigma, DN/(W m^-2 sr^-1 um^-1); NaN
        where a window is not usable (NaN pixel, cut by the edge, rejected member).
    sum_dn, sum_sigma_dn : ndarray, shape (n, m)
        Window sums and their 1-sigma, DN; NaN where there is none.
    gain_e_per_dn : ndarray, shape (n,)
        Conversion gain of each member's band, electrons per DN.
    oversamp, gain_factor : ndarray, shape (n,)
        OVERSAMP and GAINFACT of each member's band.
    irradiance_w_m2_um : ndarray, shape (n,)
        REF-1 band irradiance of each star, W m^-2 um^-1; NaN where unknown.
    pixel_solid_angle_sr : ndarray, shape (n,)
        ``Omega_pix`` of each member's band, sr.
    """

    star_ids: tuple[str, ...]
    accepted: NDArray[np.bool_]
    half_widths_px: NDArray[np.int64]
    a: NDArray[np.float64]
    a_sigma: NDArray[np.float64]
    sum_dn: NDArray[np.float64]
    sum_sigma_dn: NDArray[np.float64]
    gain_e_per_dn: NDArray[np.float64]
    oversamp: NDArray[np.float64]
    gain_factor: NDArray[np.float64]
    irradiance_w_m2_um: NDArray[np.float64]
    pixel_solid_angle_sr: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class EeModel:
    """What the starpool's PSF fit gives the estimator.

    Attributes
    ----------
    ee, ee_sigma : ndarray, shape (n, m)
        Effective EE of each member and window and its 1-sigma
        (:func:`monitor.science.ee_correction.effective_ee_with_sigma`).
    psf_flux_dn, psf_flux_sigma_dn : ndarray, shape (n,), optional
        Total signal ``S_k`` of each member (from the curve of growth of its own windows, or the
        joint PSF fit) and its 1-sigma, DN; NaN for members that were not fitted.
    flux_common_rel_sigma : dict of str to float, optional
        Relative 1-sigma components of ``psf_flux_dn`` COMMON to every member (the light beyond
        the largest window, taken from the shared PSF: ``{"ee_correction": ..., "psf_model": ...}``,
        keys of :data:`monitor.science.star_budget.COMPONENT_KEYS`). They do not average down over
        the starpool: they are added in quadrature to the combined estimate's sigma.
    """

    ee: NDArray[np.float64]
    ee_sigma: NDArray[np.float64]
    psf_flux_dn: NDArray[np.float64] | None = None
    psf_flux_sigma_dn: NDArray[np.float64] | None = None
    flux_common_rel_sigma: dict[str, float] | None = None


@dataclass(frozen=True, eq=False)
class WindowEstimate:
    """Combination of the members' coefficients of one window (or of the PSF-fit signal).

    Attributes
    ----------
    half_width_px : int
        Window half-width, native px; :data:`PSF_FLUX_HALF_WIDTH_PX` for the PSF-fit signal.
    members : ndarray of int
        Indices of the members combined (accepted, with a finite coefficient).
    estimate : StarpoolEstimate or None
        The combination; None when too few stars were left (see ``note``).
    note : str
        Why there is no estimate ("" otherwise).
    ee_mean : float
        Mean effective EE of the combined members (NaN for the PSF-fit signal or no estimate).
    """

    half_width_px: int
    members: NDArray[np.int64]
    estimate: StarpoolEstimate | None
    note: str = ""
    ee_mean: float = math.nan


@dataclass(frozen=True, eq=False)
class StarpoolBandEstimate:
    """Result of :func:`estimate_starpool_band`.

    Attributes
    ----------
    windows : tuple of WindowEstimate
        One per window half-width, in the order of ``StarpoolMembers.half_widths_px``.
    psf_flux : WindowEstimate or None
        The PSF-fit-signal estimate, None when unavailable.
    reported : WindowEstimate
        The reported estimate (one of the above; its ``estimate`` is never None).
    a, a_sigma : ndarray, shape (n,)
        Each member's coefficient of the reported estimator and its 1-sigma (NaN: none).
    used : ndarray of bool, shape (n,)
        Members kept by the reported estimate (the others are rejected or outliers).
    ee : ndarray, shape (n, m)
        Effective EE applied to each member and window (1 without correction).
    """

    windows: tuple[WindowEstimate, ...]
    psf_flux: WindowEstimate | None
    reported: WindowEstimate
    a: NDArray[np.float64]
    a_sigma: NDArray[np.float64]
    used: NDArray[np.bool_]
    ee: NDArray[np.float64]

    @property
    def is_psf_flux(self) -> bool:
        """The reported estimate is the PSF-fit signal's."""
        return self.reported is self.psf_flux

    def outliers(self) -> list[tuple[int, float]]:
        """Members rejected as outliers by the reported estimate: (index, normalised residual)."""
        est = self.reported.estimate
        assert est is not None
        return [(int(i), float(est.normalised_residuals[k])) for k, i in enumerate(self.reported.members)
                if not est.used[k]]


def psf_flux_coefficients(
    psf_flux_dn: ArrayLike,
    psf_flux_sigma_dn: ArrayLike,
    oversamp: ArrayLike,
    gain_factor: ArrayLike,
    irradiance_w_m2_um: ArrayLike,
    pixel_solid_angle_sr: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Coefficients ``A_k`` of the stars' PSF-fit signals (ICD 1.3 with EE = 1) and their 1-sigma.

    Parameters
    ----------
    psf_flux_dn, psf_flux_sigma_dn : array_like, shape (n,)
        Total signal of each star from the PSF fit and its 1-sigma, DN.
    oversamp, gain_factor : array_like, shape (n,)
        OVERSAMP and GAINFACT (> 0).
    irradiance_w_m2_um : array_like, shape (n,)
        Band irradiance ``E_k`` of each star, W m^-2 um^-1.
    pixel_solid_angle_sr : array_like, shape (n,)
        ``Omega_pix``, sr (> 0).

    Returns
    -------
    a, a_sigma : ndarray, shape (n,)
        :func:`monitor.science.photometry.a_coefficient` and ``a_coefficient_sigma`` of the
        signals; NaN where the signal is not finite and > 0, its sigma not finite or ``E_k``
        unknown (NaN).

    Examples
    --------
    >>> a, s = psf_flux_coefficients([2.0e5, np.nan], [2.0e3, 1.0], [2.0, 1.0], [1.0, 1.0],
    ...                              [1.0e-9, 1.0e-9], [4.0e-12, 4.0e-12])
    >>> np.round(a, 6).tolist(), np.round(s, 6).tolist()
    ([400.0, nan], [4.0, nan])
    """
    flux = np.asarray(psf_flux_dn, dtype=np.float64)
    flux_sig = np.asarray(psf_flux_sigma_dn, dtype=np.float64)
    e_k = np.asarray(irradiance_w_m2_um, dtype=np.float64)
    ok = np.isfinite(e_k) & np.isfinite(flux) & np.isfinite(flux_sig) & (flux > 0.0)
    a = np.full(flux.shape, np.nan)
    sig = np.full(flux.shape, np.nan)
    a[ok] = a_coefficient(flux[ok], np.asarray(oversamp, dtype=np.float64)[ok],
                          np.asarray(gain_factor, dtype=np.float64)[ok], e_k[ok],
                          np.asarray(pixel_solid_angle_sr, dtype=np.float64)[ok])
    sig[ok] = a_coefficient_sigma(a[ok], flux[ok], flux_sig[ok])
    return a, sig


def _combine(values: NDArray[np.float64], sigmas: NDArray[np.float64], accepted: NDArray[np.bool_],
             star_ids: Sequence[str], outlier_sigma: float,
             star_systematic_rel: float | NDArray[np.float64] = 0.0
             ) -> tuple[NDArray[np.int64], StarpoolEstimate | None, str]:
    """Combination of the accepted members with a finite value: (members, estimate or None, note)."""
    idx = np.flatnonzero(accepted & np.isfinite(values))
    try:
        est = combine_starpool(values[idx], sigmas[idx], [star_ids[int(i)] for i in idx], outlier_sigma,
                               star_systematic_rel=np.broadcast_to(star_systematic_rel, values.shape)[idx])
    except InsufficientStarsError as exc:
        return idx, None, str(exc)
    return idx, est, ""


def _psf_flux_estimate(
    members: StarpoolMembers, ee_model: EeModel | None, outlier_sigma: float,
    star_systematic_rel: float | NDArray[np.float64] = 0.0
) -> tuple[WindowEstimate, NDArray[np.float64], NDArray[np.float64]] | None:
    """The PSF-fit-signal estimate with every member's coefficient and 1-sigma, or None."""
    if ee_model is None or ee_model.psf_flux_dn is None or ee_model.psf_flux_sigma_dn is None:
        return None
    accepted_flux = np.where(members.accepted, ee_model.psf_flux_dn, np.nan)
    a, sig = psf_flux_coefficients(accepted_flux, ee_model.psf_flux_sigma_dn, members.oversamp, members.gain_factor,
                                   members.irradiance_w_m2_um, members.pixel_solid_angle_sr)
    idx, est, note = _combine(a, sig, members.accepted, members.star_ids, outlier_sigma, star_systematic_rel)
    if est is None:
        return None
    common = math.sqrt(sum(v * v for v in (ee_model.flux_common_rel_sigma or {}).values()))
    if common > 0.0:  # the shared EE correction's error: the same for every member
        est = dataclasses.replace(est, a_sigma=math.hypot(est.a_sigma, common * est.a))
    return WindowEstimate(PSF_FLUX_HALF_WIDTH_PX, idx, est, note), a, sig


def estimate_starpool_band(
    members: StarpoolMembers,
    ee_model: EeModel | None,
    *,
    reference_half_width_px: int,
    outlier_sigma: float,
    star_systematic_rel: float | NDArray[np.float64] = 0.0,
) -> StarpoolBandEstimate:
    """Per-window and PSF-fit-signal estimates of one starpool and band, and the reported one.

    Parameters
    ----------
    members : StarpoolMembers
        Photometry of the members.
    ee_model : EeModel or None
        The PSF fit's effective EE (and signals); None without a PSF fit: EE = 1.
    reference_half_width_px : int
        Window reported when the EE correction is available and the PSF-fit signal is not.
    outlier_sigma : float
        Outlier threshold of :func:`monitor.science.starpool.combine_starpool`.
    star_systematic_rel : float or ndarray, shape (n,)
        Per-star systematic of :func:`monitor.science.starpool.combine_starpool` (0: none).

    Returns
    -------
    StarpoolBandEstimate

    Raises
    ------
    InsufficientStarsError
        If no window has enough stars (too few accepted members with a usable window).

    Notes
    -----
    Window coefficients are divided by their effective EE with first-order propagation of the
    EE uncertainty (:func:`monitor.science.ee_correction.ee_corrected_coefficients`); with PSF-fit
    signals their photon noise is that of the predicted window sum
    (:func:`monitor.science.ee_correction.model_weighted_sigma`). The choice of the reported
    estimate is described in the module docstring.

    Examples
    --------
    Five stars with two windows and no PSF fit: the largest window (h = 5) is reported.

    >>> n = 5
    >>> members = StarpoolMembers(
    ...     star_ids=tuple(f"S{i}" for i in range(n)), accepted=np.ones(n, bool),
    ...     half_widths_px=np.array([2, 5]), a=np.array([[9.0, 9.8], [9.1, 9.9], [8.9, 9.7], [9.0, 9.8],
    ...     [9.05, 9.85]]), a_sigma=np.full((n, 2), 0.1), sum_dn=np.full((n, 2), 1e5),
    ...     sum_sigma_dn=np.full((n, 2), 1e3), gain_e_per_dn=np.full(n, 2.0), oversamp=np.ones(n),
    ...     gain_factor=np.ones(n), irradiance_w_m2_um=np.full(n, 1e-9), pixel_solid_angle_sr=np.full(n, 4e-12))
    >>> result = estimate_starpool_band(members, None, reference_half_width_px=2, outlier_sigma=4.0)
    >>> result.reported.half_width_px, round(result.reported.estimate.a, 3), int(result.used.sum())
    (5, 9.81, 5)
    """
    n, m = members.a.shape
    half_widths = [int(h) for h in members.half_widths_px]
    if ee_model is not None:
        ee, ee_sig = ee_model.ee, ee_model.ee_sigma
        report_h = int(reference_half_width_px)
    else:
        ee, ee_sig = np.ones((n, m)), np.zeros((n, m))
        report_h = max(half_widths)
    a_corr, a_corr_sig = ee_corrected_coefficients(members.a, members.a_sigma, ee, ee_sig)
    if ee_model is not None and ee_model.psf_flux_dn is not None:
        a_corr_sig = model_weighted_sigma(a_corr, a_corr_sig, members.sum_dn, members.sum_sigma_dn, ee, ee_sig,
                                          ee_model.psf_flux_dn, members.gain_e_per_dn)
    windows = []
    for j, h in enumerate(half_widths):
        idx, est, note = _combine(a_corr[:, j], a_corr_sig[:, j], members.accepted, members.star_ids, outlier_sigma,
                                  star_systematic_rel)
        ee_mean = float(np.nanmean(ee[idx, j])) if est is not None else math.nan
        windows.append(WindowEstimate(h, idx, est, note, ee_mean))
    psf = _psf_flux_estimate(members, ee_model, outlier_sigma, star_systematic_rel)
    estimated = {w.half_width_px: w for w in windows if w.estimate is not None}
    if not estimated:
        raise InsufficientStarsError("no window has enough stars")
    if report_h not in estimated:
        report_h = max(estimated)
    j = half_widths.index(report_h)
    reported, a_rep, sig_rep = estimated[report_h], a_corr[:, j], a_corr_sig[:, j]
    if psf is not None:
        reported, a_rep, sig_rep = psf
    est_rep = reported.estimate
    assert est_rep is not None
    used = np.zeros(n, dtype=bool)
    used[reported.members[est_rep.used]] = True
    return StarpoolBandEstimate(tuple(windows), None if psf is None else psf[0], reported, a_rep.copy(),
                                sig_rep.copy(), used, ee)
