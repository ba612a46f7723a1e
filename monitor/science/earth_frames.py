"""Earth frames for the GEOM geometry: WGS-84 geodetic <-> ECEF, Earth rotation angle, ENU.

ICD-1 §3 defines the quasi-inertial frame of the orbit model by Earth rotation only::

    r_ECI = R_z(-theta_ERA(t)) r_ECEF

with theta_ERA the Earth rotation angle of the IERS Conventions 2010 (eq. 5.15) evaluated with
UT1 = UTC. Precession, nutation and polar motion are deliberately left out (the frame is the
"ERA inertial frame" of the ICD, not GCRS). ``R_z(a)`` is the passive (frame) rotation of the IERS
conventions, so ``R_z(-theta)`` turns a vector by +theta about z (east-ward Earth rotation).

All functions are pure and vectorised; lengths are metres, angles degrees unless the name says
``_rad``. Times are Julian dates split in a day part and seconds (to keep the ~10 µs resolution
that a single float64 Julian date would lose).

References
----------
IERS Conventions (2010), IERS Technical Note 36, §5.4.4 (Earth rotation angle).
NIMA TR8350.2, *Department of Defense World Geodetic System 1984*, 3rd ed. (WGS-84 constants).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.science.constants import SECONDS_PER_DAY, WGS84_A_M, WGS84_E2, WGS84_F

__all__ = [
    "EARTH_ROTATION_RATE_RAD_S",
    "JD_J2000",
    "JD_UNIX_EPOCH",
    "jd_from_unix_seconds",
    "earth_rotation_angle_rad",
    "geodetic_to_ecef",
    "ecef_to_geodetic",
    "rotation_ecef_to_inertial",
    "ecef_to_inertial",
    "inertial_to_ecef",
    "enu_rotation",
    "ecef_delta_to_enu",
]

JD_J2000 = 2_451_545.0  # Julian date of J2000.0 (TT/UT1 2000-01-01 12:00)
JD_UNIX_EPOCH = 2_440_587.5  # Julian date of 1970-01-01T00:00:00
_ERA_0 = 0.7790572732640  # turns, IERS 2010 eq. 5.15
_ERA_RATE = 1.00273781191135448  # turns per UT1 day
EARTH_ROTATION_RATE_RAD_S = 2.0 * np.pi * _ERA_RATE / SECONDS_PER_DAY  # rad/s, d theta_ERA / dt


def jd_from_unix_seconds(unix_s: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Split POSIX seconds into a Julian-date day part and seconds of that day.

    Parameters
    ----------
    unix_s : array_like of float, s
        Seconds since 1970-01-01T00:00:00 UTC without leap seconds (``datetime.timestamp()``).

    Returns
    -------
    jd_day : ndarray, days
        Julian date of the preceding 0h UTC (ends in .5).
    seconds : ndarray, s
        Seconds after ``jd_day``, in [0, 86400).

    Notes
    -----
    POSIX time counts civil days of exactly 86400 s, so ``jd_day + seconds/86400`` is JD(UTC),
    which ICD-1 uses as JD(UT1).
    """
    u = np.asarray(unix_s, dtype=np.float64)
    days = np.floor(u / SECONDS_PER_DAY)
    return JD_UNIX_EPOCH + days, u - days * SECONDS_PER_DAY


def earth_rotation_angle_rad(jd_ut1_day: ArrayLike, seconds: ArrayLike = 0.0) -> NDArray[np.float64]:
    """Earth rotation angle theta_ERA, IERS Conventions 2010 eq. 5.15.

    ``theta = 2 pi (0.7790572732640 + 1.00273781191135448 (JD_UT1 - 2451545.0))``, reduced to
    [0, 2 pi). ``JD_UT1 = jd_ut1_day + seconds / 86400``; the split keeps full precision.

    Parameters
    ----------
    jd_ut1_day : array_like of float, days
        Julian date (UT1), day part (any value; ``jd_from_unix_seconds`` gives the 0h date).
    seconds : array_like of float, s
        Seconds to add to ``jd_ut1_day``. Broadcast against it.

    Returns
    -------
    ndarray of float, rad
        theta_ERA in [0, 2 pi).
    """
    day = np.asarray(jd_ut1_day, dtype=np.float64)
    sec = np.asarray(seconds, dtype=np.float64)
    du = day - JD_J2000
    frac_day = sec / SECONDS_PER_DAY
    # 1.0027378... * du = du + 0.0027378... * du: the integer part of du adds whole turns.
    turns = _ERA_0 + (_ERA_RATE - 1.0) * (du + frac_day) + np.mod(du, 1.0) + frac_day
    return np.asarray(2.0 * np.pi * np.mod(turns, 1.0), dtype=np.float64)


