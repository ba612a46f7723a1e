"""The Cramér-Rao bound on a star's signal, and the starpool PSF fit reaching it (issue 4).

The bound is checked in its two textbook limits (shot noise; background noise over the
noise-equivalent area). Then the joint PSF fit of the pipeline (``fit_starpool_psf``, which gives
the reported per-star signals) is run on simulated starpools: its signal errors and its own
uncertainties must both match the bound, i.e. no unbiased estimator could do better and the
uncertainties are honest. This is the limit behind the MS per-starpool scatter of ~0.3 %
(benchmarks/star_precision.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.science.crlb import star_signal_crlb_dn
from monitor.science.instrument import nominal_psf_params
from monitor.science.mtf_fit import fit_starpool_psf
from monitor.science.psf_renderer import render_star
from monitor.simulate.star import default_psf_params, default_vignette_shape, simulate_star_vignette


def test_shot_noise_limit() -> None:
    """No background, negligible read noise: sd(S) = sqrt(S / g) for the light in the vignette."""
    psf = default_psf_params("PHR", "B3")
    shape = (64, 64)
    center = (31.3, 32.6)
    signal, gain = 1e5, 5.0
    in_vignette = float(render_star(shape, center, psf, 1.0, 1.0).sum())
    sd = star_signal_crlb_dn(shape, center, psf, 1.0, signal, 0.0, gain, 1e-3)
    assert sd == pytest.approx(math.sqrt(signal / (gain * in_vignette)), rel=0.01)


def test_background_limit_is_noise_equivalent_area() -> None:
    """Faint star on a bright background: var(S) = sigma_pix^2 / sum(p^2) (King 1983), a little
    more for the position and the background plane estimated with it."""
    psf = default_psf_params("PHR", "P")
    shape = (64, 64)
    center = (31.7, 32.2)
    background, gain, read = 400.0, 4.0, 2.0
    p = render_star(shape, center, psf, 1.0, 1.0)
    sigma_pix2 = background / gain + read**2
    nea = 1.0 / float((p**2).sum())
    sd = star_signal_crlb_dn(shape, center, psf, 1.0, 50.0, background, gain, read)
    assert 1.0 <= sd / math.sqrt(sigma_pix2 * nea) <= 1.05


@pytest.mark.slow
@pytest.mark.parametrize(("band", "scale_dn", "seed"), [("P", 12000.0, 5), ("B3", 3200.0, 6)])
def test_joint_psf_fit_reaches_the_bound(band: str, scale_dn: float, seed: int) -> None:
    """4 starpools x 25 stars (V 2 to 5.5, OVERSAMP 1-4, GAINFACT 4): the fitted signals scatter
    about the truth as the bound says (std of error / bound = 1: at most 1.25 with 100 stars),
    without bias, and their own 1-sigma equals the bound within 10 %."""
    rng = np.random.default_rng(seed)
    truth = default_psf_params("PHR", band)
    gain, read, dark, background = 5.0, 1.5, 40.0, 3.0
    z, own = [], []
    for _ in range(4):
        vignettes, oversamps, guesses, bounds, signals = [], [], [], [], []
        for _ in range(25):
            o = float(rng.integers(1, 5))
            shape = default_vignette_shape("PHR", band, o)
            signal = scale_dn * 10 ** (-0.4 * (rng.uniform(2.0, 5.5) - 2.0)) * o
            center = ((shape[1] - 1) / 2 + rng.uniform(-1.5, 1.5), (shape[0] - 1) / 2 + rng.uniform(-1.5, 1.5) * o)
            img = simulate_star_vignette(rng, total_signal_dn=signal, shape=shape, center_xy=center, oversamp=o,
                                         psf=truth, dark_dn=dark, gain_e_per_dn=gain, read_noise_dn=read,
                                         background_dn=background)
            vignettes.append(img - dark)
            oversamps.append(o)
            guesses.append((center[0] + rng.normal(0.0, 0.3), center[1] + rng.normal(0.0, 0.3)))
            bounds.append(star_signal_crlb_dn(shape, center, truth, o, signal, background, gain, read))
            signals.append(signal)
        fit = fit_starpool_psf(vignettes, oversamps, nominal_psf_params("PHR", band), read_noise_dn=read,
                               gain_e_per_dn=gain, centers_xy=np.array(guesses))
        s, b = np.array(signals), np.array(bounds)
        z.extend((fit.fluxes_dn - s) / b)
        own.extend(fit.fluxes_sigma_dn / b)
    z_arr = np.array(z)
    assert 0.75 <= float(np.std(z_arr)) <= 1.25, np.std(z_arr)
    assert abs(float(np.mean(z_arr))) <= 0.35, np.mean(z_arr)  # 3.5 sigma of the mean of 100
    assert 0.95 <= float(np.median(own)) <= 1.10, np.median(own)
