"""Non-parametric MTF cross-check: oversampled line-spread functions stacked over a starpool.

Every star of a pool samples its pixel-integrated PSF at a different sub-pixel phase, and an
along-track oversampled vignette samples it every 1/o native pixel (ICD-1 §1.2). Registering
the stars on their centres and resampling the pooled samples on a fine grid (``grid_px``; linear
interpolation of the position-sorted samples, or 0.25-px bin means) gives an oversampled
effective PSF (Anderson & King 2000) without any shape model. This module builds
its two 1-D marginals, the line-spread functions (LSF)::

    across:  L_x(x_c - x_k) = sum_rows (DN - b_k) / S_k              (columns at 1 px)
    along:   L_y((y_r - y_k)/o_k) = o_k · sum_cols (DN - b_k) / S_k  (rows at 1/o px)

and Fourier-transforms them: ``MTF(f) = |sum_b L_b e^{-2 pi i f x_b} grid_px|`` (divided by
``sinc(grid_px f)`` for bin means, which average positions inside a bin), the sum running over
``|x| <= h`` (an even number of pixels: the window's box has no Nyquist component, so a level left
in the window, wing or background, does not move the MTF at Nyquist). By the projection-slice
theorem these are the along/across cuts of the MTF of the pixel-integrated PSF, the quantity of
ICD-1 §5. With known star signals ``S_k`` the curve is normalised by them, so light outside the
window only lowers the low frequencies; without them it is normalised to 1 at f = 0.

References
----------
Anderson, J. & King, I. R. (2000), PASP 112, 1360.
Bracewell, R. N. (1956), projection-slice theorem; Goodman (2005) §2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import PchipInterpolator

from monitor.science.psf import NYQUIST_CY_PX

__all__ = [
    "EpsfMtfResult",
    "NoUsableStarsError",
    "epsf_mtf",
]


# Bin width of the smooth part of the reference's mismatch in the across-track wild bootstrap
# (_wild_parts), native px: narrow enough to follow the mismatch of a model that does not fit the core
# (what leaks into the residuals is flipped by the draws and counted as noise), wide enough to hold a few
# samples (25 stars: ~3 per bin across track). Pupil truth (benchmarks/mtf.py, red star, astigmatism +
# vanes, defocus, in-family; choice seeds 2026 + 2027, 48 pools per family and band), ePSF pull rms across
# track over the 4 families (n = 192) PAN/B2: 0.25 px 0.93/0.95 (red star PAN 0.79, astigmatism PAN
# 0.89); 0.125 px 1.01/0.99 (every family and band 0.87-1.14).
WILD_BIN_PX = 0.125
# Largest leverage corrected in the wild bootstrap's residuals (_wild_parts): a bin with one or two samples
# has a mean that nearly passes through them, and 1/sqrt(1 - h) would blow their small residuals up.
WILD_MAX_LEVERAGE = 0.5


class NoUsableStarsError(ValueError):
    """Raised when no star window lies fully inside its vignette without NaN."""


@dataclass(frozen=True)
class EpsfMtfResult:
    """Non-parametric MTF of a starpool.

    Attributes
    ----------
    frequencies_cy_px : ndarray, shape (nf,)
        Frequencies, cycles per native pixel.
    mtf_along, mtf_across : ndarray, shape (nf,)
        MTF cuts along (y) and across (x) track.
    mtf_nyquist_along, mtf_nyquist_across : float
        Values at 0.5 cy/px.
    bin_centers_px : ndarray, shape (nb,)
        Centres of the LSF bins, native px from the star centre.
    lsf_along, lsf_across : ndarray, shape (nb,)
        Stacked line-spread functions (per native px; NaN-free, empty bins interpolated).
    n_stars : int
        Number of stars used.
    mtf_along_sigma, mtf_across_sigma : ndarray, shape (nf,)
        Bootstrap-over-stars 1-sigma of the curves (0 without bootstrap).
    mtf_nyquist_along_sigma, mtf_nyquist_across_sigma : float
        Bootstrap-over-stars 1-sigma at Nyquist (0 without bootstrap).
    centers_xy : ndarray, shape (n, 2), optional
        Star centres after re-registration on the stack (column, row in row units); the input
        centres for stars not used.
    nyquist_sigma_terms : dict, optional
        The 1-sigma terms at Nyquist (along, across) that a caller combined into the sigmas
        (e.g. :func:`monitor.science.mtf_nonparametric.nonparametric_mtf`: bootstrap and the
        centring/interpolation-choice differences); a diagnostic, not used by any estimate.
    leave_one_out_nyquist : ndarray, shape (n, 2), optional
        MTF at Nyquist (along, across) of the stack without star ``k`` (row ``k``, the input's
        order; NaN for the stars not used), with ``jackknife=True``.
    leave_one_out_curves : ndarray, shape (n, 2, nf), optional
        The same for the curves (along, across) at ``frequencies_cy_px``.
    reference_nyquist : (float, float), optional
        MTF at Nyquist (along, across) of the ``reference_vignettes`` stacked like the data (same
        positions, windows, normalisation and interpolant), when given.
    reference_curves : ndarray, shape (2, nf), optional
        The same for the curves (along, across).
    """

    frequencies_cy_px: NDArray[np.float64]
    mtf_along: NDArray[np.float64]
    mtf_across: NDArray[np.float64]
    mtf_nyquist_along: float
    mtf_nyquist_across: float
    bin_centers_px: NDArray[np.float64]
    lsf_along: NDArray[np.float64]
    lsf_across: NDArray[np.float64]
    n_stars: int
    mtf_along_sigma: NDArray[np.float64] | None = None
    mtf_across_sigma: NDArray[np.float64] | None = None
    mtf_nyquist_along_sigma: float = 0.0
    mtf_nyquist_across_sigma: float = 0.0
    centers_xy: NDArray[np.float64] | None = None
    nyquist_sigma_terms: dict[str, tuple[float, float]] | None = None
    leave_one_out_nyquist: NDArray[np.float64] | None = None
    leave_one_out_curves: NDArray[np.float64] | None = None
    reference_nyquist: tuple[float, float] | None = None
    reference_curves: NDArray[np.float64] | None = None


def _binned_mean(
    pos: NDArray[np.float64], val: NDArray[np.float64], wgt: NDArray[np.float64], edges: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Weighted mean of ``val`` in each bin; empty bins linearly interpolated (0 beyond the ends)."""
    nb = edges.size - 1
    idx = np.clip(np.searchsorted(edges, pos, side="right") - 1, 0, nb - 1)
    inside = (pos >= edges[0]) & (pos < edges[-1])
    sw = np.bincount(idx[inside], weights=wgt[inside], minlength=nb)
    swv = np.bincount(idx[inside], weights=(wgt * val)[inside], minlength=nb)
    centers = 0.5 * (edges[1:] + edges[:-1])
    filled = sw > 0
    if not filled.any():
        return np.zeros(nb)
    mean = np.where(filled, swv / np.where(filled, sw, 1.0), 0.0)
    return np.interp(centers, centers[filled], mean[filled], left=0.0, right=0.0)


