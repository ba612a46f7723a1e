"""Tests of the physical PSF/OTF model, renderer and encircled energies (monitor.science.psf)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from monitor.science.psf import (
    PsfParameterError,
    PsfParams,
    annular_diffraction_mtf,
    encircled_energy_square,
    encircled_energy_square_mean,
    mtf_across,
    mtf_along,
    mtf_nyquist,
    otf,
    render_star,
    window_rows,
)

HALF_WIDTHS = [2, 3, 5, 8, 12, 20]
# A PHR-PAN-like PSF (lambda N = 1 px, eps = 0.3, 55 % band), used for the pinned numbers.
PAN = PsfParams(
    lambda_n_px=1.0,
    obscuration=0.3,
    bandwidth=0.5,
    sigma_along_px=0.35,
    sigma_across_px=0.3,
    diffusion_px=0.1,
    smear_along_px=0.25,
)
MS = PsfParams(lambda_n_px=0.25, obscuration=0.3, bandwidth=0.12, sigma_along_px=0.4, sigma_across_px=0.37)


def test_annular_mtf_matches_numerical_pupil_autocorrelation() -> None:
    n, radius, eps = 512, 64, 0.3
    y, x = np.mgrid[-n // 2 : n // 2, -n // 2 : n // 2]
    r = np.hypot(x, y) / radius
    pupil = ((r <= 1.0) & (r >= eps)).astype(float)
    spec = np.fft.fft2(pupil)
    acorr = np.fft.ifft2(np.abs(spec) ** 2).real
    acorr /= acorr[0, 0]
    shifts = np.arange(0, 2 * radius + 1, 4)
    np.testing.assert_allclose(annular_diffraction_mtf(shifts / (2.0 * radius), eps), acorr[0, shifts], atol=2e-3)


def test_annular_mtf_limits() -> None:
    nu = np.linspace(0.0, 1.2, 13)
    clear = (2 / np.pi) * (np.arccos(np.minimum(nu, 1)) - np.minimum(nu, 1) * np.sqrt(1 - np.minimum(nu, 1) ** 2))
    np.testing.assert_allclose(annular_diffraction_mtf(nu, 0.0), clear, atol=1e-15)
    assert annular_diffraction_mtf(0.0, 0.4) == pytest.approx(1.0)
    assert annular_diffraction_mtf(1.0, 0.4) == 0.0
    # Pinned (computed with this implementation, checked against the autocorrelation test).
    np.testing.assert_allclose(
        annular_diffraction_mtf([0.1, 0.3, 0.5, 0.7, 0.9], 0.3),
        [0.81913299, 0.4877337, 0.33708218, 0.20672572, 0.0410836],
        atol=1e-8,
    )


def test_otf_factors_and_pinned_nyquist() -> None:
    assert otf(0.0, 0.0, PAN) == pytest.approx(1.0)
    f = np.linspace(0, 1, 11)
    np.testing.assert_allclose(mtf_along(f, PAN), np.abs(otf(0.0, f, PAN)))
    np.testing.assert_allclose(mtf_across(f, PAN), np.abs(otf(f, 0.0, PAN)))
    # Pinned regression numbers (this implementation, 2026-11): PAN-like MTF at Nyquist.
    np.testing.assert_allclose(mtf_nyquist(PAN), (0.09926929230367901, 0.11958804474430537), rtol=1e-6)
    # Pure Gaussian + pixel factors when diffraction is negligible.
    g = PsfParams(lambda_n_px=1e-4, sigma_along_px=0.5, sigma_across_px=0.2)
    np.testing.assert_allclose(mtf_along(0.5, g), np.sinc(0.5) * np.exp(-2 * np.pi**2 * 0.25 * 0.25), rtol=1e-3)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lambda_n_px": 0.0},
        {"lambda_n_px": 1.0, "obscuration": 1.0},
        {"lambda_n_px": 1.0, "sigma_along_px": -0.1},
        {"lambda_n_px": 1.0, "n_wavelengths": 0},
    ],
)
def test_invalid_params_raise(kwargs: dict[str, float]) -> None:
    with pytest.raises(PsfParameterError):
        PsfParams(**kwargs)  # type: ignore[arg-type]


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


@pytest.mark.parametrize("oversamp", [1.0, 3.0])
@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.3, -0.4), (-0.5, 0.45)])
def test_ee_per_phase_matches_window_sums(oversamp: float, offset: tuple[float, float]) -> None:
    size = 121
    rows = int(size * oversamp)
    rc, cc = rows // 2, size // 2
    img = render_star((rows, size), (cc + offset[0], rc + offset[1]), PAN, oversamp=oversamp, pad_px=600)
    sums = []
    for h in HALF_WIDTHS:
        n_r, j_lo = window_rows(h, oversamp)
        sums.append(img[rc + j_lo : rc + j_lo + n_r, cc - h : cc + h + 1].sum() / oversamp)
    ee = encircled_energy_square(HALF_WIDTHS, PAN, oversamp, offset)
    np.testing.assert_allclose(ee, sums, atol=5e-6)


def test_ee_mean_is_phase_average() -> None:
    g = np.linspace(-0.5, 0.5, 9)[:-1] + 1 / 16
    offsets = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    per_phase = encircled_energy_square(HALF_WIDTHS, MS, 1.0, offsets)
    assert per_phase.shape == (offsets.shape[0], len(HALF_WIDTHS))
    np.testing.assert_allclose(encircled_energy_square_mean(HALF_WIDTHS, MS), per_phase.mean(axis=0), atol=1e-4)


def test_ee_pan_wings_and_convergence() -> None:
    ee = encircled_energy_square_mean(HALF_WIDTHS, PAN)
    # Pinned regression numbers (this implementation, 2026-11).
    np.testing.assert_allclose(ee, [0.89460603, 0.92285679, 0.95229941, 0.96927505, 0.97913095, 0.98725866], atol=2e-6)
    # notes/star.md §4.3: a 5-px half-width window misses several % of a PAN star.
    assert 0.03 < 1.0 - ee[2] < 0.07
    # r^-3 wings: 1 - EE(h) ~ c/h, so EE -> 1 as h -> infinity.
    far = 1.0 - encircled_energy_square_mean([10, 20, 40], PAN)
    assert np.all(np.diff(far) < 0)
    assert far[2] * 40 == pytest.approx(far[1] * 20, rel=0.15)
    assert far[2] < 0.007


def test_ee_argument_checks() -> None:
    with pytest.raises(PsfParameterError):
        encircled_energy_square([2], PAN, 1.0, (0.7, 0.0))
    with pytest.raises(PsfParameterError):
        encircled_energy_square_mean([-1], PAN)
    with pytest.raises(PsfParameterError):
        render_star((8, 8), (4, 4), PAN, oversamp=0.5)
