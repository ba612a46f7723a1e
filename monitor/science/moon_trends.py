"""Statistics on series of Moon calibration coefficients: phase-angle residual slope and the
ratio of two satellites from acquisitions at similar geometry.

A lunar-model error that depends on the phase angle shows up as a slope of the drift-fit
residuals versus ``|g|`` (the instrument does not know the phase); the ratio of two satellites'
A_k is free of the model error when both looked at the Moon under nearly the same geometry
(same branch, waxing or waning, and nearly the same ``|g|``), so the ROLO phase and libration
terms cancel in the ratio (Kieffer & Stone 2005, Sec. 6: relative calibration between instruments).

Pure numpy; inputs are arrays, outputs small frozen dataclasses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from monitor.science.exceptions import InsufficientDataError

__all__ = [
    "PhaseSlope",
    "PairRatio",
    "phase_residual_slope",
    "match_similar_geometry",
    "pair_ratio",
    "independent_rel_sigma",
    "geometry_matched_ratio",
]


@dataclass(frozen=True)
class PhaseSlope:
    """Weighted straight line ``residual = offset + slope (|g| - g_ref)``.

    Attributes
    ----------
    slope_per_deg, slope_sigma_per_deg : float
        Slope of the relative residual per degree of ``|g|`` and its 1-sigma uncertainty (scaled
        by the Birge ratio when ``chi2/dof > 1``).
    offset : float
        Residual at ``reference_phase_deg``.
    reference_phase_deg : float
        ``g_ref``: the ``1/sigma^2``-weighted mean ``|g|``, degrees.
    chi2_dof : float or None
        Reduced chi-square (None when ``dof = 0``).
    n_points : int
    """

    slope_per_deg: float
    slope_sigma_per_deg: float
    offset: float
    reference_phase_deg: float
    chi2_dof: float | None
    n_points: int


@dataclass(frozen=True)
class PairRatio:
    """Weighted mean ratio ``A_num / A_den`` over matched acquisition pairs.

    Attributes
    ----------
    ratio, ratio_sigma : float
        Weighted mean ratio and its 1-sigma uncertainty (Birge-scaled when ``chi2/dof > 1``).
    n_pairs : int
    pairs : tuple of (int, int)
        Indices (into the numerator and denominator arrays) of the pairs used.
    ratios : tuple of float
        Ratio of each pair, same order as ``pairs``.
    chi2_dof : float or None
        Reduced chi-square of the pair ratios about the mean (None for one pair).
    """

    ratio: float
    ratio_sigma: float
    n_pairs: int
    pairs: tuple[tuple[int, int], ...]
    ratios: tuple[float, ...]
    chi2_dof: float | None


def phase_residual_slope(phase_angle_deg: ArrayLike, residual: ArrayLike, sigma: ArrayLike) -> PhaseSlope:
    """Weighted least-squares slope of relative residuals versus the absolute phase angle.

    Parameters
    ----------
    phase_angle_deg : array_like of float, shape (n,)
        Phase angles g, degrees; the sign (waxing/waning) is ignored.
    residual : array_like of float, shape (n,)
        Relative residuals ``a_i / A(t_i) - 1`` of the measurements about the drift trend.
    sigma : array_like of float, shape (n,)
        1-sigma uncertainties of the residuals (> 0).

    Returns
    -------
    PhaseSlope

    Raises
    ------
    ValueError
        If shapes differ, values are not finite or a sigma is not > 0.
    InsufficientDataError
        With fewer than 3 points or fewer than 2 distinct ``|g|``.
    """
    g = np.abs(np.asarray(phase_angle_deg, dtype=np.float64))
    r = np.asarray(residual, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    if g.ndim != 1 or r.shape != g.shape or s.shape != g.shape:
        raise ValueError("phase_angle_deg, residual and sigma must be 1-D of the same length")
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(r)) and np.all(np.isfinite(s))) or np.any(s <= 0):
        raise ValueError("inputs must be finite and sigma > 0")
    if g.size < 3 or np.unique(g).size < 2:
        raise InsufficientDataError(f"a phase slope needs >= 3 points at >= 2 phase angles, got {g.size}")
    w = 1.0 / (s * s)
    g_ref = float(w @ g / w.sum())
    x = np.stack([np.ones_like(g), g - g_ref], axis=1)
    normal = x.T @ (x * w[:, None])
    p = np.linalg.solve(normal, x.T @ (w * r))
    resid = (r - x @ p) / s
    chi2 = float(resid @ resid)
    dof = g.size - 2
    scale = math.sqrt(chi2 / dof) if dof > 0 and chi2 > dof else 1.0
    cov = np.linalg.inv(normal) * scale**2
    return PhaseSlope(
        slope_per_deg=float(p[1]),
        slope_sigma_per_deg=math.sqrt(float(cov[1, 1])),
        offset=float(p[0]),
        reference_phase_deg=g_ref,
        chi2_dof=chi2 / dof if dof > 0 else None,
        n_points=int(g.size),
    )


def match_similar_geometry(
    phase_a_deg: ArrayLike,
    time_a_days: ArrayLike,
    phase_b_deg: ArrayLike,
    time_b_days: ArrayLike,
    *,
    max_phase_diff_deg: float,
    max_days: float,
) -> list[tuple[int, int]]:
    """Pair measurements of two series taken at similar geometry.

    A pair ``(i, j)`` needs the same branch (sign of g: waxing/waning), ``|g_a - g_b| <=
    max_phase_diff_deg`` and ``|t_a - t_b| <= max_days``. Candidate pairs are taken greedily by
    increasing ``|g_a - g_b|`` (then ``|t_a - t_b|``); each measurement is used at most once.

    Parameters
    ----------
    phase_a_deg, time_a_days : array_like of float, shape (n,)
        Signed phase angles (degrees) and epochs (days, any origin) of series a.
    phase_b_deg, time_b_days : array_like of float, shape (m,)
        The same for series b (same time origin).
    max_phase_diff_deg : float
        Largest phase-angle difference of a pair, degrees (>= 0).
    max_days : float
        Largest time difference of a pair, days (>= 0).

    Returns
    -------
    list of (int, int)
        Index pairs, sorted by the index into series a.
    """
    ga, ta = np.asarray(phase_a_deg, dtype=np.float64), np.asarray(time_a_days, dtype=np.float64)
    gb, tb = np.asarray(phase_b_deg, dtype=np.float64), np.asarray(time_b_days, dtype=np.float64)
    if ga.shape != ta.shape or gb.shape != tb.shape or ga.ndim != 1 or gb.ndim != 1:
        raise ValueError("phase and time arrays must be 1-D and pairwise of the same length")
    if max_phase_diff_deg < 0.0 or max_days < 0.0:
        raise ValueError("max_phase_diff_deg and max_days must be >= 0")
    dg = np.abs(ga[:, None] - gb[None, :])
    dt = np.abs(ta[:, None] - tb[None, :])
    ok = (np.sign(ga)[:, None] == np.sign(gb)[None, :]) & (dg <= max_phase_diff_deg) & (dt <= max_days)
    ii, jj = np.nonzero(ok)
    order = np.lexsort((dt[ii, jj], dg[ii, jj]))
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for k in order:
        i, j = int(ii[k]), int(jj[k])
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def pair_ratio(
    a_num: ArrayLike,
    rel_sigma_num: ArrayLike,
    a_den: ArrayLike,
    rel_sigma_den: ArrayLike,
    pairs: list[tuple[int, int]],
) -> PairRatio:
    """Weighted mean of ``a_num[i] / a_den[j]`` over ``pairs``.

    Each pair ratio has the relative uncertainty ``sqrt(rel_num^2 + rel_den^2)``; pass only the
    components that do not cancel at similar geometry (noise, background, aperture, geometry; not
    the lunar-model term). Weights ``1/sigma^2``; the uncertainty of the mean is scaled by the
    Birge ratio when the pair ratios scatter more than their sigmas say.

    Parameters
    ----------
    a_num, rel_sigma_num : array_like of float, shape (n,)
        Numerator coefficients and their relative 1-sigma uncertainties (> 0).
    a_den, rel_sigma_den : array_like of float, shape (m,)
        Denominator coefficients and relative uncertainties.
    pairs : list of (int, int)
        From :func:`match_similar_geometry`.

    Returns
    -------
    PairRatio

    Raises
    ------
    InsufficientDataError
        When ``pairs`` is empty.
    """
    if not pairs:
        raise InsufficientDataError("no pair of acquisitions at similar geometry")
    an, sn = np.asarray(a_num, dtype=np.float64), np.asarray(rel_sigma_num, dtype=np.float64)
    ad, sd = np.asarray(a_den, dtype=np.float64), np.asarray(rel_sigma_den, dtype=np.float64)
    i = np.array([p[0] for p in pairs], dtype=np.intp)
    j = np.array([p[1] for p in pairs], dtype=np.intp)
    ratio = an[i] / ad[j]
    sig = np.abs(ratio) * np.sqrt(sn[i] ** 2 + sd[j] ** 2)
    if not (np.all(np.isfinite(ratio)) and np.all(sig > 0)):
        raise ValueError("coefficients must be finite and non-zero, relative sigmas > 0")
    w = 1.0 / (sig * sig)
    mean = float(w @ ratio / w.sum())
    sigma = math.sqrt(1.0 / float(w.sum()))
    chi2_dof: float | None = None
    if ratio.size > 1:
        chi2_dof = float(w @ (ratio - mean) ** 2) / (ratio.size - 1)
        sigma *= math.sqrt(max(chi2_dof, 1.0))
    return PairRatio(
        ratio=mean,
        ratio_sigma=sigma,
        n_pairs=int(ratio.size),
        pairs=tuple(pairs),
        ratios=tuple(float(x) for x in ratio),
        chi2_dof=chi2_dof,
    )


def independent_rel_sigma(budget: Mapping[str, float] | None, a: float | None, a_sigma: float | None) -> float:
    """Relative 1-sigma of one Moon A_k without the lunar-model term (which cancels between two
    acquisitions at similar geometry): the quadrature sum of its ``noise``, ``background``,
    ``aperture`` and ``geometry`` budget terms, or ``a_sigma / a`` when it has no budget.

    >>> round(independent_rel_sigma({"noise": 3e-4, "background": 4e-4, "model": 0.01}, 1.0, 0.01), 6)
    0.0005
    """
    b = budget or {}
    value = math.sqrt(sum(float(b.get(k, 0.0)) ** 2 for k in ("noise", "background", "aperture", "geometry")))
    if value > 0.0:
        return value
    return float(a_sigma) / float(a) if a and a_sigma else float("nan")


def geometry_matched_ratio(
    phase_num_deg: ArrayLike, time_num_days: ArrayLike, a_num: ArrayLike, rel_sigma_num: ArrayLike,
    phase_den_deg: ArrayLike, time_den_days: ArrayLike, a_den: ArrayLike, rel_sigma_den: ArrayLike,
    *, max_phase_diff_deg: float, max_days: float,
) -> PairRatio | None:
    """Ratio ``A_num / A_den`` of two satellites from their acquisitions at similar geometry
    (:func:`match_similar_geometry` then :func:`pair_ratio`); None when no pair qualifies."""
    pairs = match_similar_geometry(phase_num_deg, time_num_days, phase_den_deg, time_den_days,
                                   max_phase_diff_deg=max_phase_diff_deg, max_days=max_days)
    if not pairs:
        return None
    return pair_ratio(a_num, rel_sigma_num, a_den, rel_sigma_den, pairs)
