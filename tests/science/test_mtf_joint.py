"""Tests of the joint multi-band starpool PSF fit (monitor.science.mtf_joint).

Truth: the independent pupil-FFT PSF (monitor.simulate.pupil_psf: its own pupil, polychromatic
FFT, jitter, smear and renderer; it imports nothing of the estimator), one pupil realisation for all
bands (same obscuration, jitter and smear in native MS px), each band polychromatic over its own
band; noisy vignettes from monitor.simulate.star.simulate_star_vignette.
"""

from __future__ import annotations

import numpy as np
import pytest

from monitor.science.instrument import BAND_CENTRES_UM
from monitor.science.mtf_fit import DEFAULT_FREE, fit_starpool_psf
from monitor.science.mtf_joint import BandStars, fit_starpool_psf_joint, shared_scale
from monitor.simulate import pupil_psf
from monitor.simulate.star import default_psf_params
from tests.science.test_mtf_fit import GAIN_E_PER_DN, READ_NOISE_DN, make_pool


def _truths(bands: tuple[str, ...], jitter_along_px: float, jitter_across_px: float) -> dict[str, object]:
    """One pupil realisation for the bands: the in-family pupil, common jitter (native MS px)."""
    return {
        b: pupil_psf.truth_family("in_family", "PHR", b).replace(
            jitter_along_px=jitter_along_px, jitter_across_px=jitter_across_px
        )
        for b in bands
    }


def _band(vignettes: list[np.ndarray], oversamps: list[float], band: str) -> BandStars:
    return BandStars(
        vignettes,
        oversamps,
        default_psf_params("PHR", band),
        1000.0 * BAND_CENTRES_UM[("PHR", band)][0],
        READ_NOISE_DN,
        GAIN_E_PER_DN,
    )


def test_one_band_joint_fit_is_the_single_band_fit_whatever_its_wavelength() -> None:
    """With one band the joint fit is the single-band fit reparametrised (the wave-front depth at
    650 nm instead of the band's, a_b = a_ref (650/lambda_b)^2): the MTF at Nyquist, its sigma and the
    model-choice term must agree to rounding for B0 (scale 1.76). Catches a wrong chain-rule factor of
    the scaled shared parameters (Jacobian or covariance), a wrong mapping of the star columns or of
    the band's dof share; cannot catch errors that only appear with several bands."""
    truth = _truths(("B0",), 0.40, 0.37)["B0"]
    vignettes, oversamps, _, _ = make_pool(np.random.default_rng(71), truth, "B0", n_stars=6, signal_scale_dn=5e5)  # type: ignore[arg-type]
    start = default_psf_params("PHR", "B0").replace(aberration_along=0.02, aberration_across=0.02)
    single = fit_starpool_psf(vignettes, oversamps, start, read_noise_dn=READ_NOISE_DN, gain_e_per_dn=GAIN_E_PER_DN)
    band = _band(vignettes, oversamps, "B0")
    joint = fit_starpool_psf_joint({"B0": BandStars(**{**band.__dict__, "initial_params": start})})
    fit = joint.bands["B0"]
    assert shared_scale("aberration_along", band.wavelength_nm) == pytest.approx((650.0 / 490.0) ** 2)
    for name in ("mtf_nyquist_along", "mtf_nyquist_across"):
        assert getattr(fit, name) == pytest.approx(getattr(single, name), abs=2e-5)
        assert getattr(fit, f"{name}_sigma") == pytest.approx(getattr(single, f"{name}_sigma"), rel=0.02)
        assert getattr(fit, f"{name}_model_sigma") == pytest.approx(
            getattr(single, f"{name}_model_sigma"), rel=0.05, abs=2e-5
        )
    assert fit.dof == single.dof
    assert fit.chi2 == pytest.approx(single.chi2, rel=1e-4)


