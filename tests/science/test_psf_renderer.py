"""Tests of the PSF renderer (monitor.science.psf_renderer)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from monitor.science.encircled_energy import encircled_energy_square, window_rows
from monitor.science.psf import PsfParams
from monitor.science.psf_renderer import render_star
from tests.science.psf_cases import PAN


def test_render_matches_analytic_pixelated_gaussian() -> None:
    sigma = 0.6
    params = PsfParams(lambda_n_px=1e-5, sigma_along_px=sigma, sigma_across_px=sigma)
    img = render_star((21, 21), (10.3, 9.6), params)
    x = np.arange(21)

    def box(c: float) -> np.ndarray:
        return ndtr((x - c + 0.5) / sigma) - ndtr((x - c - 0.5) / sigma)

    np.testing.assert_allclose(img, np.outer(box(9.6), box(10.3)), atol=2e-5)


@pytest.mark.parametrize("oversamp", [1.0, 2.5])
def test_render_flux_scales_with_oversampling(oversamp: float) -> None:
    # Sum over a big vignette = o · total_flux · EE(window), EE from the independent Fourier
    # window formula; the missing fraction is the r^-3 wing outside (~0.2 % at h = 100).
    h = 100
    n_rows, j_lo = window_rows(h, oversamp)
    center = (h + 0.2, -j_lo - 0.3)
    img = render_star((n_rows, 2 * h + 1), center, PAN, oversamp=oversamp, total_flux=7.0, pad_px=1000)
    ee = encircled_energy_square([h], PAN, oversamp, (0.2, -0.3))[0]
    assert img.sum() / (7.0 * oversamp) == pytest.approx(ee, abs=2e-5)
    assert 0.997 < ee < 0.999


def test_render_is_symmetric_and_centred() -> None:
    img = render_star((41 * 4, 41), (20.0, 82.0), PAN, oversamp=4.0)
    np.testing.assert_allclose(img, img[:, ::-1], atol=1e-12)
    rows = img.sum(axis=1)
    assert np.argmax(rows) == 82
    np.testing.assert_allclose(rows[82 - 40 : 82], rows[82 + 40 : 82 : -1], atol=1e-12)


def test_render_wrap_around_is_negligible() -> None:
    a = render_star((64, 64), (31.3, 31.7), PAN)
    b = render_star((64, 64), (31.3, 31.7), PAN, pad_px=1024)
    assert np.abs(a - b).max() < 1e-7 * a.max()
    assert abs(a.sum() - b.sum()) < 1e-4
