"""Drift of the calibration coefficient with time: weighted fits of A(t) and alerts.

Models, with ``dt = t - t_ref`` in years:

- ``linear``:      ``A(t) = A0 (1 + r dt)``
- ``exponential``: ``A(t) = A0 exp(r dt)``

``r`` is the relative drift ``dA/A`` per year at ``t_ref`` (ICD 5 ``rate_per_year``). Pure numpy.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.science.exceptions import InsufficientDataError

__all__ = [
    "DriftModel",
    "DriftFit",
    "AlertKind",
    "DriftAlert",
    "fit_drift",
    "drift_model",
    "drift_alerts",
    "rate_alert",
]

DriftModel = Literal["linear", "exponential"]
_GN_MAX_ITERATIONS = 20  # Gauss-Newton iterations of the exponential model
_GN_TOLERANCE = 1e-12  # relative parameter change at convergence


@dataclass(frozen=True, eq=False)
class DriftFit:
    """Weighted least-squares fit of A(t).

    Attributes
    ----------
    model : {"linear", "exponential"}
    reference_time_years : float
        ``t_ref``, same time scale as the input times (e.g. decimal years).
    a0, a0_sigma : float
        Fitted ``A(t_ref)`` and its 1-sigma uncertainty (unit of the inputs).
    rate_per_year, rate_sigma_per_year : float
        Relative drift ``(dA/dt)/A`` at ``t_ref``, per year, and its 1-sigma uncertainty.
    covariance : NDArray[np.float64], shape (2, 2)
        Covariance of ``(a0, rate_per_year)``, including the ``scale_factor**2``.
    chi2 : float
        ``sum(normalised_residuals**2)``.
    dof : int
        ``n_points - 2``.
    scale_factor : float
        ``sqrt(chi2/dof)`` when that exceeds 1 (the input sigmas under-describe the scatter, e.g.
        unmodelled campaign-to-campaign errors), else 1; applied to all uncertainties.
    normalised_residuals : NDArray[np.float64], shape (n,)
        ``(a_i - A(t_i)) / a_sigma_i`` (input sigmas, not scaled).
    n_points : int
    """

    model: DriftModel
    reference_time_years: float
    a0: float
    a0_sigma: float
    rate_per_year: float
    rate_sigma_per_year: float
    covariance: NDArray[np.float64]
    chi2: float
    dof: int
    scale_factor: float
    normalised_residuals: NDArray[np.float64]
    n_points: int


class AlertKind(enum.StrEnum):
    """Why a drift alert was raised."""

    DEPARTURE = "departure"  # a point departs from the fitted trend by more than k sigma
    RATE = "rate"  # the fitted |rate| exceeds the threshold


@dataclass(frozen=True)
class DriftAlert:
    """One alert of :func:`drift_alerts`.

    ``value`` is the normalised departure (DEPARTURE) or the rate per year (RATE); ``threshold``
    the limit it crossed; ``index``/``t_years`` locate the point (None for RATE).
    """

    kind: AlertKind
    value: float
    threshold: float
    index: int | None
    t_years: float | None
    message: str


def _design(
    model: DriftModel, dt: NDArray[np.float64], a0: float, r: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Model values and Jacobian (n, 2) with respect to (a0, r)."""
    if model == "linear":
        f = a0 * (1.0 + r * dt)
        jac = np.stack([1.0 + r * dt, a0 * dt], axis=1)
    else:
        e = np.exp(r * dt)
        f = a0 * e
        jac = np.stack([e, a0 * dt * e], axis=1)
    return f, jac


