"""Sun-Moon-satellite geometry of a Moon acquisition (ICD 2.3, REF-1 conventions).

Positions are geometric (no light time, no aberration) and come from astropy's ``builtin``
ephemeris (ERFA ``epv00`` for the Earth and the Sun, Meeus' truncated ELP series for the Moon):
it needs no file and no network. The satellite is at Earth's centre + ``SC_POS`` (GCRS axes taken
as ICRS axes). The Moon's orientation is the IAU/WGCCRE 2009 model (Archinal et al. 2011,
Celest. Mech. Dyn. Astr. 109:101, Table 2; the ``BODY301_*`` constants of NAIF ``pck00010.tpc``),
coded here because astropy has none.

Offline switch
--------------
Importing this module calls :func:`configure_astropy_offline`, which turns astropy's IERS
auto-download off (``auto_download = False``, ``auto_max_age = None``): the system must never touch
the network, and the geometry only needs UTC -> TT -> TDB, which uses no IERS table. This is the
one global side effect allowed in ``monitor.science``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from astropy.coordinates import get_body_barycentric
from astropy.time import Time
from astropy.utils import iers
from numpy.typing import ArrayLike, NDArray

from monitor.science.constants import AU_KM, DAYS_PER_JULIAN_CENTURY

__all__ = [
    "PHASE_ANGLE_MIN_DEG",
    "PHASE_ANGLE_MAX_DEG",
    "LunarGeometry",
    "configure_astropy_offline",
    "is_phase_angle_valid",
    "lunar_geometry",
    "moon_orientation_matrix",
]

PHASE_ANGLE_MIN_DEG = 2.0  # deg, ICD 2.3 validity range of |g|
PHASE_ANGLE_MAX_DEG = 90.0  # deg

_J2000_JD = 2451545.0  # JD of J2000.0 (TDB)

# IAU/WGCCRE 2009 Moon model (pck00010.tpc, BODY301_* and BODY3_NUT_PREC_ANGLES).
# E_i = E0_i + E1_i * T, T in Julian centuries TDB from J2000, degrees.
_E0_DEG = np.array(
    [125.045, 250.089, 260.008, 176.625, 357.529, 311.589, 134.963,
     276.617, 34.226, 15.134, 119.743, 239.961, 25.053]
)  # fmt: skip
_E1_DEG_PER_CENTURY = np.array(
    [-1935.5364525, -3871.0729050, 475263.3328725, 487269.6299850, 35999.0509575,
     964468.4993100, 477198.8693250, 12006.3007650, 63863.5132425, -5806.6093575,
     131.8406400, 6003.1503825, 473327.7964200]
)  # fmt: skip
_RA_AMP_DEG = np.array(
    [-3.8787, -0.1204, 0.0700, -0.0172, 0.0, 0.0072, 0.0, 0.0, 0.0, -0.0052, 0.0, 0.0, 0.0043]
)  # multiplies sin E_i
_DEC_AMP_DEG = np.array(
    [1.5419, 0.0239, -0.0278, 0.0068, 0.0, -0.0029, 0.0009, 0.0, 0.0, 0.0008, 0.0, 0.0, -0.0009]
)  # multiplies cos E_i
_PM_AMP_DEG = np.array(
    [3.5610, 0.1208, -0.0642, 0.0158, 0.0252, -0.0066, -0.0047, -0.0046, 0.0028, 0.0052,
     0.0040, 0.0019, -0.0044]
)  # multiplies sin E_i  # fmt: skip
_RA0_DEG, _RA_RATE_DEG_PER_CENTURY = 269.9949, 0.0031
_DEC0_DEG, _DEC_RATE_DEG_PER_CENTURY = 66.5392, 0.0130
_W0_DEG, _W_RATE_DEG_PER_DAY, _W_QUAD_DEG_PER_DAY2 = 38.3213, 13.17635815, -1.4e-12


def configure_astropy_offline() -> None:
    """Forbid astropy from downloading IERS tables (the system runs without network).

    Sets ``astropy.utils.iers.conf.auto_download = False`` and ``auto_max_age = None`` (no
    staleness check, hence no "IERS table too old" warning). Idempotent; called once when this
    module is imported. The computations of this module only need the UTC -> TT -> TDB chain
    (leap seconds from the bundled ``astropy-iers-data``), not UT1 or polar motion.
    """
    iers.conf.auto_download = False
    iers.conf.auto_max_age = None


configure_astropy_offline()


@dataclass(frozen=True)
class LunarGeometry:
    """Geometry of one Moon observation from the satellite (ICD 2.3, ICD 4).

    Attributes
    ----------
    phase_angle_deg : float
        Sun-Moon-satellite angle g, degrees, signed: negative before full Moon (waxing, the Sun is
        east of the sub-satellite point, Phi > 0), positive after (waning). The model uses |g|.
    sun_selenographic_lon_deg : float
        Phi, selenographic longitude of the sub-solar point, degrees east, in (-180, 180].
    sun_selenographic_lat_deg : float
        Selenographic latitude of the sub-solar point, degrees (not used by ROLO; informative).
    observer_selenographic_lat_deg : float
        theta, selenographic latitude of the sub-satellite point, degrees.
    observer_selenographic_lon_deg : float
        phi, selenographic longitude of the sub-satellite point, degrees east, in (-180, 180].
    d_sun_moon_km : float
        Sun-Moon centre distance, km.
    d_obs_moon_km : float
        Satellite-Moon centre distance, km.
    moon_ra_deg, moon_dec_deg : float
        Geometric direction of the Moon's centre seen from the satellite, ICRS, degrees.
    """

    phase_angle_deg: float
    sun_selenographic_lon_deg: float
    sun_selenographic_lat_deg: float
    observer_selenographic_lat_deg: float
    observer_selenographic_lon_deg: float
    d_sun_moon_km: float
    d_obs_moon_km: float
    moon_ra_deg: float
    moon_dec_deg: float

    @property
    def d_sun_moon_au(self) -> float:
        """Sun-Moon distance, astronomical units."""
        return self.d_sun_moon_km / AU_KM

    @property
    def is_waxing(self) -> bool:
        """True before full Moon (signed phase angle negative)."""
        return self.phase_angle_deg < 0.0

    @property
    def is_phase_valid(self) -> bool:
        """True when ``2 deg <= |g| <= 90 deg`` (ICD 2.3); outside, results are flagged."""
        return is_phase_angle_valid(self.phase_angle_deg)


def is_phase_angle_valid(phase_angle_deg: float) -> bool:
    """Whether ``PHASE_ANGLE_MIN_DEG <= |g| <= PHASE_ANGLE_MAX_DEG`` (ICD 2.3 validity range)."""
    return bool(PHASE_ANGLE_MIN_DEG <= abs(phase_angle_deg) <= PHASE_ANGLE_MAX_DEG)


def moon_orientation_matrix(jd_tdb: float) -> NDArray[np.float64]:
    """Rotation from ICRS axes to the Moon body-fixed frame, IAU/WGCCRE 2009 model.

    .. math::

        \\alpha_0 = 269.9949 + 0.0031 T + \\sum_i a_i \\sin E_i, \\quad
        \\delta_0 = 66.5392 + 0.0130 T + \\sum_i d_i \\cos E_i,

        W = 38.3213 + 13.17635815 d - 1.4\\times10^{-12} d^2 + \\sum_i w_i \\sin E_i,

        M = R_z(W)\\, R_x(90^\\circ - \\delta_0)\\, R_z(90^\\circ + \\alpha_0)

    with d days and T Julian centuries of TDB from J2000.0 and the 13 arguments ``E_i`` of
    Archinal et al. (2011), Table 2. ``v_body = M @ v_icrs``; the body x axis points to the prime
    meridian (mean Earth direction), z to the north pole; longitudes are east-positive. The model
    differs from the DE421 mean-Earth frame by well under 0.1 deg, ample for ROLO: an error of 0.1 deg in
    the observer's selenographic latitude or longitude changes ln A by ~1e-4 (Kieffer & Stone 2005 Eq. 10,
    Table 4 coefficients, at g = 30 deg).

    Parameters
    ----------
    jd_tdb : float
        Julian date, TDB.

    Returns
    -------
    NDArray[np.float64], shape (3, 3)
        Rotation matrix (orthonormal).
    """
    d = jd_tdb - _J2000_JD
    t = d / DAYS_PER_JULIAN_CENTURY
    e = np.radians(_E0_DEG + _E1_DEG_PER_CENTURY * t)
    ra0 = math.radians(_RA0_DEG + _RA_RATE_DEG_PER_CENTURY * t + float(_RA_AMP_DEG @ np.sin(e)))
    dec0 = math.radians(_DEC0_DEG + _DEC_RATE_DEG_PER_CENTURY * t + float(_DEC_AMP_DEG @ np.cos(e)))
    w = math.radians(_W0_DEG + _W_RATE_DEG_PER_DAY * d + _W_QUAD_DEG_PER_DAY2 * d * d + float(_PM_AMP_DEG @ np.sin(e)))
    return _rot_z(w) @ _rot_x(math.pi / 2.0 - dec0) @ _rot_z(math.pi / 2.0 + ra0)


def _rot_z(angle_rad: float) -> NDArray[np.float64]:
    """Frame rotation about z (passive, as SPICE ``rotate``)."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_x(angle_rad: float) -> NDArray[np.float64]:
    """Frame rotation about x (passive)."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


def _lat_lon_deg(v: NDArray[np.float64]) -> tuple[float, float]:
    """Latitude and east longitude (degrees, lon in (-180, 180]) of a 3-vector."""
    r = float(np.linalg.norm(v))
    lat = math.degrees(math.asin(float(v[2]) / r))
    lon = math.degrees(math.atan2(float(v[1]), float(v[0])))
    return lat, (lon if lon > -180.0 else 180.0)


def lunar_geometry(date_obs_utc: datetime, sc_pos_gcrs_km: ArrayLike) -> LunarGeometry:
    """Geometry of the Moon seen from the satellite at ``date_obs_utc`` (ICD 2.3).

    Steps: barycentric Earth, Moon and Sun positions (astropy ``builtin`` ephemeris, TDB);
    satellite = Earth + ``sc_pos`` (GCRS axes = ICRS axes); ``u_sun = r_sun - r_moon``,
    ``u_obs = r_sat - r_moon``; ``g = angle(u_sun, u_obs)``; Phi, theta, phi are the
    longitudes/latitudes of ``u_sun`` and ``u_obs`` in the IAU 2009 Moon body frame
    (:func:`moon_orientation_matrix`). Sign of g: negative when ``(u_obs x u_sun) . z_moon > 0``,
    i.e. when the Sun is east of the sub-satellite point (waxing Moon, Phi > phi).

    Parameters
    ----------
    date_obs_utc : datetime
        Observation time (``DATE-OBS``), timezone-aware UTC (a naive datetime is refused).
    sc_pos_gcrs_km : array_like, shape (3,)
        Satellite position relative to Earth's centre, GCRS, km.

    Returns
    -------
    LunarGeometry

    Raises
    ------
    ValueError
        If the time is naive or the position is not 3 finite numbers.

    Notes
    -----
    Geometric positions, light time (~1.3 s, ~0.0005 deg of lunar rotation) and aberration
    (~20 arcsec, common to Sun and Moon directions to first order) neglected per ICD 2.3. The
    builtin Moon position agrees with DE421 to <= 7 km (<= 0.002 deg in g, 2025 test epochs).

    Examples
    --------
    Seen from a satellite 7000 km from the Earth's centre at the full Moon of 2025-03-14 (|g| below
    the ICD range) and a week later (waning, g > 0):

    >>> from datetime import UTC, datetime
    >>> full = lunar_geometry(datetime(2025, 3, 14, 6, 55, tzinfo=UTC), [7000.0, 0.0, 0.0])
    >>> round(full.phase_angle_deg, 1), is_phase_angle_valid(full.phase_angle_deg)
    (0.3, False)
    >>> later = lunar_geometry(datetime(2025, 3, 21, 6, 55, tzinfo=UTC), [7000.0, 0.0, 0.0])
    >>> round(later.phase_angle_deg, 1), round(later.sun_selenographic_lon_deg, 1), round(later.d_obs_moon_km)
    (75.4, -82.3, 400767)
    """
    if date_obs_utc.tzinfo is None or date_obs_utc.utcoffset() is None:
        raise ValueError("date_obs_utc must be timezone-aware (UTC)")
    sc = np.asarray(sc_pos_gcrs_km, dtype=np.float64)
    if sc.shape != (3,) or not np.all(np.isfinite(sc)):
        raise ValueError(f"sc_pos_gcrs_km must be 3 finite numbers, got {sc!r}")
    utc = date_obs_utc.astimezone(UTC).replace(tzinfo=None)
    t = Time(utc, scale="utc")
    r_earth = get_body_barycentric("earth", t, ephemeris="builtin").xyz.to_value("km")
    r_moon = get_body_barycentric("moon", t, ephemeris="builtin").xyz.to_value("km")
    r_sun = get_body_barycentric("sun", t, ephemeris="builtin").xyz.to_value("km")
    r_sat = np.asarray(r_earth, dtype=np.float64) + sc
    u_sun = np.asarray(r_sun - r_moon, dtype=np.float64)
    u_obs = r_sat - np.asarray(r_moon, dtype=np.float64)
    d_sm = float(np.linalg.norm(u_sun))
    d_om = float(np.linalg.norm(u_obs))
    g = math.degrees(math.atan2(float(np.linalg.norm(np.cross(u_sun, u_obs))), float(u_sun @ u_obs)))

    tdb = t.tdb
    rot = moon_orientation_matrix(float(tdb.jd1) + float(tdb.jd2))
    sun_b = rot @ u_sun
    obs_b = rot @ u_obs
    sun_lat, sun_lon = _lat_lon_deg(sun_b)
    obs_lat, obs_lon = _lat_lon_deg(obs_b)
    waxing = float(np.cross(obs_b, sun_b)[2]) > 0.0
    to_moon = -u_obs
    ra = math.degrees(math.atan2(float(to_moon[1]), float(to_moon[0]))) % 360.0
    dec = math.degrees(math.asin(float(to_moon[2]) / d_om))
    return LunarGeometry(
        phase_angle_deg=-g if waxing else g,
        sun_selenographic_lon_deg=sun_lon,
        sun_selenographic_lat_deg=sun_lat,
        observer_selenographic_lat_deg=obs_lat,
        observer_selenographic_lon_deg=obs_lon,
        d_sun_moon_km=d_sm,
        d_obs_moon_km=d_om,
        moon_ra_deg=ra,
        moon_dec_deg=dec,
    )
