"""Tests of the starpool-and-band estimator (monitor.science.starpool_estimator).

Synthetic starpools with a known coefficient A: window sums are the true signal times a known
window EE plus noise, the PSF-fit signal is the true signal plus noise. The tests check that each
estimator recovers A, which estimate is reported (PSF-fit signal, reference window, largest
window, fallback), that rejected members and outliers are kept out, and the per-member values.
The EE and the noise are drawn with the same simple model the estimator assumes (a known EE per
window, Gaussian noise): they check the bookkeeping and the choice, not the PSF model (that is
tests/calibration/test_ee_correction.py and test_star_pipeline.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from monitor.science.exceptions import InsufficientStarsError
from monitor.science.photometry import a_coefficient, a_coefficient_sigma
from monitor.science.starpool_estimator import (
    PSF_FLUX_HALF_WIDTH_PX,
    EeModel,
    StarpoolMembers,
    estimate_starpool_band,
    psf_flux_coefficients,
)

A_TRUE = 2.5  # DN / (W m^-2 sr^-1 um^-1)
HALF_WIDTHS = np.array([2, 5, 12])
EE_TRUE = np.array([0.90, 0.95, 0.98])  # fraction of the signal in each window
OMEGA_SR = (5.0 * 1e-6) ** 2  # sr: PIXSCALE 5 urad


def _pool(rng: np.random.Generator, n: int = 12, rel_noise: float = 0.005) -> tuple[StarpoolMembers, np.ndarray]:
    """n members with true A = A_TRUE; returns the members and their true total signals (DN)."""
    e_k = rng.uniform(0.5e-9, 2e-9, n)
    oversamp = rng.integers(1, 5, n).astype(np.float64)
    gain_factor = rng.uniform(1.0, 4.0, n)
    signal = A_TRUE * oversamp * gain_factor * e_k / OMEGA_SR  # ICD 1.3, all the light
    sums = signal[:, None] * EE_TRUE[None, :] * (1.0 + rng.normal(0.0, rel_noise, (n, HALF_WIDTHS.size)))
    sums_sigma = rel_noise * signal[:, None] * EE_TRUE[None, :] * np.ones((1, HALF_WIDTHS.size))
    a = a_coefficient(sums, oversamp[:, None], gain_factor[:, None], e_k[:, None], OMEGA_SR)  # EE = 1
    members = StarpoolMembers(
        star_ids=tuple(f"STAR{i:02d}" for i in range(n)), accepted=np.ones(n, dtype=bool),
        half_widths_px=HALF_WIDTHS, a=a, a_sigma=a_coefficient_sigma(a, sums, sums_sigma), sum_dn=sums,
        sum_sigma_dn=sums_sigma, gain_e_per_dn=np.full(n, 1e9), oversamp=oversamp, gain_factor=gain_factor,
        irradiance_w_m2_um=e_k, pixel_solid_angle_sr=np.full(n, OMEGA_SR),
    )
    return members, signal


def _ee_model(n: int, signal: np.ndarray | None = None, rng: np.random.Generator | None = None) -> EeModel:
    ee = np.tile(EE_TRUE, (n, 1))
    if signal is None:
        return EeModel(ee, 1e-4 * ee)
    assert rng is not None
    flux = signal * (1.0 + rng.normal(0.0, 0.002, n))
    return EeModel(ee, 1e-4 * ee, flux, 0.002 * signal)


def _replace(members: StarpoolMembers, **changes: object) -> StarpoolMembers:
    fields = {name: getattr(members, name) for name in members.__dataclass_fields__}
    return StarpoolMembers(**{**fields, **changes})  # type: ignore[arg-type]


def test_psf_flux_coefficients_are_a_coefficient_of_the_signals() -> None:
    flux = np.array([1e5, 2e5, np.nan, -5.0, 3e5])
    sig = np.array([1e3, 1e3, 1e3, 1e3, np.inf])
    o, g = np.array([1.0, 2.0, 1.0, 1.0, 1.0]), np.array([1.5, 1.0, 1.0, 1.0, 1.0])
    e = np.array([1e-9, np.nan, 1e-9, 1e-9, 1e-9])
    a, s = psf_flux_coefficients(flux, sig, o, g, e, np.full(5, 4e-12))
    assert a[0] == a_coefficient(1e5, 1.0, 1.5, 1e-9, 4e-12)
    assert s[0] == pytest.approx(a[0] * 0.01, rel=1e-12)
    assert np.all(np.isnan(a[1:])) and np.all(np.isnan(s[1:]))  # no E_k, no signal, negative, infinite sigma


def test_without_psf_fit_the_largest_window_is_reported_with_ee_1() -> None:
    members, _ = _pool(np.random.default_rng(1))
    result = estimate_starpool_band(members, None, reference_half_width_px=5, outlier_sigma=4.0)
    assert result.reported.half_width_px == 12 and result.psf_flux is None and not result.is_psf_flux
    est = result.reported.estimate
    assert est is not None
    # EE = 1: the light outside the window biases A low by EE_true (2 %), within the noise.
    assert est.a / A_TRUE == pytest.approx(EE_TRUE[-1], abs=3 * est.a_sigma / A_TRUE)
    np.testing.assert_array_equal(result.a, members.a[:, -1])
    np.testing.assert_array_equal(result.ee, np.ones((12, 3)))
    assert result.used.all() and result.outliers() == []
    assert [w.half_width_px for w in result.windows] == [2, 5, 12]


def test_ee_correction_makes_every_window_unbiased_and_reports_the_reference_window() -> None:
    members, _ = _pool(np.random.default_rng(2))
    result = estimate_starpool_band(members, _ee_model(12), reference_half_width_px=5, outlier_sigma=4.0)
    assert result.reported.half_width_px == 5 and result.psf_flux is None
    for w in result.windows:
        assert w.estimate is not None
        assert w.estimate.a == pytest.approx(A_TRUE, abs=3 * w.estimate.a_sigma)
        assert w.ee_mean == pytest.approx(EE_TRUE[list(HALF_WIDTHS).index(w.half_width_px)])
    np.testing.assert_allclose(result.a, members.a[:, 1] / EE_TRUE[1], rtol=1e-15)


def test_psf_fit_signal_is_reported_when_available() -> None:
    rng = np.random.default_rng(3)
    members, signal = _pool(rng)
    result = estimate_starpool_band(members, _ee_model(12, signal, rng), reference_half_width_px=5,
                                    outlier_sigma=4.0)
    assert result.is_psf_flux and result.reported.half_width_px == PSF_FLUX_HALF_WIDTH_PX
    est = result.reported.estimate
    assert est is not None and est.n_used == 12
    assert est.a == pytest.approx(A_TRUE, abs=3 * est.a_sigma)
    assert est.a_sigma < 0.002 * A_TRUE  # 0.2 % per star over 12 stars


def test_rejected_members_and_outliers_are_kept_out() -> None:
    rng = np.random.default_rng(4)
    members, signal = _pool(rng)
    accepted = np.ones(12, dtype=bool)
    accepted[3] = False  # e.g. saturated: never combined, even with a finite PSF-fit signal
    a = members.a.copy()
    a[7] *= 1.3  # a variable star: 30 % too bright in every window
    flux = signal.copy()
    flux[7] *= 1.3
    model = EeModel(np.tile(EE_TRUE, (12, 1)), np.zeros((12, 3)), flux, 0.002 * signal)
    result = estimate_starpool_band(_replace(members, accepted=accepted, a=a), model, reference_half_width_px=5,
                                    outlier_sigma=4.0)
    assert 3 not in result.reported.members and np.isnan(result.a[3]) and not result.used[3]
    assert [i for i, _ in result.outliers()] == [7] and result.outliers()[0][1] > 4.0
    assert not result.used[7] and int(result.used.sum()) == 10
    for w in result.windows:
        assert 3 not in w.members


def test_reference_window_with_too_few_stars_falls_back_to_the_largest_window_with_enough() -> None:
    members, _ = _pool(np.random.default_rng(5))
    a = members.a.copy()
    a[2:, 1] = np.nan  # window h = 5 usable on 2 stars only (NaN pixel in it)
    a[1:, 2] = np.nan  # window h = 12 on 1 star
    result = estimate_starpool_band(_replace(members, a=a), _ee_model(12), reference_half_width_px=5,
                                    outlier_sigma=4.0)
    assert result.reported.half_width_px == 2
    by_h = {w.half_width_px: w for w in result.windows}
    assert by_h[5].estimate is None and "2 stars" in by_h[5].note and len(by_h[5].members) == 2
    with pytest.raises(InsufficientStarsError):
        estimate_starpool_band(_replace(members, a=np.full_like(a, np.nan)), None, reference_half_width_px=5,
                               outlier_sigma=4.0)
