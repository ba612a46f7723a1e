"""Joint parametric PSF/MTF fit over the star vignettes of one starpool and band.

All stars of a pool share the PSF shape parameters (e.g. the along/across Gaussian widths);
each star has nuisance parameters: flux, sub-pixel centre and a background plane. The
diffraction parameters (``lambda_n_px``, ``obscuration``, ``bandwidth``) are design constants
of the instrument and stay fixed at ``initial_params``, except the obscuration, which may be freed
within its design tolerance (``free`` with ``"obscuration"``; Gaussian prior ``prior_sigmas``,
entered as a pseudo-residual: it counts in chi2 and the information matrix, not in the misfit
structure test). Not by default: on the pupil truth (benchmarks/mtf.py --free ...,obscuration,
4 pools) it finds eps 0.415 for a true 0.40 with spider vanes in PAN (parametric MTF error
-0.021 -> -0.007, still flagged), but runs to 0.55 in B2 (5 prior sigma, the spiders'
and astigmatism's misfit absorbed), costs +50 % CPU in B2, and the flagged pools report the
ePSF anyway; in-family it stays at 0.300 (PAN) / 0.25-0.30 +- 0.03 (B2).

Model of the dark-subtracted pixel ``i`` of star ``k`` (ePSF of Anderson & King 2000; noise and Fisher
information as in Mendez et al. 2014: References below)::

    mu_i = F_k · g(x_i - x_k, (y_i - y_k)/o_k; psi) + b0_k + bx_k X_i + by_k Y_i

``g`` is the pixel-integrated PSF of ``monitor.science.psf`` sampled at 1 px across and 1/o px
along track by :class:`monitor.science.psf_renderer.PsfRenderer` (one renderer per model
evaluation, with the image derivatives; its sum over an infinite vignette is ``o``), so
``S_k = o_k F_k`` is the ICD §1.3 star signal. Noise model:
``var_i = sigma_read^2 + max(mu_i, 0)/gain + 1/12`` (DN^2: read noise, photon noise through the
gain in e-/DN, quantisation). The weighted least-squares problem is
solved with ``scipy.optimize.least_squares`` (trust-region reflective, sparse Jacobian with
analytic derivatives), first with data-based then with model-based weights (iteratively
reweighted least squares; Cramér-Rao optimal for Gaussian noise with known variance).

Misfit: the fit is tested against the noise model (chi2 and the stacked residual structure,
:func:`monitor.science.mtf_misfit.misfit_statistics`).

Uncertainties: ``C = (J^T J)^-1`` at the solution (Fisher information of the weighted problem,
optionally scaled by chi2/dof when it exceeds 1), marginalised over the nuisance parameters;
MTF and encircled-energy uncertainties by linear propagation through their analytic
parameter Jacobians, ``var(m) = j^T C j``. The shared parameters are bounded (>= 0): those at an
active bound (:func:`active_bounds`: the wave-front depths and the smear of an in-family PSF,
pinned at 0 in most pools) are held in the statistical covariance, which is then conditional on
them (:func:`active_set_covariance`, the covariance of the bound-constrained estimator when the
truth lies on the bound). On the pupil truth (benchmarks/mtf.py, in_family, 24 pools, seed 2026) the
linear covariance that ignores the bounds over-covered: pull rms of the MTF at Nyquist 0.77/0.92
(P along/across) and 0.72/1.06 (B2) became 0.90/0.95 and 0.78/1.09. Over more pools (branch i16p,
pulls against the honest sigma, model-choice term included): 0.94/0.93 (P, n = 72, seeds 2026-2028)
and 0.94/0.99 (B2, n = 119 reported pools, seeds 2026-2030), within the 95 % interval of a calibrated
sigma; report seeds 7 + 11 (n = 48, 47): 0.89/0.92 and 0.96/0.98 (seed 7 alone read 0.68 in P along:
sampling). The linearised covariance near the smear's bound is not what keeps them below 1: the
half-normal mixture ``(j^T C j + j^T C_A j) / 2`` (:func:`active_set_covariance`) applied to the
interior pools whose ``u = s^2`` lies within 2 sigma of 0 moves them by <= 0.04 (offline, same dumps).

References
----------
Anderson, J. & King, I. R. (2000), PASP 112, 1360 (effective PSF of undersampled stars).
Viallefont-Robinet, F. & Léger, D. (2010), Opt. Express 18(4), 3531 (parametric MTF model).
Mendez, R. A. et al. (2014), PASP 126, 798 (Cramér-Rao bounds for stellar images).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import OptimizeResult, least_squares

from monitor.domain import DEFAULT_STAR_HALF_WIDTHS_PX
from monitor.science.encircled_energy import encircled_energy_square_mean_jacobian
from monitor.science.mtf_misfit import DEFAULT_MISFIT_ALPHA, MisfitStatistics, misfit_statistics
from monitor.science.mtf_model_choice import default_alternatives, nested_model_ensemble
from monitor.science.mtf_multistart import RESTART_PROBE_NFEV, valley_restart
from monitor.science.mtf_select import ALTERNATIVE_FIXED, MODEL_CHOICE_SCALE, alternative_model_shifts
from monitor.science.psf import FREE_PARAMETER_NAMES, NYQUIST_CY_PX, PsfParams, otf_grid
from monitor.science.psf_renderer import PsfRenderer

__all__ = [
    "DEFAULT_FREE",
    "InsufficientStarsError",
    "PsfFitError",
    "PRIOR_SIGMAS",
    "PsfFitResult",
    "fit_starpool_psf",
    # the building blocks of the fit, shared with the joint multi-band fit (monitor.science.mtf_joint)
    "MAX_OBSCURATION",
    "N_NUISANCE",
    "PoolModel",
    "active_bounds",
    "active_set_covariance",
    "fit_result",
    "information_covariance",
    "initial_center",
    "initial_star_params",
    "irls_solve",
    "pixel_variance_dn2",
    "star_groups",
    "validate_free",
    "with_prior_rows",
]

N_NUISANCE = 6  # flux, x0, y0, b0, bx, by per star
_QUANT_VAR_DN2 = 1.0 / 12.0  # DN^2, quantisation noise of integer DN
# Shared PSF parameters fitted by default, those real optics and platforms move: the Gaussian blur
# along/across (jitter, high-order aberrations), the along-track motion smear (TDI desynchronisation)
# and the low-order wave-front error along/across (defocus, astigmatism: Shannon's ATF depth,
# monitor.science.psf). On the pupil truth (benchmarks/mtf.py) the two ATF depths halve the
# parametric MTF error of defocus 0.06 wave and of a 10 % redder star; obscuration, wavelength and
# bandwidth stay design constants.
DEFAULT_FREE: tuple[str, ...] = (
    "sigma_along_px",
    "sigma_across_px",
    "smear_along_px",
    "aberration_along",
    "aberration_across",
)
# Design tolerance of the parameters that may be freed with a prior (fit_starpool_psf prior_sigmas): the
# linear central obscuration within +-0.05 of its design value (1 sigma; stated, not measured).
PRIOR_SIGMAS: dict[str, float] = {"obscuration": 0.05}
# Bounded (>= 0) parameters on which the PSF depends through their square (even functions: Gaussian blur,
# box smear); their locally linear coordinate is p^2 (active_bounds).
SQUARED_PARAMETERS: tuple[str, ...] = ("sigma_along_px", "sigma_across_px", "smear_along_px")
MAX_OBSCURATION = 0.9  # upper bound of a freed obscuration
XTOL = 1e-7  # the MTF moves by < 1e-5 along the (sigma_along, smear) valley below this
FTOL = 1e-7
# A least-squares stage that stops on its evaluation budget (max_nfev, status 0) rather than on a
# convergence test is continued from where it stopped, up to this many times. It is rare: on the 24
# micro-vibration B2 pools of seed 2027 the stages converge in 3-24 evaluations, except pool 9, whose
# stages crawled along the (blur, smear) valley and stopped at 60 each: chi2/dof 1.37, flagged (a false
# misfit); continued, stage 1 converges after 140 evaluations, chi2/dof 1.002, not flagged
# (tests/science/test_mtf_multistart.py). No other of ~700 benchmark pools (benchmarks/mtf.py dumps,
# seeds 2026/2027, 7 families) took over 2.5 times its cell's median fit time; on report seed 11 one
# (micro-vibration B2 pool 1) stopped stage 1 at 60, which stage 2 completed before (same solution).
# The joint multi-band fit's stages did not reach the budget (--joint, 2 families x 3 pools). Converged
# stages are not touched (same results, same CPU).
STAGE_CONTINUATIONS = 3


class InsufficientStarsError(ValueError):
    """Raised when a starpool holds no usable star vignette."""


class PsfFitError(RuntimeError):
    """Raised when the joint PSF fit does not converge or its information matrix is singular."""


@dataclass(frozen=True)
class PsfFitResult:
    """Result of ``fit_starpool_psf``.

    Attributes
    ----------
    params : PsfParams
        Fitted PSF (free parameters at their estimates, the others as given).
    free_names : tuple of str
        Names of the fitted shared parameters.
    values, covariance : ndarray
        Estimates (n_free,) and covariance (n_free, n_free) of the free parameters, px, px^2.
    mtf_nyquist_along, mtf_nyquist_along_sigma, mtf_nyquist_across, mtf_nyquist_across_sigma : float
        MTF at 0.5 cy/px and its 1-sigma uncertainty, along (y) and across (x) track.
    frequencies_cy_px : ndarray, shape (nf,)
        Frequencies of the MTF curves, cycles per native pixel.
    mtf_along, mtf_along_sigma, mtf_across, mtf_across_sigma : ndarray, shape (nf,)
        MTF curves and 1-sigma uncertainties.
    ee_half_widths_px : ndarray of int, shape (nh,)
        ICD §4 window half-widths h, native pixels.
    ee, ee_sigma : ndarray, shape (nh,)
        Phase-averaged encircled energy of the windows (o = 1) and 1-sigma.
    fluxes_dn, fluxes_sigma_dn : ndarray, shape (n_stars,)
        Fitted star signals S_k = o_k F_k (sum over an infinite vignette, DN) and 1-sigma.
    centers_xy : ndarray, shape (n_stars, 2)
        Fitted centres in vignette array indices (column, row; row units).
    backgrounds_dn : ndarray, shape (n_stars,)
        Fitted background level at each star centre, DN per pixel.
    chi2 : float
        Weighted residual sum of squares at the solution (model-based weights).
    dof : int
        Degrees of freedom (valid pixels minus parameters).
    nfev : int
        Number of model evaluations of the final stage.
    misfit : MisfitStatistics
        Tests of the model against the noise model (module docstring).
    mtf_nyquist_along_model_sigma, mtf_nyquist_across_model_sigma : float
        Model-choice term of the MTF at Nyquist (:func:`monitor.science.mtf_select.alternative_model_shifts`):
        :data:`MODEL_CHOICE_SCALE` times the largest change of the MTF when the parameters of
        ``alternative_fixed`` are held at their initial values instead of fitted, all together or
        each alone (other admissible models of the same data). Not included in the ``*_sigma`` fields (statistical);
        the reported sigma adds it in quadrature (:func:`monitor.science.mtf_select.select_mtf`).
    mtf_along_model_sigma, mtf_across_model_sigma : ndarray, shape (nf,)
        The same for the curves.
    flux_model_rel_sigma : float
        The same for the star signals: :data:`MODEL_CHOICE_SCALE` times the relative change of the
        starpool's summed signal ``sum S_k`` under the alternative model that holds all of
        ``alternative_fixed`` (common to the members).
    model_ensemble : dict
        Diagnostic: the nested admissible models (each freed parameter, and ``alternative_fixed``
        together, held at its initial value), their linearised chi2 increases and Akaike weights
        (:func:`monitor.science.mtf_model_choice.nested_model_ensemble`); not in any sigma.
    active_bounds : tuple of str
        Free shared parameters at an active bound (:func:`active_bounds`, e.g. an aberration depth at
        0 that the data would take negative). Unless the fit was asked not to condition on them,
        their row and column of ``covariance`` are 0 and the other parameters' covariance is
        conditional on them (:func:`active_set_covariance`).
    """

    params: PsfParams
    free_names: tuple[str, ...]
    values: NDArray[np.float64]
    covariance: NDArray[np.float64]
    mtf_nyquist_along: float
    mtf_nyquist_along_sigma: float
    mtf_nyquist_across: float
    mtf_nyquist_across_sigma: float
    frequencies_cy_px: NDArray[np.float64]
    mtf_along: NDArray[np.float64]
    mtf_along_sigma: NDArray[np.float64]
    mtf_across: NDArray[np.float64]
    mtf_across_sigma: NDArray[np.float64]
    ee_half_widths_px: NDArray[np.int64]
    ee: NDArray[np.float64]
    ee_sigma: NDArray[np.float64]
    fluxes_dn: NDArray[np.float64]
    fluxes_sigma_dn: NDArray[np.float64]
    centers_xy: NDArray[np.float64]
    backgrounds_dn: NDArray[np.float64]
    chi2: float
    dof: int
    nfev: int
    misfit: MisfitStatistics
    mtf_nyquist_along_model_sigma: float = 0.0
    mtf_nyquist_across_model_sigma: float = 0.0
    mtf_along_model_sigma: NDArray[np.float64] | None = None
    mtf_across_model_sigma: NDArray[np.float64] | None = None
    flux_model_rel_sigma: float = 0.0
    model_ensemble: dict[str, object] | None = None
    active_bounds: tuple[str, ...] = ()

    @property
    def chi2_dof(self) -> float:
        """Reduced chi-square chi2/dof (about 1 when the noise model is right)."""
        return self.chi2 / self.dof if self.dof > 0 else math.nan


@dataclass(frozen=True)
class _Group:
    """Stars sharing one oversampling factor (hence one crop geometry)."""

    oversamp: float
    stars: NDArray[np.int64]  # indices into the pool
    data: NDArray[np.float64]  # (k, nr, nc), NaN where invalid
    valid: NDArray[np.bool_]  # (k, nr, nc)
    origin: NDArray[np.float64]  # (k, 2) crop origin (col, row) in vignette indices
    xbasis: NDArray[np.float64]  # (nr, nc) background-plane x coordinate, native px
    ybasis: NDArray[np.float64]  # (nr, nc) background-plane y coordinate, native px


def initial_center(vignette: NDArray[np.float64], oversamp: float) -> tuple[float, float]:
    """Brightest-pixel position refined by a local background-subtracted centroid."""
    if not np.isfinite(vignette).any():
        return (vignette.shape[1] - 1) / 2.0, (vignette.shape[0] - 1) / 2.0
    bg = float(np.nanmedian(vignette))
    img = np.nan_to_num(vignette - bg, nan=0.0)
    r, c = np.unravel_index(int(np.argmax(img)), img.shape)
    hr = max(1, int(round(oversamp)))
    r0, r1 = max(r - hr, 0), min(r + hr + 1, img.shape[0])
    c0, c1 = max(c - 1, 0), min(c + 2, img.shape[1])
    win = np.clip(img[r0:r1, c0:c1], 0.0, None)
    tot = float(win.sum())
    if tot <= 0.0:
        return float(c), float(r)
    rr, cc = np.mgrid[r0:r1, c0:c1]
    return float((win * cc).sum() / tot), float((win * rr).sum() / tot)


def _crop(vignette: NDArray[np.float64], r0: int, c0: int, nr: int, nc: int) -> NDArray[np.float64]:
    """Sub-array [r0:r0+nr, c0:c0+nc] padded with NaN where it leaves the vignette."""
    out = np.full((nr, nc), np.nan)
    rows, cols = vignette.shape
    rs, re_ = max(r0, 0), min(r0 + nr, rows)
    cs, ce = max(c0, 0), min(c0 + nc, cols)
    if rs < re_ and cs < ce:
        out[rs - r0 : re_ - r0, cs - c0 : ce - c0] = vignette[rs:re_, cs:ce]
    return out


def validate_free(free: Sequence[str]) -> tuple[str, ...]:
    names = tuple(free)
    bad = [n for n in names if n not in FREE_PARAMETER_NAMES]
    if bad or len(set(names)) != len(names) or not names:
        raise ValueError(f"free parameters must be distinct names among {FREE_PARAMETER_NAMES}, got {names}")
    return names


class PoolModel:
    """Forward model and sparse Jacobian of the pooled pixels (private helper, holds no results)."""

    def __init__(
        self,
        groups: list[_Group],
        n_stars: int,
        base: PsfParams,
        free: tuple[str, ...],
        ncols: int,
        pad_px: float,
    ) -> None:
        self.groups = groups
        self.n_stars = n_stars
        self.base = base
        self.free = free
        self.nf = len(free)
        self.extent_px = (float(ncols), float(ncols))  # fitted regions: ncols x ~ncols native px
        self.pad_px = pad_px
        self.n_par = self.nf + N_NUISANCE * n_stars
        # Order of the valid pixels: group by group, star by star, row-major.
        self.pixel_star = np.concatenate([np.repeat(g.stars, g.valid.sum(axis=(1, 2))) for g in groups])
        self.data = np.concatenate([g.data[g.valid] for g in groups])
        self.n_pix = self.data.size
        m = self.nf + N_NUISANCE
        shared_cols = np.arange(self.nf)
        star_cols = self.nf + N_NUISANCE * self.pixel_star[:, None] + np.arange(N_NUISANCE)[None, :]
        self.jac_indices = np.concatenate(
            [np.broadcast_to(shared_cols, (self.n_pix, self.nf)), star_cols], axis=1
        ).ravel()
        self.jac_indptr = np.arange(0, (self.n_pix + 1) * m, m)
        self.weights = np.ones(self.n_pix)
        # Gaussian priors on shared parameters (pseudo-residuals (theta_j - mean_j)/sigma_j)
        self.prior_idx = np.zeros(0, dtype=np.int64)
        self.prior_mean = np.zeros(0)
        self.prior_sigma = np.ones(0)

    def set_priors(self, priors: dict[str, tuple[float, float]]) -> None:
        """Priors ``name -> (mean, sigma)`` on free shared parameters (others are ignored)."""
        names = [n for n in self.free if n in priors]
        self.prior_idx = np.array([self.free.index(n) for n in names], dtype=np.int64)
        self.prior_mean = np.array([priors[n][0] for n in names], dtype=np.float64)
        self.prior_sigma = np.array([priors[n][1] for n in names], dtype=np.float64)

    def params_of(self, theta: NDArray[np.float64]) -> PsfParams:
        changes = {name: float(v) for name, v in zip(self.free, theta[: self.nf], strict=True)}
        return self.base.replace(**changes)

    def evaluate(
        self, theta: NDArray[np.float64], with_jac: bool
    ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
        """Model of the valid pixels and (optionally) the dense per-row Jacobian blocks."""
        renderer = PsfRenderer(
            self.params_of(theta), self.extent_px, pad_px=self.pad_px, derivatives=self.free if with_jac else ()
        )
        star = theta[self.nf :].reshape(self.n_stars, N_NUISANCE)
        mus: list[NDArray[np.float64]] = []
        jacs: list[NDArray[np.float64]] = []
        for g in self.groups:
            p = star[g.stars]
            centers = p[:, 1:3] - g.origin
            nr, nc = g.data.shape[1:]
            imgs = renderer.sample((nr, nc), centers, g.oversamp, shift_derivatives=with_jac)
            flux = p[:, 0][:, None, None]
            unit = imgs[:, 0]
            mu = flux * unit + p[:, 3, None, None] + p[:, 4, None, None] * g.xbasis + p[:, 5, None, None] * g.ybasis
            mus.append(mu[g.valid])
            if with_jac:
                k = len(g.stars)
                blocks = np.empty((k, nr, nc, self.nf + N_NUISANCE))
                for j in range(self.nf):
                    blocks[..., j] = flux * imgs[:, 1 + j]
                blocks[..., self.nf + 0] = unit
                blocks[..., self.nf + 1] = flux * imgs[:, 1 + self.nf]
                blocks[..., self.nf + 2] = flux * imgs[:, 2 + self.nf]
                blocks[..., self.nf + 3] = 1.0
                blocks[..., self.nf + 4] = g.xbasis
                blocks[..., self.nf + 5] = g.ybasis
                jacs.append(blocks[g.valid])
        mu_all = np.concatenate(mus)
        return mu_all, (np.concatenate(jacs) if with_jac else None)

    def offsets(self, theta: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Offsets (dx, dy) of every valid pixel from its star's centre, native px."""
        star = theta[self.nf :].reshape(self.n_stars, N_NUISANCE)
        dxs: list[NDArray[np.float64]] = []
        dys: list[NDArray[np.float64]] = []
        for g in self.groups:
            nr, nc = g.data.shape[1:]
            p = star[g.stars]
            cols = g.origin[:, 0, None, None] + np.arange(nc)[None, None, :] - p[:, 1, None, None]
            rows = (g.origin[:, 1, None, None] + np.arange(nr)[None, :, None] - p[:, 2, None, None]) / g.oversamp
            dxs.append(np.broadcast_to(cols, g.valid.shape)[g.valid])
            dys.append(np.broadcast_to(rows, g.valid.shape)[g.valid])
        return np.concatenate(dxs), np.concatenate(dys)

    def residuals(self, theta: NDArray[np.float64]) -> NDArray[np.float64]:
        """Weighted pixel residuals, then the prior pseudo-residuals."""
        mu, _ = self.evaluate(theta, with_jac=False)
        prior = (theta[self.prior_idx] - self.prior_mean) / self.prior_sigma
        return np.concatenate([self.weights * (mu - self.data), prior])

    def jacobian(self, theta: NDArray[np.float64]) -> sp.csr_matrix:
        _, blocks = self.evaluate(theta, with_jac=True)
        assert blocks is not None
        data = (blocks * self.weights[:, None]).ravel()
        jac = sp.csr_matrix((data, self.jac_indices, self.jac_indptr), shape=(self.n_pix, self.n_par))
        return with_prior_rows(jac, self.prior_idx, self.prior_sigma)


