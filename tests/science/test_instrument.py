"""The nominal instrument (monitor.science.instrument) and the physical constants behind it.

The expected numbers are the public descriptions quoted in the module docstrings (PHR 0.70 m PAN
at 694 km, PNEO 0.30 m at 620 km, line periods 0.103 ms / 0.044 ms, MS 4x PAN); they catch a
changed constant or a unit slip (km vs m, urad vs rad), not a wrong public figure.
"""

from __future__ import annotations

import math

import pytest

from monitor.domain import BANDS_BY_MISSION, Mission
from monitor.science.constants import (
    GM_KM3_S2,
    GM_M3_S2,
    MOON_MEAN_DISTANCE_KM,
    MOON_RADIUS_KM,
    MOON_SOLID_ANGLE_SR,
    SECONDS_PER_YEAR,
    WGS84_A_KM,
    WGS84_A_M,
)
from monitor.science.instrument import (
    MS_PIXEL_RATIO,
    ORBIT_ALTITUDE_KM,
    PAN_IFOV_URAD,
    UnknownBandError,
    lineper_ms,
    normalise_band,
    pixscale_urad,
)


def test_unit_variants_are_the_same_numbers() -> None:
    assert WGS84_A_KM * 1e3 == WGS84_A_M and WGS84_A_KM == 6378.137
    assert GM_KM3_S2 * 1e9 == GM_M3_S2 and GM_KM3_S2 == 398_600.4418
    assert SECONDS_PER_YEAR == 365.25 * 86_400.0


def test_moon_radius_matches_rolo_solid_angle() -> None:
    # ROLO's Omega_M (Kieffer & Stone 2005) is pi (R_M / 384400 km)^2, rounded to 5 digits.
    omega = math.pi * (MOON_RADIUS_KM / MOON_MEAN_DISTANCE_KM) ** 2
    assert omega == pytest.approx(MOON_SOLID_ANGLE_SR, rel=1e-4)


@pytest.mark.parametrize(("mission", "gsd_m", "line_ms"), [(Mission.PHR, 0.70, 0.103), (Mission.PNEO, 0.30, 0.044)])
def test_pan_sampling_matches_public_figures(mission: Mission, gsd_m: float, line_ms: float) -> None:
    ground_m = pixscale_urad(mission, "P") * 1e-6 * ORBIT_ALTITUDE_KM[mission] * 1e3
    assert ground_m == pytest.approx(gsd_m, abs=0.005)
    assert lineper_ms(mission, "P") == pytest.approx(line_ms, abs=5e-4)
    assert pixscale_urad(mission, "P") == PAN_IFOV_URAD[mission]


@pytest.mark.parametrize("mission", list(Mission))
def test_ms_bands_sample_four_pan_pixels(mission: Mission) -> None:
    for band in BANDS_BY_MISSION[mission][1:]:
        assert pixscale_urad(mission, band) == pytest.approx(MS_PIXEL_RATIO * pixscale_urad(mission, "P"), rel=1e-15)
        assert lineper_ms(mission, band) == pytest.approx(MS_PIXEL_RATIO * lineper_ms(mission, "P"), rel=1e-15)


def test_normalise_band() -> None:
    assert normalise_band("phr", "b0") == ("PHR", "B0")
    assert normalise_band(Mission.PNEO, "nir") == ("PNEO", "NIR")
    with pytest.raises(UnknownBandError, match="not a PHR band"):
        normalise_band("PHR", "NIR")
    with pytest.raises(UnknownBandError, match="unknown mission"):
        normalise_band("SPOT", "P")
