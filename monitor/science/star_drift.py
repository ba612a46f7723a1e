"""Drift of A_k from per-star coefficients with a per-star offset: insensitive to the star mix.

A starpool mean moves when the campaign sees other stars, because every star's reference
irradiance is off by its own few % (template mismatch). Fitting the per-star coefficients
``a_ij`` (star ``i``, acquisition ``j``) with

    ln a_ij = ln A0 + r (t_j - t_ref) + d_i + e_ij,     sum_i w_i d_i = 0,

(a mixed model with fixed per-star offsets ``d_i``) measures the drift ``r`` from each star's own
changes, whichever stars a campaign saw (issue 14). Weighted least squares with
``w_ij = 1 / (sigma_ij/a_ij)^2``; covariance scaled by chi2/dof when above 1. The rate is the
small-drift ``dA/A per year`` of ICD 5 (``exp`` and linear agree to second order). Pure numpy.

Which star drift is primary (:func:`is_primary`): the star-offsets fit, as soon as at least
:data:`MIN_LINKED_STARS` stars were each used in two or more starpools (distinct epochs) -- these
stars alone carry its rate. Its rate +- sigma is then the drift of the results export (ICD 5
``drift``), the report summary and the ``drift-rate`` alert. Otherwise (too few stars re-observed:
the rate would rest on one or two stars, each with its own variability) the linear fit of the
starpool means stays primary. The linear fit of the starpool means is kept in every case (it is
the curve through the plotted A_k, and the departure alerts test the starpool means against it);
the export gives it beside the primary one (``drift_starpool_mean``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from monitor.science.exceptions import InsufficientDataError

__all__ = ["MIN_LINKED_STARS", "StarOffsetDrift", "fit_drift_star_offsets", "is_primary"]

MIN_LINKED_STARS = 3  # fewest stars used in >= 2 starpools for the star-offsets drift to be primary


@dataclass(frozen=True)
class StarOffsetDrift:
    """Result of :func:`fit_drift_star_offsets`."""

    rate_per_year: float
    rate_sigma_per_year: float
    a0: float  # A at reference_time_years, for the weighted-mean star (offsets sum to 0)
    a0_sigma: float  # approximate: sqrt(scale / sum w) relative, times a0 (the offsets' errors ignored)
    reference_time_years: float
    n_points: int
    n_stars: int
    chi2_dof: float
    n_stars_linked: int = 0  # stars measured at >= 2 distinct epochs: those that carry the rate


def is_primary(fit: StarOffsetDrift | None, min_linked_stars: int = MIN_LINKED_STARS) -> bool:
    """Whether the star-offsets drift ``fit`` is the primary star drift (module docstring): it
    exists and at least ``min_linked_stars`` stars were measured at two or more epochs.

    >>> t, s = np.array([0.0, 1.0, 0.0, 1.0]), np.array([1, 1, 2, 2])
    >>> f = fit_drift_star_offsets(t, np.exp(-0.01 * t), np.full(4, 0.001), s)
    >>> is_primary(f), is_primary(f, min_linked_stars=2)
    (False, True)
    """
    return fit is not None and fit.n_stars_linked >= min_linked_stars


def fit_drift_star_offsets(
    t_years: ArrayLike, a: ArrayLike, a_sigma: ArrayLike, star: ArrayLike
) -> StarOffsetDrift:
    """Fit ``ln a = ln A0 + r (t - t_ref) + d_star`` (module docstring).

    Parameters
    ----------
    t_years : array_like, shape (n,)
        Epoch of each per-star coefficient, years.
    a, a_sigma : array_like, shape (n,)
        Per-star coefficients (> 0) and their 1-sigma (> 0).
    star : array_like of int, shape (n,)
        Star of each point.

    Returns
    -------
    StarOffsetDrift

    Raises
    ------
    InsufficientDataError
        If no star has two distinct epochs (the rate is then not constrained by any star).

    Examples
    --------
    Two stars 5 % apart, both drifting by -1 %/yr; the mix changes (star 2 only late):

    >>> t = np.array([0.0, 0.5, 1.0, 1.5, 1.0, 1.5, 2.0])
    >>> s = np.array([1, 1, 1, 1, 2, 2, 2])
    >>> a = np.where(s == 1, 1.0, 1.05) * np.exp(-0.01 * t)
    >>> f = fit_drift_star_offsets(t, a, 0.001 * a, s)
    >>> round(f.rate_per_year, 6), f.n_stars
    (-0.01, 2)
    """
    tv = np.asarray(t_years, dtype=np.float64)
    av = np.asarray(a, dtype=np.float64)
    sv = np.asarray(a_sigma, dtype=np.float64)
    ok = np.isfinite(tv) & np.isfinite(av) & np.isfinite(sv) & (av > 0.0) & (sv > 0.0)
    tv, av, sv = tv[ok], av[ok], sv[ok]
    stars, inv = np.unique(np.asarray(star)[ok], return_inverse=True)
    m = stars.size
    # stars seen at one epoch only carry no rate information; keep them (they fit their offset)
    t_span = np.full(m, -np.inf)  # latest epoch of each star
    np.maximum.at(t_span, inv, tv)
    t_min = np.full(m, np.inf)
    np.minimum.at(t_min, inv, tv)
    n_linked = int(np.count_nonzero(t_span - t_min > 0.0))
    if n_linked == 0:
        raise InsufficientDataError("no star was measured at two distinct epochs")
    y = np.log(av)
    w = (av / sv) ** 2
    t_ref = float(np.sum(w * tv) / np.sum(w))
    dt = tv - t_ref
    # eliminate the star offsets: within-star weighted centring (exact for the fixed-effects model)
    sw = np.bincount(inv, weights=w, minlength=m)
    ybar = np.bincount(inv, weights=w * y, minlength=m) / sw
    tbar = np.bincount(inv, weights=w * dt, minlength=m) / sw
    yc, tc = y - ybar[inv], dt - tbar[inv]
    stt = float(np.sum(w * tc * tc))
    rate = float(np.sum(w * tc * yc) / stt)
    resid = yc - rate * tc
    dof = tv.size - m - 1
    chi2 = float(np.sum(w * resid * resid))
    scale = max(chi2 / dof, 1.0) if dof > 0 else 1.0
    sigma = math.sqrt(scale / stt)
    offsets = ybar - rate * tbar  # ln A0 + d_i
    ln_a0 = float(np.sum(sw * offsets) / np.sum(sw))
    a0 = math.exp(ln_a0)
    return StarOffsetDrift(rate, sigma, a0, a0 * math.sqrt(scale / float(w.sum())), t_ref, int(tv.size), int(m),
                           chi2 / dof if dof > 0 else math.nan, n_linked)
