"""The system's REF-2 expectation of a star's band irradiance, and its per-star template sigma.

The ICD 2.2b rule (the nearest template, :func:`monitor.science.star_ref2.choose_templates`) gives
each star *one* template; the ICD ``a`` keeps it. A real star of that colour is not that
template: at a given (B-V, V-I) the library's own templates scatter by 0.2-5 % in band/V ratio
(least in B1, which sits on V where the scaling pins the spectrum; most in B3 for the red stars),
and the nearest one is a single draw of that scatter. The project's mix-corrected estimator
(``a_star_offsets``) may use a better expectation:

* :func:`template_expectation`: the kernel-weighted mean of the neighbouring templates' band/V
  ratios (the weights of :func:`monitor.science.star_ref2.template_weights`, a Nadaraya-Watson
  estimate of the mean spectrum at the star's colour) and the kernel-weighted relative standard
  deviation of those ratios around it: the **local scatter of the library** at that colour, a
  stated per-star prior of the template (SED) term, per band, taken from the library alone (no
  fit to any measurement);
* :func:`local_linear_ratio`: the same neighbours with a weighted linear regression of the ratio
  on (B-V, V-I), evaluated at the star's colour (a local-linear kernel estimate: removes the
  first-order bias of the plain kernel mean where the neighbours sit on one side of the star,
  e.g. redward in V-I, as the library does against Hipparcos-2 colours: reference/README.md).

Which one the project uses, and why, is measured in benchmarks/star_ref2.py (see that file's
docstring; chosen on seeds 1-10, reported on 11-30); both are pure numpy on arrays the caller reads
(:mod:`monitor.io.star_library`). The pipeline's ``a_star_offsets`` uses the kernel mean with the
local scatter as prior (:func:`monitor.science.star_drift.starpool_level_star_offsets`, v2). The
local-linear one is *worse* on that benchmark (bias P/B0/B1/B2/B3 +0.87/+0.81/+0.04/+1.08/+2.43 %
against +0.01/+0.02/+0.02/0.00/-0.07 % for the kernel mean): its truth draws real templates of the
library near the star's colour, which sit redward of the catalogue in V-I (+0.024 mag), so an
expectation at the star's exact catalogue colour is too blue for it. It would be the right one if
the library's V-I offset against Hipparcos-2 were a property of the stars rather than of the
photometric systems (star_ref2 module docstring); that is not decided by anything measured here.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["template_expectation", "local_linear_ratio"]


def template_expectation(
    weights: ArrayLike, band_ratios: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Kernel mean of the templates' band/V ratios per star and their relative local scatter.

    ``r_i = sum_j w_ij R_j`` and ``s_i = sqrt(sum_j w_ij (R_j - r_i)^2) / r_i`` with the rows of
    ``weights`` normalised to 1 (:func:`monitor.science.star_ref2.template_weights`).

    Parameters
    ----------
    weights : array_like, shape (n, m)
        Per star, the weight of each of the m templates (>= 0); a row summing to 0 gives NaN.
    band_ratios : array_like, shape (m,)
        ``<T_j>_k / <T_j>_V`` of each template (:func:`monitor.science.star_ref2.template_band_ratios`).

    Returns
    -------
    ratio : ndarray, shape (n,)
        Expected band/V ratio of each star (multiply by the V scaling of ICD 2.2b item 3 for E_k).
    spread_rel : ndarray, shape (n,)
        Relative standard deviation of the neighbouring templates' ratios around ``ratio``: the
        per-star template sigma (dimensionless).

    Examples
    --------
    Two templates 4 % apart, weighted equally: the mean and a 2 % spread; a row of zeros: NaN.

    >>> r, s = template_expectation([[0.5, 0.5], [0.0, 0.0]], [0.98, 1.02])
    >>> np.round(r, 4).tolist(), np.round(s, 4).tolist()
    ([1.0, nan], [0.02, nan])
    """
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    ratios = np.asarray(band_ratios, dtype=np.float64)
    if w.shape[1] != ratios.size:
        raise ValueError("weights must have one column per template")
    total = w.sum(axis=1)
    ok = total > 0.0
    wn = np.divide(w, total[:, None], out=np.zeros_like(w), where=ok[:, None])
    mean = wn @ ratios
    var = wn @ (ratios * ratios) - mean * mean
    spread = np.sqrt(np.clip(var, 0.0, None)) / np.where(ok, mean, 1.0)
    return np.where(ok, mean, np.nan), np.where(ok, spread, np.nan)


