"""Tests of monitor.science.earth_frames (WGS-84, ERA of IERS 2010, ERA inertial frame, ENU)."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.science.constants import WGS84_A_M, WGS84_F
from monitor.science.earth_frames import (
    EARTH_ROTATION_RATE_RAD_S,
    JD_J2000,
    earth_rotation_angle_rad,
    ecef_delta_to_enu,
    ecef_to_geodetic,
    ecef_to_inertial,
    enu_rotation,
    geodetic_to_ecef,
    inertial_to_ecef,
    jd_from_unix_seconds,
    rotation_ecef_to_inertial,
)


def test_geodetic_known_points() -> None:
    np.testing.assert_allclose(geodetic_to_ecef(0.0, 0.0, 0.0), [WGS84_A_M, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(geodetic_to_ecef(0.0, 90.0, 100.0), [0.0, WGS84_A_M + 100.0, 0.0], atol=1e-8)
    np.testing.assert_allclose(geodetic_to_ecef(90.0, 0.0, 0.0), [0.0, 0.0, WGS84_A_M * (1 - WGS84_F)], atol=1e-8)


def test_geodetic_round_trip() -> None:
    rng = np.random.default_rng(1)
    lat = rng.uniform(-89.9, 89.9, 500)
    lon = rng.uniform(-180.0, 180.0, 500)
    h = rng.uniform(-500.0, 800e3, 500)
    lat2, lon2, h2 = ecef_to_geodetic(geodetic_to_ecef(lat, lon, h))
    np.testing.assert_allclose(lat2, lat, atol=1e-10)
    np.testing.assert_allclose(lon2, lon, atol=1e-10)
    np.testing.assert_allclose(h2, h, atol=1e-6)


def test_era_iers_2010_definition() -> None:
    # eq. 5.15 at J2000.0 and one UT1 day later.
    assert earth_rotation_angle_rad(JD_J2000) == pytest.approx(2 * np.pi * 0.7790572732640, abs=1e-15)
    one_day = 2 * np.pi * ((0.7790572732640 + 1.00273781191135448) % 1.0)
    assert earth_rotation_angle_rad(JD_J2000 + 1.0) == pytest.approx(one_day, abs=1e-12)
    # The split (day, seconds) form agrees with the single-JD form and with the rate constant.
    th0 = earth_rotation_angle_rad(2460748.5, 36933.12)
    th1 = earth_rotation_angle_rad(2460748.5, 36933.12 + 60.0)
    assert th1 - th0 == pytest.approx(60.0 * EARTH_ROTATION_RATE_RAD_S, abs=1e-12)
    assert earth_rotation_angle_rad(2460748.5 + 36933.12 / 86400.0) == pytest.approx(float(th0), abs=1e-9)


def test_era_matches_skyfield() -> None:
    earthlib = pytest.importorskip("skyfield.earthlib")
    ours = earth_rotation_angle_rad(2460748.5, 0.4261 * 86400.0)
    theirs = 2 * np.pi * earthlib.earth_rotation_angle(2460748.5, 0.4261)
    assert float(ours) == pytest.approx(float(theirs), abs=1e-10)


def test_jd_from_unix_seconds() -> None:
    day, sec = jd_from_unix_seconds(0.0)
    assert (float(day), float(sec)) == (2440587.5, 0.0)
    day, sec = jd_from_unix_seconds(946728000.0)  # 2000-01-01T12:00:00 UTC
    assert float(day) + float(sec) / 86400.0 == JD_J2000


def test_inertial_rotation_direction_and_inverse() -> None:
    # r_ECI = R_z(-theta) r_ECEF: the Earth-fixed x axis points to inertial +y after a quarter turn.
    np.testing.assert_allclose(ecef_to_inertial([1.0, 0.0, 0.0], np.pi / 2), [0.0, 1.0, 0.0], atol=1e-15)
    rng = np.random.default_rng(2)
    r = rng.normal(size=(10, 3))
    th = rng.uniform(0, 2 * np.pi, 10)
    np.testing.assert_allclose(inertial_to_ecef(ecef_to_inertial(r, th), th), r, atol=1e-14)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", rotation_ecef_to_inertial(th), r), ecef_to_inertial(r, th))


def test_enu_frame() -> None:
    lat, lon = 43.6, 1.44
    rot = enu_rotation(lat, lon)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-15)
    up = geodetic_to_ecef(lat, lon, 1.0) - geodetic_to_ecef(lat, lon, 0.0)
    np.testing.assert_allclose(ecef_delta_to_enu(up, lat, lon), [0.0, 0.0, 1.0], atol=1e-9)
    north = geodetic_to_ecef(lat + 1e-5, lon, 0.0) - geodetic_to_ecef(lat, lon, 0.0)
    enu = ecef_delta_to_enu(north, lat, lon)
    assert enu[1] > 1.0 and abs(enu[0]) < 1e-9
