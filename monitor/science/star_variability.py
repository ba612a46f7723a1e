"""Variable calibration stars from the system's own history (ICD 2.2b item 5). Pure numpy/scipy.

The trace of a star in one band is its coefficient relative to its starpool's,
``r_j = A_ij / A_pool(j)`` over its acquisitions ``j``: the instrument's drift cancels, a constant
offset (the star's reference-spectrum error) is removed by the weighted mean, and what is left
should be photometric noise. The statistic is

    chi2 = sum_j (r_j - rbar)^2 / (sigma_j^2 + floor^2),   dof = n - 1,

with ``sigma_j`` the photometric 1-sigma of ``r_j`` and a floor for the acquisition-to-acquisition
systematics photon noise does not describe (sub-pixel phase, PSF changes). A star is flagged when
the chi-square probability of exceeding ``chi2`` is below ``p_threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = ["VARIABILITY_FLOOR_REL", "VARIABILITY_P_THRESHOLD", "VARIABILITY_MIN_POINTS", "VariabilityTest",
           "variability_test", "variability_test_two_way", "variability_test_bands", "excess_scatter_rel"]

# Relative per-acquisition floor: 0.3 %, the scatter of a constant star's EE-corrected coefficient
# between acquisitions in the project's simulator beyond photon noise (sub-pixel phase, PSF) is
# below this; it keeps bright stars (photon noise 0.05 %) from being flagged by it.
VARIABILITY_FLOOR_REL = 0.003
# p-value threshold: 1e-3 per star and band, i.e. about 0.5 % of constant stars falsely flagged in
# one of five bands (the target: fewer than 2 %).
VARIABILITY_P_THRESHOLD = 1e-3
VARIABILITY_MIN_POINTS = 3  # fewer acquisitions: no test (dof < 2)


@dataclass(frozen=True, eq=False)
class VariabilityTest:
    """Per-star result of :func:`variability_test` (arrays of shape (n_stars,))."""

    star: NDArray[np.int64]  # star identifiers (as given)
    n_points: NDArray[np.int64]
    chi2: NDArray[np.float64]  # NaN when fewer than VARIABILITY_MIN_POINTS
    p_value: NDArray[np.float64]
    rms_rel: NDArray[np.float64]  # rms of r_j / rbar - 1
    flagged: NDArray[np.bool_]


def variability_test(
    star: ArrayLike,
    ratio: ArrayLike,
    ratio_sigma: ArrayLike,
    *,
    floor_rel: float = VARIABILITY_FLOOR_REL,
    p_threshold: float = VARIABILITY_P_THRESHOLD,
    min_points: int = VARIABILITY_MIN_POINTS,
) -> VariabilityTest:
    """Chi-square test of every star's trace (module docstring), vectorised over stars.

    Parameters
    ----------
    star : array_like of int, shape (n,)
        Star of each point (e.g. HIP number).
    ratio, ratio_sigma : array_like of float, shape (n,)
        ``A_ij / A_pool(j)`` and its photometric 1-sigma; non-finite points are ignored.
    floor_rel, p_threshold, min_points
        See the module constants.

    Returns
    -------
    VariabilityTest
        One entry per distinct star, in increasing star order.

    Examples
    --------
    >>> t = variability_test([1, 1, 1, 1, 2, 2, 2, 2], [1.0, 1.001, 0.999, 1.0, 1.0, 1.05, 0.95, 1.0],
    ...                      [0.001] * 8)
    >>> t.star.tolist(), t.flagged.tolist()
    ([1, 2], [False, True])
    """
    s = np.asarray(star, dtype=np.int64)
    r = np.asarray(ratio, dtype=np.float64)
    sig = np.asarray(ratio_sigma, dtype=np.float64)
    ok = np.isfinite(r) & np.isfinite(sig) & (sig >= 0.0)
    s, r, sig = s[ok], r[ok], sig[ok]
    stars, inv = np.unique(s, return_inverse=True)
    m = stars.size
    var = sig * sig + (floor_rel * r) ** 2
    w = np.where(var > 0.0, 1.0 / np.where(var > 0.0, var, 1.0), 0.0)
    sw = np.bincount(inv, weights=w, minlength=m)
    mean = np.bincount(inv, weights=w * r, minlength=m) / np.where(sw > 0, sw, 1.0)
    dev = r - mean[inv]
    chi2 = np.bincount(inv, weights=w * dev * dev, minlength=m)
    n = np.bincount(inv, minlength=m).astype(np.int64)
    rms = np.sqrt(np.bincount(inv, weights=(dev / np.where(mean[inv] != 0, mean[inv], 1.0)) ** 2, minlength=m)
                  / np.maximum(n, 1))
    testable = n >= min_points
    chi2_out: NDArray[np.float64] = np.asarray(np.where(testable, chi2, np.nan), dtype=np.float64)
    sf = stats.chi2.sf(np.where(testable, chi2, 0.0), np.maximum(n - 1, 1))
    p: NDArray[np.float64] = np.asarray(np.where(testable, sf, np.nan), dtype=np.float64)
    flagged = testable & (p < p_threshold)
    return VariabilityTest(stars, n, chi2_out, p, rms, flagged)


def variability_test_two_way(
    star: ArrayLike,
    pool: ArrayLike,
    a: ArrayLike,
    a_sigma: ArrayLike,
    *,
    floor_rel: float = VARIABILITY_FLOOR_REL,
    p_threshold: float = VARIABILITY_P_THRESHOLD,
    min_points: int = VARIABILITY_MIN_POINTS,
    iterations: int = 30,
) -> VariabilityTest:
    """The chi-square test on per-star coefficients with a per-starpool and a per-star term.

    ``ln a_ij = c_j + d_i + e_ij`` (two-way fixed effects, weighted, solved by alternating
    weighted means): ``c_j`` takes each starpool's level (instrument drift *and* the shift of its
    mean with its star mix), ``d_i`` each star's offset (its reference-spectrum error); the
    residuals ``e_ij`` are then photometric noise for a constant star, and a variable star's
    chi-square is not diluted by the pool-mean jitter that the single-ratio form
    (:func:`variability_test`) must count as noise. ``chi2_i = sum_j e_ij^2 / (s_ij^2 + floor^2)``
    with ``s = sigma/a``, ``dof = n_i - 1``.

    Parameters
    ----------
    star, pool : array_like of int, shape (n,)
        Star and starpool of each point.
    a, a_sigma : array_like of float, shape (n,)
        Per-star coefficients (> 0) and their photometric 1-sigma; non-finite points ignored.

    Returns
    -------
    VariabilityTest
        ``rms_rel``: rms of the residuals ``e_ij`` (relative).

    Examples
    --------
    Three pools of four stars; pool 2 is 3 % low for every star (a mix or drift effect: no flag),
    star 4 jumps by 4 % in pool 3:

    >>> star = np.tile([1, 2, 3, 4], 3); pool = np.repeat([1, 2, 3], 4)
    >>> a = np.array([1.0, 1.02, 0.98, 1.01] * 3) * np.repeat([1.0, 0.97, 1.0], 4)
    >>> a[-1] *= 1.04
    >>> t = variability_test_two_way(star, pool, a, 0.002 * a)
    >>> t.flagged.tolist()
    [False, False, False, True]
    """
    s_id = np.asarray(star, dtype=np.int64)
    p_id = np.asarray(pool, dtype=np.int64)
    av = np.asarray(a, dtype=np.float64)
    sv = np.asarray(a_sigma, dtype=np.float64)
    ok = np.isfinite(av) & np.isfinite(sv) & (av > 0.0) & (sv >= 0.0)
    s_id, p_id, av, sv = s_id[ok], p_id[ok], av[ok], sv[ok]
    stars, si = np.unique(s_id, return_inverse=True)
    _, pj = np.unique(p_id, return_inverse=True)
    m, k = stars.size, int(pj.max()) + 1 if pj.size else 0
    y = np.log(av)
    w = 1.0 / ((sv / av) ** 2 + floor_rel**2)
    sw_s = np.bincount(si, weights=w, minlength=m)
    sw_p = np.bincount(pj, weights=w, minlength=k)
    c = np.zeros(k)
    d = np.zeros(m)
    for _ in range(iterations):
        d = np.bincount(si, weights=w * (y - c[pj]), minlength=m) / sw_s
        c = np.bincount(pj, weights=w * (y - d[si]), minlength=k) / sw_p
    e = y - c[pj] - d[si]
    chi2 = np.bincount(si, weights=w * e * e, minlength=m)
    n = np.bincount(si, minlength=m).astype(np.int64)
    rms = np.sqrt(np.bincount(si, weights=e * e, minlength=m) / np.maximum(n, 1))
    testable = n >= min_points
    chi2_out: NDArray[np.float64] = np.asarray(np.where(testable, chi2, np.nan), dtype=np.float64)
    sf = stats.chi2.sf(np.where(testable, chi2, 0.0), np.maximum(n - 1, 1))
    p: NDArray[np.float64] = np.asarray(np.where(testable, sf, np.nan), dtype=np.float64)
    return VariabilityTest(stars, n, chi2_out, p, rms, testable & (p < p_threshold))


def excess_scatter_rel(rms_rel: ArrayLike, n_points: ArrayLike, photometric_rel: ArrayLike,
                       min_points: int = VARIABILITY_MIN_POINTS) -> NDArray[np.float64]:
    """A star's systematic scatter beyond its photometric noise, from its own history.

    ``sqrt(max(rms^2 n/(n-1) - s^2, 0))`` with ``rms`` the residual rms of the two-way fit over
    ``n`` acquisitions (:func:`variability_test_two_way`) and ``s`` the star's typical photometric
    relative 1-sigma; 0 with fewer than ``min_points`` acquisitions (no estimate). This is the
    per-star systematic term of the starpool combination (issue 14).

    Examples
    --------
    >>> excess_scatter_rel([0.005, 0.005, 0.001], [10, 2, 10], [0.003, 0.003, 0.003]).round(4).tolist()
    [0.0043, 0.0, 0.0]
    """
    r = np.asarray(rms_rel, dtype=np.float64)
    n = np.asarray(n_points, dtype=np.float64)
    s = np.asarray(photometric_rel, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = r * r * n / np.maximum(n - 1.0, 1.0) - s * s
    out: NDArray[np.float64] = np.where((n >= min_points) & np.isfinite(v), np.sqrt(np.clip(v, 0.0, None)), 0.0)
    return out


def variability_test_bands(
    star: ArrayLike,
    pool: ArrayLike,
    band: ArrayLike,
    a: ArrayLike,
    a_sigma: ArrayLike,
    *,
    floor_rel: float = VARIABILITY_FLOOR_REL,
    p_threshold: float = VARIABILITY_P_THRESHOLD,
    min_points: int = VARIABILITY_MIN_POINTS,
    iterations: int = 30,
) -> VariabilityTest:
    """The two-way test on the band average of each acquisition: a star's variation is seen in every band.

    Per band, the residuals ``e_ijb`` of :func:`variability_test_two_way`'s fit (starpool and star
    terms of that band removed); per star and starpool their noise-weighted mean over the bands
    ``ebar_ij = sum_b u_b e_b / sum_b u_b``, ``u = 1 / (sigma/a)^2``, whose variance is the
    photometric part averaged down, ``sum_b u_b^2 (sigma/a)_b^2 / (sum_b u_b)^2``, plus the full
    ``floor^2`` (the floor is taken as common to the bands of an acquisition: conservative).
    ``chi2_i = sum_j ebar_ij^2 / var_ij``, ``dof = n_i - 1`` (n_i: starpools in which the star has
    a point). A variation common to the bands (a variable star's) then stands out of noise that
    is independent between the bands' detectors: with five bands, about sqrt(5) fewer acquisitions
    or a sqrt(5) smaller amplitude are enough when photon noise dominates. A star varying in one
    band only is the per-band test's case (:func:`variability_test_two_way`, kept beside it).

    Parameters
    ----------
    star, pool : array_like of int, shape (n,)
    band : array_like of str, shape (n,)
    a, a_sigma : array_like of float, shape (n,)
        Per-star coefficients and their photometric 1-sigma; non-finite points ignored.

    Returns
    -------
    VariabilityTest
        One entry per star; ``rms_rel`` the rms of ``ebar``.

    Examples
    --------
    Four stars in three starpools, two bands with independent noise; star 4 is 1 % bright in
    starpool 3 in both bands: too little for either band at 0.6 % noise, seen in their average:

    >>> rng = np.random.default_rng(0)
    >>> star = np.tile([1, 2, 3, 4], 6); pool = np.tile(np.repeat([1, 2, 3], 4), 2)
    >>> band = np.repeat(["B0", "B1"], 12)
    >>> a = np.where(band == "B0", 1.0, 2.0) * (1.0 + 0.006 * rng.standard_normal(24))
    >>> a[(star == 4) & (pool == 3)] *= 1.03
    >>> variability_test_bands(star, pool, band, a, 0.006 * a, floor_rel=0.0, p_threshold=0.05).flagged.tolist()
    [False, False, False, True]
    """
    s_id = np.asarray(star, dtype=np.int64)
    p_id = np.asarray(pool, dtype=np.int64)
    b_id = np.asarray(band)
    av = np.asarray(a, dtype=np.float64)
    sv = np.asarray(a_sigma, dtype=np.float64)
    ok = np.isfinite(av) & np.isfinite(sv) & (av > 0.0) & (sv > 0.0)
    s_id, p_id, b_id, av, sv = s_id[ok], p_id[ok], b_id[ok], av[ok], sv[ok]
    resid = np.zeros(av.size)
    for b in np.unique(b_id):
        m_b = b_id == b
        resid[m_b] = _two_way_residuals(s_id[m_b], p_id[m_b], av[m_b], sv[m_b], floor_rel, iterations)
    u = (av / sv) ** 2
    # one cell per (star, starpool): the bands' weighted mean residual
    cells, ci = np.unique(np.column_stack([s_id, p_id]), axis=0, return_inverse=True)
    ci = ci.ravel()
    su = np.bincount(ci, weights=u)
    ebar = np.bincount(ci, weights=u * resid) / su
    var = 1.0 / su + floor_rel**2  # sum_b u_b^2 (1/u_b) / (sum_b u_b)^2 = 1 / sum_b u_b
    stars, si = np.unique(cells[:, 0], return_inverse=True)
    m = stars.size
    chi2 = np.bincount(si, weights=ebar * ebar / var, minlength=m)
    n = np.bincount(si, minlength=m).astype(np.int64)
    rms = np.sqrt(np.bincount(si, weights=ebar * ebar, minlength=m) / np.maximum(n, 1))
    testable = n >= min_points
    chi2_out: NDArray[np.float64] = np.asarray(np.where(testable, chi2, np.nan), dtype=np.float64)
    sf = stats.chi2.sf(np.where(testable, chi2, 0.0), np.maximum(n - 1, 1))
    p: NDArray[np.float64] = np.asarray(np.where(testable, sf, np.nan), dtype=np.float64)
    return VariabilityTest(stars, n, chi2_out, p, rms, testable & (p < p_threshold))


def _two_way_residuals(s_id: NDArray[np.int64], p_id: NDArray[np.int64], av: NDArray[np.float64],
                       sv: NDArray[np.float64], floor_rel: float, iterations: int) -> NDArray[np.float64]:
    """Residuals ``e`` of the two-way fit of :func:`variability_test_two_way` (same weights)."""
    _, si = np.unique(s_id, return_inverse=True)
    _, pj = np.unique(p_id, return_inverse=True)
    m, k = int(si.max()) + 1, int(pj.max()) + 1
    y = np.log(av)
    w = 1.0 / ((sv / av) ** 2 + floor_rel**2)
    sw_s = np.bincount(si, weights=w, minlength=m)
    sw_p = np.bincount(pj, weights=w, minlength=k)
    c = np.zeros(k)
    d = np.zeros(m)
    for _ in range(iterations):
        d = np.bincount(si, weights=w * (y - c[pj]), minlength=m) / sw_s
        c = np.bincount(pj, weights=w * (y - d[si]), minlength=k) / sw_p
    out: NDArray[np.float64] = y - c[pj] - d[si]
    return out
