"""Tests of monitor.science.orbit: Kepler expansion (Michalis & Dowman 2008), jerk term, EPHEM use.

Truth is a numerically integrated two-body orbit (DOP853, rtol 1e-12), never the polynomial itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from monitor.science.constants import GM_M3_S2
from monitor.science.earth_frames import EARTH_ROTATION_RATE_RAD_S, inertial_to_ecef
from monitor.science.exceptions import InsufficientDataError
from monitor.science.orbit import (
    CorrectedTrajectory,
    EphemerisRangeError,
    HermiteEphemeris,
    J2Orbit,
    KeplerOrbit,
    OrbitModelError,
    fit_j2_orbit_to_ephem,
    fit_orbit_to_ephem,
    interpolate_ephemeris,
    kepler_position,
    kepler_velocity,
)

R0 = np.array([6_378_137.0 + 694e3, 0.0, 0.0])  # m
V0 = np.sqrt(GM_M3_S2 / R0[0]) * np.array([0.003, -0.139173, 0.990268])  # m/s, ~98 deg inclination


def two_body(t_eval: np.ndarray, r0: np.ndarray = R0, v0: np.ndarray = V0) -> tuple[np.ndarray, np.ndarray]:
    """Integrated two-body trajectory through (r0, v0) at t = 0."""

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        r = y[:3]
        return np.concatenate([y[3:], -GM_M3_S2 * r / np.linalg.norm(r) ** 3])

    out = np.empty((t_eval.size, 6))
    for mask in (t_eval >= 0, t_eval < 0):
        if not mask.any():
            continue
        tt = t_eval[mask]
        order = np.argsort(np.abs(tt))
        end = tt[order][-1]
        sol = solve_ivp(
            rhs, (0.0, end), np.concatenate([r0, v0]), method="DOP853", t_eval=tt[order], rtol=1e-12, atol=1e-8
        )
        out[np.flatnonzero(mask)[order]] = sol.y.T
    return out[:, :3], out[:, 3:]


def along_track_error(order: int, t: float) -> float:
    pos, _ = two_body(np.array([t]))
    return float(np.linalg.norm(kepler_position(R0, V0, t, order) - pos[0]))


def test_second_order_truncation_error_is_tens_of_metres() -> None:
    # notes/kepler.md 4a: ~n^2 v t^3 / 6 = 1.126e-6 * 7507 * 26^3 / 6 = 24.7 m at 26 s (694 km orbit).
    n2v = GM_M3_S2 / np.linalg.norm(R0) ** 3 * np.linalg.norm(V0)
    err26 = along_track_error(2, 26.0)
    assert err26 == pytest.approx(n2v * 26.0**3 / 6.0, rel=0.05)
    assert 20.0 < err26 < 30.0
    assert along_track_error(2, -32.0) > 40.0


def test_jerk_term_removes_the_truncation_error() -> None:
    for t in (-32.0, -26.0, 26.0, 32.0):
        assert along_track_error(3, t) < 0.5
    assert along_track_error(3, 26.0) < along_track_error(2, 26.0) / 50.0


def test_velocity_is_derivative_of_position() -> None:
    for order in (2, 3):
        t = np.array([-20.0, 5.0, 30.0])
        h = 1e-3
        num = (kepler_position(R0, V0, t + h, order) - kepler_position(R0, V0, t - h, order)) / (2 * h)
        np.testing.assert_allclose(kepler_velocity(R0, V0, t, order), num, atol=1e-6)


def test_unknown_order_raises() -> None:
    with pytest.raises(OrbitModelError):
        kepler_position(R0, V0, 1.0, order=4)
    with pytest.raises(OrbitModelError):
        KeplerOrbit(R0, V0, order=1)


def test_kepler_orbit_reference_epoch() -> None:
    orbit = KeplerOrbit(R0, V0, t_ref_s=10.0, order=3)
    pos, vel = orbit.state(np.array([10.0, 15.0]))
    np.testing.assert_allclose(pos[0], R0)
    np.testing.assert_allclose(vel[0], V0)
    np.testing.assert_allclose(pos[1], kepler_position(R0, V0, 5.0, 3))


def test_hermite_interpolation_accuracy_and_range() -> None:
    t = np.arange(-60.0, 60.1, 5.0)
    pos, vel = two_body(t)
    tq = np.array([-57.5, -12.3, 0.0, 31.7, 59.0])
    truth_p, truth_v = two_body(tq)
    p, v = interpolate_ephemeris(t, pos, vel, tq)
    assert np.max(np.linalg.norm(p - truth_p, axis=1)) < 1e-3  # m
    assert np.max(np.linalg.norm(v - truth_v, axis=1)) < 1e-3  # m/s
    # Units pass through: km in, km out.
    pk, _ = interpolate_ephemeris(t, pos / 1e3, vel / 1e3, tq)
    np.testing.assert_allclose(pk, p / 1e3, rtol=1e-12)
    with pytest.raises(EphemerisRangeError):
        HermiteEphemeris(t, pos, vel).state(61.0)
    assert HermiteEphemeris(t, pos, vel, extrapolate_s=2.0).state(61.0)[0].shape == (3,)
    with pytest.raises(InsufficientDataError):
        HermiteEphemeris(t[:1], pos[:1], vel[:1])


def test_fit_orbit_to_ephem_velocity_bias_second_vs_third_order() -> None:
    t = np.arange(-35.0, 35.1, 5.0)
    pos, vel = two_body(t)
    fit3 = fit_orbit_to_ephem(t, pos, vel, order=3, t_ref_s=0.0)
    fit2 = fit_orbit_to_ephem(t, pos, vel, order=2, t_ref_s=0.0)
    dv3 = np.linalg.norm(fit3.orbit.velocity_m_s - V0)
    dv2 = np.linalg.norm(fit2.orbit.velocity_m_s - V0)
    assert dv3 < 0.01  # m/s
    assert dv2 > 0.5  # m/s: the truncation error biases the fitted velocity
    assert fit3.rms_position_m < fit2.rms_position_m / 10.0  # 1.3 m (4th-order radial term) vs 20 m
    # The prior covariance is inflated by the misfit of the 2nd-order model.
    assert fit2.chi2_reduced > 1.0
    assert np.all(np.linalg.eigvalsh(fit2.covariance) > 0)


def test_fit_orbit_with_noise_recovers_state() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(-30.0, 30.1, 2.0)
    pos, vel = two_body(t)
    fit = fit_orbit_to_ephem(
        t, pos + rng.normal(0, 1.0, pos.shape), vel + rng.normal(0, 1e-3, vel.shape), 3, t_ref_s=0.0
    )
    sig = np.sqrt(np.diag(fit.covariance))
    assert np.all(np.abs(fit.orbit.position_m - R0) < 4 * sig[:3])
    assert np.all(np.abs(fit.orbit.velocity_m_s - V0) < 4 * sig[3:])


def test_expansion_in_ecef_is_wrong_by_kilometres() -> None:
    # notes/kepler.md 4a pitfall: the formula only holds in an inertial frame (Coriolis ~1.1 m/s^2).
    lat = np.radians(52.0)  # polar orbit over 52 deg latitude: Coriolis 2 w v sin(lat) = 0.86 m/s^2
    r0 = np.linalg.norm(R0) * np.array([np.cos(lat), 0.0, np.sin(lat)])
    v0 = np.linalg.norm(V0) * np.array([-np.sin(lat), 0.0, np.cos(lat)])
    t = np.array([0.0, 54.0])
    pos, vel = two_body(t, r0, v0)
    theta = EARTH_ROTATION_RATE_RAD_S * t
    p_ecef = inertial_to_ecef(pos, theta)
    omega = np.array([0.0, 0.0, EARTH_ROTATION_RATE_RAD_S])
    v_ecef0 = vel[0] - np.cross(omega, pos[0])
    err = np.linalg.norm(kepler_position(p_ecef[0], v_ecef0, 54.0, 3) - p_ecef[1])
    assert err > 1000.0
    assert np.linalg.norm(kepler_position(pos[0], vel[0], 54.0, 3) - pos[1]) < 5.0


# --------------------------------------------------------------------------- two-body + J2 model


def _truth_j2_j3(t_eval: np.ndarray, r0: np.ndarray = R0, v0: np.ndarray = V0) -> np.ndarray:
    """Independent truth: the simulator's DOP853 integration (its own force function, + J3)."""
    from monitor.simulate.geom import _integrate

    return _integrate(r0, v0, float(np.max(np.abs(t_eval))) + 2.0, 1.0, True, True).state(t_eval)[0]


