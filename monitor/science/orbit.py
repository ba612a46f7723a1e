"""Along-track orbit models: the truncated Kepler expansion of Michalis & Dowman and EPHEM interpolation.

The UCL "Kepler" platform model (Michalis & Dowman 2008) expresses the perspective centre over an
along-track stereo acquisition as a Taylor expansion of two-body motion about a reference epoch:

    X(t) = X0 + u tau - GM X0 tau^2 / (2 r0^3)                              (order 2, M&D 2008)
         + j0 tau^3 / 6,  j0 = -GM / r0^3 (u - 3 (X0 . u) X0 / r0^2)       (order 3, jerk term)

with ``tau = t - t_ref`` and ``r0 = |X0|``. The jerk is the time derivative of the two-body
acceleration ``-GM r / r^3`` at the reference epoch. The second-order model alone is wrong by
~n^2 v tau^3 / 6, i.e. tens of metres at +-30 s for a 700 km orbit; the jerk term brings the
two-body truncation error to the decimetre level (see notes/kepler.md §4a). The model is only
valid in an inertial frame (ICD §3 ERA frame): in ECEF the Coriolis term alone is ~1 m/s^2.

EPHEM samples (positions and velocities) are interpolated with piecewise cubic Hermite
polynomials, which use both and are exact to ~1e-5 m for 4-s sampling of a LEO orbit.

All quantities are SI: metres, m/s, seconds relative to a caller-chosen reference epoch.

References
----------
Michalis P., Dowman I. (2008), "A generic model for along-track stereo sensors using rigorous orbit
mechanics", PE&RS 74(3):303-309.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import CubicHermiteSpline

from monitor.science.exceptions import InsufficientDataError, ScienceError

__all__ = [
    "GM_M3_S2",
    "Trajectory",
    "OrbitModelError",
    "EphemerisRangeError",
    "kepler_position",
    "kepler_velocity",
    "KeplerOrbit",
    "HermiteEphemeris",
    "interpolate_ephemeris",
    "OrbitFit",
    "fit_orbit_to_ephem",
    "forward_difference_jacobian",
]

GM_M3_S2 = 3.986004418e14  # m^3/s^2, WGS-84 / IERS geocentric gravitational constant
_SUPPORTED_ORDERS = (2, 3)

FloatArray = NDArray[np.float64]


class OrbitModelError(ScienceError):
    """An orbit model was asked for something it does not support (e.g. an unknown order)."""


class EphemerisRangeError(ScienceError):
    """A time lies outside the span of the ephemeris samples (no extrapolation)."""


class Trajectory(Protocol):
    """Anything that gives the satellite state (inertial frame, m and m/s) at times t (s)."""

    def state(self, t_s: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Positions and velocities, each shape ``t.shape + (3,)``."""
        ...


def _check_order(order: int) -> None:
    if order not in _SUPPORTED_ORDERS:
        raise OrbitModelError(f"Kepler expansion order must be one of {_SUPPORTED_ORDERS}, got {order}")


def _acc_jerk(x0: FloatArray, u: FloatArray, gm: float) -> tuple[FloatArray, FloatArray]:
    r2 = float(x0 @ x0)
    mu_r3 = gm / r2**1.5
    acc = -mu_r3 * x0
    jerk = -mu_r3 * (u - 3.0 * float(x0 @ u) / r2 * x0)
    return acc, jerk


def kepler_position(
    x0_m: ArrayLike, u_m_s: ArrayLike, tau_s: ArrayLike, order: int = 2, gm_m3_s2: float = GM_M3_S2
) -> FloatArray:
    """Position from the truncated Kepler expansion (Michalis & Dowman 2008).

    ``X = X0 + u tau - GM X0 tau^2 / (2 r0^3) [+ j0 tau^3 / 6]``,
    ``j0 = -GM / r0^3 (u - 3 (X0 . u) X0 / r0^2)``.

    Parameters
    ----------
    x0_m : array_like, shape (3,), m
        Position at the reference epoch (inertial frame).
    u_m_s : array_like, shape (3,), m/s
        Velocity at the reference epoch.
    tau_s : array_like, s
        Time since the reference epoch.
    order : {2, 3}
        2 = published model; 3 adds the jerk term.
    gm_m3_s2 : float
        Gravitational parameter.

    Returns
    -------
    ndarray, shape ``tau.shape + (3,)``, m

    Raises
    ------
    OrbitModelError
        Unsupported order.
    """
    _check_order(order)
    x0 = np.asarray(x0_m, dtype=np.float64)
    u = np.asarray(u_m_s, dtype=np.float64)
    tau = np.asarray(tau_s, dtype=np.float64)[..., None]
    acc, jerk = _acc_jerk(x0, u, gm_m3_s2)
    pos = x0 + u * tau + 0.5 * acc * tau**2
    if order == 3:
        pos = pos + jerk * tau**3 / 6.0
    return np.asarray(pos, dtype=np.float64)


