"""Tests of the physical PSF/OTF model (monitor.science.psf)."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.science.psf import (
    PsfParameterError,
    PsfParams,
    annular_diffraction_mtf,
    mtf_across,
    mtf_along,
    mtf_nyquist,
    otf,
    otf_grid,
)
from tests.science.psf_cases import PAN


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


def test_aberration_transfer_function_and_its_derivatives() -> None:
    """Shannon's ATF: no change at 0 depth, a dip of exactly the depth at half the cut-off
    (nu = 0.5) in the direction it acts on only, and analytic derivatives equal to finite
    differences (catches a sign or a direction swap; the ATF's accuracy for real defocus is
    measured on the pupil truth in benchmarks/mtf.py, not here)."""
    base = PsfParams(lambda_n_px=1.0, obscuration=0.3, bandwidth=0.0, sigma_along_px=0.3, sigma_across_px=0.3)
    ab = base.replace(aberration_along=0.1)
    f = np.array([0.5])
    assert otf(f, 0.0, ab)[0] == pytest.approx(otf(f, 0.0, base)[0], rel=1e-12)  # across: untouched
    assert otf(0.0, f, ab)[0] == pytest.approx(0.9 * otf(0.0, f, base)[0], rel=1e-12)  # along at nu = 0.5
    both = base.replace(aberration_along=0.08, aberration_across=0.03, smear_along_px=0.2)
    fx, fy = np.linspace(0.0, 0.9, 7), np.linspace(0.0, 0.9, 6)
    grid, derivs = otf_grid(fx, fy, both, ["aberration_along", "aberration_across"])
    for name, d in zip(["aberration_along", "aberration_across"], derivs, strict=True):
        h = 1e-6
        num = (otf_grid(fx, fy, both.replace(**{name: getattr(both, name) + h}))[0] - grid) / h
        np.testing.assert_allclose(d, num, atol=1e-8)
    with pytest.raises(PsfParameterError):
        base.replace(aberration_across=-0.1)
