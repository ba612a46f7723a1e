"""Lunar geometry (ICD 2.3): pinned reference values and an independent DE421 cross-check."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from astropy.utils import iers

from monitor.science.constants import AU_KM
from monitor.science.lunar_geometry import (
    LunarGeometry,
    configure_astropy_offline,
    is_phase_angle_valid,
    lunar_geometry,
    moon_orientation_matrix,
)

# shared/notes/lunar_reference_values.md §4 (astropy builtin ephemeris + IAU 2009 orientation,
# two independent implementations): UTC, SC_POS (km), g, Phi, lat_obs, lon_obs, d_SM (AU), d_OM (km)
REFERENCE_CASES = [
    (datetime(2025, 3, 10, 21, tzinfo=UTC), (0.0, 0.0, 0.0), -38.858, 44.324, -4.882, 5.700, 0.99533, 391_650.9),
    (datetime(2025, 3, 10, 21, tzinfo=UTC), (-2200.0, 4800.0, 4300.0), -38.484, 44.324, -4.633, 6.052, 0.99533,
     385_499.0),
    (datetime(2025, 9, 12, 3, 30, tzinfo=UTC), (6998.0, 0.0, 0.0), 60.264, -57.526, -6.004, 2.563, 1.00770,
     361_737.7),
]  # fmt: skip


def test_astropy_is_offline() -> None:
    configure_astropy_offline()
    assert iers.conf.auto_download is False
    assert iers.conf.auto_max_age is None


@pytest.mark.parametrize(("t", "pos", "g", "phi", "lat", "lon", "dsm_au", "dom_km"), REFERENCE_CASES)
def test_reference_values(
    t: datetime,
    pos: tuple[float, float, float],
    g: float,
    phi: float,
    lat: float,
    lon: float,
    dsm_au: float,
    dom_km: float,
) -> None:
    geo = lunar_geometry(t, pos)
    # the note prints 3 decimals (deg), 5 (AU) and 0.1 km: tolerances are half a unit + margin
    assert geo.phase_angle_deg == pytest.approx(g, abs=6e-4)
    assert geo.sun_selenographic_lon_deg == pytest.approx(phi, abs=6e-4)
    assert geo.observer_selenographic_lat_deg == pytest.approx(lat, abs=6e-4)
    assert geo.observer_selenographic_lon_deg == pytest.approx(lon, abs=6e-4)
    assert geo.d_sun_moon_au == pytest.approx(dsm_au, abs=6e-6)
    assert geo.d_obs_moon_km == pytest.approx(dom_km, abs=0.06)


def test_sign_convention_waxing_waning() -> None:
    # full Moon 2025-03-14 ~07 UTC: before it the Moon waxes (g < 0, Phi > 0), after it wanes
    before = lunar_geometry(datetime(2025, 3, 11, 12, tzinfo=UTC), (0.0, 0.0, 0.0))
    after = lunar_geometry(datetime(2025, 3, 17, 12, tzinfo=UTC), (0.0, 0.0, 0.0))
    assert before.phase_angle_deg < 0 < before.sun_selenographic_lon_deg and before.is_waxing
    assert after.phase_angle_deg > 0 > after.sun_selenographic_lon_deg and not after.is_waxing


def test_satellite_position_matters() -> None:
    t = datetime(2025, 3, 10, 21, tzinfo=UTC)
    geo0 = lunar_geometry(t, (0.0, 0.0, 0.0))
    # put the satellite 7000 km from the geocentre toward the Moon
    u = np.array([math.cos(math.radians(geo0.moon_dec_deg)) * math.cos(math.radians(geo0.moon_ra_deg)),
                  math.cos(math.radians(geo0.moon_dec_deg)) * math.sin(math.radians(geo0.moon_ra_deg)),
                  math.sin(math.radians(geo0.moon_dec_deg))])  # fmt: skip
    geo1 = lunar_geometry(t, 7000.0 * u)
    assert geo0.d_obs_moon_km - geo1.d_obs_moon_km == pytest.approx(7000.0, abs=0.01)


def test_orientation_matrix_is_rotation_and_pole() -> None:
    m = moon_orientation_matrix(2451545.0)
    assert np.allclose(m @ m.T, np.eye(3), atol=1e-14)
    assert np.linalg.det(m) == pytest.approx(1.0)
    # body z axis in ICRS = pole (alpha0, delta0) of the IAU 2009 formula at J2000
    e = np.radians([125.045, 250.089, 260.008, 176.625, 357.529, 311.589, 134.963, 276.617, 34.226,
                    15.134, 119.743, 239.961, 25.053])  # fmt: skip
    ra0 = (
        269.9949
        - 3.8787 * math.sin(e[0])
        - 0.1204 * math.sin(e[1])
        + 0.0700 * math.sin(e[2])
        - 0.0172 * math.sin(e[3])
        + 0.0072 * math.sin(e[5])
        - 0.0052 * math.sin(e[9])
        + 0.0043 * math.sin(e[12])
    )
    pole = m[2]
    assert math.degrees(math.atan2(pole[1], pole[0])) % 360 == pytest.approx(ra0, abs=1e-9)


def test_phase_validity_and_input_checks() -> None:
    assert is_phase_angle_valid(-2.0) and is_phase_angle_valid(90.0)
    assert not is_phase_angle_valid(1.9) and not is_phase_angle_valid(-90.5)
    with pytest.raises(ValueError, match="aware"):
        lunar_geometry(datetime(2025, 3, 10, 21), (0.0, 0.0, 0.0))
    with pytest.raises(ValueError):
        lunar_geometry(datetime(2025, 3, 10, 21, tzinfo=UTC), (0.0, 0.0))
    assert isinstance(lunar_geometry(datetime(2025, 3, 10, 21, tzinfo=UTC), (1.0, 2.0, 3.0)), LunarGeometry)


def _skyfield_kernel_dir() -> Path | None:
    try:
        import skyfield_data  # noqa: PLC0415
    except ImportError:
        return None
    path = Path(skyfield_data.__file__).parent / "data"
    return path if (path / "de421.bsp").is_file() else None


@pytest.mark.skipif(
    _skyfield_kernel_dir() is None,
    reason="skyfield-data (offline DE421) not installed: pip install skyfield-data for the cross-check",
)
def test_cross_check_with_skyfield_de421() -> None:
    """Independent positions (JPL DE421 via skyfield) give g, distances and RA/Dec to 0.01 deg."""
    from skyfield.iokit import Loader  # noqa: PLC0415

    kdir = _skyfield_kernel_dir()
    assert kdir is not None
    loader = Loader(str(kdir), verbose=False, expire=False)
    eph = loader("de421.bsp")
    try:
        ts = loader.timescale(builtin=True)
        worst = 0.0
        t0 = datetime(2025, 1, 3, 5, 17, tzinfo=UTC)
        positions = [(0.0, 0.0, 0.0), (6998.0, 0.0, 0.0), (-2200.0, 4800.0, 4300.0), (1500.0, -6500.0, -2400.0)]
        for k in range(12):
            t = t0 + timedelta(days=2.37 * k)
            sc = np.array(positions[k % len(positions)])
            geo = lunar_geometry(t, sc)
            st = ts.from_datetime(t)
            earth = eph["earth"].at(st).position.km
            moon = eph["moon"].at(st).position.km
            sun = eph["sun"].at(st).position.km
            u_sun, u_obs = sun - moon, earth + sc - moon
            g = math.degrees(math.acos(u_sun @ u_obs / np.linalg.norm(u_sun) / np.linalg.norm(u_obs)))
            to_moon = -u_obs / np.linalg.norm(u_obs)
            ra = math.degrees(math.atan2(to_moon[1], to_moon[0])) % 360
            dec = math.degrees(math.asin(to_moon[2]))
            assert abs(geo.phase_angle_deg) == pytest.approx(g, abs=0.01)
            assert geo.d_obs_moon_km == pytest.approx(np.linalg.norm(u_obs), abs=10.0)
            assert geo.d_sun_moon_km / AU_KM == pytest.approx(np.linalg.norm(u_sun) / AU_KM, abs=1e-6)
            sep = math.degrees(
                math.acos(
                    min(1.0, math.sin(math.radians(dec)) * math.sin(math.radians(geo.moon_dec_deg))
                        + math.cos(math.radians(dec)) * math.cos(math.radians(geo.moon_dec_deg))
                        * math.cos(math.radians(ra - geo.moon_ra_deg)))
                )
            )  # fmt: skip
            assert sep < 0.01
            worst = max(worst, abs(abs(geo.phase_angle_deg) - g))
        assert worst < 0.01
    finally:
        eph.close()
