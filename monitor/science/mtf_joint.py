"""Joint PSF/MTF fit of all bands of one starpool that see the same telescope (issue 15).

The multispectral bands of a Pléiades starpool (B0..B3) are imaged by one telescope onto detectors of
the same pixel pitch, so part of their PSF is common: the wave-front error (an optical path
difference, in nm), the central obscuration, the along-track motion smear (TDI desynchronisation,
in native px) and the line-of-sight jitter (in native px). :func:`fit_starpool_psf_joint` fits the
pixels of every band together with those parameters shared and the others (e.g. carrier diffusion,
which grows with the absorption depth at long wavelengths) per band; each star keeps its own flux,
centre and background plane in each band. By default only the smear and the wave-front error are
shared (:data:`DEFAULT_SHARED`): the model's Gaussian blur is the jitter but also its stand-in for
whatever the diffraction and aberration terms miss, which differs from band to band, and sharing it
biased the out-of-family bands (measured, comment of :data:`DEFAULT_SHARED`). The per-band model,
renderer, residuals, Jacobian blocks, IRLS solver, misfit tests and result assembly are those of the
single-band fit
(:mod:`monitor.science.mtf_fit`, module docstring there); this module only maps one global
parameter vector onto the bands' local vectors.

Band-independent units (the global vector)
-----------------------------------------
Every local PSF parameter ``p_b`` of band ``b`` is ``s_b · q`` with ``q`` one global parameter:

* the aberration-transfer depths (Shannon 1997, :mod:`monitor.science.psf`:
  ``a = (W_rms / 0.18 wave)^2``) of a fixed wave-front error ``W_nm`` nm rms are, in band ``b`` of
  effective wavelength ``lambda_b``, ``a_b = (W_nm / (0.18 lambda_b))^2 = a_ref (lambda_ref/lambda_b)^2``:
  the global parameter is the depth ``a_ref`` at :data:`REFERENCE_WAVELENGTH_NM`, ``s_b =
  (lambda_ref / lambda_b)^2``, and ``W_nm = 0.18 lambda_ref sqrt(a_ref)`` (:meth:`JointFitResult.wavefront_rms_nm`);
* Gaussian blur (jitter), smear, obscuration, diffusion: ``s_b = 1`` (native px of bands of one pitch,
  or a ratio).

So the local Jacobian column of ``p_b`` is the global one's times ``s_b`` (chain rule), and the
local covariance of band ``b``'s parameters (PSF and its stars) is ``S C S`` on the global
covariance ``C`` restricted to the band's columns, ``S = diag(s)``. Everything each band reports
(MTF at Nyquist along/across and its propagated sigma, MTF curves, model-choice term, encircled
energies, star signals, misfit tests) is the single-band fit's assembly on that local solution and
covariance, with the band's own chi2/dof (the covariance scaled by it when it exceeds 1) and its
share of the degrees of freedom.

The alternative admissible model of the model-choice term (the fit without the wave-front error,
:data:`monitor.science.mtf_select.ALTERNATIVE_FIXED`) is computed in each band's local covariance:
conditioning on ``a_b = 0`` is conditioning on ``a_ref = 0`` (``s_b > 0``), so it is the joint
model's alternative.

Measured (benchmarks/mtf.py --joint, MS B0-B3 of one pupil realisation, 25 stars per band, seeds 2027
and 2028, 3 pools each x 6 families in_family, defocus, astig_spiders, tdi_smear, microvibration,
red_star; options chosen on seed 2026): with the default sharing the MTF@Nyquist rms error over all
bands and families is 0.35/0.93e-3 along/across against 0.42/0.98e-3 for the single-band fits
(0.26/0.35e-3 against 0.26/0.33e-3 without astig_spiders); honest-sigma pull std 0.83/1.46 against
0.85/1.31; 6.5 against 7.6 CPU s per pool of 4 bands. A small, mixed gain (defocus B3 worse: rms
0.76/1.07e-3 against 0.67/0.95e-3): the MTF stage keeps the single-band fit. Sharing the blur too divides
the in-family rms by 2-3 (0.04-0.05e-3) but biases the out-of-family bands (astig_spiders B3
+10.2/+13.2e-3, pull std 2.7/1.6 along/across over all).

References
----------
Shannon, R. R. (1997), The Art and Science of Optical Design, §11 (aberration transfer function).
Viallefont-Robinet, F. & Léger, D. (2010), Opt. Express 18(4), 3531 (parametric MTF model).
Fiete, R. D. (2010), Modeling the Imaging Chain of Digital Cameras, SPIE TT92, ch. 4 (jitter, smear).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from monitor.domain import DEFAULT_STAR_HALF_WIDTHS_PX
from monitor.science.mtf_fit import (
    MAX_OBSCURATION,
    N_NUISANCE,
    PRIOR_SIGMAS,
    SQUARED_PARAMETERS,
    InsufficientStarsError,
    PoolModel,
    PsfFitResult,
    active_bounds,
    fit_result,
    information_covariance,
    initial_center,
    initial_star_params,
    irls_solve,
    pixel_variance_dn2,
    star_groups,
    validate_free,
    with_prior_rows,
)
from monitor.science.mtf_misfit import DEFAULT_MISFIT_ALPHA, misfit_statistics
from monitor.science.mtf_select import ALTERNATIVE_FIXED
from monitor.science.psf import PsfParams

__all__ = [
    "DEFAULT_PER_BAND",
    "DEFAULT_SHARED",
    "REFERENCE_WAVELENGTH_NM",
    "BandStars",
    "JointFitResult",
    "fit_starpool_psf_joint",
    "shared_scale",
]

REFERENCE_WAVELENGTH_NM = 650.0  # nm, wavelength of the global aberration depth a_ref
_SHANNON_W_WAVE = 0.18  # waves rms: ATF depth a = (W_rms / 0.18)^2 (monitor.science.psf, Shannon 1997)
_WAVEFRONT = ("aberration_along", "aberration_across")  # depths scaling as lambda^-2 at fixed OPD
# Shared by default: the TDI smear (native px of one pitch) and the wave-front error (one optical path
# difference); the Gaussian blur stays per band (DEFAULT_PER_BAND). The blur is the jitter (common) but also
# the model's stand-in for what its diffraction + ATF terms miss, which depends on the band: sharing it too
# (all of mtf_fit.DEFAULT_FREE) was rejected on the pupil truth (benchmarks/mtf.py --joint, seed 2026, 4
# pools): astig_spiders MTF@Nyquist errors B0 -9.0e-3 along, B3 +11.4/+12.3e-3 (single-band fits -1.3 and
# +0.9/+2.8e-3), defocus B3 -1.0e-3 with pull rms 7 (single -0.6e-3); with the blur per band: -1.0e-3, B3
# +0.5/+2.2e-3 and -0.7e-3.
DEFAULT_SHARED: tuple[str, ...] = ("smear_along_px", "aberration_along", "aberration_across")
DEFAULT_PER_BAND: tuple[str, ...] = ("sigma_along_px", "sigma_across_px")


@dataclass(frozen=True)
class BandStars:
    """The star vignettes of one band of a starpool and that band's design.

    Attributes
    ----------
    vignettes : sequence of 2-D array_like
        Dark-subtracted star vignettes ``DN - DARK`` (as :func:`monitor.science.mtf_fit.fit_starpool_psf`).
    oversamps : sequence of float
        Along-track oversampling o >= 1 of each vignette.
    initial_params : PsfParams
        The band's design PSF (diffraction constants, starting values).
    wavelength_nm : float
        Effective wavelength of the band, nm (the centre of its band, ``lambda_n_px``'s wavelength):
        converts the shared wave-front error into the band's aberration depth.
    read_noise_dn, gain_e_per_dn : float
        Noise model of the band's pixels (DN rms, e-/DN).
    centers_xy : array_like, shape (n_stars, 2), optional
        Approximate centres (column, row units); brightest-pixel estimate when omitted.
    """

    vignettes: Sequence[ArrayLike]
    oversamps: Sequence[float] | ArrayLike
    initial_params: PsfParams
    wavelength_nm: float
    read_noise_dn: float
    gain_e_per_dn: float
    centers_xy: ArrayLike | None = None


@dataclass(frozen=True)
class JointFitResult:
    """Result of :func:`fit_starpool_psf_joint`.

    Attributes
    ----------
    bands : dict of str to PsfFitResult
        Per band, the single-band result fields (MTF at Nyquist along/across and sigma, curves,
        model-choice terms, EE, star signals, misfit, band chi2 and its share of the dof) from the
        joint solution and its covariance.
    global_names : tuple of str
        Names of the global PSF parameters: the shared ones (aberration depths at
        :data:`REFERENCE_WAVELENGTH_NM`), then ``"name[band]"`` for per-band ones.
    values, covariance : ndarray, shape (ng,), (ng, ng)
        Their estimates and covariance (unscaled Fisher inverse, marginalised over the stars).
    reference_wavelength_nm : float
        Wavelength of the global aberration depths, nm.
    chi2 : float
        Total weighted residual sum of squares (all bands).
    dof : int
        Total degrees of freedom.
    nfev : int
        Model evaluations of the final stage(s).
    """

    bands: dict[str, PsfFitResult]
    global_names: tuple[str, ...]
    values: NDArray[np.float64]
    covariance: NDArray[np.float64]
    reference_wavelength_nm: float
    chi2: float
    dof: int
    nfev: int

    def wavefront_rms_nm(self, direction: str = "along") -> float:
        """Low-order wave-front error ``W = 0.18 lambda_ref sqrt(a_ref)`` nm rms along or across (NaN if not shared)."""
        name = f"aberration_{direction}"
        if name not in self.global_names:
            return math.nan
        a = float(self.values[self.global_names.index(name)])
        return _SHANNON_W_WAVE * self.reference_wavelength_nm * math.sqrt(max(a, 0.0))


def shared_scale(name: str, wavelength_nm: float, reference_wavelength_nm: float = REFERENCE_WAVELENGTH_NM) -> float:
    """Factor ``s_b`` from a global shared parameter to the band's local one (module docstring).

    >>> round(shared_scale("aberration_along", 490.0), 4), shared_scale("smear_along_px", 490.0)
    (1.7597, 1.0)
    """
    if name in _WAVEFRONT:
        return (reference_wavelength_nm / float(wavelength_nm)) ** 2
    return 1.0


class _JointModel:
    """The bands' :class:`monitor.science.mtf_fit.PoolModel` objects on one global parameter vector.

    Global vector: ``[g (ng PSF parameters), stars of band 0 (6 n_0), stars of band 1, ...]``. Band
    ``b``'s local vector is ``theta_b = scale_b · theta[cols_b]`` (each local parameter is one global
    one times a factor), so its Jacobian columns map one-to-one onto global columns.
    """

    def __init__(
        self, models: list[PoolModel], cols: list[NDArray[np.int64]], scales: list[NDArray[np.float64]], n_par: int
    ) -> None:
        self.models, self.cols, self.scales, self.n_par = models, cols, scales, n_par
        self.n_pix = sum(m.n_pix for m in models)
        # CSR structure of the stacked band Jacobians in global columns (rows of band b: local indices mapped)
        self.jac_indices = np.concatenate([c[m.jac_indices] for m, c in zip(models, cols, strict=True)])
        self.jac_scale = np.concatenate([s[m.jac_indices] for m, s in zip(models, scales, strict=True)])
        widths = np.concatenate([np.full(m.n_pix, m.nf + N_NUISANCE) for m in models])
        self.jac_indptr = np.concatenate([[0], np.cumsum(widths)])
        self.prior_idx = np.zeros(0, dtype=np.int64)
        self.prior_mean = np.zeros(0)
        self.prior_sigma = np.ones(0)

    def local(self, theta: NDArray[np.float64], b: int) -> NDArray[np.float64]:
        return np.asarray(theta[self.cols[b]] * self.scales[b], dtype=np.float64)

    def residuals(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        """Weighted pixel residuals of every band, then the prior pseudo-residuals."""
        parts = []
        for b, m in enumerate(self.models):
            mu, _ = m.evaluate(self.local(theta, b), with_jac=False)
            parts.append(m.weights * (mu - m.data))
        parts.append((theta[self.prior_idx] - self.prior_mean) / self.prior_sigma)
        return np.concatenate(parts)

    def jacobian(self, theta: NDArray[np.float64]) -> sp.csr_matrix:
        data = []
        for b, m in enumerate(self.models):
            _, blocks = m.evaluate(self.local(theta, b), with_jac=True)
            assert blocks is not None
            data.append((blocks * m.weights[:, None]).ravel())
        values = np.concatenate(data) * self.jac_scale
        jac = sp.csr_matrix((values, self.jac_indices, self.jac_indptr), shape=(self.n_pix, self.n_par))
        return with_prior_rows(jac, self.prior_idx, self.prior_sigma)


def fit_starpool_psf_joint(
    bands: Mapping[str, BandStars],
    *,
    shared: Sequence[str] = DEFAULT_SHARED,
    per_band: Sequence[str] = DEFAULT_PER_BAND,
    reference_wavelength_nm: float = REFERENCE_WAVELENGTH_NM,
    fit_half_width_px: int = 8,
    ee_half_widths_px: Sequence[int] = DEFAULT_STAR_HALF_WIDTHS_PX,
    frequencies_cy_px: ArrayLike | None = None,
    pad_px: float = 48.0,
    scale_covariance: bool = True,
    max_nfev: int = 60,
    misfit_alpha: float = DEFAULT_MISFIT_ALPHA,
    alternative_fixed: Sequence[str] = ALTERNATIVE_FIXED,
    prior_sigmas: Mapping[str, float] = PRIOR_SIGMAS,
) -> JointFitResult:
    """Fit the PSFs of several bands of one starpool jointly, with shared optical parameters.

    Parameters
    ----------
    bands : mapping of str to BandStars
        The bands (e.g. ``B0..B3``) with their vignettes, design PSF, effective wavelength and noise.
    shared : sequence of str
        PSF parameters common to the bands, among ``psf.FREE_PARAMETER_NAMES`` (module docstring for
        their band-independent units): by default :data:`DEFAULT_SHARED` (smear, wave-front error).
    per_band : sequence of str
        PSF parameters fitted separately in each band, disjoint from ``shared``: by default
        :data:`DEFAULT_PER_BAND` (the Gaussian blur); e.g. also ``diffusion_px``.
    reference_wavelength_nm : float
        Wavelength of the global aberration depths, nm.
    fit_half_width_px, ee_half_widths_px, frequencies_cy_px, pad_px, scale_covariance, max_nfev,
    misfit_alpha, alternative_fixed, prior_sigmas
        As in :func:`monitor.science.mtf_fit.fit_starpool_psf` (``scale_covariance``: each band's local
        covariance by its own chi2/dof; ``prior_sigmas``: on the global parameter, around the first
        band's design value, per band for per-band ones).

    Returns
    -------
    JointFitResult

    Raises
    ------
    InsufficientStarsError
        If a band has no vignette or a vignette has no usable fit region.
    PsfFitError
        If the optimiser fails or the information matrix is singular.
    ValueError
        On inconsistent arguments (no band, a parameter both shared and per band, bad noise model).
    """
    names = list(bands)
    if not names:
        raise ValueError("no band to fit")
    shared_names = validate_free(shared) if shared else ()
    private_names = tuple(per_band)
    if private_names:
        validate_free(private_names)
    if set(shared_names) & set(private_names) or not (shared_names or private_names):
        raise ValueError(f"shared {shared_names} and per_band {private_names} must be disjoint, not both empty")
    hw = int(fit_half_width_px)
    nc = 2 * hw + 1
    free_local = (*shared_names, *private_names)
    ns, npb = len(shared_names), len(private_names)
    ng = ns + npb * len(names)
    global_names = (*shared_names, *(f"{p}[{b}]" for b in names for p in private_names))

    models: list[PoolModel] = []
    cols: list[NDArray[np.int64]] = []
    scales: list[NDArray[np.float64]] = []
    star0: list[NDArray[np.float64]] = []
    o_arrs: list[NDArray[np.float64]] = []
    g0 = np.zeros(ng)
    offset = ng
    for k, name in enumerate(names):
        band = bands[name]
        images = [np.asarray(v, dtype=np.float64) for v in band.vignettes]
        o_arr = np.asarray(band.oversamps, dtype=np.float64).reshape(-1)
        if not images:
            raise InsufficientStarsError(f"band {name}: empty starpool")
        if o_arr.size != len(images) or np.any(o_arr < 1.0) or any(v.ndim != 2 for v in images):
            raise ValueError(f"band {name}: need one oversamp >= 1 per 2-D vignette")
        if band.read_noise_dn < 0.0 or band.gain_e_per_dn <= 0.0 or not band.wavelength_nm > 0.0:
            raise ValueError(f"band {name}: need read_noise_dn >= 0, gain_e_per_dn > 0, wavelength_nm > 0")
        if band.centers_xy is None:
            centers = np.array([initial_center(v, o) for v, o in zip(images, o_arr, strict=True)])
        else:
            centers = np.asarray(band.centers_xy, dtype=np.float64).reshape(len(images), 2)
        groups = star_groups(images, o_arr, centers, hw)
        model = PoolModel(groups, len(images), band.initial_params, free_local, nc, pad_px)
        model.weights = 1.0 / np.sqrt(pixel_variance_dn2(model.data, band.read_noise_dn, band.gain_e_per_dn))
        s_psf = np.array([shared_scale(p, band.wavelength_nm, reference_wavelength_nm) for p in free_local])
        c_psf = np.concatenate([np.arange(ns), ns + k * npb + np.arange(npb)]).astype(np.int64)
        n_star = N_NUISANCE * len(images)
        cols.append(np.concatenate([c_psf, offset + np.arange(n_star)]).astype(np.int64))
        scales.append(np.concatenate([s_psf, np.ones(n_star)]))
        offset += n_star
        local0 = np.array([getattr(band.initial_params, p) for p in free_local]) / s_psf
        if k == 0:
            g0[:ns] = local0[:ns]
        g0[c_psf[ns:]] = local0[ns:]
        star0.append(initial_star_params(groups, centers).ravel())
        models.append(model)
        o_arrs.append(o_arr)
    joint = _JointModel(models, cols, scales, offset)
    priors = [(j, float(g0[j]), float(prior_sigmas[p])) for j, p in enumerate(shared_names) if p in prior_sigmas]
    priors += [
        (ns + k * npb + i, float(g0[ns + k * npb + i]), float(prior_sigmas[p]))
        for k in range(len(names))
        for i, p in enumerate(private_names)
        if p in prior_sigmas
    ]
    if priors:
        joint.prior_idx = np.array([p[0] for p in priors], dtype=np.int64)
        joint.prior_mean = np.array([p[1] for p in priors])
        joint.prior_sigma = np.array([p[2] for p in priors])

    theta0 = np.concatenate([g0, *star0])
    lower = np.full(joint.n_par, -np.inf)
    lower[:ng] = 0.0
    upper = np.full(joint.n_par, np.inf)
    for j, p in enumerate(global_names):
        if p.split("[")[0] == "obscuration":
            upper[j] = MAX_OBSCURATION

    def reweight(theta: NDArray[np.float64]) -> None:
        for b, m in enumerate(models):
            mu, _ = m.evaluate(joint.local(theta, b), with_jac=False)
            band = bands[names[b]]
            m.weights = 1.0 / np.sqrt(pixel_variance_dn2(mu, band.read_noise_dn, band.gain_e_per_dn))

    theta, nfev = irls_solve(joint, theta0, (lower, upper), global_names, max_nfev, reweight)

    jac = joint.jacobian(theta)
    resid = joint.residuals(theta)
    chi2 = float(resid @ resid)
    dof = joint.n_pix + joint.prior_idx.size - joint.n_par
    cov_full = information_covariance(jac)
    # bounds active at the solution (mtf_fit.active_bounds; a band's parameter is its global one times a
    # positive scale, so it shares its bound at 0 and its squared coordinate)
    squared = np.isin([g.split("[")[0] for g in global_names], SQUARED_PARAMETERS)
    step = -(cov_full @ (jac.T @ resid))
    active = active_bounds(theta, step, (lower, upper), np.concatenate([squared, np.zeros(joint.n_par - ng, bool)]))

    results: dict[str, PsfFitResult] = {}
    start = 0
    for b, (name, m) in enumerate(zip(names, models, strict=True)):
        r = resid[start : start + m.n_pix]
        start += m.n_pix
        theta_b = joint.local(theta, b)
        chi2_b = float(r @ r)
        # the band's share of the dof: its pixels less its stars' and per-band parameters, and its
        # pixel fraction of the shared ones
        dof_b = int(round(m.n_pix - N_NUISANCE * m.n_stars - npb - ns * m.n_pix / joint.n_pix))
        dx, dy = m.offsets(theta_b)
        misfit_b = misfit_statistics(-r, dx, dy, dof_b, alpha=misfit_alpha)
        c, s = cols[b], scales[b]
        cov_b = s[:, None] * cov_full[np.ix_(c, c)] * s[None, :]
        if scale_covariance and dof_b > 0 and chi2_b / dof_b > 1.0:
            cov_b = cov_b * (chi2_b / dof_b)
        results[name] = fit_result(
            m,
            theta_b,
            cov_b,
            initial_params=bands[name].initial_params,
            o_arr=o_arrs[b],
            chi2=chi2_b,
            dof=dof_b,
            nfev=nfev,
            misfit=misfit_b,
            frequencies_cy_px=frequencies_cy_px,
            ee_half_widths_px=ee_half_widths_px,
            alternative_fixed=alternative_fixed,
            active=tuple(p for p, j in zip(free_local, c[: len(free_local)], strict=True) if active[j]),
        )
    return JointFitResult(
        bands=results,
        global_names=global_names,
        values=theta[:ng].copy(),
        covariance=cov_full[:ng, :ng].copy(),
        reference_wavelength_nm=float(reference_wavelength_nm),
        chi2=chi2,
        dof=int(dof),
        nfev=nfev,
    )
