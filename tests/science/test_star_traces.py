"""The ratio of a star's window signal to its starpool's prediction, A_raw(h) / (EE(h) * A_pool).

The truth of the first test is drawn from an independent model of the star: a Gaussian PSF
integrated over each pixel (erf differences) and summed over the extraction windows, against the
encircled energy of the same PSF written as the product of two one-dimensional fractions. A
star brighter than its starpool predicts by a known factor must read that factor in every
window. This catches an inverted ratio, an EE applied to the wrong side, a wrong broadcast; it
cannot catch an error in how the starpool's EE itself was estimated (calibration's job).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.science.star_traces import outlier_mask, ratio_to_prediction, robust_centre_spread

HALF_WIDTHS_PX = (2, 3, 5, 8, 12)


def _pixel_integrated_star(flux_dn: float, sigma_px: float, x0: float, y0: float, n: int = 61) -> np.ndarray:
    """An n x n image of a Gaussian star of total flux ``flux_dn``, each pixel the integral of the
    PSF over its area (pixel centres at integers, the star at (x0, y0) from the image centre)."""
    edges = np.arange(n + 1) - n / 2  # pixel edges, centre pixel spans [-0.5, 0.5]
    erf = np.vectorize(math.erf)
    cx = np.diff(0.5 * (1 + erf((edges - x0) / (sigma_px * math.sqrt(2)))))
    cy = np.diff(0.5 * (1 + erf((edges - y0) / (sigma_px * math.sqrt(2)))))
    return flux_dn * np.outer(cy, cx)


def _window_sums(image: np.ndarray, half_widths: tuple[int, ...]) -> np.ndarray:
    c = image.shape[0] // 2  # the centre pixel holds the centroid
    return np.array([image[c - h:c + h + 1, c - h:c + h + 1].sum() for h in half_widths])


def _encircled_energy(sigma_px: float, x0: float, y0: float, half_widths: tuple[int, ...]) -> np.ndarray:
    """Fraction of the light in the square window [-h - 0.5, h + 0.5]^2 around the centre pixel."""

    def frac(h: int, mu: float) -> float:
        s = sigma_px * math.sqrt(2)
        return 0.5 * (math.erf((h + 0.5 - mu) / s) - math.erf((-h - 0.5 - mu) / s))

    return np.array([frac(h, x0) * frac(h, y0) for h in half_widths])


def test_a_star_brighter_than_predicted_reads_its_factor_in_every_window() -> None:
    a_pool = 11.3  # DN / (W m-2 sr-1 um-1): the starpool's EE-corrected A_k
    k_true = 1.037  # this star gives 3.7 % more signal than the starpool predicts
    dn_per_a = 2.0e4  # DN of the whole star per unit of A (E_k * Omega / (o * G), folded in)
    sigma, x0, y0 = 1.4, 0.23, -0.31
    sums = _window_sums(_pixel_integrated_star(k_true * a_pool * dn_per_a, sigma, x0, y0), HALF_WIDTHS_PX)
    a_raw = sums / dn_per_a  # ICD 1.3 with EE = 1
    ee = _encircled_energy(sigma, x0, y0, HALF_WIDTHS_PX)
    ratio = ratio_to_prediction(a_raw, ee, a_pool)
    assert ratio.shape == (len(HALF_WIDTHS_PX),)
    np.testing.assert_allclose(ratio, k_true, rtol=1e-9)
    # a star that behaves as predicted reads 1, whatever the share of its light in the window
    assert ee[0] < 0.9 and ee[-1] > 0.999
    np.testing.assert_allclose(ratio_to_prediction(a_raw / k_true, ee, a_pool), 1.0, rtol=1e-9)


def test_pinned_values_elementwise() -> None:
    # by hand: 2.0 / (0.8 * 2.5) = 1.0; 1.5 / (0.5 * 2.0) = 1.5; 3.0 / (1.0 * 4.0) = 0.75
    out = ratio_to_prediction([2.0, 1.5, 3.0], [0.8, 0.5, 1.0], [2.5, 2.0, 4.0])
    np.testing.assert_allclose(out, [1.0, 1.5, 0.75], rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "a_window, ee, a_pool",
    [
        (2.0, 0.0, 2.5),  # EE 0: no light predicted in the window
        (2.0, -0.1, 2.5),  # a negative EE predicts nothing
        (2.0, np.nan, 2.5),  # EE unknown
        (2.0, np.inf, 2.5),
        (2.0, 0.8, 0.0),  # A_pool 0: no prediction
        (2.0, 0.8, np.nan),  # not in a starpool result
        (np.nan, 0.8, 2.5),  # the window has no value
    ],
)
def test_no_prediction_is_nan(a_window: float, ee: float, a_pool: float) -> None:
    assert np.isnan(ratio_to_prediction(a_window, ee, a_pool))


def test_broadcasts_a_starpool_value_over_windows_and_keeps_the_shape() -> None:
    a = np.array([[1.0, 2.0], [3.0, np.nan]])
    ee = np.array([0.5, 1.0])
    out = ratio_to_prediction(a, ee, 2.0)
    assert out.shape == (2, 2) and out.dtype == np.float64
    np.testing.assert_allclose(out[0], [1.0, 1.0])
    assert out[1, 0] == pytest.approx(3.0) and np.isnan(out[1, 1])  # 3 / (0.5 * 2)


# --------------------------------------------------------------------------- robust summary and outliers


def test_robust_spread_recovers_the_scatter_and_ignores_a_few_outliers() -> None:
    """Truth: 2000 ratios drawn from N(0.98, 0.01) plus 5 % of stars at 0.6 (variable or blended).
    The median and 1.4826 MAD must find the Gaussian's centre and sigma (within sampling error);
    a mean / standard deviation would be pulled to ~0.96 and ~0.08 by the 5 %."""
    rng = np.random.default_rng(3)
    good = rng.normal(0.98, 0.01, 2000)
    values = np.concatenate([good, np.full(100, 0.6), [np.nan]])
    centre, spread = robust_centre_spread(values)
    assert centre == pytest.approx(0.98, abs=0.002)
    assert spread == pytest.approx(0.01, rel=0.1)
    mask = outlier_mask(values, centre, spread)
    assert mask[2000:2100].all()  # every faint star named
    assert mask[:2000].sum() <= 2  # 4 sigma: ~0.006 % of a normal sample, plus the inflated spread
    assert not mask[-1]  # NaN is not an outlier


def test_spread_floor_and_empty_input() -> None:
    values = np.array([1.0, 1.0, 1.0, 1.0, 1.005])  # MAD 0: the floor (0.2 %) decides
    centre, spread = robust_centre_spread(values)
    assert (centre, spread) == (1.0, 0.0)
    assert not outlier_mask(values, centre, spread).any()  # 0.5 % < 4 x 0.2 %
    assert outlier_mask([1.0, 1.02], centre, spread).tolist() == [False, True]
    c, s = robust_centre_spread([np.nan])
    assert np.isnan(c) and np.isnan(s)
    assert not outlier_mask([1.0], c, s).any()
