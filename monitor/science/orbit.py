"""Along-track orbit models: the truncated Kepler expansion of Michalis & Dowman and EPHEM interpolation.

The UCL "Kepler" platform model (Michalis & Dowman 2008) expresses the perspective centre over an
along-track stereo acquisition as a Taylor expansion of two-body motion about a reference epoch:

    X(t) = X0 + u tau - GM X0 tau^2 / (2 r0^3)                              (order 2, M&D 2008)
         + j0 tau^3 / 6,  j0 = -GM / r0^3 (u - 3 (X0 . u) X0 / r0^2)       (order 3, jerk term)

with ``tau = t - t_ref`` and ``r0 = |X0|``. The jerk is the time derivative of the two-body
acceleration ``-GM r / r^3`` at the reference epoch. The second-order model alone is wrong by
~n^2 v tau^3 / 6, i.e. tens of metres at +-30 s for a 700 km orbit; the jerk term brings the
two-body truncation error to the decimetre level (tests/science/test_orbit.py checks both against a
numerical integration). The model is only
valid in an inertial frame (ICD §3 ERA frame): in ECEF the Coriolis term alone is ~1 m/s^2.

The default orbit model of the GEOM adjustment is a numerical two-body + J2 propagation
(`propagate_j2`: fixed-step RK4, vectorised over states) of one state fitted to the EPHEM
samples weighted by their stated accuracy (`fit_j2_orbit_to_ephem`); the adjustment then only
corrects a small position offset and drift (`CorrectedTrajectory`). Over +-60 s of a 620-700 km
orbit the neglected J3 and higher terms stay below a decimetre, so the orbit keeps the accuracy of
the ephemeris (the Kepler expansion is off by tens (order 3) to hundreds (order 2) of metres).

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

from monitor.science.constants import GM_M3_S2, J2_EARTH, R_EARTH_J2_M
from monitor.science.exceptions import InsufficientDataError, ScienceError

__all__ = [
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
    "ORBIT_MODELS",
    "propagate_j2",
    "J2Orbit",
    "J2OrbitFit",
    "fit_j2_orbit_to_ephem",
    "CorrectedTrajectory",
]

ORBIT_MODELS = ("j2", "kepler")  # along-track orbit models of the GEOM adjustment
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


def _ephem_samples(t_s: ArrayLike, xyz_m: ArrayLike, vxyz_m_s: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """EPHEM samples as float arrays (n,), (n, 3), (n, 3), checked: at least two, finite."""
    t = np.asarray(t_s, dtype=np.float64)
    pos = np.asarray(xyz_m, dtype=np.float64).reshape(-1, 3)
    vel = np.asarray(vxyz_m_s, dtype=np.float64).reshape(-1, 3)
    if t.ndim != 1 or t.size < 2 or pos.shape[0] != t.size or vel.shape[0] != t.size:
        raise InsufficientDataError("need at least two ephemeris samples with matching shapes")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(pos)) and np.all(np.isfinite(vel))):
        raise InsufficientDataError("ephemeris samples must be finite")
    return t, pos, vel


def _state_at(t: FloatArray, pos: FloatArray, vel: FloatArray, tref: float) -> tuple[FloatArray, FloatArray]:
    """Position (m) and velocity (m/s) at ``tref`` from samples sorted by time: Hermite
    interpolation inside their span, the order-3 Kepler expansion from the nearest sample outside."""
    if t[0] <= tref <= t[-1]:
        return interpolate_ephemeris(t, pos, vel, tref)
    k = int(np.argmin(np.abs(t - tref)))
    return kepler_position(pos[k], vel[k], tref - t[k], 3), kepler_velocity(pos[k], vel[k], tref - t[k], 3)


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
    t, pos, vel = _ephem_samples(t_s, xyz_m, vxyz_m_s)
    tref = 0.5 * (float(t.min()) + float(t.max())) if t_ref_s is None else float(t_ref_s)
    order_idx = np.argsort(t)
    p0, v0 = _state_at(t[order_idx], pos[order_idx], vel[order_idx], tref)  # initial state
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


# --------------------------------------------------------------------------- two-body + J2 model


def _j2_acceleration(r: FloatArray, gm: float, j2: float, r_eq: float) -> FloatArray:
    """Two-body + J2 acceleration (m/s^2) of positions ``r`` (..., 3) in an Earth-centred frame with z
    along the rotation axis (the ERA frame of ICD §3 keeps the z axis)."""
    rn2 = np.sum(r * r, axis=-1, keepdims=True)
    rn = np.sqrt(rn2)
    z2 = r[..., 2:3] ** 2 / rn2
    k = -1.5 * j2 * gm * r_eq**2 / rn**5
    fac = np.concatenate([1.0 - 5.0 * z2, 1.0 - 5.0 * z2, 3.0 - 5.0 * z2], axis=-1)
    return np.asarray(-gm * r / (rn2 * rn) + k * r * fac, dtype=np.float64)


def propagate_j2(
    position_m: ArrayLike,
    velocity_m_s: ArrayLike,
    t_ref_s: float,
    t_lo_s: float,
    t_hi_s: float,
    *,
    step_s: float = 2.0,
    gm_m3_s2: float = GM_M3_S2,
    j2: float = J2_EARTH,
    r_eq_m: float = R_EARTH_J2_M,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Propagate states under two-body + J2 gravity with fixed-step RK4, both ways from ``t_ref_s``.

    Vectorised over any leading batch shape of the states (the Jacobian of the EPHEM fit propagates
    seven states at once). With 2-s steps the RK4 error over +-100 s of a LEO orbit is ~1e-7 m.

    Parameters
    ----------
    position_m, velocity_m_s : array_like, shape (..., 3)
        State(s) at ``t_ref_s`` in the inertial (ERA) frame.
    t_ref_s, t_lo_s, t_hi_s : float, s
        Epoch of the states and the span to cover (``t_lo_s <= t_ref_s <= t_hi_s`` not required:
        the span is extended to include ``t_ref_s``).
    step_s : float, s
        Upper bound of the step; the actual steps divide each side evenly.

    Returns
    -------
    t : ndarray, shape (k,), s
        Grid, increasing, containing ``t_ref_s``.
    position, velocity : ndarray, shape (..., k, 3)
    """
    p0 = np.asarray(position_m, dtype=np.float64)
    v0 = np.asarray(velocity_m_s, dtype=np.float64)
    lo, hi = min(float(t_lo_s), t_ref_s), max(float(t_hi_s), t_ref_s)
    sides = []
    for span in (lo - t_ref_s, hi - t_ref_s):
        n = max(int(np.ceil(abs(span) / step_s)), 1) if span != 0.0 else 0
        h = span / n if n else 0.0
        ps, vs = [p0], [v0]
        p, v = p0, v0
        for _ in range(n):
            k1v = _j2_acceleration(p, gm_m3_s2, j2, r_eq_m)
            k1p = v
            k2v = _j2_acceleration(p + 0.5 * h * k1p, gm_m3_s2, j2, r_eq_m)
            k2p = v + 0.5 * h * k1v
            k3v = _j2_acceleration(p + 0.5 * h * k2p, gm_m3_s2, j2, r_eq_m)
            k3p = v + 0.5 * h * k2v
            k4v = _j2_acceleration(p + h * k3p, gm_m3_s2, j2, r_eq_m)
            k4p = v + h * k3v
            p = p + h / 6.0 * (k1p + 2.0 * k2p + 2.0 * k3p + k4p)
            v = v + h / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
            ps.append(p)
            vs.append(v)
        sides.append((t_ref_s + h * np.arange(n + 1), np.stack(ps, axis=-2), np.stack(vs, axis=-2)))
    (tb, pb, vb), (tf, pf, vf) = sides
    t = np.concatenate([tb[::-1], tf[1:]])
    pos = np.concatenate([pb[..., ::-1, :], pf[..., 1:, :]], axis=-2)
    vel = np.concatenate([vb[..., ::-1, :], vf[..., 1:, :]], axis=-2)
    return t, pos, vel


