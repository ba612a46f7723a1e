"""Tests of the PSF renderer (monitor.science.psf_renderer): images against analytic and independent
Fourier window results, the batch and derivative forms of the renderer object."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from monitor.science.encircled_energy import encircled_energy_square, window_rows
from monitor.science.psf import PsfParameterError, PsfParams
from monitor.science.psf_renderer import PsfRenderer, render_star
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


def test_renderer_batch_equals_one_image_at_a_time() -> None:
    """One renderer, several stars and oversamplings: the same images as render_star per star."""
    renderer = PsfRenderer(PAN, (24.0, 24))
    for oversamp in (1.0, 3.0):
        shape = (int(24 * oversamp), 24)
        centers = [(11.2, 11.9 * oversamp), (12.7, 10.4 * oversamp), (10.0, 13.0 * oversamp)]
        batch = renderer.sample(shape, centers, oversamp)
        assert batch.shape == (3, 1, *shape)
        for k, c in enumerate(centers):
            np.testing.assert_allclose(batch[k, 0], render_star(shape, c, PAN, oversamp), rtol=0, atol=1e-15)
            np.testing.assert_allclose(renderer.render(shape, c, oversamp, 3.0), 3.0 * batch[k, 0], rtol=1e-15)


def test_renderer_derivatives_match_finite_differences() -> None:
    """Analytic image derivatives (PSF parameters, star position) against central differences of
    independently rendered images: catches a wrong derivative formula or a mixed-up order."""
    names = ["sigma_along_px", "sigma_across_px", "diffusion_px", "smear_along_px"]
    shape, oversamp, center = (30, 15), 2.0, (7.3, 14.6)
    renderer = PsfRenderer(PAN, (15.0, 15), derivatives=names)
    got = renderer.sample(shape, [center], oversamp, shift_derivatives=True)[0]
    assert got.shape == (1 + len(names) + 2, *shape)
    base = PsfRenderer(PAN, (15.0, 15))
    step = 1e-5
    peak = got[0].max()
    for j, name in enumerate(names):
        value = getattr(PAN, name)
        up = PsfRenderer(PAN.replace(**{name: value + step}), (15.0, 15)).render(shape, center, oversamp)
        down = PsfRenderer(PAN.replace(**{name: value - step}), (15.0, 15)).render(shape, center, oversamp)
        np.testing.assert_allclose(got[1 + j], (up - down) / (2 * step), atol=1e-6 * peak, err_msg=name)
    for j, shift in enumerate([(step, 0.0), (0.0, step)]):
        up = base.render(shape, (center[0] + shift[0], center[1] + shift[1]), oversamp)
        down = base.render(shape, (center[0] - shift[0], center[1] - shift[1]), oversamp)
        np.testing.assert_allclose(got[1 + len(names) + j], (up - down) / (2 * step), atol=1e-6 * peak)


def test_renderer_refuses_a_vignette_beyond_its_period() -> None:
    renderer = PsfRenderer(PAN, (16.0, 16), pad_px=8.0)
    renderer.sample((48, 24), [(12.0, 24.0)], 2.0)  # 24 x 24 native px: inside the 24-px period
    with pytest.raises(PsfParameterError):
        renderer.sample((48, 25), [(12.0, 24.0)], 2.0)
    with pytest.raises(PsfParameterError):
        PsfRenderer(PAN, (0.0, 16))
