"""Encircled-energy (EE) correction of the star window coefficients, from a starpool's fitted PSF.

A window of half-width ``h`` recovers only the fraction ``EE_eff(h)`` of a star's total signal
``S_k``: the far diffraction wings (r^-3) fall outside it, the rows of the window are quantised
(ICD-1 §4), and the wing inside the background region is subtracted with the background. With the
PSF of the starpool fitted jointly (:mod:`monitor.science.mtf_fit`), ``EE_eff`` is obtained by
running the very same photometry (:func:`monitor.science.photometry.measure_star`) on the
noiseless model of each star at its fitted centre and oversampling, so that the corrected
coefficient ``A_k(h) = A_raw(h) / EE_eff(h)`` does not depend on the window up to noise.

This module holds that computation and the propagation of uncertainties to the corrected
coefficients: :func:`effective_encircled_energy` (one star), :func:`effective_ee_with_sigma`
(every member of a starpool, with the PSF-shape uncertainty), :func:`ee_corrected_coefficients`
(first-order propagation) and :func:`model_weighted_sigma` (photon noise of the predicted, not
the measured, window sum). Arrays of a starpool and band have shape ``(n, m)``: n members
(rows), m window half-widths (columns).

References
----------
Stetson, P. B. (1990), PASP 102, 932 (aperture corrections from the growth curve).
Merline, W. J. & Howell, S. B. (1995), Exp. Astron. 6, 163 (window-sum variance).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.domain import BandHeader
from monitor.science.photometry import measure_star
from monitor.science.psf import PsfParams
from monitor.science.psf_renderer import render_star

__all__ = [
    "MODEL_FLUX_DN",
    "ee_corrected_coefficients",
    "effective_ee_with_sigma",
    "effective_encircled_energy",
    "model_weighted_sigma",
]

MODEL_FLUX_DN = 1e6  # flux of the noiseless model star measured for the effective EE, DN
_NOISELESS_GAIN_E_PER_DN = 1e12  # photon noise of the noiseless model: negligible


def effective_encircled_energy(
    params: PsfParams,
    shape: tuple[int, int],
    center_xy: tuple[float, float],
    oversamp: float,
    half_widths_px: Sequence[int],
) -> NDArray[np.float64]:
    """Fraction of a star's total signal that the photometry of each window recovers.

    The fitted PSF is rendered at the star's fitted centre and oversampling on its vignette
    (flux :data:`MODEL_FLUX_DN`, no dark, no noise) and measured by
    :func:`monitor.science.photometry.measure_star` with the star's windows; the ratio of each
    window sum to ``o · MODEL_FLUX_DN`` includes the wings outside the window, the row
    quantisation of the window and the wing absorbed by the background estimate.

    Parameters
    ----------
    params : PsfParams
        Fitted PSF of the starpool and band.
    shape : (int, int)
        Vignette shape (rows, columns) of the star.
    center_xy : (float, float)
        Fitted star centre (column, row), array indices (rows in row units).
    oversamp : float
        Along-track oversampling o >= 1 of the vignette.
    half_widths_px : sequence of int, length m
        Window half-widths h, native pixels (non-empty).

    Returns
    -------
    ndarray of float64, shape (m,)
        ``EE_eff(h)``, dimensionless (about 0.9-1 for PAN windows of 2-20 px).

    Raises
    ------
    monitor.science.exceptions.ScienceError
        If the photometry of the model fails (e.g. a vignette too small for a background).

    Examples
    --------
    >>> params = PsfParams(lambda_n_px=1.0, obscuration=0.3, bandwidth=0.5, sigma_along_px=0.35,
    ...                    sigma_across_px=0.3, diffusion_px=0.1, smear_along_px=0.25)
    >>> ee = effective_encircled_energy(params, (64, 64), (31.2, 32.4), 1.0, [2, 5, 12])
    >>> ee.shape, bool(np.all(np.diff(ee) > 0)), bool(0.85 < ee[0] < ee[-1] < 1.0)
    ((3,), True, True)
    """
    o = float(oversamp)
    model = render_star(shape, center_xy, params, oversamp=o, total_flux=MODEL_FLUX_DN)
    header = BandHeader(band="model", shape=shape, dark_dn=0.0, gain_factor=1.0, oversamp=o, binning=1,
                        pixscale_urad=1.0, lineper_ms=1.0, saturate_dn=np.inf, star_x=center_xy[0],
                        star_y=center_xy[1])
    phot = measure_star(model, header, half_widths_px, guess_xy=center_xy, gain_e_per_dn=_NOISELESS_GAIN_E_PER_DN)
    return np.asarray(phot.sums_dn / (o * MODEL_FLUX_DN), dtype=np.float64)


def effective_ee_with_sigma(
    ee: ArrayLike,
    half_widths_px: ArrayLike,
    fit_half_widths_px: ArrayLike,
    fit_ee: ArrayLike,
    fit_ee_sigma: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Effective EE of every member of a starpool with its 1-sigma from the PSF-shape uncertainty.

    Parameters
    ----------
    ee : array_like, shape (n, m)
        :func:`effective_encircled_energy` of each member (rows) and window (columns); NaN where
        it is unknown (a member left out of the PSF fit, a failed model photometry).
    half_widths_px : array_like of int, shape (m,)
        Window half-widths of the columns, native pixels, increasing.
    fit_half_widths_px, fit_ee, fit_ee_sigma : array_like, shape (k,)
        Phase-averaged EE of the fitted PSF and its 1-sigma (``PsfFitResult.ee_half_widths_px``,
        ``ee``, ``ee_sigma``), at increasing half-widths.

    Returns
    -------
    ee : ndarray, shape (n, m)
        The input with unknown values replaced by 1 (no correction).
    ee_sigma : ndarray, shape (n, m)
        ``ee · r(h)``, with ``r(h) = fit_ee_sigma / fit_ee`` interpolated linearly in h: the
        relative uncertainty of the fitted PSF's EE, the same for every member (it is the
        uncertainty of the shared PSF shape, fully correlated between the members).

    Examples
    --------
    >>> ee, sigma = effective_ee_with_sigma([[0.95, 0.98], [np.nan, np.nan]], [5, 12], [5, 12],
    ...                                     [0.95, 0.98], [0.0019, 0.00098])
    >>> ee.tolist(), np.round(sigma, 6).tolist()
    ([[0.95, 0.98], [1.0, 1.0]], [[0.0019, 0.00098], [0.002, 0.001]])
    """
    values = np.asarray(ee, dtype=np.float64)
    h = np.asarray(half_widths_px, dtype=np.float64)
    fit_h = np.asarray(fit_half_widths_px, dtype=np.float64)
    rel_sigma = np.interp(h, fit_h, np.asarray(fit_ee_sigma, dtype=np.float64) / np.asarray(fit_ee, dtype=np.float64))
    filled = np.where(np.isfinite(values), values, 1.0)
    return filled, filled * rel_sigma[None, :]