def with_prior_rows(
    jac: sp.csr_matrix, prior_idx: NDArray[np.int64], prior_sigma: NDArray[np.float64]
) -> sp.csr_matrix:
    """The pixels' Jacobian with the Gaussian priors' rows below it: d((theta_j - mean_j) / sigma_j)/d theta
    = 1/sigma_j at column ``prior_idx[j]`` (the residual rows the fit appends); ``jac`` itself without
    priors."""
    if prior_idx.size == 0:
        return jac
    k = prior_idx.size
    prior = sp.csr_matrix((1.0 / prior_sigma, prior_idx, np.arange(k + 1)), shape=(k, jac.shape[1]))
    return sp.vstack([jac, prior], format="csr")


def pixel_variance_dn2(
    level_dn: NDArray[np.float64], read_noise_dn: float, gain_e_per_dn: float
) -> NDArray[np.float64]:
    """Pixel variance, DN^2: read noise + photon noise (through the gain) + quantisation."""
    return read_noise_dn**2 + np.maximum(level_dn, 0.0) / gain_e_per_dn + _QUANT_VAR_DN2


def _propagate(jac: NDArray[np.float64], cov: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-sigma of derived quantities with Jacobian rows ``jac`` (n, n_free): sqrt(diag(J C J^T))."""
    var = np.einsum("ij,jk,ik->i", jac, cov, jac)
    return np.asarray(np.sqrt(np.maximum(var, 0.0)), dtype=np.float64)


def star_groups(
    images: list[NDArray[np.float64]], o_arr: NDArray[np.float64], centers: NDArray[np.float64], hw: int
) -> list[_Group]:
    """Crops of ``(2 hw + 1)`` columns x ``round((2 hw + 1) o)`` rows around each star, grouped by
    oversampling factor; :class:`InsufficientStarsError` when a vignette has no usable region."""
    nc = 2 * hw + 1
    min_valid = 3 * nc
    keys = np.round(o_arr, 9)
    groups: list[_Group] = []
    usable = np.zeros(len(images), dtype=bool)
    for key in np.unique(keys):
        idx = np.flatnonzero(keys == key)
        o = float(key)
        nr = int(round(nc * o))
        crops, origins, keep = [], [], []
        for i in idx:
            c0 = int(round(centers[i, 0])) - hw
            r0 = int(round(centers[i, 1])) - nr // 2
            crop = _crop(images[i], r0, c0, nr, nc)
            if np.isfinite(crop).sum() >= min_valid:
                crops.append(crop)
                origins.append((c0, r0))
                keep.append(i)
        if not keep:
            continue
        usable[keep] = True
        data = np.stack(crops)
        ybasis, xbasis = np.mgrid[0:nr, 0:nc].astype(np.float64)
        groups.append(
            _Group(
                oversamp=o,
                stars=np.asarray(keep, dtype=np.int64),
                data=data,
                valid=np.isfinite(data),
                origin=np.asarray(origins, dtype=np.float64),
                xbasis=xbasis - hw,
                ybasis=(ybasis - (nr - 1) / 2.0) / o,
            )
        )
    if not groups:
        raise InsufficientStarsError("no star vignette has enough valid pixels in the fit region")
    if not usable.all():
        raise InsufficientStarsError(f"vignettes {np.flatnonzero(~usable).tolist()} have no usable fit region")

    return groups


def initial_star_params(groups: list[_Group], centers: NDArray[np.float64]) -> NDArray[np.float64]:
    """Starting nuisance parameters (n_stars, 6): flux from the crop sum, the given centre, background =
    border median, no background slope."""
    star0 = np.zeros((len(centers), N_NUISANCE))
    for g in groups:
        for j, i in enumerate(g.stars):
            crop = g.data[j]
            border = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]])
            b = float(np.nanmedian(border)) if np.isfinite(border).any() else 0.0
            s = float(np.nansum(crop - b))
            star0[i] = (max(s, 1.0) / g.oversamp / 0.9, *centers[i], b, 0.0, 0.0)
    return star0


def fit_result(
    model: PoolModel,
    theta: NDArray[np.float64],
    cov_full: NDArray[np.float64],
    *,
    initial_params: PsfParams,
    o_arr: NDArray[np.float64],
    chi2: float,
    dof: int,
    nfev: int,
    misfit: MisfitStatistics,
    frequencies_cy_px: ArrayLike | None,
    ee_half_widths_px: Sequence[int],
    alternative_fixed: Sequence[str],
    active: Sequence[str] = (),
) -> PsfFitResult:
    """The :class:`PsfFitResult` of a solution ``theta`` of ``model`` and its covariance ``cov_full``
    (shared then per-star parameters, already scaled by chi2/dof when asked): MTF and EE with their
    propagated sigma, the model-choice terms, the star signals. Used by :func:`fit_starpool_psf` and,
    band by band, by the joint multi-band fit (:mod:`monitor.science.mtf_joint`).

    ``active``: free shared parameters at an active bound (:func:`active_bounds`). The statistical
    sigmas (parameters, MTF, EE, star signals) come from the covariance conditional on them
    (:func:`active_set_covariance`); the model-choice terms from ``cov_full`` itself (another
    admissible model of the data has its own active set: holding the wave-front error at 0 widens the
    blur and frees a smear held at 0)."""
    free_names = model.free
    held = tuple(n for n in free_names if n in set(active))
    cov_stat = active_set_covariance(
        cov_full, np.isin(np.arange(cov_full.shape[0]), [free_names.index(n) for n in held])
    )
    n = model.n_stars
    cov = cov_stat[: model.nf, : model.nf]
    fitted = model.params_of(theta)

    # MTF curves with analytic parameter derivatives.
    freqs = (
        np.linspace(0.0, 1.0, 51)
        if frequencies_cy_px is None
        else np.asarray(frequencies_cy_px, dtype=np.float64).reshape(-1)
    )
    f_all = np.concatenate([freqs, [NYQUIST_CY_PX]])
    zero = np.zeros(1)
    along, d_along = otf_grid(zero, f_all, fitted, free_names)
    across, d_across = otf_grid(f_all, zero, fitted, free_names)
    j_along = np.stack([d[:, 0] for d in d_along], axis=1)
    j_across = np.stack([d[0, :] for d in d_across], axis=1)
    s_along = _propagate(j_along, cov)
    s_across = _propagate(j_across, cov)
    theta_init = theta.copy()
    theta_init[: model.nf] = [getattr(initial_params, n) for n in free_names]
    fixed_idx = [free_names.index(n) for n in alternative_fixed if n in free_names]
    # The admissible alternatives: all of alternative_fixed held together, and each of them alone (the
    # wave-front error along or across only); the model-choice term is the largest change among them.
    # The pair alone was fragile: its linearised shift runs along the blur/smear valley (smear -30 to
    # -90 px on defocus B2 pools, far outside s >= 0) and its across change partly cancelled (pull rms
    # 2.22 on defocus B2 across, seed 2026, 24 pools; 1.25 with the largest of the three changes, the
    # other families within 0.02, apart from defocus P across 0.55 -> 0.40, all its pools flagged).
    shifts = alternative_model_shifts(theta, cov_full, fixed_idx, theta_init)  # shared and per-star
    m_along_model = MODEL_CHOICE_SCALE * np.max([np.abs(j_along @ sh[: model.nf]) for sh in shifts], axis=0)
    m_across_model = MODEL_CHOICE_SCALE * np.max([np.abs(j_across @ sh[: model.nf]) for sh in shifts], axis=0)
    # diagnostic only: the Akaike weights of the nested admissible models (mtf_model_choice; as the
    # model-choice sigma it under-covers, see MODEL_CHOICE_SCALE)
    ensemble = nested_model_ensemble(
        theta, cov_full, free_names, default_alternatives(free_names, alternative_fixed), theta_init
    )
    m_along = np.abs(along[:, 0])
    m_across = np.abs(across[0, :])

    # Encircled energies (phase-averaged, o = 1) with derivatives.
    h = np.asarray(ee_half_widths_px, dtype=np.int64).reshape(-1)
    ee, ee_jac = encircled_energy_square_mean_jacobian(h, fitted, free_names)  # (nh,), (nh, nf)
    ee_sigma = _propagate(ee_jac, cov)

    star = theta[model.nf :].reshape(n, N_NUISANCE)
    flux_var = np.diag(cov_stat)[model.nf :].reshape(n, N_NUISANCE)[:, 0]
    # the star signals keep the pair's change (shifts[0]): the largest of the three moved the pinned
    # starpool a_sigma by +8 to +22 % (tests/calibration/test_starpool_rows_pinned.py) and is not measured
    # against the A_k pulls of benchmarks/mtf.py
    flux_shift = shifts[0][model.nf :].reshape(n, N_NUISANCE)[:, 0] * o_arr  # star signals, DN
    flux_model_rel = MODEL_CHOICE_SCALE * abs(float(np.sum(flux_shift)) / float(np.sum(star[:, 0] * o_arr)))
    return PsfFitResult(
        params=fitted,
        free_names=free_names,
        values=theta[: model.nf].copy(),
        covariance=cov,
        mtf_nyquist_along=float(m_along[-1]),
        mtf_nyquist_along_sigma=float(s_along[-1]),
        mtf_nyquist_across=float(m_across[-1]),
        mtf_nyquist_across_sigma=float(s_across[-1]),
        frequencies_cy_px=freqs,
        mtf_along=m_along[:-1],
        mtf_along_sigma=s_along[:-1],
        mtf_across=m_across[:-1],
        mtf_across_sigma=s_across[:-1],
        ee_half_widths_px=h,
        ee=ee,
        ee_sigma=ee_sigma,
        fluxes_dn=star[:, 0] * o_arr,
        fluxes_sigma_dn=np.sqrt(np.maximum(flux_var, 0.0)) * o_arr,
        centers_xy=star[:, 1:3].copy(),
        backgrounds_dn=star[:, 3].copy(),
        chi2=chi2,
        dof=int(dof),
        nfev=nfev,
        misfit=misfit,
        mtf_nyquist_along_model_sigma=float(m_along_model[-1]),
        mtf_nyquist_across_model_sigma=float(m_across_model[-1]),
        mtf_along_model_sigma=m_along_model[:-1],
        mtf_across_model_sigma=m_across_model[:-1],
        flux_model_rel_sigma=flux_model_rel,
        model_ensemble=ensemble.as_dict(),
        active_bounds=held,
    )


def irls_solve(
    model: Any,
    theta0: NDArray[np.float64],
    bounds: tuple[NDArray[np.float64], NDArray[np.float64]],
    psf_names: Sequence[str],
    max_nfev: int,
    reweight: Callable[[NDArray[np.float64]], None],
) -> tuple[NDArray[np.float64], int]:
    """Weighted least squares of ``model`` (``residuals``, ``jacobian``; weights already data-based):
    two trust-region stages (each continued while it stops on its budget ``max_nfev`` rather than on
    convergence, at most :data:`STAGE_CONTINUATIONS` times), model-based weights (``reweight``) after
    each (IRLS), then the restart on
    the other side of the along-track (blur, smear) valley (:mod:`monitor.science.mtf_multistart`),
    kept when its chi2 (same weights) is lower. The first ``len(psf_names)`` entries of theta are the
    shared PSF parameters. Returns the solution and the model evaluations of its last stage(s)."""
    lower, upper = bounds
    nf = len(psf_names)

    def solve_once(x0: NDArray[np.float64], nfev_max: int) -> OptimizeResult:
        """Trust-region reflective least squares from ``x0`` (at most ``nfev_max`` evaluations)."""
        return least_squares(
            model.residuals,
            x0,
            jac=model.jacobian,
            bounds=bounds,
            method="trf",
            x_scale="jac",
            tr_solver="lsmr",
            max_nfev=nfev_max,
            xtol=XTOL,
            ftol=FTOL,
            gtol=1e-10,
        )

    def solve(x0: NDArray[np.float64], nfev_max: int) -> OptimizeResult:
        """:func:`solve_once`, continued from its solution (up to STAGE_CONTINUATIONS times) while it
        stops on its evaluation budget (status 0) instead of a convergence test."""
        sol = solve_once(x0, nfev_max)
        total = int(sol.nfev)
        for _ in range(STAGE_CONTINUATIONS):
            if sol.status != 0 or not np.all(np.isfinite(sol.x)):
                break
            sol = solve_once(np.asarray(sol.x, dtype=np.float64), nfev_max)
            total += int(sol.nfev)
        sol.nfev = total
        return sol

    theta = np.clip(theta0, lower + 1e-6 * (lower > -np.inf), None)
    nfev = 0
    for _stage in range(2):
        sol = solve(theta, max_nfev)
        if sol.status < 0 or not np.all(np.isfinite(sol.x)):
            raise PsfFitError(f"least_squares failed: {sol.message}")
        theta = np.asarray(sol.x, dtype=np.float64)
        nfev = int(sol.nfev)
        reweight(theta)
    restart = valley_restart(theta[:nf], psf_names)
    if restart is not None:
        theta_alt = theta.copy()
        theta_alt[:nf] = restart
        resid_now = model.residuals(theta)
        # a short probe first (RESTART_PROBE_NFEV evaluations); completed only when it is already better
        sol = solve_once(np.clip(theta_alt, lower, upper), RESTART_PROBE_NFEV)
        if sol.status >= 0 and np.all(np.isfinite(sol.x)) and 2.0 * float(sol.cost) < float(resid_now @ resid_now):
            sol = solve(sol.x, max_nfev)
        if sol.status >= 0 and np.all(np.isfinite(sol.x)) and 2.0 * float(sol.cost) < float(resid_now @ resid_now):
            theta = np.asarray(sol.x, dtype=np.float64)
            nfev += int(sol.nfev)
            reweight(theta)
    return theta, nfev


def information_covariance(jac: sp.csr_matrix) -> NDArray[np.float64]:
    """``(J^T J)^-1`` of the weighted Jacobian (Fisher information); :class:`PsfFitError` when singular."""
    info = (jac.T @ jac).toarray()
    try:
        cov_full = np.linalg.inv(info)
    except np.linalg.LinAlgError as exc:
        raise PsfFitError("singular information matrix (degenerate starpool)") from exc
    if not np.all(np.isfinite(cov_full)):
        raise PsfFitError("non-finite covariance (degenerate starpool)")
    return np.asarray(cov_full, dtype=np.float64)


def active_bounds(
    theta: ArrayLike,
    step: ArrayLike,
    bounds: tuple[ArrayLike, ArrayLike],
    squared: ArrayLike | None = None,
) -> NDArray[np.bool_]:
    """Bounds active at a solution ``theta`` of a bound-constrained least-squares problem.

    Parameter ``i`` is active when the linearised UNconstrained optimum lies on or beyond its bound:
    the data push it out of the feasible set and the constraint holds it there (Karush-Kuhn-Tucker
    multiplier > 0). ``step`` is the Gauss-Newton step from ``theta`` to that optimum,
    ``-(J^T J)^-1 J^T r`` (``r`` the weighted residuals; ~0 for an interior solution). The test is
    made in the coordinate in which the model is locally linear: for a parameter ``p >= 0`` on which
    the model depends through ``p^2`` (``squared``: a Gaussian blur, ``exp(-2 pi^2 sigma^2 f^2)``, a
    box smear, ``sinc(s f)``: even functions, with zero derivative at 0 so that the solver creeps
    towards 0 without reaching it) that is ``u = p^2``, whose linearised optimum is ``p^2 + 2 p dp``:
    active when ``dp <= -p / 2``. No tolerance on the distance to the bound is needed (the
    trust-region reflective solver stays strictly inside).

    >>> bounds = ([0.0, 0.0, 0.0], [np.inf] * 3)
    >>> active_bounds([0.3, 1e-9, 0.5], [-0.2, -1e-4, 0.01], bounds, [True, False, False]).tolist()
    [True, True, False]
    """
    x = np.asarray(theta, dtype=np.float64)
    dx = np.asarray(step, dtype=np.float64)
    lower = np.asarray(bounds[0], dtype=np.float64)
    upper = np.asarray(bounds[1], dtype=np.float64)
    sq = np.zeros(x.shape, dtype=bool) if squared is None else np.asarray(squared, dtype=bool)
    # p^2 + 2 p dp <= 0 for the squared-coordinate parameters (bound p >= 0), x + dx otherwise
    beyond_lower = np.where(sq & (lower == 0.0), dx <= -0.5 * x, x + dx <= lower)
    return np.asarray((np.isfinite(lower) & beyond_lower) | (np.isfinite(upper) & (x + dx >= upper)), dtype=bool)


def active_set_covariance(cov_full: NDArray[np.float64], active: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Covariance of a bound-constrained least-squares estimate with the ``active`` parameters held.

    In the locally linear problem the estimate is the projection of the unconstrained one onto the
    feasible set in the metric of the information matrix. When the truth lies on the bound (e.g. a
    wave-front error depth 0), the pools whose unconstrained estimate falls outside have the
    active parameter exactly right and the others at the conditional solution: their error
    covariance is the conditional one ``C - C[:, A] C[A, A]^-1 C[A, :]`` (the inverse information
    with the active parameters removed; Schur complement), zero on the active rows and columns,
    while the pools with an interior estimate keep ``C``. Unconditionally the error of a quantity
    ``q`` then has the mean square ``(j^T C j + j^T C_A j) / 2`` that a half-normal argument gives,
    which the linear covariance ``C`` over-states (Stark & Parker 1995, bounded-variable least
    squares; Self & Liang 1987 for the boundary's half-normal mixture).

    >>> active_set_covariance(np.array([[1.0, 0.5], [0.5, 1.0]]), np.array([False, True])).tolist()
    [[0.75, 0.0], [0.0, 0.0]]
    """
    a = np.flatnonzero(active)
    if a.size == 0:
        return cov_full
    cond = cov_full - cov_full[:, a] @ np.linalg.solve(cov_full[np.ix_(a, a)], cov_full[a, :])
    cond[a, :] = 0.0
    cond[:, a] = 0.0
    return np.asarray(0.5 * (cond + cond.T), dtype=np.float64)


def fit_starpool_psf(
    vignettes: Sequence[ArrayLike],
    oversamps: Sequence[float] | ArrayLike,
    initial_params: PsfParams,
    *,
    read_noise_dn: float,
    gain_e_per_dn: float,
    centers_xy: ArrayLike | None = None,
    free: Sequence[str] = DEFAULT_FREE,
    fit_half_width_px: int = 8,
    ee_half_widths_px: Sequence[int] = DEFAULT_STAR_HALF_WIDTHS_PX,
    frequencies_cy_px: ArrayLike | None = None,
    pad_px: float = 48.0,
    scale_covariance: bool = True,
    max_nfev: int = 60,
    misfit_alpha: float = DEFAULT_MISFIT_ALPHA,
    alternative_fixed: Sequence[str] = ALTERNATIVE_FIXED,
    prior_sigmas: Mapping[str, float] = PRIOR_SIGMAS,
    condition_on_bounds: bool = True,
) -> PsfFitResult:
    """Fit one PSF jointly to all star vignettes of a starpool (one band).

    Parameters
    ----------
    vignettes : sequence of 2-D array_like
        Dark-subtracted star vignettes ``DN - DARK`` (rows along track, columns across), any
        remaining background is fitted. NaN pixels (missing, saturated, masked) are ignored.
    oversamps : sequence of float, shape (n_stars,)
        Along-track oversampling o >= 1 of each vignette (ICD §1.2 ``OVERSAMP``).
    initial_params : PsfParams
        Starting PSF; its non-free fields (diffraction design constants, fixed terms) are kept.
    read_noise_dn : float
        Read noise, DN rms per pixel.
    gain_e_per_dn : float
        Conversion gain, electrons per DN (photon noise variance = signal_DN / gain).
    centers_xy : array_like, shape (n_stars, 2), optional
        Approximate star centres (column, row in row units), within ~1 px; estimated from the
        brightest pixel when omitted.
    free : sequence of str
        Shared PSF parameters to fit, among ``psf.FREE_PARAMETER_NAMES``.
    fit_half_width_px : int
        Half-width of the fitted region around each star: (2h+1) columns x round((2h+1)·o) rows.
    ee_half_widths_px : sequence of int
        Window half-widths for the reported encircled energies (ICD §4).
    frequencies_cy_px : array_like, optional
        Frequencies of the reported MTF curves, cy/px (default 0, 0.02, ..., 1).
    pad_px : float
        Padding of the model's periodic grid around the fitted region, native px.
    scale_covariance : bool
        Multiply the covariance by chi2/dof when that exceeds 1 (model or noise mismatch).
    max_nfev : int
        Model evaluations per least-squares call; a stage that stops on this budget instead of a
        convergence test is continued (:data:`STAGE_CONTINUATIONS` more calls at most).
    misfit_alpha : float
        False-alarm probability of the chi2 misfit test (:func:`misfit_statistics`; the structure test
        has its own nominal level, ``mtf_misfit.DEFAULT_STRUCTURE_ALPHA``).
    alternative_fixed : sequence of str
        Free parameters that the alternative admissible model holds at their ``initial_params``
        values (all together, and each alone); the largest MTF change is the model-choice term
        (:func:`monitor.science.mtf_select.alternative_model_shifts`). Names
        not in ``free`` are ignored; empty: no model-choice term.
    prior_sigmas : mapping of str to float
        Gaussian prior 1-sigma of free shared parameters around their ``initial_params`` values
        (the design tolerance, e.g. :data:`PRIOR_SIGMAS`: obscuration +-0.05 when it is freed);
        names not in ``free`` are ignored.
    condition_on_bounds : bool
        Condition the covariance on the parameters held at an active bound (:func:`active_bounds`,
        :func:`active_set_covariance`); when False the linear covariance ignores the bounds (the
        active ones are still recorded in ``PsfFitResult.active_bounds``).

    Returns
    -------
    PsfFitResult

    Raises
    ------
    InsufficientStarsError
        If no vignette has enough valid pixels.
    PsfFitError
        If the optimiser fails or the information matrix is singular.
    ValueError
        On inconsistent arguments.
    """
    free_names = validate_free(free)
    images = [np.asarray(v, dtype=np.float64) for v in vignettes]
    o_arr = np.asarray(oversamps, dtype=np.float64).reshape(-1)
    if len(images) == 0:
        raise InsufficientStarsError("empty starpool")
    if o_arr.size != len(images) or np.any(o_arr < 1.0) or any(v.ndim != 2 for v in images):
        raise ValueError("need one oversamp >= 1 per 2-D vignette")
    if read_noise_dn < 0.0 or gain_e_per_dn <= 0.0:
        raise ValueError("read_noise_dn must be >= 0 and gain_e_per_dn > 0")
    hw = int(fit_half_width_px)
    nc = 2 * hw + 1
    if centers_xy is None:
        centers = np.array([initial_center(v, o) for v, o in zip(images, o_arr, strict=True)])
    else:
        centers = np.asarray(centers_xy, dtype=np.float64).reshape(len(images), 2)

    groups = star_groups(images, o_arr, centers, hw)
    n = len(images)
    model = PoolModel(groups, n, initial_params, free_names, nc, pad_px)
    model.set_priors({name: (float(getattr(initial_params, name)), float(sig)) for name, sig in prior_sigmas.items()})

    theta0 = np.zeros(model.n_par)
    theta0[: model.nf] = [getattr(initial_params, name) for name in free_names]
    theta0[model.nf :] = initial_star_params(groups, centers).ravel()
    lower = np.full(model.n_par, -np.inf)
    lower[: model.nf] = 0.0
    upper = np.full(model.n_par, np.inf)
    if "obscuration" in free_names:
        upper[free_names.index("obscuration")] = MAX_OBSCURATION
    bounds = (lower, upper)

    def reweight(th: NDArray[np.float64]) -> None:
        mu, _ = model.evaluate(th, with_jac=False)
        model.weights = 1.0 / np.sqrt(pixel_variance_dn2(mu, read_noise_dn, gain_e_per_dn))

    # Stage 1: data-based weights; stage 2: model-based weights (IRLS).
    model.weights = 1.0 / np.sqrt(pixel_variance_dn2(model.data, read_noise_dn, gain_e_per_dn))
    theta, nfev = irls_solve(model, theta0, bounds, free_names, max_nfev, reweight)

    # Covariance from the Fisher information at the solution (final weights).
    jac = model.jacobian(theta)
    resid = model.residuals(theta)
    chi2 = float(resid @ resid)
    dof = model.n_pix + model.prior_idx.size - model.n_par
    dx_pix, dy_pix = model.offsets(theta)
    misfit = misfit_statistics(-resid[: model.n_pix], dx_pix, dy_pix, dof, alpha=misfit_alpha)
    cov_full = information_covariance(jac)
    step = -(cov_full @ (jac.T @ resid))
    squared = np.isin(np.arange(model.n_par), [i for i, name in enumerate(free_names) if name in SQUARED_PARAMETERS])
    active = active_bounds(theta, step, bounds, squared)[: model.nf]
    active_names = tuple(name for name, a in zip(free_names, active, strict=True) if a)
    if scale_covariance and dof > 0 and chi2 / dof > 1.0:
        cov_full = cov_full * (chi2 / dof)
    result = fit_result(
        model,
        theta,
        cov_full,
        initial_params=initial_params,
        o_arr=o_arr,
        chi2=chi2,
        dof=int(dof),
        nfev=nfev,
        misfit=misfit,
        frequencies_cy_px=frequencies_cy_px,
        ee_half_widths_px=ee_half_widths_px,
        alternative_fixed=alternative_fixed,
        active=active_names if condition_on_bounds else (),
    )
    return result if condition_on_bounds else dataclasses.replace(result, active_bounds=active_names)
