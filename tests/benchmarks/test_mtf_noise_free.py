"""benchmarks/mtf.py --noise-free-bias: the pool's expected image and the parametric bias measured on it.

Issue 15's target "misfit flagged in >= 95 % of pools where the parametric bias would exceed 3 sigma"
is measured on the pool's parametric BIAS: the fit (``noise_free_fit``) of the pool's expected image
(``simulate_pool``'s noise-free vignettes: the same truth PSF, stars, centres, signals, backgrounds).

Catches: an expected image that is not the mean of the noisy one (another star position or signal,
the dark or the background plane missing or doubled, the noise drawn around something else), shown by
the normalised residuals ``(noisy - expected) / sqrt(expected / g + r^2)`` of a whole pool, which must
be unit-Gaussian-like (mean 0, standard deviation 1); a noise-free fit that is not the noisy one's
(another nominal PSF, noise model or free set), shown by an in-family pupil pool whose noise-free
error is far below its sigma and whose noise-free chi2 is ~0, and a defocus B2 pool whose error is
above its sigma.
Cannot catch: second-order (noise-induced) biases of the estimator, which the noise-free fit leaves
out by construction; anything about the benchmark's rates (its JSON is where they are judged).
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("mtf")


def _pool(bench: ModuleType, family: str, band: str, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    truth, truth_mtf = bench.pool_truth(rng, family, band)
    return (*bench.simulate_pool(rng, band, truth, 25), truth_mtf)


def test_expected_image_is_the_mean_of_the_noisy_pool(bench: ModuleType) -> None:
    vignettes, oversamps, signals, expected, _ = _pool(bench, "defocus", "B2", 3)
    assert len(expected) == len(vignettes) == len(oversamps) == signals.size == 25
    z = np.concatenate(
        [
            ((v - m) / np.sqrt(m / bench.GAIN_E_PER_DN + bench.READ_NOISE_DN**2)).ravel()
            for v, m in zip(vignettes, expected, strict=True)
        ]
    )
    # ~6e4 pixels: standard error of the mean 0.004, of the standard deviation 0.003
    assert abs(z.mean()) < 0.02
    assert abs(z.std() - 1.0) < 0.03
    # and the star is in it: the expected image's light above its background plane (fitted to the
    # 3-px frame) is ~ S_k (o rows per native px of flux S_k / o; a finite vignette holds a little
    # less: the wings leave it)
    for m, s in zip(expected, signals, strict=True):
        yy, xx = np.mgrid[0 : m.shape[0], 0 : m.shape[1]].astype(float)
        frame = np.ones(m.shape, dtype=bool)
        frame[3:-3, 3:-3] = False
        a = np.column_stack([np.ones(frame.sum()), xx[frame], yy[frame]])
        coef = np.linalg.lstsq(a, m[frame], rcond=None)[0]
        star = m - (coef[0] + coef[1] * xx + coef[2] * yy)
        assert 0.85 * s < star.sum() < 1.02 * s


def test_noise_free_bias_small_in_family_large_for_defocus_b2(bench: ModuleType) -> None:
    from monitor.simulate.star import default_psf_params

    out = {}
    for family in ("in_family", "defocus"):
        _, oversamps, _, expected, truth_mtf = _pool(bench, family, "B2", 5)
        rec = bench.noise_free_fit(expected, oversamps, default_psf_params("PHR", "B2"), truth_mtf)
        # against the fit's statistical sigma: the model-choice term is meant to cover the bias, so the
        # bias itself shows against the noise alone
        out[family] = (np.abs(rec["error"]) / np.asarray(rec["fit_sigma"]), rec["chi2"] / rec["dof"])
    pulls, chi2_dof = out["in_family"]
    assert np.all(pulls < 0.5), pulls  # the estimator's own family (to the pupil truth's accuracy): unbiased
    assert chi2_dof < 1e-3  # and the model reproduces the expected image (noise-free chi2 ~ 0)
    pulls, chi2_dof = out["defocus"]
    # defocus in B2: the parametric model's bias, 3.3/4.6 statistical sigma along/across on average over
    # the benchmark's 16 pools of seed 2026 (5.1/4.9 on this pool; 0.05/0.09 in family). Against the
    # honest sigma (with the model-choice term, i15b's wave-front alternatives) this pool reads 0.96/0.98
    assert np.min(pulls) > 3.0, pulls
    assert chi2_dof > 10 * out["in_family"][1] and math.isfinite(chi2_dof)