def geodetic_to_ecef(lat_deg: ArrayLike, lon_deg: ArrayLike, h_m: ArrayLike) -> NDArray[np.float64]:
    """WGS-84 geodetic coordinates to Earth-centred Earth-fixed Cartesian coordinates.

    ``N = a / sqrt(1 - e^2 sin^2 phi)``; ``X = (N + h) cos phi cos lambda``,
    ``Y = (N + h) cos phi sin lambda``, ``Z = (N (1 - e^2) + h) sin phi``.

    Parameters
    ----------
    lat_deg, lon_deg : array_like, degrees
        Geodetic latitude and longitude (east positive). Broadcast together.
    h_m : array_like, m
        Height above the ellipsoid.

    Returns
    -------
    ndarray, shape (..., 3), m
        ECEF coordinates. NaN inputs give NaN rows.
    """
    phi = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lam = np.radians(np.asarray(lon_deg, dtype=np.float64))
    h = np.asarray(h_m, dtype=np.float64)
    sphi = np.sin(phi)
    n = WGS84_A_M / np.sqrt(1.0 - WGS84_E2 * sphi**2)
    x = (n + h) * np.cos(phi) * np.cos(lam)
    y = (n + h) * np.cos(phi) * np.sin(lam)
    z = (n * (1.0 - WGS84_E2) + h) * sphi
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def ecef_to_geodetic(
    xyz_m: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """ECEF Cartesian coordinates to WGS-84 geodetic latitude, longitude and height.

    Bowring's parametric-latitude iteration (Bowring 1976), four fixed iterations: below 1 µm
    and 1e-12 rad anywhere from the Earth's surface to GEO.

    Parameters
    ----------
    xyz_m : array_like, shape (..., 3), m

    Returns
    -------
    lat_deg, lon_deg : ndarray, degrees
    h_m : ndarray, m
    """
    xyz = np.asarray(xyz_m, dtype=np.float64)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    a = WGS84_A_M
    b = a * (1.0 - WGS84_F)
    ep2 = (a**2 - b**2) / b**2
    p = np.hypot(x, y)
    lam = np.arctan2(y, x)
    beta = np.arctan2(z * a, p * b)
    phi = beta
    for _ in range(4):
        phi = np.arctan2(z + ep2 * b * np.sin(beta) ** 3, p - WGS84_E2 * a * np.cos(beta) ** 3)
        beta = np.arctan2((1.0 - WGS84_F) * np.sin(phi), np.cos(phi))
    sphi = np.sin(phi)
    n = a / np.sqrt(1.0 - WGS84_E2 * sphi**2)
    # Height formula stable at all latitudes.
    h = p * np.cos(phi) + (z + WGS84_E2 * n * sphi) * sphi - n
    return np.degrees(phi), np.degrees(lam), np.asarray(h, dtype=np.float64)


def rotation_ecef_to_inertial(theta_rad: ArrayLike) -> NDArray[np.float64]:
    """Rotation matrices ``R_z(-theta)`` taking ECEF vectors to the ERA inertial frame (ICD §3).

    Parameters
    ----------
    theta_rad : array_like, rad
        Earth rotation angle(s).

    Returns
    -------
    ndarray, shape (..., 3, 3)
        ``r_ECI = R @ r_ECEF``; the transpose goes back.
    """
    th = np.asarray(theta_rad, dtype=np.float64)
    c, s = np.cos(th), np.sin(th)
    zero, one = np.zeros_like(th), np.ones_like(th)
    rows = (
        np.stack([c, -s, zero], axis=-1),
        np.stack([s, c, zero], axis=-1),
        np.stack([zero, zero, one], axis=-1),
    )
    return np.stack(rows, axis=-2)


def ecef_to_inertial(r_ecef_m: ArrayLike, theta_rad: ArrayLike) -> NDArray[np.float64]:
    """``r_ECI = R_z(-theta) r_ECEF`` (ICD §3), broadcast over leading axes.

    Parameters
    ----------
    r_ecef_m : array_like, shape (..., 3)
        Vectors in ECEF (any length unit; returned in the same unit).
    theta_rad : array_like, shape (...)
        Earth rotation angle at the time of each vector.

    Returns
    -------
    ndarray, shape (..., 3)
    """
    r = np.asarray(r_ecef_m, dtype=np.float64)
    th = np.asarray(theta_rad, dtype=np.float64)
    c, s = np.cos(th), np.sin(th)
    x, y = r[..., 0], r[..., 1]
    return np.stack(np.broadcast_arrays(c * x - s * y, s * x + c * y, r[..., 2] + 0.0 * th), axis=-1)


def inertial_to_ecef(r_eci_m: ArrayLike, theta_rad: ArrayLike) -> NDArray[np.float64]:
    """Inverse of `ecef_to_inertial`: ``r_ECEF = R_z(theta) r_ECI``."""
    return ecef_to_inertial(r_eci_m, -np.asarray(theta_rad, dtype=np.float64))


def enu_rotation(lat_deg: ArrayLike, lon_deg: ArrayLike) -> NDArray[np.float64]:
    """Rotation from ECEF vectors to local east/north/up at geodetic (lat, lon).

    Rows: ``e = (-sin l, cos l, 0)``, ``n = (-sin p cos l, -sin p sin l, cos p)``,
    ``u = (cos p cos l, cos p sin l, sin p)``.

    Returns
    -------
    ndarray, shape (..., 3, 3)
        ``enu = R @ d_ecef``.
    """
    p = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lam = np.radians(np.asarray(lon_deg, dtype=np.float64))
    p, lam = np.broadcast_arrays(p, lam)
    sp, cp, sl, cl = np.sin(p), np.cos(p), np.sin(lam), np.cos(lam)
    e = np.stack([-sl, cl, np.zeros_like(p)], axis=-1)
    n = np.stack([-sp * cl, -sp * sl, cp], axis=-1)
    u = np.stack([cp * cl, cp * sl, sp], axis=-1)
    return np.stack([e, n, u], axis=-2)


def ecef_delta_to_enu(d_ecef_m: ArrayLike, lat_deg: ArrayLike, lon_deg: ArrayLike) -> NDArray[np.float64]:
    """Express ECEF difference vectors in local east/north/up components.

    Parameters
    ----------
    d_ecef_m : array_like, shape (..., 3), m
    lat_deg, lon_deg : array_like, shape (...), degrees
        Where the local frame is taken (e.g. the known ground point).

    Returns
    -------
    ndarray, shape (..., 3), m
        (east, north, up).
    """
    rot = enu_rotation(lat_deg, lon_deg)
    d = np.asarray(d_ecef_m, dtype=np.float64)
    return np.asarray(np.einsum("...ij,...j->...i", rot, d), dtype=np.float64)