def _sorted_interp(
    pos: NDArray[np.float64], val: NDArray[np.float64], grid: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Samples sorted by position and linearly interpolated onto ``grid`` (0 outside the samples)."""
    order = np.argsort(pos, kind="stable")
    return np.interp(grid, pos[order], val[order], left=0.0, right=0.0)


def _sorted_pchip(pos: NDArray[np.float64], val: NDArray[np.float64], grid: NDArray[np.float64]) -> NDArray[np.float64]:
    """Samples merged by position (mean of equal positions) and PCHIP-interpolated onto ``grid`` (0 outside).

    The monotone piecewise cubic (Fritsch & Carlson 1980) never overshoots its neighbouring samples, so
    close noisy samples of different stars cannot make spikes; its error is O(h^3) where the linear
    interpolant's, ``L'' (x - x1)(x2 - x)/2``, lowers the MTF by about ``pi^2 f^2 sum h^3 / (3 sum h)``
    (1 % at Nyquist across track for 25 random phases, measured on the pupil truth).
    """
    uniq, inverse = np.unique(pos, return_inverse=True)
    if uniq.size < 2:
        return np.zeros_like(grid)
    mean = np.bincount(inverse, val) / np.bincount(inverse)
    out = PchipInterpolator(uniq, mean, extrapolate=False)(grid)
    return np.asarray(np.nan_to_num(out, nan=0.0), dtype=np.float64)


def _wild_parts(
    pos: list[NDArray[np.float64]],
    val: list[NDArray[np.float64]],
    ref: list[NDArray[np.float64]],
    wgt: list[NDArray[np.float64]],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Smooth part and residuals of the stars' LSF samples for the wild bootstrap (:func:`epsf_mtf`).

    The smooth part is the reference (a model sampled at the same positions) plus the bin means
    (:data:`WILD_BIN_PX` bins, signal-weighted, linearly interpolated) of the samples' differences from
    it: the reference's mismatch, smooth over a bin, is kept out of the residuals, which carry the
    stars' own errors (noise, centring, signal). Each residual is divided by ``sqrt(1 - h)``, ``h`` its
    weight's share of its bin (the bin mean's leverage: a residual from a mean that includes it is
    smaller than the error by that factor in variance).

    Returns
    -------
    smooth, residuals : ndarray
        Concatenated over the stars, in order.
    """
    p, v, r, w = (np.concatenate(a) for a in (pos, val, ref, wgt))
    lo = float(np.floor(p.min() / WILD_BIN_PX)) * WILD_BIN_PX
    edges = np.asarray(lo + WILD_BIN_PX * np.arange(int(np.ceil((p.max() - lo) / WILD_BIN_PX)) + 2), dtype=np.float64)
    d = v - r
    mismatch = _binned_mean(p, d, w, edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    smooth = r + np.interp(p, centres, mismatch)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, centres.size - 1)
    # leverage: the sample's share of its bin's mean times that bin's linear-interpolation weight at it
    own = 1.0 - np.abs(p - centres[idx]) / WILD_BIN_PX
    share = own * w / np.bincount(idx, weights=w, minlength=centres.size)[idx]
    return smooth, (v - smooth) / np.sqrt(1.0 - np.minimum(share, WILD_MAX_LEVERAGE))


def _lsf_mtf(
    lsf: NDArray[np.float64],
    centers: NDArray[np.float64],
    step_px: float,
    bin_width_px: float,
    freqs: NDArray[np.float64],
    phase: NDArray[np.complex128] | None = None,
) -> NDArray[np.float64]:
    """|Fourier transform| of a sampled LSF, divided by the bin-averaging sinc (if binned).

    ``phase``: :func:`_lsf_phase` of ``freqs`` and ``centers``, when the caller transforms many LSFs
    on one grid (the bootstrap: its complex exponentials were most of the ePSF MTF's time)."""
    if phase is None:
        phase = _lsf_phase(freqs, centers)
    ft = np.abs(phase @ lsf) * step_px
    return np.asarray(ft / np.sinc(bin_width_px * freqs), dtype=np.float64)


def _lsf_phase(freqs: NDArray[np.float64], centers: NDArray[np.float64]) -> NDArray[np.complex128]:
    """The Fourier kernel ``exp(-2 pi i f x)`` of :func:`_lsf_mtf`, shape (frequencies, samples)."""
    return np.asarray(np.exp(-2j * np.pi * freqs[:, None] * centers[None, :]), dtype=np.complex128)


def _recenter(
    pos: list[NDArray[np.float64]],
    val: list[NDArray[np.float64]],
    lsf: NDArray[np.float64],
    grid: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Shift of each star that best matches its 1-D profile to the stacked LSF, native px.

    Gauss-Newton on ``sum_i (v_i - a L(p_i - d))^2`` over the scale ``a`` and shift ``d`` of every
    star at once (three iterations; the per-star 2 x 2 normal equations are solved in closed form).
    """
    n = len(pos)
    star = np.concatenate([np.full(p.size, k) for k, p in enumerate(pos)])
    p_all = np.concatenate(pos)
    v_all = np.concatenate(val)
    dlsf = np.gradient(lsf, grid)
    d = np.zeros(n)
    a = np.ones(n)
    for _ in range(3):
        x = p_all - d[star]
        model = np.interp(x, grid, lsf, left=0.0, right=0.0)
        slope = np.interp(x, grid, dlsf, left=0.0, right=0.0)
        rho = v_all - a[star] * model
        ja = model  # d(a L)/da
        jd = -a[star] * slope  # d(a L(p - d))/dd
        saa = np.bincount(star, ja * ja, n)
        sdd = np.bincount(star, jd * jd, n)
        sad = np.bincount(star, ja * jd, n)
        ra = np.bincount(star, ja * rho, n)
        rd = np.bincount(star, jd * rho, n)
        det = saa * sdd - sad * sad
        ok = det > 0.0
        step_a = np.where(ok, (sdd * ra - sad * rd) / np.where(ok, det, 1.0), 0.0)
        step_d = np.where(ok, (saa * rd - sad * ra) / np.where(ok, det, 1.0), 0.0)
        a = a + step_a
        d = d + np.clip(step_d, -0.25, 0.25)
    return np.asarray(d - d.mean(), dtype=np.float64)  # the stack's origin is arbitrary; keep the mean centre


def epsf_mtf(
    vignettes: Sequence[ArrayLike],
    oversamps: Sequence[float] | ArrayLike,
    centers_xy: ArrayLike,
    *,
    fluxes_dn: ArrayLike | None = None,
    backgrounds_dn: ArrayLike | None = None,
    half_width_px: int = 8,
    grid_px: float = 0.05,
    method: str = "interp",
    frequencies_cy_px: ArrayLike | None = None,
    recenter_iterations: int = 0,
    n_bootstrap: int = 0,
    seed: int = 0,
    flux_rel_sigma: float = 0.0,
    transform_half_width_px: float | None = None,
    jackknife: bool = False,
    marginal_half_width_px: int | None = None,
    reference_vignettes: Sequence[ArrayLike] | None = None,
) -> EpsfMtfResult:
    """MTF along/across track from stacked, registered, oversampled line-spread functions.

    Parameters
    ----------
    vignettes : sequence of 2-D array_like
        Dark-subtracted star vignettes, DN (rows along track).
    oversamps : sequence of float, shape (n,)
        Along-track oversampling o of each vignette.
    centers_xy : array_like, shape (n, 2)
        Star centres (column, row in row units), e.g. from ``fit_starpool_psf``; their errors
        blur the stack and lower the MTF (``recenter_iterations`` refines them on the stack).
    fluxes_dn : array_like, shape (n,), optional
        Star signals S_k (sum over an infinite vignette, including o). When omitted, each star
        is normalised by its window sum and the MTF curve to 1 at f = 0.
    backgrounds_dn : array_like, shape (n,), optional
        Background per pixel; default the median of each vignette's 2-px border.
    half_width_px : int
        Half-width of the summation window, native px (columns ±h, rows ±h·o).
    grid_px : float
        Sampling step of the stacked LSF, native px (the bin width for ``method="bin"``,
        where 0.25 px is the usual choice).
    method : {"interp", "pchip", "bin"}
        ``"interp"``: all registered samples sorted by position and linearly interpolated onto
        the grid (robust to uneven phase coverage, the default; the linear interpolant lowers the
        MTF, ~1 % at Nyquist across track with 25 phases); ``"pchip"``: the same samples with a
        monotone cubic (:func:`_sorted_pchip`, about half that error, no overshoot between noisy
        samples); ``"bin"``: weighted bin means (empty bins interpolated) with the
        ``sinc(grid_px f)`` bin-width correction.
    frequencies_cy_px : array_like, optional
        Output frequencies (default 0, 0.02, ..., 1 cy/px).
    recenter_iterations : int
        Passes of the Anderson & King (2000) iteration: each star's across (along) profile is
        re-registered on the stacked LSF (:func:`_recenter`) and the stack rebuilt. It removes
        random centring errors, NOT a pixel-phase-dependent centring error (a centre bias that
        is a periodic function of the sub-pixel phase): with 1-px sampling the stack warps to
        match any such error exactly at the samples (the undersampled ePSF is degenerate with
        it). Give centres free of phase error instead
        (:func:`monitor.science.mtf_nonparametric.moment_centers`).
    n_bootstrap : int
        Bootstrap resamplings of the stars (with replacement) for the 1-sigma of the curves and
        of the Nyquist values (0: no bootstrap, sigma 0). The bootstrap over stars carries
        photon noise, centring and flux errors and the phase coverage of the pool. With
        ``reference_vignettes`` the across-track sigma is a wild bootstrap instead (same count).
    seed : int
        Seed of the bootstrap resampling (results are reproducible).
    flux_rel_sigma : float
        Relative 1-sigma of ``fluxes_dn`` common to every star (e.g. the light beyond the largest
        window, :class:`monitor.science.ee_correction.CurveOfGrowth`): it scales the whole curve,
        which a bootstrap over the stars cannot see; ``MTF · flux_rel_sigma`` is added in
        quadrature to the sigmas.
    transform_half_width_px : float, optional
        The stacked LSF is Fourier-transformed over ``|x| <= transform_half_width_px`` (default
        ``half_width_px``: an even number ``2 h`` of pixels, whose box has a zero at Nyquist, so a
        level left in the window, the LSF's wing at the window edge or a background residual, does
        not move the MTF at Nyquist to first order). Over the pixel edges ``h + 1/2`` (the sum
        before issue 15's last round) such a level ``c`` (per px, in units of the signal) adds
        ``(-1)^h 2 c / pi`` at Nyquist: +0.2 % (h = 8) / -0.6 % (h = 7) along track on a
        noise-free pupil truth, +0.4 to +1.2 % on the noisy benchmark pools.

    marginal_half_width_px : int, optional
        Half-width of the sum across each LSF's direction (rows ``+-round(m o)`` for the across LSF,
        columns ``+-m`` for the along one); default ``half_width_px`` (a square window). Light beyond
        it in that direction is missing from the LSF: nothing at Nyquist for a wing smooth over a
        pixel, its own flux times its MTF for a structure narrow across the LSF's direction (a
        spider vane's diffraction spike along the other axis).
    jackknife : bool
        Also stack the pool without each star in turn (``leave_one_out_nyquist``; Efron & Stein
        1981: the delete-one jackknife variance ``(n-1)/n sum (t_(k) - t_(.))^2`` of a smooth
        statistic, which, unlike a bootstrap draw, keeps the pool's phase coverage).
    reference_vignettes : sequence of 2-D array_like, optional
        Noise-free, background-free images of a model of the same stars, DN (e.g. the starpool fit's
        PSF at ``centers_xy`` and ``fluxes_dn``: :func:`monitor.science.mtf_nonparametric.model_vignettes`).
        The across-track 1-sigma is then a WILD bootstrap over the stars at the pool's own phases
        (Wu 1986; Mammen 1993): every sample is split into a smooth part, the reference plus the
        :data:`WILD_BIN_PX` bin means of the data's difference from it, and a residual (leverage-corrected,
        :func:`_wild_parts`), and each draw flips the residuals of every star by a Rademacher sign (one per
        star: its noise, centring, signal and background errors move together). A resampling draw holds
        ~63 % distinct stars: across track (one sample per pixel per star) it stacks fewer phases, whose
        larger and different interpolation error it counts as noise. On the pupil truth (benchmarks/mtf.py,
        choice seeds 2026 + 2027, 48 pools per family and band) the resampling bootstrap of the noise-free
        model itself read 0.3-1.1e-3 at Nyquist across (0.04-0.13e-3 along), against actual stack errors of
        0.6-1.7e-3 rms; at fixed phases (24-30 noise draws of each of 9 in-family B2 pools) it was 1.3-4.6 times the
        noise's scatter, the wild bootstrap 0.69-1.17 times (tests/science/test_epsf.py). Along track the rows
        sample 1-4 phases per star and the resampling bootstrap is kept.
        ``reference_nyquist`` / ``reference_curves``: the reference's own stack.

    Returns
    -------
    EpsfMtfResult

    Raises
    ------
    NoUsableStarsError
        If no star window is complete (inside the vignette and free of NaN).
    """
    if method not in ("interp", "pchip", "bin"):
        raise ValueError(f"method must be 'interp', 'pchip' or 'bin', got {method!r}")
    images = [np.asarray(v, dtype=np.float64) for v in vignettes]
    o_arr = np.asarray(oversamps, dtype=np.float64).reshape(-1)
    centers = np.asarray(centers_xy, dtype=np.float64).reshape(-1, 2)
    if o_arr.size != len(images) or centers.shape[0] != len(images):
        raise ValueError("need one oversamp and one centre per vignette")
    fluxes = None if fluxes_dn is None else np.asarray(fluxes_dn, dtype=np.float64).reshape(-1)
    bkgs = None if backgrounds_dn is None else np.asarray(backgrounds_dn, dtype=np.float64).reshape(-1)
    freqs = (
        np.linspace(0.0, 1.0, 51)
        if frequencies_cy_px is None
        else np.asarray(frequencies_cy_px, dtype=np.float64).reshape(-1)
    )
    hw = int(half_width_px)
    m_hw = hw if marginal_half_width_px is None else int(marginal_half_width_px)
    px_x: list[NDArray[np.float64]] = []
    vx: list[NDArray[np.float64]] = []
    wx: list[NDArray[np.float64]] = []  # per-sample weights (star signal)
    px_y: list[NDArray[np.float64]] = []
    vy: list[NDArray[np.float64]] = []
    wy: list[NDArray[np.float64]] = []
    kept: list[int] = []
    ref_x: list[NDArray[np.float64]] = []  # the reference's samples (reference_vignettes)
    ref_y: list[NDArray[np.float64]] = []
    for k, img in enumerate(images):  # a loop over a handful of stars; pixels are vectorised
        o = float(o_arr[k])
        cx, cy = centers[k]
        ic, ir = int(round(cx)), int(round(cy))
        hr = int(round(hw * o))
        r0, r1, c0, c1 = ir - hr, ir + hr + 1, ic - hw, ic + hw + 1
        mr = int(round(m_hw * o))  # the marginals' extent across their direction
        if min(ir - mr, r0) < 0 or min(ic - m_hw, c0) < 0:
            continue
        if max(ir + mr + 1, r1) > img.shape[0] or max(ic + m_hw + 1, c1) > img.shape[1]:
            continue
        if bkgs is None:
            border = np.concatenate([img[:2].ravel(), img[-2:].ravel(), img[:, :2].ravel(), img[:, -2:].ravel()])
            b = float(np.nanmedian(border))
        else:
            b = float(bkgs[k])
        win = img[r0:r1, c0:c1] - b
        win_x = img[ir - mr : ir + mr + 1, c0:c1] - b  # the across LSF's rows
        win_y = img[r0:r1, ic - m_hw : ic + m_hw + 1] - b  # the along LSF's columns
        if not (np.all(np.isfinite(win)) and np.all(np.isfinite(win_x)) and np.all(np.isfinite(win_y))):
            continue
        s = float(fluxes[k]) if fluxes is not None else float(win.sum())
        if not s > 0.0:
            continue
        if reference_vignettes is not None:
            ref = np.asarray(reference_vignettes[k], dtype=np.float64)
            ref_x.append(ref[ir - mr : ir + mr + 1, c0:c1].sum(axis=0) / s)
            ref_y.append(ref[r0:r1, ic - m_hw : ic + m_hw + 1].sum(axis=1) * o / s)
        px_x.append(np.arange(c0, c1) - cx)
        vx.append(win_x.sum(axis=0) / s)
        wx.append(np.full(c1 - c0, s))
        px_y.append((np.arange(r0, r1) - cy) / o)
        vy.append(win_y.sum(axis=1) * o / s)
        wy.append(np.full(r1 - r0, s))
        kept.append(k)
    if not px_x:
        raise NoUsableStarsError("no complete star window in the pool")
    nb = int(round((2 * hw + 1) / grid_px))
    edges = np.asarray(-(hw + 0.5) + grid_px * np.arange(nb + 1), dtype=np.float64)
    centers_b = 0.5 * (edges[1:] + edges[:-1])
    bin_width = grid_px if method == "bin" else 0.0
    f_all = np.concatenate([freqs, [NYQUIST_CY_PX, 0.0]])
    n_used = len(px_x)

    def stack(
        sel: NDArray[np.int64], values: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The LSFs of the stars ``sel``; ``values``: other sample values of all the stars (in order)."""
        pos_x = np.concatenate([px_x[i] for i in sel])
        pos_y = np.concatenate([px_y[i] for i in sel])
        if values is None:
            val_x = np.concatenate([vx[i] for i in sel])
            val_y = np.concatenate([vy[i] for i in sel])
        else:
            val_x, val_y = values
        if method in ("interp", "pchip"):
            interp = _sorted_interp if method == "interp" else _sorted_pchip
            return interp(pos_x, val_x, centers_b), interp(pos_y, val_y, centers_b)
        w_x = np.concatenate([wx[i] for i in sel])
        w_y = np.concatenate([wy[i] for i in sel])
        return _binned_mean(pos_x, val_x, w_x, edges), _binned_mean(pos_y, val_y, w_y, edges)

    phase = _lsf_phase(f_all, centers_b)  # one grid for every stack and bootstrap draw
    # the Fourier sum runs over |x| <= transform half-width (default hw: an even number 2 hw of pixels)
    t_hw = float(hw if transform_half_width_px is None else transform_half_width_px)
    phase = phase * (np.abs(centers_b) <= t_hw)[None, :]

    def mtfs(lsf_x: NDArray[np.float64], lsf_y: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        m_x = _lsf_mtf(lsf_x, centers_b, grid_px, bin_width, f_all, phase)
        m_y = _lsf_mtf(lsf_y, centers_b, grid_px, bin_width, f_all, phase)
        if fluxes is None:
            m_x = m_x / m_x[-1]
            m_y = m_y / m_y[-1]
        return m_x, m_y

    everyone = np.arange(n_used)
    shift_x = np.zeros(n_used)
    shift_y = np.zeros(n_used)
    lsf_x, lsf_y = stack(everyone)
    for _ in range(max(int(recenter_iterations), 0)):
        dx = _recenter(px_x, vx, lsf_x, centers_b)
        dy = _recenter(px_y, vy, lsf_y, centers_b)
        px_x = [p - d for p, d in zip(px_x, dx, strict=True)]
        px_y = [p - d for p, d in zip(px_y, dy, strict=True)]
        shift_x += dx
        shift_y += dy
        lsf_x, lsf_y = stack(everyone)
    m_x, m_y = mtfs(lsf_x, lsf_y)
    s_x = np.zeros_like(m_x)
    s_y = np.zeros_like(m_y)
    reference_nyquist = reference_curves = None
    if n_bootstrap > 0 and n_used > 1:
        rng = np.random.default_rng(seed)
        draws = np.array([mtfs(*stack(rng.integers(0, n_used, n_used))) for _ in range(int(n_bootstrap))])
        s_x = np.std(draws[:, 0], axis=0, ddof=1)
        s_y = np.std(draws[:, 1], axis=0, ddof=1)
        if ref_x:  # across track: the wild bootstrap over the stars at the pool's own phases (reference_vignettes)
            base_x, e_x = _wild_parts(px_x, vx, ref_x, wx)
            star_x = np.concatenate([np.full(p.size, i) for i, p in enumerate(px_x)])
            signs = rng.choice([-1.0, 1.0], size=(int(n_bootstrap), n_used))  # Rademacher weights per star
            y_all = np.concatenate(vy)
            wild = np.array([mtfs(*stack(everyone, (base_x + w[star_x] * e_x, y_all)))[0] for w in signs])
            s_x = np.std(wild, axis=0, ddof=1)
    if ref_x:
        r_x, r_y = mtfs(*stack(everyone, (np.concatenate(ref_x), np.concatenate(ref_y))))
        reference_nyquist = (float(r_y[-2]), float(r_x[-2]))
        reference_curves = np.stack([r_y[:-2], r_x[:-2]])
    loo = loo_curves = None
    if jackknife and n_used > 1:
        loo = np.full((len(images), 2), np.nan)
        loo_curves = np.full((len(images), 2, freqs.size), np.nan)
        for i, k in enumerate(kept):
            d_x, d_y = mtfs(*stack(np.delete(everyone, i)))
            loo[k] = (d_y[-2], d_x[-2])
            loo_curves[k] = (d_y[:-2], d_x[:-2])
    if flux_rel_sigma > 0.0 and fluxes is not None:
        s_x = np.hypot(s_x, m_x * flux_rel_sigma)
        s_y = np.hypot(s_y, m_y * flux_rel_sigma)
    refined = centers.copy()
    idx = np.asarray(kept, dtype=np.int64)
    refined[idx, 0] += shift_x
    refined[idx, 1] += shift_y * o_arr[idx]
    return EpsfMtfResult(
        frequencies_cy_px=freqs,
        mtf_along=m_y[:-2],
        mtf_across=m_x[:-2],
        mtf_nyquist_along=float(m_y[-2]),
        mtf_nyquist_across=float(m_x[-2]),
        bin_centers_px=centers_b,
        lsf_along=lsf_y,
        lsf_across=lsf_x,
        n_stars=n_used,
        mtf_along_sigma=s_y[:-2],
        mtf_across_sigma=s_x[:-2],
        mtf_nyquist_along_sigma=float(s_y[-2]),
        mtf_nyquist_across_sigma=float(s_x[-2]),
        centers_xy=refined,
        leave_one_out_nyquist=loo,
        leave_one_out_curves=loo_curves,
        reference_nyquist=reference_nyquist,
        reference_curves=reference_curves,
    )
