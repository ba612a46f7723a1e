"""Tests of the star-vignette generator (monitor.simulate.star)."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.domain import BANDS_BY_MISSION, Mission
from monitor.science.encircled_energy import encircled_energy_square, window_rows
from monitor.science.psf import PsfParameterError, mtf_nyquist
from monitor.science.psf_renderer import render_star
from monitor.simulate.star import (
    UnknownBandError,
    _render_star,
    _renderer,
    default_psf_params,
    default_vignette_shape,
    plane_excursion_dn,
    simulate_star_vignette,
)


@pytest.mark.parametrize("mission", list(Mission))
def test_default_psfs_are_realistic(mission: Mission) -> None:
    for band in BANDS_BY_MISSION[mission]:
        psf = default_psf_params(mission.value, band)
        along, across = mtf_nyquist(psf)
        if band == "P":
            assert 0.08 <= along <= 0.13 and 0.08 <= across <= 0.13
            assert 0.8 <= psf.lambda_n_px <= 1.1
        else:
            assert 0.18 <= along <= 0.31 and 0.18 <= across <= 0.31
            assert 0.1 <= psf.lambda_n_px <= 0.35


def test_unknown_band_and_shapes() -> None:
    with pytest.raises(UnknownBandError):
        default_psf_params("PHR", "NIR")
    with pytest.raises(UnknownBandError):
        default_psf_params("SPOT", "P")
    assert default_vignette_shape("PHR", "P", 3) == (192, 64)
    assert default_vignette_shape("PNEO", "RE", 2) == (64, 32)
    assert default_vignette_shape("PHR", "B0", 1.5) == (48, 32)
    with pytest.raises(ValueError):
        default_vignette_shape("PHR", "P", 0.5)


def _simulate(rng: np.random.Generator, **overrides: object) -> np.ndarray:
    kwargs: dict[str, object] = {
        "total_signal_dn": 4e5,
        "shape": (128, 64),
        "center_xy": (31.2, 63.7),
        "oversamp": 2.0,
        "psf": default_psf_params("PHR", "P"),
        "dark_dn": 150.0,
        "gain_e_per_dn": 2.0,
        "read_noise_dn": 4.0,
        "background_dn": 30.0,
        "background_slope": (0.2, -0.1),
    }
    kwargs.update(overrides)
    return simulate_star_vignette(rng, **kwargs)  # type: ignore[arg-type]


def test_signal_definition_includes_oversampling() -> None:
    # Noise-free check of the S_k convention: the image sums to S_k over an infinite vignette,
    # i.e. to S_k · EE(window) over the vignette.
    psf = default_psf_params("PHR", "P")
    img = _simulate(
        np.random.default_rng(0),
        read_noise_dn=0.0,
        gain_e_per_dn=1e9,
        background_dn=0.0,
        background_slope=(0.0, 0.0),
        dark_dn=0.0,
    )
    assert img.dtype == np.float32
    truth = render_star((128, 64), (31.2, 63.7), psf, oversamp=2.0, total_flux=2e5)
    np.testing.assert_allclose(img, truth, rtol=1e-5, atol=0.05)
    n_rows, j_lo = window_rows(20, 2.0)
    window = img[64 + j_lo : 64 + j_lo + n_rows, 31 - 20 : 31 + 21].astype(np.float64).sum()
    ee = encircled_energy_square([20], psf, 2.0, (0.2, -0.3))[0]
    assert window == pytest.approx(4e5 * ee, rel=5e-5)  # wrap-around of the 256-px padding


def test_noise_background_and_determinism() -> None:
    a = _simulate(np.random.default_rng(42))
    b = _simulate(np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)
    # Normalised residuals of the whole image: dark + background plane + star, with
    # variance = read^2 + signal/gain (Poisson in electrons, Gaussian read noise).
    star = render_star((128, 64), (31.2, 63.7), default_psf_params("PHR", "P"), oversamp=2.0, total_flux=2e5)
    yy, xx = np.mgrid[0:128, 0:64]
    signal = 30.0 + 0.2 * (xx - 31.5) - 0.1 * (yy - 63.5) + star
    pull = (a.astype(np.float64) - 150.0 - signal) / np.sqrt(16.0 + signal / 2.0)
    assert abs(pull.mean()) < 0.05
    assert pull.var() == pytest.approx(1.0, abs=0.06)
    # Total signal recovered within photon noise.
    net = a.astype(np.float64).sum() - (150.0 + 30.0) * a.size  # plane slope sums to 0
    assert net == pytest.approx(4e5 * 0.985, rel=0.01)


def test_saturation_and_quantisation() -> None:
    img = _simulate(np.random.default_rng(1), saturate_dn=20000.0, quantize=True)
    assert img.max() == 20000.0
    assert np.all(img == np.round(img))
    with pytest.raises(ValueError):
        _simulate(np.random.default_rng(1), gain_e_per_dn=0.0)


@pytest.mark.parametrize(("mission", "band", "oversamp"), [("PHR", "P", 1.0), ("PHR", "B0", 3.0), ("PNEO", "NIR", 2.0)])
def test_memoised_renderer_equals_render_star(mission: str, band: str, oversamp: float) -> None:
    """The simulator's renderer (OTF grid memoised per geometry) gives render_star's values exactly,
    for a first call, a cached call at another position and after a different geometry."""
    psf = default_psf_params(mission, band)
    shape = default_vignette_shape(mission, band, oversamp)
    for center in ((shape[1] / 2 - 0.3, shape[0] / 2 + 1.1), (shape[1] / 2 + 1.4, shape[0] / 2 - 2.6)):
        expected = render_star(shape, center, psf, oversamp=oversamp, total_flux=1.5e5)
        np.testing.assert_array_equal(_render_star(shape, center, psf, oversamp, 1.5e5), expected)
    other = (shape[0] + 8, shape[1])
    np.testing.assert_array_equal(
        _render_star(other, (3.0, 4.0), psf, oversamp, 1.0), render_star(other, (3.0, 4.0), psf, oversamp, 1.0)
    )
    assert _renderer.cache_info().hits >= 1
    with pytest.raises(PsfParameterError):
        _render_star(shape, (1.0, 1.0), psf, 0.5, 1.0)


def test_background_plane_must_stay_non_negative() -> None:
    """A tilted stray-light plane that dips below zero is refused (clipping it biased the photometry
    of the largest windows by up to 0.7 %); lifted by ``plane_excursion_dn`` it is accepted."""
    shape, slope = (128, 64), (0.03, -0.015)
    lift = plane_excursion_dn(slope, shape)
    assert lift == pytest.approx(0.03 * 31.5 + 0.015 * 63.5)
    kw = dict(total_signal_dn=1e4, shape=shape, center_xy=(31.5, 63.5), oversamp=2.0,
              psf=default_psf_params("PHR", "P"), dark_dn=40.0, gain_e_per_dn=10.0, read_noise_dn=1.5,
              background_slope=slope)
    with pytest.raises(ValueError, match="stray light cannot be negative"):
        simulate_star_vignette(np.random.default_rng(0), background_dn=0.9 * lift, **kw)
    img = simulate_star_vignette(np.random.default_rng(0), background_dn=lift, **kw)
    assert img.shape == shape and np.isfinite(img).all()