def test_j2_propagation_matches_the_independent_integration() -> None:
    t = np.linspace(-60.0, 60.0, 61)
    orbit = J2Orbit(R0, V0, 0.0, -60.0, 60.0)
    err = np.linalg.norm(orbit.state(t)[0] - _truth_j2_j3(t), axis=1)
    # RK4 (2-s steps) + Hermite vs DOP853: ~1e-6 m; J3 (absent from the estimator) adds < 0.05 m.
    assert err.max() < 0.05
    # Without J2 the orbit would be off by metres: the J2 term is really there.
    two = two_body(t)[0]
    assert np.linalg.norm(two - _truth_j2_j3(t), axis=1).max() > 3.0
    with pytest.raises(EphemerisRangeError):
        orbit.state(61.0)


def test_j2_fit_keeps_the_ephemeris_accuracy() -> None:
    rng = np.random.default_rng(17)
    t = np.arange(-60.0, 60.1, 5.0)
    truth = _truth_j2_j3(t)
    from monitor.simulate.geom import _integrate

    vel = _integrate(R0, V0, 62.0, 1.0, True, True).state(t)[1]
    fit = fit_j2_orbit_to_ephem(
        t, truth + rng.normal(0.0, 0.5, truth.shape), vel + rng.normal(0.0, 2e-3, vel.shape), t_ref_s=0.0
    )
    err = np.linalg.norm(fit.orbit.state(t)[0] - truth, axis=1)
    assert err.max() < 0.6  # m: white 0.5 m per axis averaged over 25 samples
    assert 0.5 < fit.chi2_reduced < 1.6
    sig = np.sqrt(np.diag(fit.covariance))
    assert np.all(np.abs(fit.orbit.velocity_m_s - V0) < 4 * sig[3:])
    # The Kepler expansions fitted to the same samples are off by tens to hundreds of metres.
    for order, worst in ((2, 50.0), (3, 5.0)):
        kfit = fit_orbit_to_ephem(t, truth, vel, order=order, t_ref_s=0.0)
        assert np.linalg.norm(kfit.orbit.state(t)[0] - truth, axis=1).max() > worst


def test_corrected_trajectory_is_offset_plus_drift() -> None:
    base = J2Orbit(R0, V0, 0.0, -10.0, 10.0)
    cor = CorrectedTrajectory(base, np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.0, -0.1]), 2.0)
    p, v = cor.state(np.array([2.0, 7.0]))
    pb, vb = base.state(np.array([2.0, 7.0]))
    np.testing.assert_allclose(p - pb, [[1.0, 2.0, 3.0], [1.5, 2.0, 2.5]], atol=1e-9)
    np.testing.assert_allclose(v - vb, [[0.1, 0.0, -0.1]] * 2, atol=1e-12)


def test_j2_fit_refuses_bad_input() -> None:
    t = np.arange(0.0, 20.0, 5.0)
    pos, vel = two_body(t)
    with pytest.raises(InsufficientDataError):
        fit_j2_orbit_to_ephem(t[:1], pos[:1], vel[:1])
    with pytest.raises(InsufficientDataError):
        fit_j2_orbit_to_ephem(t, pos, vel, sigma_position_m=0.0)
    bad = pos.copy()
    bad[1, 0] = np.nan
    with pytest.raises(InsufficientDataError):
        fit_j2_orbit_to_ephem(t, bad, vel)