@dataclass(frozen=True)
class J2Orbit:
    """Two-body + J2 orbit through one state (propagated once, Hermite-interpolated); a `Trajectory`.

    Attributes
    ----------
    position_m, velocity_m_s : ndarray, shape (3,)
        State at ``t_ref_s`` (inertial ERA frame).
    t_ref_s : float, s
    t_lo_s, t_hi_s : float, s
        Span covered; `state` outside it raises `EphemerisRangeError`.
    step_s : float, s
        RK4 step.
    """

    position_m: FloatArray
    velocity_m_s: FloatArray
    t_ref_s: float
    t_lo_s: float
    t_hi_s: float
    step_s: float = 2.0
    _eph: HermiteEphemeris = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        t, p, v = propagate_j2(
            self.position_m, self.velocity_m_s, self.t_ref_s, self.t_lo_s, self.t_hi_s, step_s=self.step_s
        )
        object.__setattr__(self, "_eph", HermiteEphemeris(t, p, v, extrapolate_s=1e-6))

    def state(self, t_s: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Positions (m) and velocities (m/s) at ``t_s``, shape ``t.shape + (3,)``."""
        return self._eph.state(t_s)


@dataclass(frozen=True)
class CorrectedTrajectory:
    """A trajectory plus a small position offset and drift: ``S(t) = B(t) + dp + dv (t - t_ref)``.

    The correction the GEOM adjustment estimates on top of the EPHEM-fitted `J2Orbit` (a bias and
    drift of the navigation, under prior sigmas); a `Trajectory`.

    Attributes
    ----------
    base : Trajectory
    offset_m, drift_m_s : ndarray, shape (3,)
    t_ref_s : float, s
    """

    base: Trajectory
    offset_m: FloatArray
    drift_m_s: FloatArray
    t_ref_s: float

    def state(self, t_s: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Positions (m) and velocities (m/s) at ``t_s``, shape ``t.shape + (3,)``."""
        t = np.asarray(t_s, dtype=np.float64)
        pos, vel = self.base.state(t)
        pos = pos + self.offset_m + self.drift_m_s * (t - self.t_ref_s)[..., None]
        return np.asarray(pos, dtype=np.float64), np.asarray(vel + self.drift_m_s, dtype=np.float64)


@dataclass(frozen=True)
class J2OrbitFit:
    """Weighted least-squares fit of a `J2Orbit` state to EPHEM samples.

    Attributes
    ----------
    orbit : J2Orbit
    covariance : ndarray, shape (6, 6)
        Of the state at ``orbit.t_ref_s`` (m, m/s) from the sample weights, scaled by the reduced
        chi-square when that exceeds 1.
    rms_position_m, rms_velocity_m_s, chi2_reduced, n_samples
        As `OrbitFit`.
    """

    orbit: J2Orbit
    covariance: FloatArray
    rms_position_m: float
    rms_velocity_m_s: float
    chi2_reduced: float
    n_samples: int


def fit_j2_orbit_to_ephem(
    t_s: ArrayLike,
    xyz_m: ArrayLike,
    vxyz_m_s: ArrayLike,
    *,
    t_ref_s: float | None = None,
    sigma_position_m: float = 0.5,
    sigma_velocity_m_s: float = 2e-3,
    span_s: tuple[float, float] | None = None,
    step_s: float = 2.0,
) -> J2OrbitFit:
    """Fit the state at ``t_ref_s`` of a two-body + J2 orbit to EPHEM positions and velocities.

    Minimises ``sum |S(t_i) - x_i|^2 / sigma_p^2 + |V(t_i) - v_i|^2 / sigma_v^2`` by Gauss-Newton;
    the Jacobian comes from propagating the state and six perturbed states together
    (`propagate_j2`). The samples' errors are taken as independent (white); a common bias of the
    navigation is not visible here and is left to the adjustment's prior (`CorrectedTrajectory`).

    Parameters
    ----------
    t_s : array_like, shape (n,), s
    xyz_m : array_like, shape (n, 3), m
    vxyz_m_s : array_like, shape (n, 3), m/s
        EPHEM samples, inertial ERA frame.
    t_ref_s : float, optional
        Epoch of the fitted state; default the mid-point of the samples.
    sigma_position_m, sigma_velocity_m_s : float
        Stated (white) accuracy of one sample per axis (weights).
    span_s : (float, float), optional
        Time span the orbit must cover (default: the samples); the samples are always covered.
    step_s : float, s
        RK4 step.

    Returns
    -------
    J2OrbitFit

    Raises
    ------
    InsufficientDataError
        Fewer than 2 samples, non-finite values, or non-positive sigmas.
    """
    t, pos, vel = _ephem_samples(t_s, xyz_m, vxyz_m_s)
    if not (sigma_position_m > 0.0 and sigma_velocity_m_s > 0.0):
        raise InsufficientDataError("ephemeris sigmas must be > 0")
    idx = np.argsort(t)
    t, pos, vel = t[idx], pos[idx], vel[idx]
    if np.any(np.diff(t) <= 0.0):
        raise InsufficientDataError("ephemeris sample times must be distinct")
    tref = 0.5 * (float(t[0]) + float(t[-1])) if t_ref_s is None else float(t_ref_s)
    lo, hi = float(t[0]), float(t[-1])
    if span_s is not None:
        lo, hi = min(lo, float(span_s[0])), max(hi, float(span_s[1]))
    p0, v0 = _state_at(t, pos, vel, tref)
    steps = np.array([1.0, 1.0, 1.0, 1e-3, 1e-3, 1e-3])  # m, m/s
    w = np.concatenate([np.full(3, 1.0 / sigma_position_m), np.full(3, 1.0 / sigma_velocity_m_s)])

    def model(state: FloatArray) -> tuple[FloatArray, FloatArray]:
        """States (7, 6) at tref -> whitened samples (7, n*6) via one batched propagation."""
        tg, pg, vg = propagate_j2(state[:, :3], state[:, 3:], tref, lo, hi, step_s=step_s)
        spline = CubicHermiteSpline(tg, pg, vg, axis=1)
        out = np.concatenate([spline(t), spline(t, 1)], axis=-1)
        return np.asarray(out, dtype=np.float64), tg

    obs = np.concatenate([pos, vel], axis=1)

    def whitened(x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(model samples at x, whitened residuals, their forward-difference Jacobian)."""
        out, _ = model(np.vstack([x, x + np.diag(steps)]))
        f = ((out[0] - obs) * w).ravel()
        jac = np.stack([((out[k + 1] - out[0]) * w).ravel() / steps[k] for k in range(6)], axis=1)
        return out[0], f, jac

    x = np.concatenate([p0, v0])
    for _ in range(6):
        _, f0, jac = whitened(x)
        dx = np.linalg.lstsq(jac, -f0, rcond=None)[0]
        x = x + dx
        if np.all(np.abs(dx) < 1e-3 * steps):
            break
    fitted, f, jac = whitened(x)
    dof = max(f.size - 6, 1)
    chi2 = float(f @ f) / dof
    cov = np.linalg.inv(jac.T @ jac) * max(chi2, 1.0)
    orbit = J2Orbit(x[:3].copy(), x[3:].copy(), tref, lo, hi, step_s)
    res = fitted - obs
    return J2OrbitFit(
        orbit=orbit,
        covariance=np.asarray(cov, dtype=np.float64),
        rms_position_m=float(np.sqrt(np.mean(np.sum(res[:, :3] ** 2, axis=1)))),
        rms_velocity_m_s=float(np.sqrt(np.mean(np.sum(res[:, 3:] ** 2, axis=1)))),
        chi2_reduced=chi2,
        n_samples=int(t.size),
    )