def fit_drift(
    t_years: ArrayLike,
    a: ArrayLike,
    a_sigma: ArrayLike,
    model: DriftModel = "linear",
    reference_time_years: float | None = None,
) -> DriftFit:
    """Weighted least-squares drift of the calibration coefficient.

    Minimises ``chi2 = sum((a_i - A(t_i)) / sigma_i)^2`` with ``A`` the linear
    ``A0 (1 + r dt)`` or exponential ``A0 exp(r dt)`` model, ``dt = t - t_ref``. The linear model
    is solved exactly as the linear problem in ``(A0, A0 r)`` and mapped to ``(A0, r)``; the
    exponential one by Gauss-Newton started from the weighted fit of ``ln a`` (it converges in a
    few iterations for % drifts). Covariance ``(J^T W J)^-1`` at the solution, multiplied by
    ``chi2/dof`` when that exceeds 1 (Birge ratio; the scatter then exceeds the stated sigmas and
    the uncertainties are scaled up, never down).

    Parameters
    ----------
    t_years : array_like of float, shape (n,)
        Epochs, years (e.g. decimal years or years since launch).
    a, a_sigma : array_like of float, shape (n,)
        Coefficients (e.g. starpool ``A_k``) and their 1-sigma uncertainties (> 0), finite.
    model : {"linear", "exponential"}
    reference_time_years : float, optional
        ``t_ref``; default the ``1/sigma^2``-weighted mean epoch, where ``A0`` and ``r`` are
        nearly uncorrelated (for the linear model ``A0`` and ``A0 r`` exactly are).

    Returns
    -------
    DriftFit

    Raises
    ------
    ValueError
        If shapes differ, values are not finite, a sigma is not > 0, ``a`` is not > 0 for the
        exponential model, or the model name is unknown.
    InsufficientDataError
        With fewer than 2 points or fewer than 2 distinct epochs.

    Examples
    --------
    Five yearly points on ``A = 100 (1 - 0.01 (t - 2))`` with 0.05 of noise sigma (exact values):

    >>> t = np.arange(5.0)
    >>> fit = fit_drift(t, 100.0 * (1.0 - 0.01 * (t - 2.0)), np.full(5, 0.05))
    >>> round(fit.reference_time_years, 6), round(fit.a0, 6), round(fit.rate_per_year, 6)
    (2.0, 100.0, -0.01)
    >>> round(fit.a0_sigma, 4), round(fit.rate_sigma_per_year, 6), fit.dof
    (0.0224, 0.000158, 3)
    """
    t = np.asarray(t_years, dtype=np.float64)
    av = np.asarray(a, dtype=np.float64)
    sv = np.asarray(a_sigma, dtype=np.float64)
    if model not in ("linear", "exponential"):
        raise ValueError(f"unknown drift model {model!r}")
    if t.ndim != 1 or av.shape != t.shape or sv.shape != t.shape:
        raise ValueError("t_years, a and a_sigma must be 1-D of the same length")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(av)) and np.all(np.isfinite(sv))) or np.any(sv <= 0):
        raise ValueError("inputs must be finite and a_sigma > 0")
    if t.size < 2 or np.unique(t).size < 2:
        raise InsufficientDataError(f"a drift fit needs >= 2 distinct epochs, got {np.unique(t).size}")
    w = 1.0 / (sv * sv)
    t_ref = float(w @ t / w.sum()) if reference_time_years is None else float(reference_time_years)
    dt = t - t_ref

    if model == "linear":
        x = np.stack([np.ones_like(dt), dt], axis=1)
        normal = x.T @ (x * w[:, None])
        p = np.linalg.solve(normal, x.T @ (w * av))
        a0, r = float(p[0]), float(p[1] / p[0])
    else:
        if np.any(av <= 0.0):
            raise ValueError("the exponential model needs a > 0")
        wl = (av / sv) ** 2  # weights of ln a: sigma_ln = sigma / a
        x = np.stack([np.ones_like(dt), dt], axis=1)
        p = np.linalg.solve(x.T @ (x * wl[:, None]), x.T @ (wl * np.log(av)))
        a0, r = float(math.exp(p[0])), float(p[1])
        for _ in range(_GN_MAX_ITERATIONS):
            f, jac = _design(model, dt, a0, r)
            step = np.linalg.solve(jac.T @ (jac * w[:, None]), jac.T @ (w * (av - f)))
            a0, r = a0 + float(step[0]), r + float(step[1])
            if abs(step[0]) <= _GN_TOLERANCE * abs(a0) and abs(step[1]) <= _GN_TOLERANCE * (abs(r) + 1e-6):
                break

    f, jac = _design(model, dt, a0, r)
    resid = (av - f) / sv
    chi2 = float(resid @ resid)
    dof = t.size - 2
    scale = math.sqrt(chi2 / dof) if dof > 0 and chi2 > dof else 1.0
    cov = np.asarray(np.linalg.inv(jac.T @ (jac * w[:, None])), dtype=np.float64) * scale**2
    return DriftFit(
        model=model,
        reference_time_years=t_ref,
        a0=a0,
        a0_sigma=math.sqrt(float(cov[0, 0])),
        rate_per_year=r,
        rate_sigma_per_year=math.sqrt(float(cov[1, 1])),
        covariance=cov,
        chi2=chi2,
        dof=dof,
        scale_factor=scale,
        normalised_residuals=resid,
        n_points=int(t.size),
    )


