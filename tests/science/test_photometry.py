"""Tests of monitor.science.photometry on synthetic stars rendered here (no dependency on psf.py).

The star is a pixel-integrated circular Gaussian (sigma 0.8 native px) of known total flux
``F`` DN in nominal imaging. With OVERSAMP o, row j is a full native-pixel sample centred at
native position j/o, so the star covers o times more rows and its sum is o F (ICD 1.2). On top:
DARK, a tilted background, Gaussian read noise and Poisson photon noise at a known gain.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.special import erf

from monitor.domain import BandHeader
from monitor.science.exceptions import AllNaNError, InsufficientBackgroundError
from monitor.science.photometry import (
    a_coefficient,
    a_coefficient_sigma,
    dark_subtracted_vignette,
    measure_star,
    normalised_count,
)

DARK_DN = 120.0
SIGMA_PX = 0.8
# A noisier detector than the nominal one (monitor.science.instrument: READ_NOISE_DN 1.5 DN, 20 e-/DN).
READ_NOISE_DN = 4.0
GAIN_E_PER_DN = 8.0
BKG = (15.0, 0.04, -0.015)  # level at the vignette centre (DN), d/dcol, d/drow


def _profile(n: int, centre_native: float, step: float) -> NDArray[np.float64]:
    """Fraction of a 1-D Gaussian in pixels of width 1 centred at k*step (k = 0..n-1)."""
    c = np.arange(n) * step
    s = math.sqrt(2.0) * SIGMA_PX
    return np.asarray(0.5 * (erf((c + 0.5 - centre_native) / s) - erf((c - 0.5 - centre_native) / s)))


def _star(shape: tuple[int, int], x0: float, y0_rows: float, flux: float, o: float) -> NDArray[np.float64]:
    """Noise-free star only (no dark, no background), DN; y0 in row units."""
    return flux * np.outer(_profile(shape[0], y0_rows / o, 1.0 / o), _profile(shape[1], x0, 1.0))


def _scene(shape: tuple[int, int]) -> NDArray[np.float64]:
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.asarray(DARK_DN + BKG[0] + BKG[1] * (cols - shape[1] / 2) + BKG[2] * (rows - shape[0] / 2), dtype=float)


def _observe(star: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
    shot = rng.poisson(star * GAIN_E_PER_DN) / GAIN_E_PER_DN
    return shot + _scene(star.shape) + rng.normal(0.0, READ_NOISE_DN, star.shape)


def _band(shape: tuple[int, int], o: float, x: float | None, y: float | None, **kw: float) -> BandHeader:
    args: dict[str, object] = dict(
        band="P", shape=shape, dark_dn=DARK_DN, gain_factor=1.0, oversamp=o, binning=1,
        pixscale_urad=1.0, lineper_ms=0.1, saturate_dn=6.0e4, star_x=x, star_y=y,
    )  # fmt: skip
    args.update(kw)
    return BandHeader(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("o", [1.0, 2.0, 3.0, 4.0])
def test_large_window_recovers_flux_and_grows_with_oversampling(o: float) -> None:
    rng = np.random.default_rng(10 + int(o))
    shape = (int(64 * o), 64)
    x0, y0 = 31.7, 32.2 * o
    flux = 2.0e5
    star = _star(shape, x0, y0, flux, o)
    res = measure_star(_observe(star, rng), _band(shape, o, x0 + 2.0, y0 - 2.0 * o), gain_e_per_dn=GAIN_E_PER_DN)
    assert not (res.saturated or res.off_centre) and res.star_found
    assert res.centroid_x == pytest.approx(x0, abs=0.02)
    assert res.centroid_y == pytest.approx(y0, abs=0.02 * o)
    assert res.background_dn == pytest.approx(BKG[0] + BKG[1] * (x0 - 32) + BKG[2] * (y0 - shape[0] / 2), abs=0.3)
    assert res.background_slope == pytest.approx(BKG[1:], abs=0.01)
    assert res.background_noise_dn == pytest.approx(READ_NOISE_DN, rel=0.05)
    np.testing.assert_array_equal(res.window_rows, np.floor((2 * res.half_widths + 1) * o + 0.5))
    # h >= 5: the Gaussian is entirely inside (EE = 1 - 1e-9); the sum is o F within 4 sigma.
    big = res.half_widths >= 5
    assert np.all(np.abs(res.sums_dn[big] - o * flux) < 4.0 * res.sigmas_dn[big])
    np.testing.assert_allclose(normalised_count(res.sums_dn[big], o, 1.0), flux, rtol=5e-3)
    assert not res.truncated[:-1].any() and not res.nan_in_window.any()


def test_noise_estimate_is_honest_pull_test() -> None:
    """300 noise realisations of one star: pulls (S_w - truth_w)/sigma_w have std 1 +- 0.15.

    The std of a std from 300 samples is 0.04, so [0.85, 1.15] is a > 3-sigma band (the windows
    share the star's photons, so their pulls fluctuate together); the mean must be within 0.2
    (3.5 sigma of a mean of 300). Measured pull widths for seeds 1, 2, 3: 0.95-1.04.
    truth_w is the noise-free star summed over the same window pixels (the window position is
    deterministic: the star sits 0.3 px from a pixel centre).
    """
    rng = np.random.default_rng(1)
    o, shape = 2.0, (96, 48)
    x0, y0, flux = 23.7, 47.6, 3.0e4
    star = _star(shape, x0, y0, flux, o)
    band = _band(shape, o, x0, y0)
    n_real = 300
    pulls = np.empty((n_real, 6))
    truth = None
    for k in range(n_real):
        res = measure_star(_observe(star, rng), band, gain_e_per_dn=GAIN_E_PER_DN)
        if truth is None:
            ci = round(x0)
            truth = np.empty(6)
            for w, (h, nr) in enumerate(zip(res.half_widths, res.window_rows, strict=True)):
                r0 = math.floor(y0 - 0.5 * (nr - 1) + 0.5)
                truth[w] = star[r0 : r0 + nr, ci - h : ci + h + 1].sum()
        pulls[k] = (res.sums_dn - truth) / res.sigmas_dn
    std = pulls.std(axis=0, ddof=1)
    mean = pulls.mean(axis=0)
    assert np.all((std > 0.85) & (std < 1.15)), std
    assert np.all(np.abs(mean) < 0.2), mean


def test_saturation_flag_uses_raw_native_level() -> None:
    rng = np.random.default_rng(5)
    shape = (64, 64)
    star = _star(shape, 32.0, 32.0, 2.0e4, 1.0)  # peak about 4.5e3 DN of star
    img = _observe(star, rng)
    peak_raw = float(img[30:35, 30:35].max())
    assert measure_star(img, _band(shape, 1.0, 32.0, 32.0, saturate_dn=peak_raw)).saturated
    ok = measure_star(img, _band(shape, 1.0, 32.0, 32.0, saturate_dn=peak_raw + 1.0))
    assert not ok.saturated and ok.peak_dn == pytest.approx(peak_raw)


def test_binned_image_dark_and_saturation() -> None:
    """b = 2: a delivered pixel is the sum of 2x2 native pixels; dark per delivered pixel = 4 DARK."""
    rng = np.random.default_rng(6)
    native = _observe(_star((128, 128), 63.5, 63.5, 1.0e5, 1.0), rng)
    binned = native.reshape(64, 2, 64, 2).sum(axis=(1, 3))
    band = _band((64, 64), 1.0, 31.75, 31.75, binning=2, saturate_dn=1.0e6)
    res = measure_star(binned, band, half_widths_px=(4, 8), gain_e_per_dn=GAIN_E_PER_DN)
    assert res.sums_dn[-1] == pytest.approx(1.0e5, rel=0.01)
    assert res.background_dn == pytest.approx(4 * BKG[0], abs=2.0)
    # Saturation compares delivered DN / b^2 with the native level.
    level = float(binned.max()) / 4.0
    assert measure_star(binned, _band((64, 64), 1.0, 31.75, 31.75, binning=2, saturate_dn=level)).saturated


def test_nan_flags_only_windows_that_contain_it() -> None:
    rng = np.random.default_rng(7)
    shape = (64, 64)
    img = _observe(_star(shape, 32.0, 32.0, 1.0e5, 1.0), rng)
    img[32, 36] = np.nan  # 4 columns right of the star: in h >= 4 windows only
    res = measure_star(img, _band(shape, 1.0, 32.0, 32.0), gain_e_per_dn=GAIN_E_PER_DN)
    np.testing.assert_array_equal(res.nan_in_window, res.half_widths >= 4)
    np.testing.assert_array_equal(res.n_pixels, (2 * res.half_widths + 1) ** 2 - (res.half_widths >= 4))
    assert np.all(np.isfinite(res.sums_dn))


def test_truncated_windows_and_off_centre() -> None:
    rng = np.random.default_rng(8)
    shape = (64, 64)
    img = _observe(_star(shape, 6.2, 30.0, 1.0e5, 1.0), rng)
    res = measure_star(img, _band(shape, 1.0, 7.0, 31.0), gain_e_per_dn=GAIN_E_PER_DN)
    np.testing.assert_array_equal(res.truncated, res.half_widths > 6)
    assert not res.off_centre
    np.testing.assert_array_equal(
        res.n_pixels[res.truncated], (2 * res.half_widths[res.truncated] + 1) * (6 + 1 + res.half_widths[res.truncated])
    )
    # Prediction 12 px away: the star is outside the search box -> flagged off-centre.
    far = measure_star(img, _band(shape, 1.0, 19.0, 31.0), gain_e_per_dn=GAIN_E_PER_DN)
    assert far.off_centre


def test_no_star_is_flagged_not_found() -> None:
    rng = np.random.default_rng(9)
    img = _scene((64, 64)) + rng.normal(0.0, READ_NOISE_DN, (64, 64))
    res = measure_star(img, _band((64, 64), 1.0, 32.0, 32.0))
    assert not res.star_found and res.off_centre


def test_search_without_prediction_and_errors() -> None:
    rng = np.random.default_rng(11)
    shape = (32, 32)
    img = _observe(_star(shape, 12.3, 18.6, 5.0e4, 1.0), rng)
    res = measure_star(img, _band(shape, 1.0, None, None), half_widths_px=(2, 5), gain_e_per_dn=GAIN_E_PER_DN)
    assert res.centroid_x == pytest.approx(12.3, abs=0.05) and res.centroid_y == pytest.approx(18.6, abs=0.05)
    with pytest.raises(AllNaNError):
        measure_star(np.full(shape, np.nan), _band(shape, 1.0, 16.0, 16.0))
    with pytest.raises(InsufficientBackgroundError):
        measure_star(img[:8, :8], _band((8, 8), 1.0, 4.0, 4.0))
    with pytest.raises(ValueError, match="2-D"):
        measure_star(img[0], _band(shape, 1.0, 16.0, 16.0))


def test_a_coefficient_inverts_the_measurement_equation() -> None:
    # ICD 1.3: S = o G A E / Omega  ->  A = S Omega / (o G E EE).
    a_true, e, omega = 250.0, np.array([1.0e-9, 2.0e-9]), (0.7e-6) ** 2
    o, g = np.array([1.0, 3.0]), np.array([2.0, 0.5])
    s = o * g * a_true * e / omega
    np.testing.assert_allclose(a_coefficient(s, o, g, e, omega), a_true, rtol=1e-14)
    np.testing.assert_allclose(a_coefficient(0.96 * s, o, g, e, omega, encircled_energy=0.96), a_true, rtol=1e-14)
    np.testing.assert_allclose(normalised_count(s, o, g), a_true * e / omega, rtol=1e-14)
    sig = a_coefficient_sigma(250.0, 1.0e4, 30.0, irradiance_rel_sigma=0.04, encircled_energy=0.9,
                              encircled_energy_sigma=0.009)  # fmt: skip
    assert float(sig) == pytest.approx(250.0 * math.sqrt(0.003**2 + 0.04**2 + 0.01**2), rel=1e-12)
    with pytest.raises(ValueError, match="irradiance"):
        a_coefficient(s, o, g, np.array([1e-9, 0.0]), omega)
    with pytest.raises(ValueError, match="oversamp"):
        normalised_count(s, 0.0, g)


def test_dark_subtracted_vignette_masks_saturation_per_native_pixel() -> None:
    """DARK and SATURATE are per native pixel: a 2 x 2 binned pixel holds 4 darks and saturates at
    4 x SATURATE (ICD 1.2)."""
    raw = np.array([[400.0, 3999.0, 4000.0], [np.nan, 100.0, 5000.0]])
    out = dark_subtracted_vignette(raw, 25.0, 2, 1000.0)
    np.testing.assert_array_equal(out, [[300.0, 3899.0, np.nan], [np.nan, 0.0, np.nan]])
    np.testing.assert_array_equal(dark_subtracted_vignette(raw, 25.0, 1, 1000.0)[0], [375.0, np.nan, np.nan])
