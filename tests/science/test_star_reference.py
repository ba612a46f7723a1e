"""Tests of monitor.science.star_reference: the REF-1 star model (ICD 2.2)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import integrate

from monitor.io.reference_data import load_johnson_v, load_rsr, load_star_catalogue
from monitor.science.constants import F_V0_W_M2_UM
from monitor.science.star_reference import (
    ballesteros_temperature_k,
    is_calibration_star,
    star_band_irradiance_w_m2_um,
)

H, C, K = 6.626_070_15e-34, 299_792_458.0, 1.380_649e-23


def _irradiance(band: str, v_mag: float | NDArray[np.float64], b_v: float | NDArray[np.float64]) -> NDArray[np.float64]:
    rsr, vb = load_rsr("PHR", band), load_johnson_v()
    return star_band_irradiance_w_m2_um(v_mag, b_v, rsr.wavelength_nm, rsr.values, vb.wavelength_nm, vb.values)


def _independent_irradiance(band: str, v_mag: float, b_v: float) -> float:
    """Scalar re-implementation of ICD 2.2 written from the equations, not from the module:
    own Planck law, responses interpolated linearly onto a 0.1 nm grid and Simpson-integrated."""
    t = 4600.0 * (1.0 / (0.92 * b_v + 1.7) + 1.0 / (0.92 * b_v + 0.62))

    def mean_planck(lam_grid: NDArray[np.float64], resp: NDArray[np.float64]) -> float:
        lam = np.arange(lam_grid[0], lam_grid[-1], 0.1)
        r = np.interp(lam, lam_grid, resp)
        lam_m = lam * 1e-9
        b = 2 * H * C**2 / lam_m**5 / (np.exp(H * C / (lam_m * K * t)) - 1.0)
        return float(integrate.simpson(b * r, x=lam) / integrate.simpson(r, x=lam))

    rsr, vb = load_rsr("PHR", band), load_johnson_v()
    ratio = mean_planck(rsr.wavelength_nm, rsr.values) / mean_planck(vb.wavelength_nm, vb.values)
    return F_V0_W_M2_UM * 10 ** (-0.4 * v_mag) * ratio


def test_ballesteros_solar_colour_gives_solar_temperature() -> None:
    # B-V = 0.65 (Sun): 4600 (1/2.298 + 1/1.218) = 5778.4 K.
    assert float(ballesteros_temperature_k(0.65)) == pytest.approx(5778.4, abs=0.1)
    t = ballesteros_temperature_k(np.array([-0.3, 0.0, 1.5, np.nan]))
    assert np.all(np.diff(t[:3]) < 0) and np.isnan(t[3])
    with pytest.raises(ValueError, match="B-V"):
        ballesteros_temperature_k(-0.7)


@pytest.mark.parametrize(("band", "v_mag", "b_v"), [("P", 3.0, 0.0), ("B3", 5.0, 1.5), ("B0", 1.0, -0.2)])
def test_irradiance_matches_independent_integration(band: str, v_mag: float, b_v: float) -> None:
    # Trapezoid on the response grids (module) vs Simpson on a 0.1 nm grid (test): agree to 1e-5.
    assert float(_irradiance(band, v_mag, b_v)) == pytest.approx(_independent_irradiance(band, v_mag, b_v), rel=1e-5)


def test_irradiance_pinned_regression_values() -> None:
    # Computed once with this module (REF-1, shipped PHR RSRs and johnson_v.csv) on 2026-11-23 and
    # cross-checked against the independent Simpson integration above (agreement < 1e-5).
    got = _irradiance("P", np.array([3.0, 5.0]), np.array([0.0, 1.5]))
    np.testing.assert_allclose(got[0], 1.6687352117955272e-09, rtol=1e-10)
    np.testing.assert_allclose(float(_irradiance("B3", 5.0, 1.5)), 4.776812895257728e-10, rtol=1e-10)
    np.testing.assert_allclose(float(_irradiance("B0", 1.0, -0.2)), 1.9689674680930033e-08, rtol=1e-10)


def test_irradiance_scaling_vectorisation_and_v_band_identity() -> None:
    v = np.array([1.0, 2.0, 3.5, 6.0])
    bv = np.array([0.3, 0.3, 1.1, np.nan])
    e = _irradiance("B2", v, bv)
    assert e.shape == (4,)
    assert e[1] / e[0] == pytest.approx(10 ** (-0.4), rel=1e-12)
    assert e[2] == pytest.approx(float(_irradiance("B2", 3.5, 1.1)), rel=1e-14)
    assert np.isnan(e[3])
    # Through the V passband itself the model returns F_V0 10^(-0.4 V) by construction.
    vb = load_johnson_v()
    e_v = star_band_irradiance_w_m2_um(2.0, 0.8, vb.wavelength_nm, vb.values, vb.wavelength_nm, vb.values)
    assert float(e_v) == pytest.approx(F_V0_W_M2_UM * 10 ** (-0.8), rel=1e-12)


def test_whole_catalogue_is_finite_where_usable() -> None:
    cat = load_star_catalogue()
    ok = is_calibration_star(cat.v_mag, cat.b_v)
    assert 1000 < ok.sum() < cat.v_mag.size
    e = _irradiance("P", cat.v_mag[ok][:300], cat.b_v[ok][:300])
    assert np.all(np.isfinite(e)) and np.all(e > 0)


def test_is_calibration_star_bounds() -> None:
    v = np.array([0.99, 1.0, 6.0, 6.01, 3.0, 3.0, np.nan])
    bv = np.array([0.5, 0.5, 0.5, 0.5, np.nan, -0.8, 0.5])
    np.testing.assert_array_equal(is_calibration_star(v, bv), [False, True, True, False, False, False, False])