def local_linear_ratio(
    b_v: ArrayLike,
    v_i: ArrayLike,
    template_b_v: ArrayLike,
    template_v_i: ArrayLike,
    weights: ArrayLike,
    band_ratios: ArrayLike,
    *,
    min_effective_templates: float = 4.0,
) -> NDArray[np.float64]:
    """Weighted local-linear regression of the band/V ratio on (B-V, V-I), at each star's colour.

    Per star, ``R_j ~ b0 + b1 (B-V_j - B-V) + b2 (V-I_j - V-I)`` by least squares with the
    weights ``w_ij``; the expectation is ``b0``. Where the neighbours are too few to fit a plane
    (effective number ``(sum w)^2 / sum w^2`` below ``min_effective_templates``), where the star's
    V-I is NaN (B-V alone: a line), or where the fit is singular, the fit drops to a line in B-V,
    then to the kernel mean (:func:`template_expectation`).

    Parameters
    ----------
    b_v, v_i : array_like, shape (n,)
        Star colours, mag (V-I may be NaN).
    template_b_v, template_v_i : array_like, shape (m,)
        Template colours, mag.
    weights : array_like, shape (n, m)
        Kernel weights per star (:func:`monitor.science.star_ref2.template_weights`).
    band_ratios : array_like, shape (m,)
        ``<T_j>_k / <T_j>_V``.
    min_effective_templates : float
        Fewest effective templates for the plane fit.

    Returns
    -------
    ndarray, shape (n,)
        Expected ratio (NaN where the weights are all 0).

    Examples
    --------
    Ratios exactly linear in the colours are reproduced at a star off the neighbours' centre:

    >>> tbv = np.array([0.0, 0.2, 0.0, 0.2, 0.1]); tvi = np.array([0.0, 0.0, 0.2, 0.2, 0.3])
    >>> rat = 1.0 + 0.5 * tbv - 0.3 * tvi
    >>> w = np.full((1, 5), 0.2)
    >>> round(float(local_linear_ratio([0.05], [0.05], tbv, tvi, w, rat)[0]), 6)
    1.01
    """
    bv = np.atleast_1d(np.asarray(b_v, dtype=np.float64))
    vi = np.atleast_1d(np.asarray(v_i, dtype=np.float64))
    tbv = np.asarray(template_b_v, dtype=np.float64)
    tvi = np.asarray(template_v_i, dtype=np.float64)
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    ratios = np.asarray(band_ratios, dtype=np.float64)
    mean, _ = template_expectation(w, ratios)
    out = mean.copy()
    use = np.isfinite(tbv) & np.isfinite(tvi) & np.isfinite(ratios)
    r = np.where(use, ratios, 0.0)
    for i in range(bv.size):  # one small (<= 3 x 3) solve per star: stars, not pixels
        wi = np.where(use, w[i], 0.0)
        sw = wi.sum()
        if not sw > 0.0 or not np.isfinite(bv[i]):
            continue
        n_eff = sw * sw / float(np.sum(wi * wi))
        cols = [np.ones_like(tbv), np.where(use, tbv - bv[i], 0.0)]
        if np.isfinite(vi[i]) and n_eff >= min_effective_templates:
            cols.append(np.where(use, tvi - vi[i], 0.0))
        while len(cols) > 1:
            x = np.column_stack(cols)
            xtw = x.T * wi
            a = xtw @ x
            if n_eff >= len(cols) + 1 and np.linalg.cond(a) < 1e10:
                out[i] = float(np.linalg.solve(a, xtw @ r)[0])
                break
            cols.pop()
    return out