def ee_corrected_coefficients(
    a: ArrayLike, a_sigma: ArrayLike, ee: ArrayLike, ee_sigma: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """EE-corrected coefficients ``A / EE`` and their 1-sigma by first-order propagation.

    .. math:: \\sigma_{A/EE} = |A/EE| \\sqrt{(\\sigma_A/A)^2 + (\\sigma_{EE}/EE)^2}

    (independent relative errors). All arrays broadcast together, typically ``(n, m)``.

    Parameters
    ----------
    a, a_sigma : array_like
        Window coefficients ``A_k`` (ICD 1.3 with EE = 1) and their 1-sigma, DN/(W m^-2 sr^-1 um^-1);
        NaN where a window is not usable.
    ee, ee_sigma : array_like
        Effective EE of each window and its 1-sigma (1 and 0 for no correction).

    Returns
    -------
    a_corrected, a_corrected_sigma : ndarray
        Same unit as ``a``; NaN propagates (and ``a = 0`` gives a NaN sigma).

    Examples
    --------
    >>> a, s = ee_corrected_coefficients([[10.0, 10.2]], [[0.1, 0.1]], [[0.95, 0.97]], [[0.0, 0.0097]])
    >>> np.round(a, 4).tolist(), np.round(s, 4).tolist()
    ([[10.5263, 10.5155]], [[0.1053, 0.1473]])
    """
    a_raw = np.asarray(a, dtype=np.float64)
    ee_a = np.asarray(ee, dtype=np.float64)
    a_corr = a_raw / ee_a
    with np.errstate(invalid="ignore", divide="ignore"):
        a_corr_sig = np.abs(a_corr) * np.sqrt((np.asarray(a_sigma) / a_raw) ** 2 + (np.asarray(ee_sigma) / ee_a) ** 2)
    return a_corr, np.asarray(a_corr_sig, dtype=np.float64)


def model_weighted_sigma(
    a_corrected: ArrayLike,
    fallback_sigma: ArrayLike,
    sum_dn: ArrayLike,
    sum_sigma_dn: ArrayLike,
    ee: ArrayLike,
    ee_sigma: ArrayLike,
    psf_flux_dn: ArrayLike,
    gain_e_per_dn: ArrayLike,
) -> NDArray[np.float64]:
    """1-sigma of each star's EE-corrected window coefficient with the photon noise of the
    PREDICTED window sum.

    The photometry's variance is ``var_bg + max(S_w, 0)/g`` with the measured sum ``S_w``
    (:func:`monitor.science.photometry.measure_star`); a weighted mean with those weights favours
    stars whose sum fluctuated low (a bias of a few 0.1 % on large, noisy windows). With the PSF
    fit, the expected sum ``S_psf · EE(w)`` is known, so the photon term is taken from it::

        var = sigma_w^2 - max(S_w, 0)/g + max(S_psf EE, 0)/g
        sigma_A = |A / S_w| sqrt(max(var, 0) + (S_w sigma_EE / EE)^2)

    and the weights no longer depend on the noise of the value they weight.

    Parameters
    ----------
    a_corrected : array_like, shape (n, m)
        EE-corrected coefficients (:func:`ee_corrected_coefficients`).
    fallback_sigma : array_like, shape (n, m)
        1-sigma kept where the model cannot be used (typically the propagated one).
    sum_dn, sum_sigma_dn : array_like, shape (n, m)
        Measured window sums and their 1-sigma, DN; NaN where there is none.
    ee, ee_sigma : array_like, shape (n, m)
        Effective EE of each window and its 1-sigma.
    psf_flux_dn : array_like, shape (n,)
        Total signal of each star from the PSF fit, DN; NaN for a star that was not fitted.
    gain_e_per_dn : array_like, shape (n,)
        Conversion gain of each star's band, electrons per DN.

    Returns
    -------
    ndarray of float64, shape (n, m)
        The model-based 1-sigma where the star was fitted, its window has a finite non-zero sum
        and sigma and the coefficient is finite; ``fallback_sigma`` elsewhere.

    Examples
    --------
    A window that measured 9,500 DN where the fit predicts 10,000 DN: the photon term is that of
    10,000 DN (read and background noise 20 DN, gain 2 e-/DN, exact EE):

    >>> s = model_weighted_sigma([[1.0]], [[0.0]], [[9500.0]], [[np.sqrt(400 + 9500 / 2)]], [[1.0]],
    ...                          [[0.0]], [10000.0], [2.0])
    >>> round(float(s[0, 0]) * 9500.0, 3), round(float(np.sqrt(400 + 10000 / 2)), 3)
    (73.485, 73.485)
    """
    a_corr = np.asarray(a_corrected, dtype=np.float64)
    s = np.asarray(sum_dn, dtype=np.float64)
    s_sig = np.asarray(sum_sigma_dn, dtype=np.float64)
    ee_a = np.asarray(ee, dtype=np.float64)
    flux = np.asarray(psf_flux_dn, dtype=np.float64)[:, None]
    g = np.asarray(gain_e_per_dn, dtype=np.float64)[:, None]
    usable = np.isfinite(flux) & np.isfinite(s) & np.isfinite(s_sig) & (s != 0.0) & np.isfinite(a_corr)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = s_sig**2 - np.maximum(s, 0.0) / g + np.maximum(flux * ee_a, 0.0) / g
        k = a_corr / s  # A per DN of this star and window
        model = np.abs(k) * np.sqrt(np.maximum(var, 0.0) + (s * np.asarray(ee_sigma, dtype=np.float64) / ee_a) ** 2)
    return np.asarray(np.where(usable, model, fallback_sigma), dtype=np.float64)
