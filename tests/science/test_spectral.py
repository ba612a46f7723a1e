"""Tests of monitor.science.spectral: Planck's law and ICD 2.1 band averaging."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from monitor.io.reference_data import load_rsr
from monitor.science.spectral import band_average, band_weights, planck_radiance_w_m2_sr_um

STEFAN_BOLTZMANN_W_M2_K4 = 5.670_374_419e-8  # CODATA 2018 (exact from h, c, k)
WIEN_B_UM_K = 2897.771_955  # um K, CODATA 2018


def test_planck_integrates_to_stefan_boltzmann() -> None:
    # pi * int B_lambda dlambda = sigma T^4; the grid spans 99.99 % of the emission at 5800 K.
    lam_nm = np.linspace(50.0, 200_000.0, 2_000_001)
    b = planck_radiance_w_m2_sr_um(lam_nm, 5800.0)
    total = np.pi * integrate.trapezoid(b, lam_nm * 1e-3)  # per um -> um grid
    assert total == pytest.approx(STEFAN_BOLTZMANN_W_M2_K4 * 5800.0**4, rel=2e-4)


def test_planck_peak_follows_wien_and_broadcasts() -> None:
    lam_nm = np.linspace(300.0, 1200.0, 90_001)
    t_k = np.array([3500.0, 5000.0, 9000.0])
    b = planck_radiance_w_m2_sr_um(lam_nm, t_k[:, None])
    assert b.shape == (3, lam_nm.size)
    peak_um = lam_nm[np.argmax(b, axis=1)] * 1e-3
    np.testing.assert_allclose(peak_um * t_k, WIEN_B_UM_K, rtol=1e-4)


def test_planck_nan_propagates_and_bad_input_raises() -> None:
    assert np.isnan(planck_radiance_w_m2_sr_um(500.0, np.nan))
    assert planck_radiance_w_m2_sr_um(10.0, 100.0) == 0.0  # exp overflow -> 0, no warning
    with pytest.raises(ValueError, match="> 0"):
        planck_radiance_w_m2_sr_um(-1.0, 5000.0)


def test_band_average_flat_and_linear_spectra() -> None:
    rsr = load_rsr("PHR", "B1")
    lam = np.arange(300.0, 1101.0, 5.0)
    assert band_average(lam, np.full(lam.size, 7.5), rsr.wavelength_nm, rsr.values) == pytest.approx(7.5, rel=1e-12)
    # A linear spectrum averages to its value at the response centroid (trapezoidal rule exact for R*linear
    # up to the product's curvature; the centroid is computed with the same rule).
    w = band_weights(rsr.wavelength_nm, rsr.values)
    centroid = float(w @ rsr.wavelength_nm)
    got = band_average(lam, 2.0 * lam + 1.0, rsr.wavelength_nm, rsr.values)
    assert got == pytest.approx(2.0 * centroid + 1.0, rel=1e-12)


def test_band_average_vectorises_and_matches_manual_trapezoid() -> None:
    rng = np.random.default_rng(3)
    rsr = load_rsr("PHR", "P")
    lam = np.linspace(340.0, 1010.0, 337)  # coarse, not aligned with the 1 nm RSR grid
    spectra = rng.uniform(0.5, 2.0, (4, 2, lam.size))
    got = band_average(lam, spectra, rsr.wavelength_nm, rsr.values)
    assert isinstance(got, np.ndarray) and got.shape == (4, 2)
    for i in range(4):
        for j in range(2):
            on_grid = np.interp(rsr.wavelength_nm, lam, spectra[i, j])
            expect = np.trapezoid(on_grid * rsr.values, rsr.wavelength_nm) / np.trapezoid(rsr.values, rsr.wavelength_nm)
            assert got[i, j] == pytest.approx(expect, rel=1e-12)
            assert band_average(lam, spectra[i, j], rsr.wavelength_nm, rsr.values) == pytest.approx(got[i, j])


def test_band_average_refuses_uncovered_response_and_bad_rsr() -> None:
    rsr = load_rsr("PHR", "B3")
    lam = np.linspace(400.0, 800.0, 41)  # B3 extends past 800 nm
    with pytest.raises(ValueError, match="does not cover"):
        band_average(lam, np.ones(lam.size), rsr.wavelength_nm, rsr.values)
    with pytest.raises(ValueError, match="rsr"):
        band_average(lam, np.ones(lam.size), [500.0, 600.0], [0.0, -1.0])
    with pytest.raises(ValueError, match="integral"):
        band_weights([500.0, 600.0], [0.0, 0.0])


def test_band_average_nan_in_band_propagates() -> None:
    rsr = load_rsr("PHR", "B2")
    lam = np.arange(300.0, 1100.0, 1.0)
    spec = np.ones((2, lam.size))
    spec[1, 350] = np.nan  # 650 nm, inside B2
    got = np.asarray(band_average(lam, spec, rsr.wavelength_nm, rsr.values))
    assert got[0] == pytest.approx(1.0) and np.isnan(got[1])
