"""Tests of monitor.science.pushbroom: ICD §3 camera conventions, projection, rays, intersection."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from monitor.domain import Mission
from monitor.science.constants import GM_M3_S2, WGS84_A_M
from monitor.science.earth_frames import EARTH_ROTATION_RATE_RAD_S, ecef_to_inertial, geodetic_to_ecef
from monitor.science.instrument import ORBIT_ALTITUDE_KM, PAN_PIXEL_PITCH_UM, PHR_FOCAL_LENGTH_MM
from monitor.science.orbit import KeplerOrbit
from monitor.science.pushbroom import (
    AttitudePolynomial,
    ProjectionError,
    PushbroomCamera,
    angles_from_rotation,
    camera_coordinates,
    camera_to_inertial,
    ground_to_image,
    image_residuals,
    image_to_ray_ecef,
    intersect_rays,
    local_orbital_frame,
    rotation_from_angles,
)
from monitor.simulate.geom import simulate_geom_pair

FOCAL_M = PHR_FOCAL_LENGTH_MM / 1e3  # PHR camera, 12.905 m
PITCH_M = PAN_PIXEL_PITCH_UM / 1e6  # 13 um
ALTITUDE_M = ORBIT_ALTITUDE_KM[Mission.PHR] * 1e3


@pytest.fixture(scope="module")
def sim():  # type: ignore[no-untyped-def]
    return simulate_geom_pair(
        np.random.default_rng(11),
        epoch_utc=datetime(2025, 3, 14, 10, 15, 33, 120000, tzinfo=UTC),
        site_lat_deg=43.6,
        site_lon_deg=1.44,
        n_control=10,
        n_check=5,
        image_noise_px=0.0,
    )


def test_local_orbital_frame_axes() -> None:
    r = np.array([7.0e6, 0.0, 0.0])
    v = np.array([0.0, 7.5e3, 0.0])
    lof = local_orbital_frame(r, v)
    np.testing.assert_allclose(lof[:, 0], [0, 1, 0], atol=1e-15)  # x: along track
    np.testing.assert_allclose(lof[:, 1], [0, 0, -1], atol=1e-15)  # y: -orbit normal
    np.testing.assert_allclose(lof[:, 2], [-1, 0, 0], atol=1e-15)  # z: nadir
    np.testing.assert_allclose(np.cross(lof[:, 2], lof[:, 0]), lof[:, 1], atol=1e-15)  # y = z x x


def test_rotation_angles_round_trip_and_sign() -> None:
    rng = np.random.default_rng(0)
    ang = rng.uniform(-0.3, 0.3, (20, 3))
    rot = rotation_from_angles(ang[:, 0], ang[:, 1], ang[:, 2])
    np.testing.assert_allclose(angles_from_rotation(rot), ang, atol=1e-13)
    # Positive pitch turns the boresight forward (+x).
    assert rotation_from_angles(0.0, 0.1, 0.0)[0, 2] > 0


def test_forward_pitch_looks_ahead() -> None:
    r = np.array([7.0e6, 0.0, 0.0])
    v = np.array([0.0, 7.5e3, 0.0])
    cam = PushbroomCamera(FOCAL_M, PITCH_M, 20000, 1e-4, 0.0, np.radians(15.0))
    m = camera_to_inertial(cam, AttitudePolynomial(np.zeros((3, 1))), r, v, 0.0)
    boresight = m @ np.array([0.0, 0.0, 1.0])
    assert boresight @ v > 0 and boresight @ r < 0


def test_fast_camera_coordinates_match_matrix_form(sim) -> None:  # type: ignore[no-untyped-def]
    tr = sim.truth
    cam, att, traj = tr["cameras"]["AFT"], tr["attitude"]["AFT"], tr["trajectory"]
    g = tr["ground_ecef_m"][:5]
    t = cam.t0_s + np.linspace(5000, 15000, 5) * cam.lineper_s
    pos, vel = traj.state(t)
    w = ecef_to_inertial(g, tr["era_ref_rad"] + EARTH_ROTATION_RATE_RAD_S * t) - pos
    m = camera_to_inertial(cam, att, pos, vel, t)
    expected = np.einsum("nji,nj->ni", m, w)
    np.testing.assert_allclose(camera_coordinates(cam, att, traj, g, t, tr["era_ref_rad"]), expected, atol=1e-6)


def test_projection_and_ray_round_trip(sim) -> None:  # type: ignore[no-untyped-def]
    tr = sim.truth
    g = tr["ground_ecef_m"]
    for view in ("FORE", "AFT"):
        cam, att = tr["cameras"][view], tr["attitude"][view]
        line, sample = ground_to_image(cam, att, tr["trajectory"], g, tr["era_ref_rad"])
        origin, direction = image_to_ray_ecef(cam, att, tr["trajectory"], line, sample, tr["era_ref_rad"])
        to_point = g - origin
        miss = np.linalg.norm(to_point - (to_point * direction).sum(1)[:, None] * direction, axis=1)
        assert np.max(miss) < 1e-4  # m
        # The point lies in the detector plane (x_c = 0) at the projected line time.
        c = camera_coordinates(cam, att, tr["trajectory"], g, cam.line_time(line), tr["era_ref_rad"])
        assert np.max(np.abs(c[:, 0] / c[:, 2])) < 1e-12


def test_image_residuals_equal_rigorous_projection(sim) -> None:  # type: ignore[no-untyped-def]
    tr = sim.truth
    cam, att = tr["cameras"]["FORE"], tr["attitude"]["FORE"]
    g = tr["ground_ecef_m"][:15]
    line, sample = ground_to_image(cam, att, tr["trajectory"], g, tr["era_ref_rad"])
    offset = np.array([2.0, -1.5])
    res = image_residuals(cam, att, tr["trajectory"], g, line + offset[0], sample + offset[1], tr["era_ref_rad"])
    np.testing.assert_allclose(res, np.broadcast_to(-offset, res.shape), atol=1e-4)


def test_sample_axis_points_to_camera_y() -> None:
    # Straight-down camera on a circular orbit: a point displaced along camera +y has sample > NSAMP/2.
    r0 = np.array([WGS84_A_M + ALTITUDE_M, 0.0, 0.0])
    v0 = np.array([0.0, 0.0, np.sqrt(GM_M3_S2 / r0[0])])
    orbit = KeplerOrbit(r0, v0, 0.0, 3)
    cam = PushbroomCamera(FOCAL_M, PITCH_M, 20000, 1e-4, -1.0, 0.0)
    att = AttitudePolynomial(np.zeros((3, 1)))
    y_axis = local_orbital_frame(r0, v0)[:, 1]
    ground_eci = geodetic_to_ecef(0.0, 0.0, 0.0) + 1000.0 * y_axis
    line, sample = ground_to_image(cam, att, orbit, ground_eci[None], 0.0, t_guess_s=0.0)
    assert sample[0] > 10000 + 1000.0 / (ALTITUDE_M * PITCH_M / FOCAL_M) * 0.9
    assert abs(float(line[0]) - 10000.0) < 10.0  # near t = 0 (Earth rotation shifts it slightly)


def test_intersect_rays() -> None:
    p = np.array([[1.0, 2.0, 3.0], [-5.0, 0.0, 2.0]])
    origins = np.stack([p + [10.0, 0.0, 0.0], p + [0.0, 10.0, 10.0]], axis=1)
    dirs = p[:, None, :] - origins
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    np.testing.assert_allclose(intersect_rays(origins, dirs), p, atol=1e-12)
    with pytest.raises(ProjectionError):
        intersect_rays(origins[:, :1].repeat(2, axis=1), dirs[:, :1].repeat(2, axis=1))
