"""The GLOD oversampling axis (rows or columns) and offset-less files in the disk integration.

JMA's MTSAT-2 Imager GLOD files stretch the Moon 1.75 times along the COLUMNS (the east-west
scan), EUMETSAT's SEVIRI files not at all, and ICD 1.2's OVERSAMP stretches rows: the
integration must find the axis. Truth: the analytic disk written into the image (sub-pixel area
fractions from a fine grid), not the photometry's model."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.science.lunar_comparison import integrate_imagette

OFFSET_DN = 50.0
RADIUS_PX = 60.0  # native pixels
OVERSAMPLING = 1.75


def _stretched_disk(axis: str, seed: int = 3, noise_dn: float = 2.0) -> tuple[np.ndarray, float]:
    """A uniform 300-DN disk stretched along ``axis``, the offset, a sky gradient-free noise field."""
    rows, cols = 320, 420
    sub = 4  # sub-pixel sampling of the disk edge
    yy, xx = np.mgrid[0:rows * sub, 0:cols * sub]
    y = (yy + 0.5) / sub - rows / 2.0
    x = (xx + 0.5) / sub - cols / 2.0
    if axis == "columns":
        x = x / OVERSAMPLING
    else:
        y = y / OVERSAMPLING
    inside = (x**2 + y**2 <= RADIUS_PX**2).astype(np.float64)
    frac = inside.reshape(rows, sub, cols, sub).mean(axis=(1, 3))
    signal = 300.0 * frac
    noise = np.random.default_rng(seed).normal(0.0, noise_dn, (rows, cols))
    return OFFSET_DN + signal + noise, float(signal.sum())


@pytest.mark.parametrize("axis", ["rows", "columns"])
def test_oversampled_axis_is_found_and_the_disk_integrated(axis: str) -> None:
    img, truth = _stretched_disk(axis)
    disk = integrate_imagette(img, OFFSET_DN, OVERSAMPLING, pixel_solid_angle_sr=7.84e-10,
                              expected_radius_px=RADIUS_PX)
    assert disk.oversampling_axis == axis
    assert disk.photometry.disk_radius_px == pytest.approx(RADIUS_PX, rel=0.03)
    assert disk.dc_integrated / truth - 1.0 == pytest.approx(0.0, abs=0.003)


def test_without_offset_the_fitted_sky_is_the_offset() -> None:
    img, truth = _stretched_disk("rows")
    disk = integrate_imagette(img, None, OVERSAMPLING, expected_radius_px=RADIUS_PX)
    assert disk.residual_sky_dn == pytest.approx(OFFSET_DN, abs=0.2)
    assert disk.dc_integrated / truth - 1.0 == pytest.approx(0.0, abs=0.003)


def test_integer_counts_have_a_quantisation_noise_floor() -> None:
    img, truth = _stretched_disk("rows", noise_dn=0.0)
    disk = integrate_imagette(np.round(img), OFFSET_DN, OVERSAMPLING, expected_radius_px=RADIUS_PX)
    assert disk.photometry.uncertainty.noise == 0.0  # a constant integer sky: its variance alone says 0
    assert disk.dc_integrated / truth - 1.0 == pytest.approx(0.0, abs=0.003)
    floor = np.sqrt(disk.n_pixels / 12.0) / disk.dc_sky_subtracted
    assert disk.rel_sigma >= floor > 0.0
