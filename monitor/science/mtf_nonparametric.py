"""The starpool's non-parametric MTF (stacked-LSF ePSF) registered with the help of the parametric fit.

The stars are registered on their first moments corrected by the fitted model's own moment bias
(:func:`moment_centers`), the ePSF stacked by :func:`monitor.science.epsf.epsf_mtf`, and its
1-sigma combines the bootstrap over the stars with the centring-choice and method terms
(:func:`nonparametric_mtf`). The fit itself: :mod:`monitor.science.mtf_fit`.

References
----------
Anderson, J. & King, I. R. (2000), PASP 112, 1360 (effective PSF of undersampled stars).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.science.epsf import EpsfMtfResult, epsf_mtf
from monitor.science.mtf_fit import PsfFitResult
from monitor.science.mtf_select import model_choice_sigma
from monitor.science.psf import PsfParams, mtf_across, mtf_along, mtf_nyquist
from monitor.science.psf_renderer import PsfRenderer

__all__ = [
    "EPSF_SYSTEMATIC_REL",
    "FIT_CENTRE_WEIGHT",
    "INTERPOLATION_RESIDUAL",
    "SPIKE_MARGINAL_FACTOR",
    "SPIKE_MAX_NOISE_REL",
    "SPIKE_NOISE_SCALE",
    "SPIKE_HISTORY_MIN_POOLS",
    "SPIKE_HISTORY_POOLS",
    "SPIKE_SIGNIFICANCE",
    "SpikePrior",
    "jackknife_sigma",
    "model_vignettes",
    "moment_centers",
    "nonparametric_mtf",
    "spike_extrapolation_gain",
    "spike_history_prior",
]

# Weight of the ePSF-on-fit-centres difference in the ePSF's centring-choice term (nonparametric_mtf):
# half, the two registrations bracketing the error (pupil truth, benchmarks/mtf.py: the moment-centred
# ePSF's bootstrap sigma alone gave pulls of 2-3 along track on defocus and red-star PAN pools).
FIT_CENTRE_WEIGHT = 0.5
# Systematic of the stacked-LSF ePSF, relative to the MTF (nonparametric_mtf). It was 0.01 for an ePSF
# that read the MTF at Nyquist along track 0.5-1.6 % high (benchmarks/mtf.py, 8 pools, seed 2026). The
# cause: the Fourier sum over the window's pixel edges |x| <= h + 1/2, a box whose Nyquist term
# (-1)^h 2/pi turned the level left at the window edge (the LSF's wing, background residuals) into
# +0.2 % (noise-free, h = 8) to +1.3 % (noisy defocus PAN) at Nyquist; across track the same term
# compensated the linear interpolant's -1 %. Now the sum runs over |x| <= h (epsf.epsf_mtf) and the
# stack is a monotone cubic: ePSF errors at Nyquist along/across, mean over the six pupil families
# (8 pools each), PAN -0.35/-0.55 %, B2 -0.27/-0.35 %, within the other terms (ePSF pull rms 0.72
# over the 96 pools with no systematic term); the spider vanes' diffraction spikes beyond the
# window lower it by 0.9 % (PAN) / 0.4 % (B2) (noise-free), the largest residual. Measured 0.
EPSF_SYSTEMATIC_REL = 0.0
# The stack's own error (nonparametric_mtf's ``interpolation`` term: the fitted model's stack at the pool's
# positions minus the model's exact MTF; the monotone cubic's error with the pool's phases, the window's
# truncation) is corrected, and INTERPOLATION_RESIDUAL of it stays in the sigma: the truth is not the
# model, and its own stack error differs. Pupil truth, benchmarks/mtf.py, seeds 2026 + 2027 (n = 48 per
# family, band and direction), ePSF error rms uncorrected -> corrected (1e-3): across track in-family B2
# 1.01 -> 0.87, defocus B2 1.40 -> 1.09, astigmatism + vanes B2 1.04 -> 0.89, PAN 0.92 -> 0.79, red star
# B2 1.18 -> 1.08; along 0.45-0.91 -> 0.43-0.87 (the term is -0.07 to -0.12e-3 along in every family).
# The across-track bias left goes from none (in-family B2 -0.49 -> -0.06e-3) to more than the term
# (astigmatism + vanes PAN -0.56 -> -0.34e-3, the term -0.22e-3: the spikes'), hence half of it in the
# sigma. ePSF pull rms along/across where the ePSF is reported, the term wholly in the sigma -> half ->
# none: astigmatism + vanes PAN 1.01/0.80 -> 1.02/0.83 -> 1.03/0.85, B2 0.97/0.79 -> 0.98/0.82 ->
# 0.98/0.83; defocus PAN 0.93/0.76 -> 0.95/0.83 -> 0.96/0.86 (before, the estimate not corrected and the
# term in the sigma: 1.03/0.96, 1.01/0.92, 0.93/0.95).
INTERPOLATION_RESIDUAL = 0.5
# Extent of the wide marginal of the spike extrapolation (nonparametric_mtf), in units of the LSF's
# half-width h: the LSFs are also summed over +-SPIKE_MARGINAL_FACTOR h across their direction (at most
# what every vignette holds) and the MTF extrapolated to an infinite sum by the spikes' 1/m law
# (spike_extrapolation_gain). 2.5: 20 px in PAN (h = 8; 64-px vignettes hold >= 28), 11-12 px in MS
# (h = 6; 32-px vignettes hold >= 12).
SPIKE_MARGINAL_FACTOR = 2.5
# The spike extrapolation is applied in a direction only where the wide marginal's excess d is positive
# beyond SPIKE_SIGNIFICANCE times its noise n (spikes only add light; below that it is mostly noise, which
# would only cost precision) and that noise is below SPIKE_MAX_NOISE_REL of the MTF (the largest spike
# deficit of the pupil truth is ~1 %: a noisier correction carries no information; the MTF stage's test
# pools of 6 stars: 5-40 %). Where it is not applied, the deficit that could hide below the gate,
# SPIKE_SIGNIFICANCE n (at most SPIKE_SIGNIFICANCE SPIKE_MAX_NOISE_REL of the MTF), enters the sigma
# instead: a skipped correction is honest. Before (issue 15, i16s) a skipped correction added nothing, and
# n was the unscaled jackknife: the report seeds 7/11 (24 pools per family and band) read astigmatism +
# vanes PAN along-track pull rms 1.54/1.51 (the pools whose excess the noise hid left with their
# -0.5 % bias outside the sigma); always applied 1.16/1.03 along but 0.66-0.79 (PAN) / 0.59-0.68 (B2)
# across, and in-family PAN 0.71 (the correction's over-stated noise added for nothing).
# Pupil truth, benchmarks/mtf.py, seeds 2026 + 2027 (n = 48 pools per family and band; 95 % interval of
# an honest rms 0.80-1.20), pull rms along/across of the ePSF, the old gate -> this rule: astigmatism +
# vanes PAN 1.08/0.96 -> 1.06/0.95, B2 0.97/0.65 -> 1.02/0.66; defocus PAN 1.02/0.83 -> 0.96/0.77, B2
# 0.96/0.75 -> 0.95/0.73; in-family PAN 1.04/0.83 -> 0.99/0.79, B2 0.87/0.73 -> 0.86/0.70; red star PAN
# 0.96/0.66 -> 0.88/0.67, B2 0.82/0.66 -> 0.81/0.66 (per seed, astigmatism + vanes PAN along 0.91/1.23
# -> 0.97/1.14). The across-track B2 and red-star values below 0.8 are there with no spike correction
# at all (never applied: in-family B2 0.75, red star 0.72/0.65, defocus B2 0.81): the bootstrap's own
# across-track over-cover (nonparametric_mtf's docstring). Alternatives on the same pools: always
# applied with the scaled noise, astigmatism + vanes PAN along 1.15 (seed 2027 1.32); gate 1 with the
# hidden term, red star PAN 0.73/0.63; the truncated-normal posterior of a deficit >= 0, no-vane pools
# biased +0.1-0.3 % and across 0.64-0.69. Report seeds 7 + 11 (n = 48), old gate -> this rule:
# astigmatism + vanes PAN 1.52/0.82 -> 1.40/0.85 (bias -0.50 % along), B2 0.87/0.80 -> 0.88/0.81;
# defocus PAN 0.79/0.74 -> 0.79/0.71, B2 0.92/0.76 -> 0.89/0.74; in-family PAN 0.88/0.77 -> 0.81/0.74,
# B2 1.07/0.77 -> 1.06/0.67; red star PAN 0.97/0.68 -> 0.97/0.67, B2 0.86/0.69 -> 0.86/0.67. With the
# family's mean correction applied exactly (no spike noise) astigmatism + vanes PAN along still reads 1.31
# on these seeds (1.07 on 2026 + 2027): the rest is the square stack's own along-track error.
# The across-track values above predate the wild bootstrap (epsf_mtf reference_vignettes). With it, the
# reported pull rms along/across on the report seeds 7 + 11 (n = 48): astigmatism + vanes PAN 1.35/0.87,
# B2 0.90/0.99; defocus PAN 0.78/0.86, B2 0.89/1.17; red star PAN 0.95/0.78; on fresh seeds 2028-2031
# (PAN, n = 96; 95 % interval 0.86-1.14): astigmatism + vanes 1.28/0.97, defocus 0.97/0.85, red star
# 1.06/0.94. The astigmatism + vanes PAN along-track excess is in the pools whose correction the gate
# skips (18-25 %): their mean pull is -1.7 (rms 1.8-1.9) against -0.3 to -0.4 (rms 1.1) where it is
# applied; the spikes' deficit there is larger than SPIKE_SIGNIFICANCE n. Carrying instead the deficit's
# one-sided posterior (sqrt E[D^2 | d, D >= 0], flat prior) reads 1.21 (fresh) / 1.24 (report) there but
# lowers the pools without vanes (defocus PAN along 0.97 -> 0.89 fresh, 0.78 -> 0.73 report; red star PAN
# across 0.78 -> 0.75): not adopted. One pool cannot tell vanes from noise; the instrument's vanes are
# the same in every starpool: the history's deficit (spike_history_prior, below) replaces the gate once
# SPIKE_HISTORY_MIN_POOLS starpools are there.
SPIKE_SIGNIFICANCE = 0.5
SPIKE_MAX_NOISE_REL = 0.02
# The spike correction's noise n: SPIKE_NOISE_SCALE times the delete-one jackknife of the paired
# difference k (MTF_m - MTF_h), which over-states that difference's scatter (the pchip stack is not a
# smooth statistic of the stars). Pupil truth without vanes (in-family, defocus, red star; seeds 2026 +
# 2027, 144 pools per band) along/across: scatter of the difference over the rms jackknife PAN 0.62/0.54,
# B2 0.71/0.55; sqrt of the variance the always-applied correction added to the ePSF error over the mean
# squared jackknife PAN 0.67/0.70, B2 0.79/0.51 (with vanes, 48 pools, the difference's scatter 0.79/0.60
# and 0.58/0.48). 0.7: the no-vane measures' mean (0.64) rounded up, towards the vane pools' 0.79 along.
SPIKE_NOISE_SCALE = 0.7
# The spider vanes are the same in every starpool of an instrument: the spike deficit beyond the window is
# estimated over the history of the band's starpools (spike_history_prior), from the latest
# SPIKE_HISTORY_POOLS before the pool, once SPIKE_HISTORY_MIN_POOLS are there; fewer: the gate above.
# With it the correction is never skipped: the history's deficit and the pool's own, inverse-variance
# weighted (nonparametric_mtf spike_prior). benchmarks/mtf.py, each family's 24 pools one instrument's
# history (pools 4-23 with a prior): astigmatism + vanes PAN along-track pull rms, gate -> history (with
# the interpolation correction, INTERPOLATION_RESIDUAL): report seeds 7 + 11 (n = 48) 1.35 -> 1.12 ->
# 1.02, fresh seeds 2028-2031 (n = 96) 1.28 -> 1.29 -> 1.19; the history's deficit there 0.58-0.64e-3 +-
# 0.06-0.08e-3 (0.8 % of the MTF along), the pool's own noise ~0.3e-3; pools without vanes: ~0 +- 0.1e-3.
# The bias left along, -0.18e-3, is partly the extrapolation's: the 1/m law recovers ~86 % of the spikes'
# deficit on the noise-free truth (spike_extrapolation_gain), -0.08e-3 left.
SPIKE_HISTORY_POOLS = 20
SPIKE_HISTORY_MIN_POOLS = 4


@dataclasses.dataclass(frozen=True)
class SpikePrior:
    """The spike deficit beyond the LSF window over a band's starpool history (:func:`spike_history_prior`).

    Attributes
    ----------
    mean : tuple of float
        The MTF's deficit at Nyquist, along and across track, in MTF units (>= 0: spikes only add light):
        ``a/h`` of :func:`spike_extrapolation_gain`, the spikes' light beyond the window as a fraction of the
        star's, the same at every frequency and whatever the blur (the vanes and the band's wavelengths).
    sigma : tuple of float
        Its 1-sigma for one more starpool: the between-starpool scatter and the mean's own error.
    n_pools : int
        Starpools of the history.
    """

    mean: tuple[float, float]
    sigma: tuple[float, float]
    n_pools: int

    def as_dict(self) -> dict[str, object]:
        """JSON-able form (catalogue params)."""
        return {"mean": list(self.mean), "sigma": list(self.sigma), "n_pools": self.n_pools}


def spike_history_prior(deficits: ArrayLike, jackknife_noises: ArrayLike) -> SpikePrior | None:
    """The spider spikes' deficit of a band from its starpool history: a random-effects mean.

    Each starpool's own estimate ``d_i`` (the wide marginal's extrapolated excess at Nyquist, MTF units,
    term ``spike_raw`` of :func:`nonparametric_mtf`) has its noise ``n_i``, :data:`SPIKE_NOISE_SCALE` times
    its delete-one jackknife (``spike_raw_noise``), as in the pool's own correction.
    Per direction, DerSimonian & Laird (1986): the fixed-effect mean, Cochran's ``Q``, the between-starpool
    variance ``tau^2 = max(0, (Q - (N - 1)) / (sum w - sum w^2 / sum w))``, and the mean ``mu`` with weights
    ``1 / (n_i^2 + tau^2)`` and its error ``se``. For one more starpool the deficit is ``max(mu, 0)`` (spikes
    only add light) with ``sqrt(tau^2 + se^2)``. None below :data:`SPIKE_HISTORY_MIN_POOLS` starpools.

    Parameters
    ----------
    deficits, jackknife_noises : array_like, shape (N, 2)
        Per starpool (oldest first), along and across track; rows with a non-finite value or a noise <= 0
        are left out; only the latest :data:`SPIKE_HISTORY_POOLS` are used.

    >>> p = spike_history_prior([[0.004, 0.0], [0.006, 0.001], [0.005, -0.001], [0.005, 0.0]], [[0.001, 0.001]] * 4)
    >>> [round(v, 4) for v in p.mean], [round(v, 4) for v in p.sigma], p.n_pools
    ([0.005, 0.0], [0.0006, 0.0006], 4)
    """
    d = np.asarray(deficits, dtype=np.float64).reshape(-1, 2)
    n = SPIKE_NOISE_SCALE * np.asarray(jackknife_noises, dtype=np.float64).reshape(-1, 2)
    ok = np.all(np.isfinite(d) & np.isfinite(n) & (n > 0.0), axis=1)
    d, n = d[ok][-SPIKE_HISTORY_POOLS:], n[ok][-SPIKE_HISTORY_POOLS:]
    if len(d) < SPIKE_HISTORY_MIN_POOLS:
        return None
    w = 1.0 / n**2
    mu_fixed = np.sum(w * d, axis=0) / np.sum(w, axis=0)
    q = np.sum(w * (d - mu_fixed) ** 2, axis=0)
    c = np.sum(w, axis=0) - np.sum(w**2, axis=0) / np.sum(w, axis=0)
    tau2 = np.maximum(0.0, (q - (len(d) - 1)) / c)
    w_random = 1.0 / (n**2 + tau2)
    mu = np.sum(w_random * d, axis=0) / np.sum(w_random, axis=0)
    sigma = np.sqrt(tau2 + 1.0 / np.sum(w_random, axis=0))
    mean = np.maximum(mu, 0.0)
    return SpikePrior(
        mean=(float(mean[0]), float(mean[1])), sigma=(float(sigma[0]), float(sigma[1])), n_pools=len(d)
    )


def moment_centers(
    vignettes: Sequence[ArrayLike],
    oversamps: Sequence[float] | ArrayLike,
    fit: PsfFitResult,
    *,
    half_width_px: int = 3,
    pad_px: float = 48.0,
) -> NDArray[np.float64]:
    """Star centres for the non-parametric ePSF: first moments, corrected by the model's own moment bias.

    The first moment of pixel-integrated samples over the whole plane is the PSF's centroid
    EXACTLY, whatever the PSF (Poisson summation: the pixel box's sinc vanishes at the sampling
    harmonics), so it carries no pixel-phase error; a window of ``+-half_width_px`` (rows
    ``+-round(h o)``) truncates it, and the wing outside the window shifts it by a smooth
    function of the phase. That small truncation shift is taken from the fitted PSF: the same
    moment is computed on the noise-free model at the fitted centre and its offset from that
    centre subtracted. A parametric model that does not match the core (the case the ePSF is for)
    gives centres with a pixel-phase error of ~0.01-0.02 px, a periodic warp that the stack
    cannot remove (the undersampled ePSF is degenerate with it), and an MTF at Nyquist off by
    up to a few 0.01; the moments only need the model for the window's wing.

    Parameters
    ----------
    vignettes, oversamps
        As for :func:`fit_starpool_psf`.
    fit : PsfFitResult
        The starpool fit (centres, backgrounds, PSF).
    half_width_px : int
        Half-width of the moment window, native px.
    pad_px : float
        Padding of the model's periodic grid, native px.

    Returns
    -------
    ndarray, shape (n, 2)
        Centres (column, row in row units); the fitted centre where the window leaves the
        vignette or holds NaN.
    """
    h = int(half_width_px)
    o_arr = np.asarray(oversamps, dtype=np.float64).reshape(-1)
    out = np.array(fit.centers_xy, dtype=np.float64)
    nc = 2 * h + 1
    for o in np.unique(o_arr):
        idx = np.flatnonzero(o_arr == o)
        hr = int(round(h * o))
        nr = 2 * hr + 1
        renderer = PsfRenderer(fit.params, (nr / o, float(nc)), pad_px=pad_px)
        for i in idx.tolist():  # a loop over stars; pixels are vectorised
            img = np.asarray(vignettes[i], dtype=np.float64)
            cx, cy = out[i]
            ic, ir = int(round(cx)), int(round(cy))
            if ir - hr < 0 or ic - h < 0 or ir + hr + 1 > img.shape[0] or ic + h + 1 > img.shape[1]:
                continue
            win = img[ir - hr : ir + hr + 1, ic - h : ic + h + 1] - fit.backgrounds_dn[i]
            if not np.all(np.isfinite(win)) or not win.sum() > 0.0:
                continue
            model = renderer.sample((nr, nc), [(cx - (ic - h), cy - (ir - hr))], float(o))[0, 0]
            cols = np.arange(nc, dtype=np.float64)
            rows = np.arange(nr, dtype=np.float64)
            mx = (win.sum(axis=0) @ cols) / win.sum() - (model.sum(axis=0) @ cols) / model.sum()
            my = (win.sum(axis=1) @ rows) / win.sum() - (model.sum(axis=1) @ rows) / model.sum()
            out[i] = (cx + mx, cy + my)
    return out


def model_vignettes(
    shapes: Sequence[tuple[int, int]],
    oversamps: Sequence[float] | ArrayLike,
    params: PsfParams,
    centers_xy: ArrayLike,
    fluxes_dn: ArrayLike,
    *,
    pad_px: float = 48.0,
) -> list[NDArray[np.float64]]:
    """Noise-free, background-free images of a PSF model at the given centres and signals, DN.

    Star ``k``: ``S_k / o_k`` times the model's unit-flux pixel-integrated image (which sums to ``o_k``
    over an infinite vignette, :meth:`monitor.science.psf_renderer.PsfRenderer.sample`), so that it has
    the star signal ``S_k`` of :func:`monitor.science.epsf.epsf_mtf`'s normalisation. One renderer for
    the pool and one batch per vignette geometry.

    Parameters
    ----------
    shapes : sequence of (int, int)
        Vignette shapes (rows, columns).
    oversamps : sequence of float, shape (n,)
        Along-track oversampling of each vignette.
    params : PsfParams
        The model (e.g. the starpool fit's).
    centers_xy : array_like, shape (n, 2)
        Centres (column, row in row units).
    fluxes_dn : array_like, shape (n,)
        Star signals S_k, DN (including o).
    pad_px : float
        Padding of the renderer's periodic grid, native px.

    Returns
    -------
    list of ndarray
        One image per star, of its vignette's shape.
    """
    o_arr = np.asarray(oversamps, dtype=np.float64).reshape(-1)
    c = np.asarray(centers_xy, dtype=np.float64).reshape(-1, 2)
    s = np.asarray(fluxes_dn, dtype=np.float64).reshape(-1)
    extent = (max(sh[0] / o for sh, o in zip(shapes, o_arr, strict=True)), float(max(sh[1] for sh in shapes)))
    renderer = PsfRenderer(params, extent, pad_px=pad_px)
    out: list[NDArray[np.float64]] = [np.empty(0)] * len(shapes)
    for shape, o in sorted({(tuple(sh), float(o)) for sh, o in zip(shapes, o_arr, strict=True)}):
        idx = [k for k, (sh, ok) in enumerate(zip(shapes, o_arr, strict=True)) if tuple(sh) == shape and ok == o]
        images = renderer.sample((int(shape[0]), int(shape[1])), c[idx], o)[:, 0]
        for k, img in zip(idx, images, strict=True):
            out[k] = img * (s[k] / o)
    return out


def spike_extrapolation_gain(half_width_px: float, wide_half_width_px: float) -> float:
    """Gain ``k = m / (m - h)`` that extrapolates an LSF's MTF summed over ``+-h`` across its direction to
    an infinite sum, from the difference ``d`` with the sum over ``+-m``: ``MTF_inf = MTF_h + k d``.

    A spider vane's diffraction spike is a line of light narrow across it, whose intensity falls as
    ``r^-2`` along it (the far field of a straight edge: Born & Wolf §8.7; the same law as
    :func:`monitor.science.ee_correction.line_excess`'s continuation). A spike along the other axis
    adds to the LSF a peak at the centre, flat in frequency: the spike's light beyond ``+-m``,
    ``int_m^inf L (m/r)^2 dr = a/m``, is missing from the MTF at every frequency, so
    ``MTF_m = MTF_inf - a/m`` and ``d = MTF_m - MTF_h = a (m - h)/(h m)`` gives ``a/h = k d``. A wing
    smooth over a pixel adds nothing at Nyquist (d = 0: no correction). Noise-free pupil truth
    (astigmatism + 4 spider vanes, 25 stars, true centres and signals; relative error at Nyquist
    along/across): PAN h = 8 -0.89/-1.34 %, m = 20 -0.50/-0.91 %, m = 26 -0.37/-0.77 % (extrapolated
    from 8 and 20: -0.24/-0.62 %; in-family -0.13/-0.52 %, the cubic interpolation's across track);
    B2 h = 6 -0.41/-0.84 %, m = 11 -0.21/-0.59 % (extrapolated -0.04/-0.38 %; in-family -0.05/-0.43 %).

    >>> spike_extrapolation_gain(8, 20)
    1.6666666666666667
    """
    h, m = float(half_width_px), float(wide_half_width_px)
    if not m > h > 0.0:
        raise ValueError(f"need wide_half_width_px > half_width_px > 0, got {m}, {h}")
    return m / (m - h)


def jackknife_sigma(leave_one_out: ArrayLike) -> NDArray[np.float64]:
    """Delete-one jackknife 1-sigma along the first axis: ``sqrt((n-1)/n sum_k (t_(k) - t_(.))^2)`` over
    the rows without NaN (Efron & Stein 1981); shape ``leave_one_out.shape[1:]``.

    >>> jackknife_sigma([[1.0], [2.0], [3.0], [np.nan]]).round(4).tolist()
    [1.1547]
    """
    t = np.asarray(leave_one_out, dtype=np.float64)
    t = t[np.all(np.isfinite(t.reshape(t.shape[0], -1)), axis=1)]
    n = t.shape[0]
    if n < 2:
        return np.zeros(t.shape[1:])
    return np.asarray(np.sqrt((n - 1) / n * np.sum((t - t.mean(axis=0)) ** 2, axis=0)), dtype=np.float64)


def _marginal_room(
    vignettes: Sequence[ArrayLike], oversamps: Sequence[float] | ArrayLike, centers: ArrayLike, half_width_px: int
) -> int:
    """The largest marginal half-width (native px) that every star with a complete ``+-half_width_px`` window
    holds inside its vignette (columns ``+-m``, rows ``+-round(m o)`` about the rounded centre)."""
    o_arr = np.asarray(oversamps, dtype=np.float64).reshape(-1)
    c = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    room = []
    for img, o, (cx, cy) in zip(vignettes, o_arr, c, strict=True):
        rows, cols = np.shape(img)
        ic, ir = int(round(cx)), int(round(cy))
        m = min(ic, cols - 1 - ic, int(np.floor(ir / o)), int(np.floor((rows - 1 - ir) / o)))
        if m >= half_width_px:
            room.append(m)
    return min(room) if room else 0


def nonparametric_mtf(
    vignettes: Sequence[ArrayLike],
    oversamps: Sequence[float] | ArrayLike,
    fit: PsfFitResult,
    *,
    fluxes_dn: ArrayLike,
    flux_rel_sigma: float = 0.0,
    half_width_px: int = 8,
    moment_half_width_px: int = 6,
    n_bootstrap: int = 100,
    frequencies_cy_px: ArrayLike | None = None,
    systematic_rel: float = EPSF_SYSTEMATIC_REL,
    spike_prior: SpikePrior | None = None,
) -> EpsfMtfResult:
    """The starpool's non-parametric MTF (stacked-LSF ePSF) with its honest 1-sigma.

    The stars are registered on their model-corrected first moments (:func:`moment_centers`,
    window ``+-moment_half_width_px``) and normalised by the data's own signals ``fluxes_dn``
    (curve of growth); the 1-sigma combines, in quadrature, the bootstrap over the stars
    (:func:`monitor.science.epsf.epsf_mtf`; across track a wild bootstrap at the pool's own phases
    around the fitted model sampled at the same positions, :func:`model_vignettes`), the signals'
    common error ``flux_rel_sigma``, the residual of the stack's own error on that model, choice terms
    and the method's own systematic, ``systematic_rel`` of the MTF (:data:`EPSF_SYSTEMATIC_REL`). The
    stack's own error (term ``interpolation``) is the same model's stack at the pool's positions
    minus its exact MTF: the monotone cubic's error with this pool's phases and the windows'
    truncation (on the curves, at low frequencies, the light beyond the window, which the stack
    lacks: a few %); the estimate and the curves are corrected by it, and
    :data:`INTERPOLATION_RESIDUAL` of it is in the sigma (the truth's own stack error is not the
    model's). The choice terms compare the estimate
    with two other admissible stacks of the same stars: registered with a moment window 2 px
    narrower (the part of the window's truncation that the fitted model corrects is uncertain when
    the model does not fit; the two registrations bracket it) and :data:`FIT_CENTRE_WEIGHT` times
    the difference from the stack registered on the fit's own centres (admissible where the fit
    holds, with a pixel-phase error where it does not). Each difference is partly noise (the two
    stacks see the same stars through different windows or centres), which the bootstrap already
    counts; only its part beyond that noise is a choice term: ``sqrt(max(0, d^2 - s_d^2))``
    (:func:`monitor.science.mtf_select.model_choice_sigma`), ``s_d`` the delete-one jackknife
    1-sigma of the paired difference (:func:`jackknife_sigma`; the same star left out of both
    stacks). Before issue 15's last round the whole differences were added: on the pupil truth
    (benchmarks/mtf.py, 24 pools per family and band, seed 2026) that made the ePSF's sigma 1.4-2.3
    times its rms error in-family, 1.55 across track on defocus PAN, where it is reported.

    Across track the resampling bootstrap over-covered: a draw holds ~63 % distinct stars, so fewer
    sub-pixel phases (1 sample per pixel per star) and a larger, different interpolation error than
    the whole pool's, which it counted as noise (the resampling bootstrap of the noise-free fitted
    model alone read 0.3-1.1e-3 at Nyquist across, against actual errors of 0.6-1.7e-3 rms); the
    interpolation term was then the difference from the LINEAR interpolant's stack (about twice the
    cubic's error). Pupil truth (benchmarks/mtf.py, choice seeds 2026 + 2027, 48 pools per family
    and band), ePSF pull rms across track PAN/B2, before -> now: red star 0.66/0.66 -> 0.87/0.93,
    astigmatism + vanes 0.96/0.65 -> 0.98/0.89, defocus 0.83/0.75 -> 1.03/1.14, in-family
    0.83/0.73 -> 1.13/0.97 (along track 0.82-1.06, before 0.82-1.08: the terms there unchanged). Report
    seeds 7 + 11 (48 pools per family and band; 95 % interval of an honest rms 0.80-1.20): red star
    0.68/0.69 -> 0.81/1.05, astigmatism + vanes 0.82/0.80 -> 0.85/1.00, defocus 0.74/0.76 -> 0.92/1.22,
    in-family 0.77/0.77 -> 1.12/1.06; along track unchanged (astigmatism + vanes PAN 1.52 -> 1.47, the
    spikes'; the others 0.78-1.10). The errors across remain mostly negative (mean -0.05 to -0.8e-3,
    partly the cubic's error that the ``interpolation`` term reads on the model, correlation 0.3-0.7
    with the actual error on the choice seeds): the estimate is now corrected by it
    (:data:`INTERPOLATION_RESIDUAL`; these pulls are before that correction).

    The LSFs sum the pixels within ``+-half_width_px`` across their direction: a spider vane's
    diffraction spike along the other axis loses its light beyond it at every frequency (-0.9 % along,
    -1.3 % across at Nyquist on the noise-free pupil truth with 4 vanes, PAN). The LSFs are also summed
    over ``m = min(SPIKE_MARGINAL_FACTOR h, what every vignette holds)`` and the estimate extrapolated
    to an infinite sum by the spikes' ``1/m`` law, ``+ k (MTF_m - MTF_h)`` at Nyquist
    (:func:`spike_extrapolation_gain`), with its noise ``n``, :data:`SPIKE_NOISE_SCALE` times ``k`` times
    the delete-one jackknife of that paired difference, in quadrature (terms ``spike``, ``spike_noise``;
    applied where the difference is positive beyond :data:`SPIKE_SIGNIFICANCE` ``n`` and ``n`` is below
    :data:`SPIKE_MAX_NOISE_REL` of the MTF; elsewhere the correction is 0 and ``spike_noise`` is the
    deficit that could hide below that gate, ``SPIKE_SIGNIFICANCE n``, at most ``SPIKE_SIGNIFICANCE
    SPIKE_MAX_NOISE_REL`` of the MTF; ``spike_raw``, ``spike_raw_noise``: the difference and its unscaled
    jackknife before that choice); the curves are scaled by the same relative correction and sigma. On
    the pupil truth (benchmarks/mtf.py, 24 pools per family and band, seed 2026) the correction is
    +0.56/+0.45 % (PAN) and +0.22/+0.22 % (B2) with vanes, within +-0.13 % without; the jackknife
    over-states the difference's scatter by ~1.4-1.9 without vanes (the pchip stack is not a smooth
    statistic of the stars), hence the scale (0.7; seeds 2026 + 2027: 0.51-0.79).

    Parameters
    ----------
    vignettes, oversamps, fit
        As for :func:`moment_centers`.
    fluxes_dn : array_like, shape (n,)
        Star signals S_k, DN.
    flux_rel_sigma : float
        Relative 1-sigma of the signals common to every star.
    half_width_px : int
        Half-width of the LSF window (8 in PAN, 6 in MS).
    moment_half_width_px : int
        Half-width of the moment window (6 in PAN, 4 in MS).
    n_bootstrap : int
        Bootstrap resamplings of the stars.
    frequencies_cy_px : array_like, optional
        Output frequencies.
    systematic_rel : float
        Relative systematic 1-sigma of the stacked-LSF method, added in quadrature.
    spike_prior : SpikePrior, optional
        The spikes' deficit over the band's starpool history (:func:`spike_history_prior`). Given, the
        correction is this pool's own estimate (term ``spike_raw``: the difference ``k (MTF_m - MTF_h)``,
        with its scaled jackknife) and the history's, inverse-variance weighted, with
        their combined 1-sigma, never gated (the vanes are the same in every starpool: one pool of 25
        stars cannot tell their spikes from noise, the history can); without a wide marginal, the
        history's alone. None: the gate above.

    Returns
    -------
    EpsfMtfResult
        With the combined sigmas (curves and Nyquist) and the registration centres.
    """
    centers = moment_centers(vignettes, oversamps, fit, half_width_px=moment_half_width_px)
    # the wild bootstrap's reference: the fitted model sampled at the same positions (epsf_mtf)
    reference = model_vignettes([np.shape(v) for v in vignettes], oversamps, fit.params, centers, fluxes_dn)
    ep = epsf_mtf(
        vignettes,
        oversamps,
        centers,
        fluxes_dn=fluxes_dn,
        backgrounds_dn=fit.backgrounds_dn,
        half_width_px=half_width_px,
        frequencies_cy_px=frequencies_cy_px,
        n_bootstrap=n_bootstrap,
        flux_rel_sigma=flux_rel_sigma,
        method="pchip",
        jackknife=True,
        reference_vignettes=reference,
    )
    alt_centers = moment_centers(vignettes, oversamps, fit, half_width_px=max(moment_half_width_px - 2, 2))

    def stack(c: ArrayLike, marginal_half_width_px: int | None = None) -> EpsfMtfResult:
        """The same stars stacked on other centres ``c`` (or a wider marginal), with its delete-one
        jackknife replicates."""
        return epsf_mtf(
            vignettes,
            oversamps,
            c,
            fluxes_dn=fluxes_dn,
            backgrounds_dn=fit.backgrounds_dn,
            half_width_px=half_width_px,
            frequencies_cy_px=frequencies_cy_px,
            method="pchip",
            jackknife=True,
            marginal_half_width_px=marginal_half_width_px,
        )

    alts = [stack(alt_centers), stack(fit.centers_xy)]
    assert ep.mtf_along_sigma is not None and ep.mtf_across_sigma is not None
    assert ep.leave_one_out_nyquist is not None and ep.leave_one_out_curves is not None
    weights = (1.0, FIT_CENTRE_WEIGHT)
    names = ("moment_window", "fit_centres")
    # each choice term: the difference between the two admissible stacks beyond its own noise
    # (model_choice_sigma), the noise being the delete-one jackknife of the paired difference
    nyquist = np.array([ep.mtf_nyquist_along, ep.mtf_nyquist_across])
    curves = np.stack([ep.mtf_along, ep.mtf_across])
    var_nyq = np.array([ep.mtf_nyquist_along_sigma, ep.mtf_nyquist_across_sigma]) ** 2
    var_curves = np.stack([ep.mtf_along_sigma, ep.mtf_across_sigma]) ** 2
    terms: dict[str, tuple[float, float]] = {"bootstrap": (float(np.sqrt(var_nyq[0])), float(np.sqrt(var_nyq[1])))}
    for name, w, a in zip(names, weights, alts, strict=True):
        assert a.leave_one_out_nyquist is not None and a.leave_one_out_curves is not None
        d_nyq = w * (np.array([a.mtf_nyquist_along, a.mtf_nyquist_across]) - nyquist)
        n_nyq = w * np.asarray(jackknife_sigma(a.leave_one_out_nyquist - ep.leave_one_out_nyquist))
        d_curves = w * (np.stack([a.mtf_along, a.mtf_across]) - curves)
        n_curves = w * np.asarray(jackknife_sigma(a.leave_one_out_curves - ep.leave_one_out_curves))
        sys_nyq = model_choice_sigma(d_nyq, n_nyq)
        var_nyq = var_nyq + sys_nyq**2
        var_curves = var_curves + model_choice_sigma(d_curves, n_curves) ** 2
        terms[name] = (float(d_nyq[0]), float(d_nyq[1]))
        terms[f"{name}_noise"] = (float(n_nyq[0]), float(n_nyq[1]))
        terms[f"{name}_systematic"] = (float(sys_nyq[0]), float(sys_nyq[1]))
    # the stack's own error, read on the fitted model sampled at the same positions (the wild bootstrap's
    # reference) against that model's exact MTF: the monotone cubic's error with this pool's phases, and the
    # windows' truncation (at low frequencies the light beyond the window, which the curves lack)
    assert ep.reference_nyquist is not None and ep.reference_curves is not None
    f = ep.frequencies_cy_px
    # windows' truncation (at low frequencies the light beyond the window, which the curves lack): corrected
    # (below, after the spikes, which are read on the stack as it is), its INTERPOLATION_RESIDUAL in the sigma
    interp_nyq = np.asarray(ep.reference_nyquist) - np.asarray(mtf_nyquist(fit.params))
    interp_curves = ep.reference_curves - np.stack([mtf_along(f, fit.params), mtf_across(f, fit.params)])
    var_nyq = var_nyq + (INTERPOLATION_RESIDUAL * interp_nyq) ** 2
    var_curves = var_curves + (INTERPOLATION_RESIDUAL * interp_curves) ** 2
    terms["interpolation"] = (float(interp_nyq[0]), float(interp_nyq[1]))
    terms["interpolation_systematic"] = (
        float(INTERPOLATION_RESIDUAL * abs(interp_nyq[0])),
        float(INTERPOLATION_RESIDUAL * abs(interp_nyq[1])),
    )
    # the spider vanes' spikes beyond the window: extrapolated from a wider marginal (spike_extrapolation_gain)
    wide_m = min(
        int(SPIKE_MARGINAL_FACTOR * half_width_px), _marginal_room(vignettes, oversamps, centers, half_width_px)
    )
    spike: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None  # the correction and its 1-sigma
    if wide_m >= half_width_px + 2:
        wide = stack(centers, marginal_half_width_px=wide_m)
        assert wide.leave_one_out_nyquist is not None and wide.leave_one_out_curves is not None
        k = spike_extrapolation_gain(half_width_px, wide_m)
        d_nyq = k * (np.array([wide.mtf_nyquist_along, wide.mtf_nyquist_across]) - nyquist)
        # the correction's own noise (the wide stack's extra pixels), which the bootstrap of the square
        # stack does not see: the delete-one jackknife of the paired difference
        n_nyq = k * np.asarray(jackknife_sigma(wide.leave_one_out_nyquist - ep.leave_one_out_nyquist))
        # this pool's own estimate, also the history's input (spike_history_prior)
        terms["spike_raw"] = (float(d_nyq[0]), float(d_nyq[1]))
        terms["spike_raw_noise"] = (float(n_nyq[0]), float(n_nyq[1]))
        terms["spike_half_width"] = (float(wide_m), float(k))
        # its honest noise: the jackknife scaled by SPIKE_NOISE_SCALE (it over-states the difference's scatter)
        n_nyq = SPIKE_NOISE_SCALE * n_nyq
        if spike_prior is not None:
            # the history's deficit and this pool's own, inverse-variance weighted
            mean, sd = np.asarray(spike_prior.mean), np.asarray(spike_prior.sigma)
            w_own, w_prior = 1.0 / np.maximum(n_nyq, 1e-12) ** 2, 1.0 / np.maximum(sd, 1e-12) ** 2
            spike = (w_own * d_nyq + w_prior * mean) / (w_own + w_prior), 1.0 / np.sqrt(w_own + w_prior)
        else:
            # applied where the spikes' light is seen (they only add light: d > SPIKE_SIGNIFICANCE its noise)
            # and the correction is informative (noise below SPIKE_MAX_NOISE_REL of the MTF); where it is
            # not, the deficit that could hide below the gate, SPIKE_SIGNIFICANCE times that noise (at most
            # SPIKE_SIGNIFICANCE SPIKE_MAX_NOISE_REL of the MTF), is carried in the sigma instead
            on = (d_nyq > SPIKE_SIGNIFICANCE * n_nyq) & (n_nyq < SPIKE_MAX_NOISE_REL * nyquist)
            hidden = SPIKE_SIGNIFICANCE * np.minimum(n_nyq, SPIKE_MAX_NOISE_REL * nyquist)
            spike = np.where(on, d_nyq, 0.0), np.where(on, n_nyq, hidden)
    elif spike_prior is not None:  # vignettes too small for the wide marginal: the history's deficit alone
        spike = np.asarray(spike_prior.mean), np.asarray(spike_prior.sigma)
    if spike is not None:
        d_nyq, n_nyq = spike
        # the curves get the same relative correction: at low frequencies the wide marginal's difference
        # also holds the smooth wing and k (2 m + 1) times any background residual, which the 1/m law
        # does not describe (the stage's pools: MTF(0) 0.97 -> 0.89 with the whole-curve extrapolation)
        rel, rel_sigma = d_nyq / nyquist, n_nyq / nyquist
        nyquist = nyquist + d_nyq
        var_curves = var_curves * (1.0 + rel[:, None]) ** 2 + (rel_sigma[:, None] * curves) ** 2
        curves = curves * (1.0 + rel[:, None])
        var_nyq = var_nyq * (1.0 + rel) ** 2 + n_nyq**2  # the curves' point at Nyquist
        terms["spike"] = (float(d_nyq[0]), float(d_nyq[1]))
        terms["spike_noise"] = (float(n_nyq[0]), float(n_nyq[1]))
    if spike_prior is not None:
        terms["spike_prior"] = spike_prior.mean
        terms["spike_prior_sigma"] = spike_prior.sigma
    nyquist = nyquist - interp_nyq
    curves = curves - interp_curves
    var_nyq = var_nyq + (systematic_rel * nyquist) ** 2
    var_curves = var_curves + (systematic_rel * curves) ** 2
    jk = jackknife_sigma(ep.leave_one_out_nyquist)
    terms["jackknife"] = (jk[0], jk[1])
    terms["flux"] = (flux_rel_sigma * float(nyquist[0]), flux_rel_sigma * float(nyquist[1]))
    return dataclasses.replace(
        ep,
        mtf_along=curves[0],
        mtf_across=curves[1],
        mtf_nyquist_along=float(nyquist[0]),
        mtf_nyquist_across=float(nyquist[1]),
        nyquist_sigma_terms=terms,
        mtf_along_sigma=np.sqrt(var_curves[0]),
        mtf_across_sigma=np.sqrt(var_curves[1]),
        mtf_nyquist_along_sigma=float(np.sqrt(var_nyq[0])),
        mtf_nyquist_across_sigma=float(np.sqrt(var_nyq[1])),
    )