def kepler_velocity(
    x0_m: ArrayLike, u_m_s: ArrayLike, tau_s: ArrayLike, order: int = 2, gm_m3_s2: float = GM_M3_S2
) -> FloatArray:
    """Velocity of the truncated Kepler expansion, d/dtau of `kepler_position`.

    ``V = u - GM X0 tau / r0^3 [+ j0 tau^2 / 2]``.

    Parameters and raises as `kepler_position`; returns m/s, shape ``tau.shape + (3,)``.
    """
    _check_order(order)
    x0 = np.asarray(x0_m, dtype=np.float64)
    u = np.asarray(u_m_s, dtype=np.float64)
    tau = np.asarray(tau_s, dtype=np.float64)[..., None]
    acc, jerk = _acc_jerk(x0, u, gm_m3_s2)
    vel = u + acc * tau
    if order == 3:
        vel = vel + 0.5 * jerk * tau**2
    return np.asarray(vel, dtype=np.float64)


@dataclass(frozen=True)
class KeplerOrbit:
    """Truncated Kepler orbit (state at ``t_ref_s``, expansion order); implements `Trajectory`.

    Attributes
    ----------
    position_m : ndarray, shape (3,), m
    velocity_m_s : ndarray, shape (3,), m/s
    t_ref_s : float, s
        Expansion epoch, on the caller's time axis.
    order : int
        2 or 3.
    gm_m3_s2 : float
    """

    position_m: FloatArray
    velocity_m_s: FloatArray
    t_ref_s: float = 0.0
    order: int = 3
    gm_m3_s2: float = GM_M3_S2

    def __post_init__(self) -> None:
        _check_order(self.order)

    def state(self, t_s: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Positions (m) and velocities (m/s) at times ``t_s`` (s), shape ``t.shape + (3,)``."""
        tau = np.asarray(t_s, dtype=np.float64) - self.t_ref_s
        return (
            kepler_position(self.position_m, self.velocity_m_s, tau, self.order, self.gm_m3_s2),
            kepler_velocity(self.position_m, self.velocity_m_s, tau, self.order, self.gm_m3_s2),
        )


@dataclass(frozen=True)
class HermiteEphemeris:
    """Piecewise cubic Hermite interpolation of position/velocity samples; implements `Trajectory`.

    Each interval uses the positions and velocities at both ends (C1 continuous); the velocity is
    the analytic derivative. For a LEO orbit the interpolation error is about
    ``h^4 / 384 * n^4 r`` (1e-5 m for h = 4 s, 0.3 m for h = 60 s).

    Attributes
    ----------
    t_s : ndarray, shape (n,), s
        Strictly increasing sample times, n >= 2.
    position : ndarray, shape (n, 3)
        Any length unit (the output has the same unit).
    velocity : ndarray, shape (n, 3)
        Same length unit per second.
    extrapolate_s : float, s
        Tolerance beyond the first/last sample that is still accepted (extrapolation).

    Raises
    ------
    InsufficientDataError
        Fewer than two samples, or times not strictly increasing / not finite.
    """

    t_s: FloatArray
    position: FloatArray
    velocity: FloatArray
    extrapolate_s: float = 0.0
    _spline: CubicHermiteSpline = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        t = np.asarray(self.t_s, dtype=np.float64)
        pos = np.asarray(self.position, dtype=np.float64)
        vel = np.asarray(self.velocity, dtype=np.float64)
        if t.ndim != 1 or t.size < 2:
            raise InsufficientDataError("Hermite interpolation needs at least two ephemeris samples")
        if pos.shape != (t.size, 3) or vel.shape != (t.size, 3):
            raise InsufficientDataError("ephemeris positions and velocities must have shape (n, 3)")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(pos)) and np.all(np.isfinite(vel))):
            raise InsufficientDataError("ephemeris samples must be finite")
        if np.any(np.diff(t) <= 0.0):
            raise InsufficientDataError("ephemeris sample times must be strictly increasing")
        object.__setattr__(self, "_spline", CubicHermiteSpline(t, pos, vel, axis=0, extrapolate=True))

    def state(self, t_s: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Interpolated positions and velocities at ``t_s``, shape ``t.shape + (3,)``.

        Raises
        ------
        EphemerisRangeError
            A time lies more than ``extrapolate_s`` outside the samples.
        """
        t = np.asarray(t_s, dtype=np.float64)
        lo, hi = float(self.t_s[0]) - self.extrapolate_s, float(self.t_s[-1]) + self.extrapolate_s
        if t.size and (np.nanmin(t) < lo or np.nanmax(t) > hi):
            raise EphemerisRangeError(
                f"times [{np.nanmin(t):.3f}, {np.nanmax(t):.3f}] s outside ephemeris [{lo:.3f}, {hi:.3f}] s"
            )
        pos = np.asarray(self._spline(t), dtype=np.float64)
        vel = np.asarray(self._spline(t, 1), dtype=np.float64)
        return pos, vel


def interpolate_ephemeris(
    t_samples_s: ArrayLike,
    position: ArrayLike,
    velocity: ArrayLike,
    t_eval_s: ArrayLike,
    *,
    extrapolate_s: float = 0.0,
) -> tuple[FloatArray, FloatArray]:
    """Hermite-interpolate EPHEM samples at ``t_eval_s`` (see `HermiteEphemeris`).

    Usable for any acquisition type (GEOM, MOON): units pass through unchanged (km in, km out).

    Returns
    -------
    position, velocity : ndarray, shape ``t_eval.shape + (3,)``

    Raises
    ------
    InsufficientDataError, EphemerisRangeError
    """
    eph = HermiteEphemeris(
        np.asarray(t_samples_s, dtype=np.float64),
        np.asarray(position, dtype=np.float64),
        np.asarray(velocity, dtype=np.float64),
        extrapolate_s=extrapolate_s,
    )
    return eph.state(t_eval_s)


@dataclass(frozen=True)
class OrbitFit:
    """Least-squares fit of a `KeplerOrbit` to ephemeris samples.

    Attributes
    ----------
    orbit : KeplerOrbit
    covariance : ndarray, shape (6, 6)
        Of (X0 [m], u [m/s]); scaled by the reduced chi-square when that exceeds 1, so that model
        (truncation) error widens the prior honestly.
    rms_position_m, rms_velocity_m_s : float
        RMS of the 3-D fit residuals.
    chi2_reduced : float
        Weighted residual sum of squares / degrees of freedom.
    n_samples : int
    """

    orbit: KeplerOrbit
    covariance: FloatArray
    rms_position_m: float
    rms_velocity_m_s: float
    chi2_reduced: float
    n_samples: int


def forward_difference_jacobian(
    fun: Callable[[FloatArray], FloatArray], x: FloatArray, steps: FloatArray, f0: FloatArray | None = None
) -> FloatArray:
    """Forward-difference Jacobian with fixed absolute steps (internal helper, shared by the adjustment)."""
    base = fun(x) if f0 is None else f0
    jac = np.empty((base.size, x.size), dtype=np.float64)
    for k in range(x.size):
        xk = x.copy()
        xk[k] += steps[k]
        jac[:, k] = (fun(xk) - base) / steps[k]
    return jac


def fit_orbit_to_ephem(
    t_s: ArrayLike,
    xyz_m: ArrayLike,
    vxyz_m_s: ArrayLike,
    order: int = 3,
    *,
    t_ref_s: float | None = None,
    sigma_position_m: float = 1.0,
    sigma_velocity_m_s: float = 1e-3,
) -> OrbitFit:
    """Fit the Kepler expansion (X0, u at ``t_ref_s``) to EPHEM positions and velocities.

    Minimises ``sum |X(t_i) - x_i|^2 / sigma_p^2 + |V(t_i) - v_i|^2 / sigma_v^2`` by Gauss-Newton
    (the model is nearly linear in X0, u). Used for the initial state and the prior of the GEOM
    adjustment (Michalis & Dowman 2008 take the initial values from the navigation metadata).

    Parameters
    ----------
    t_s : array_like, shape (n,), s
        Sample times.
    xyz_m : array_like, shape (n, 3), m
        Inertial positions.
    vxyz_m_s : array_like, shape (n, 3), m/s
        Inertial velocities.
    order : {2, 3}
        Expansion order.
    t_ref_s : float, optional
        Expansion epoch; default the mid-point of the sample span.
    sigma_position_m, sigma_velocity_m_s : float
        A-priori noise of the samples (weights).

    Returns
    -------
    OrbitFit

    Raises
    ------
    InsufficientDataError
        Fewer than 2 samples or non-finite values.
    OrbitModelError
        Unsupported order.
    """
    _check_order(order)
    t = np.asarray(t_s, dtype=np.float64)
    pos = np.asarray(xyz_m, dtype=np.float64).reshape(-1, 3)
    vel = np.asarray(vxyz_m_s, dtype=np.float64).reshape(-1, 3)
    if t.ndim != 1 or t.size < 2 or pos.shape[0] != t.size or vel.shape[0] != t.size:
        raise InsufficientDataError("need at least two ephemeris samples with matching shapes")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(pos)) and np.all(np.isfinite(vel))):
        raise InsufficientDataError("ephemeris samples must be finite")
    tref = 0.5 * (float(t.min()) + float(t.max())) if t_ref_s is None else float(t_ref_s)
    # Initial state: Hermite interpolation at t_ref (or nearest sample).
    order_idx = np.argsort(t)
    if t.min() <= tref <= t.max():
        p0, v0 = interpolate_ephemeris(t[order_idx], pos[order_idx], vel[order_idx], tref)
    else:
        k = int(np.argmin(np.abs(t - tref)))
        p0, v0 = kepler_position(pos[k], vel[k], tref - t[k], 3), kepler_velocity(pos[k], vel[k], tref - t[k], 3)
    tau = t - tref

    def residuals(x: FloatArray) -> FloatArray:
        x0 = p0 + x[:3]
        u = v0 + x[3:] * 1e-3  # x[3:] in mm/s for conditioning
        rp = (kepler_position(x0, u, tau, order) - pos) / sigma_position_m
        rv = (kepler_velocity(x0, u, tau, order) - vel) / sigma_velocity_m_s
        return np.concatenate([rp.ravel(), rv.ravel()])

    x = np.zeros(6)
    steps = np.full(6, 1e-3)
    for _ in range(6):
        f0 = residuals(x)
        jac = forward_difference_jacobian(residuals, x, steps, f0)
        dx = np.linalg.lstsq(jac, -f0, rcond=None)[0]
        x = x + dx
        if np.all(np.abs(dx) < 1e-7):
            break
    f = residuals(x)
    jac = forward_difference_jacobian(residuals, x, steps, f)
    dof = max(f.size - 6, 1)
    chi2 = float(f @ f) / dof
    cov_scaled = np.linalg.inv(jac.T @ jac) * max(chi2, 1.0)
    scale = np.array([1.0, 1.0, 1.0, 1e-3, 1e-3, 1e-3])
    cov = cov_scaled * np.outer(scale, scale)
    orbit = KeplerOrbit(p0 + x[:3], v0 + x[3:] * 1e-3, tref, order)
    fp, fv = orbit.state(t)
    return OrbitFit(
        orbit=orbit,
        covariance=np.asarray(cov, dtype=np.float64),
        rms_position_m=float(np.sqrt(np.mean(np.sum((fp - pos) ** 2, axis=1)))),
        rms_velocity_m_s=float(np.sqrt(np.mean(np.sum((fv - vel) ** 2, axis=1)))),
        chi2_reduced=chi2,
        n_samples=int(t.size),
    )
