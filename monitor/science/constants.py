"""Physical, astronomical and reference-model constants: one definition each, units in the names.

Every module of the system, the benchmarks and the tests import these; none defines its own copy.
The per-mission instrument constants (IFOV, orbit altitude, detector noise and gain) live in
:mod:`monitor.science.instrument`.

References
----------
NIMA TR8350.2, *Department of Defense World Geodetic System 1984*, 3rd ed. (WGS-84).
IERS Conventions (2010), IERS Technical Note 36 (GM).
Pavlis N. et al. (2012), "The development and evaluation of the Earth Gravitational Model 2008
(EGM2008)", J. Geophys. Res. 117, B04406 (J2).
IAU 2012 Resolution B2 (astronomical unit).
Kieffer H., Stone T. (2005), "The spectral irradiance of the Moon", AJ 129:2887 (ROLO reference
distance and solid angle of the Moon, ICD 2.3).
BIPM (2019), *The International System of Units*, 9th ed. (exact h, c, k).
"""

from __future__ import annotations

__all__ = [
    "WGS84_A_M",
    "WGS84_F",
    "WGS84_E2",
    "GM_M3_S2",
    "J2_EARTH",
    "R_EARTH_J2_M",
    "J3_EARTH",
    "WGS84_A_KM",
    "GM_KM3_S2",
    "SECONDS_PER_DAY",
    "DAYS_PER_YEAR",
    "SECONDS_PER_YEAR",
    "DAYS_PER_JULIAN_CENTURY",
    "AU_KM",
    "MOON_MEAN_DISTANCE_KM",
    "MOON_SOLID_ANGLE_SR",
    "MOON_RADIUS_KM",
    "F_V0_W_M2_UM",
    "PLANCK_H_J_S",
    "SPEED_OF_LIGHT_M_S",
    "BOLTZMANN_K_J_K",
]

# --- Earth: shape (WGS-84) and gravity ---------------------------------------------------------
WGS84_A_M = 6_378_137.0  # m, semi-major axis
WGS84_F = 1.0 / 298.257223563  # flattening
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)  # first eccentricity squared
GM_M3_S2 = 3.986004418e14  # m^3/s^2, WGS-84 / IERS geocentric gravitational constant
J2_EARTH = 1.0826266835e-3  # dimensionless, EGM2008 -C20 * sqrt(5) (unnormalised zonal J2)
R_EARTH_J2_M = 6_378_137.0  # m, reference radius of J2 (and of J3)
J3_EARTH = -2.5326e-6  # dimensionless, EGM2008 unnormalised C30 with sign flipped
WGS84_A_KM = WGS84_A_M / 1e3  # km (6378.137 exactly in binary too)
GM_KM3_S2 = GM_M3_S2 / 1e9  # km^3/s^2 (398 600.4418 exactly in binary too)

# --- Time ---------------------------------------------------------------------------------------
SECONDS_PER_DAY = 86_400.0  # s
DAYS_PER_YEAR = 365.25  # d, Julian year: the year of every rate "per year" and of A_k(t) models
SECONDS_PER_YEAR = DAYS_PER_YEAR * SECONDS_PER_DAY  # s, Julian year (31 557 600 s)
DAYS_PER_JULIAN_CENTURY = 36_525.0  # d, time unit of the IAU rotation models

# --- Sun and Moon (REF-1 lunar model, ICD 2.3) --------------------------------------------------
AU_KM = 149_597_870.7  # km, IAU 2012
MOON_MEAN_DISTANCE_KM = 384_400.0  # km, ROLO reference distance (ICD 2.3)
MOON_SOLID_ANGLE_SR = 6.4177e-5  # sr, ROLO Omega_M (ICD 2.3)
MOON_RADIUS_KM = 1737.4  # km, mean radius (ROLO Omega_M = pi (1737.4/384400)^2)

# --- Stars (REF-1 star model, ICD 2.2) ----------------------------------------------------------
F_V0_W_M2_UM = 3.631e-8  # W m^-2 um^-1, V = 0 flux (ICD 2.2)

# --- Radiation (SI 2019, exact) -----------------------------------------------------------------
PLANCK_H_J_S = 6.626_070_15e-34  # J s, exact (SI 2019)
SPEED_OF_LIGHT_M_S = 299_792_458.0  # m s^-1, exact
BOLTZMANN_K_J_K = 1.380_649e-23  # J K^-1, exact (SI 2019)