def test_joint_fit_recovers_each_band_and_a_sparse_band_gains_from_the_others() -> None:
    """Three MS bands of one pupil truth: B0 and B2 with 10 stars each, B3 with only 4 faint ones
    (V 4.5-5.5). The joint fit's MTF at Nyquist of every band lies within 3 of its honest sigma
    (statistical and model-choice term) + 0.001 of the pupil truth's, and the sparse band's sigma is
    below its own single-band fit's: below 0.95 of it with the default sharing (smear and wave-front
    error shared, the blur per band; measured 0.77/0.88 along/across), below 0.5 with the blur shared
    too (measured 0.15/0.13): the shared parameters are measured by the bright bands. Fails if the
    shared parameters were not shared (B3's sigma would stay its own, ratio 1), or if a band's local
    parameters were mapped or scaled wrongly (biased bands). Cannot catch a wrong physical assumption
    on what is shared (the truth shares what the fit shares: one jitter, smear and pupil) nor the
    out-of-family model error (benchmarks/mtf.py --joint measures it)."""
    bands = ("B0", "B2", "B3")
    truths = _truths(bands, 0.42, 0.35)
    rng = np.random.default_rng(2027)
    data = {}
    for b, n, scale in (("B0", 10, 5e5), ("B2", 10, 5e5), ("B3", 4, 5e5 * 10 ** (-0.4 * 2.5))):
        vignettes, oversamps, _, _ = make_pool(rng, truths[b], b, n_stars=n, signal_scale_dn=scale)  # type: ignore[arg-type]
        data[b] = (vignettes, oversamps)
    stars = {b: _band(*data[b], b) for b in bands}
    joint = fit_starpool_psf_joint(stars)
    for b in bands:
        fit = joint.bands[b]
        t_along, t_across = pupil_psf.mtf_nyquist(truths[b])  # type: ignore[arg-type]
        s_along = np.hypot(fit.mtf_nyquist_along_sigma, fit.mtf_nyquist_along_model_sigma)
        s_across = np.hypot(fit.mtf_nyquist_across_sigma, fit.mtf_nyquist_across_model_sigma)
        assert abs(fit.mtf_nyquist_along - t_along) < 0.001 + 3 * s_along, (b, fit.mtf_nyquist_along, t_along)
        assert abs(fit.mtf_nyquist_across - t_across) < 0.001 + 3 * s_across, (b, fit.mtf_nyquist_across, t_across)
        assert not fit.misfit.flagged, (b, fit.misfit)
    single = fit_starpool_psf(
        *data["B3"], default_psf_params("PHR", "B3"), read_noise_dn=READ_NOISE_DN, gain_e_per_dn=GAIN_E_PER_DN
    )
    sparse = joint.bands["B3"]
    assert sparse.mtf_nyquist_along_sigma < 0.95 * single.mtf_nyquist_along_sigma
    assert sparse.mtf_nyquist_across_sigma < 0.95 * single.mtf_nyquist_across_sigma
    assert joint.wavefront_rms_nm("along") >= 0.0
    all_shared = fit_starpool_psf_joint(stars, shared=DEFAULT_FREE, per_band=()).bands["B3"]
    assert all_shared.mtf_nyquist_along_sigma < 0.5 * single.mtf_nyquist_along_sigma
    assert all_shared.mtf_nyquist_across_sigma < 0.5 * single.mtf_nyquist_across_sigma


def test_errors() -> None:
    """Argument checks: no band, a parameter both shared and per band, an empty band."""
    with pytest.raises(ValueError):
        fit_starpool_psf_joint({})
    band = _band([np.zeros((32, 32))], [1.0], "B2")
    with pytest.raises(ValueError):
        fit_starpool_psf_joint({"B2": band}, shared=("smear_along_px",), per_band=("smear_along_px",))
    with pytest.raises(ValueError):
        fit_starpool_psf_joint({"B2": BandStars([], [], band.initial_params, 655.0, 5.0, 2.0)})