def drift_model(fit: DriftFit, t_years: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fitted ``A(t)`` and its 1-sigma uncertainty (from ``fit.covariance``) at epochs ``t_years``.

    Returns
    -------
    (value, sigma) : tuple of NDArray[np.float64]
        Same shape as ``t_years``, unit of ``A``.

    Examples
    --------
    >>> t = np.arange(5.0)
    >>> fit = fit_drift(t, 100.0 * (1.0 - 0.01 * (t - 2.0)), np.full(5, 0.05))
    >>> value, sigma = drift_model(fit, [5.0])
    >>> value.round(6).tolist(), sigma.round(4).tolist()
    ([97.0], [0.0524])
    """
    t = np.asarray(t_years, dtype=np.float64)
    f, jac = _design(fit.model, np.atleast_1d(t - fit.reference_time_years), fit.a0, fit.rate_per_year)
    var = np.einsum("ni,ij,nj->n", jac, fit.covariance, jac)
    return f.reshape(t.shape), np.sqrt(var).reshape(t.shape)


def drift_alerts(
    fit: DriftFit,
    t_years: ArrayLike,
    a: ArrayLike,
    a_sigma: ArrayLike,
    k_sigma: float = 3.0,
    rate_threshold_per_year: float = 0.01,
    rate_k_sigma: float = 2.0,
    min_epochs: int = 4,
) -> list[DriftAlert]:
    """Alerts on a drift fit: departing points and a significantly excessive drift rate.

    No alert at all when the fit has fewer than ``min_epochs`` points (epochs): a two-point fit
    has no residual and a rate that is only as good as its two points.

    - DEPARTURE for each point with ``|a_i - A(t_i)| / sqrt(a_sigma_i^2 + sigma_A(t_i)^2) > k_sigma``
      (``sigma_A`` the fit's prediction uncertainty); pass a new point that was not in the fit to
      test it against the trend.
    - RATE when ``|rate_per_year| - rate_k_sigma * rate_sigma_per_year > rate_threshold_per_year``
      (relative per year): the rate exceeds the threshold by more than ``rate_k_sigma`` of its
      own sigma (-2.45 +- 2.35 %/year does not exceed 2 %/year significantly: no alert).

    Parameters
    ----------
    fit : DriftFit
    t_years, a, a_sigma : array_like of float, shape (n,)
        Points to test (typically those of the fit, or newer ones).
    k_sigma : float
        Departure threshold in sigma (> 0).
    rate_threshold_per_year : float
        Relative rate threshold per year (>= 0), e.g. 0.01 = 1 %/year.
    rate_k_sigma : float
        Significance of the rate test, in sigma of the rate (>= 0; 0 = the rate alone).
    min_epochs : int
        Fewest points of the fit for any alert (>= 2).

    Returns
    -------
    list[DriftAlert]
        DEPARTURE alerts in input order, then the RATE alert if any; empty when all is well.
        Points with a non-finite value are skipped.

    Raises
    ------
    ValueError
        If shapes differ or a threshold is out of range.

    Examples
    --------
    A new point 1 % below the trend, against the fit above:

    >>> t = np.arange(5.0)
    >>> fit = fit_drift(t, 100.0 * (1.0 - 0.01 * (t - 2.0)), np.full(5, 0.05))
    >>> [(str(a.kind), a.index, round(a.value, 1)) for a in drift_alerts(fit, [5.0], [96.0], [0.05])]
    [('departure', 0, -13.8)]
    """
    t = np.asarray(t_years, dtype=np.float64)
    av = np.asarray(a, dtype=np.float64)
    sv = np.asarray(a_sigma, dtype=np.float64)
    if t.ndim != 1 or av.shape != t.shape or sv.shape != t.shape:
        raise ValueError("t_years, a and a_sigma must be 1-D of the same length")
    if k_sigma <= 0.0 or rate_threshold_per_year < 0.0 or rate_k_sigma < 0.0:
        raise ValueError("k_sigma must be > 0, rate_threshold_per_year and rate_k_sigma >= 0")
    if min_epochs < 2:
        raise ValueError("min_epochs must be >= 2")
    alerts: list[DriftAlert] = []
    if fit.n_points < min_epochs:
        return alerts
    if t.size:
        f, fs = drift_model(fit, t)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (av - f) / np.sqrt(sv * sv + fs * fs)
        for i in np.flatnonzero(np.isfinite(z) & (np.abs(z) > k_sigma)):
            alerts.append(
                DriftAlert(
                    kind=AlertKind.DEPARTURE,
                    value=float(z[i]),
                    threshold=k_sigma,
                    index=int(i),
                    t_years=float(t[i]),
                    message=f"point {i} at t={t[i]:.4f} departs from the {fit.model} trend by "
                    f"{z[i]:+.1f} sigma (limit {k_sigma:g})",
                )
            )
    rate = rate_alert(fit.rate_per_year, fit.rate_sigma_per_year, fit.n_points, rate_threshold_per_year,
                      rate_k_sigma)
    if rate is not None:
        alerts.append(rate)
    return alerts


def rate_alert(rate_per_year: float, rate_sigma_per_year: float, n_epochs: int,
               rate_threshold_per_year: float = 0.01, rate_k_sigma: float = 2.0,
               fit_name: str = "") -> DriftAlert | None:
    """The RATE alert of :func:`drift_alerts` for any drift estimate (e.g. the star-offsets fit of
    :mod:`monitor.science.star_drift`), or None when
    ``|rate| - rate_k_sigma * sigma <= rate_threshold_per_year``. ``fit_name`` is named in the message.

    >>> rate_alert(-0.0245, 0.0235, 6, 0.02) is None
    True
    >>> round(rate_alert(-0.05, 0.01, 6, 0.02).value, 3)
    -0.05
    """
    if not abs(rate_per_year) - rate_k_sigma * rate_sigma_per_year > rate_threshold_per_year:
        return None
    what = f" ({fit_name})" if fit_name else ""
    return DriftAlert(
        kind=AlertKind.RATE,
        value=rate_per_year,
        threshold=rate_threshold_per_year,
        index=None,
        t_years=None,
        message=f"drift rate{what} {100 * rate_per_year:+.3f} +- {100 * rate_sigma_per_year:.3f} %/year "
        f"exceeds {100 * rate_threshold_per_year:.3f} %/year by more than {rate_k_sigma:g} sigma "
        f"({n_epochs} epochs)",
    )
