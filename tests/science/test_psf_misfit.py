"""Misfit detection of the starpool PSF fit and the choice of the reported MTF (parametric or ePSF).

Truths: the simulator (in-family: drawn with the estimator's own PSF model and renderer) for the
false-alarm side, and the out-of-family separable truth of ``oof_truth.py`` (Gaussian core + halo
+ Moffat spikes + 0.8-px along-track box smear, rendered by plain numpy on fine 1-D grids, never
by the estimator's renderer) for the detection side and for the accuracy of the reported ePSF.
What these tests can catch: a misfit test that never fires or fires on a right model, an ePSF
normalised by model fluxes or registered on model centres (pixel-phase error), a bootstrap sigma
that is zero or absurd, a selection that reports the parametric value of a misfitting model.
What they cannot catch: errors specific to a real pupil's diffraction (rings, spiders,
polychromatic blur), covered by the pupil-FFT truth of monitor/simulate/pupil_psf.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from monitor.science.ee_correction import effective_encircled_energy
from monitor.science.epsf import epsf_mtf
from monitor.science.mtf_fit import fit_starpool_psf
from monitor.science.mtf_nonparametric import nonparametric_mtf
from monitor.science.mtf_select import select_mtf
from monitor.science.photometry import measure_star, vignette_header
from monitor.simulate.star import default_psf_params

sys.path.insert(0, str(Path(__file__).parent))
from oof_truth import SeparableTruth, TruthRenderer, make_truth_pool  # noqa: E402
from test_mtf_fit import GAIN_E_PER_DN, READ_NOISE_DN, make_pool  # noqa: E402


def window_signals(vignettes, oversamps, fit, h: int = 20) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The data's own star signals: largest window's sum (production photometry) over its effective EE."""
    out = []
    for k, (img, o) in enumerate(zip(vignettes, oversamps, strict=True)):
        cx, cy = fit.centers_xy[k]
        header = vignette_header(img.shape, (cx, cy), o, band="P")
        phot = measure_star(img, header, [h], guess_xy=(cx, cy), gain_e_per_dn=GAIN_E_PER_DN)
        ee = effective_encircled_energy(fit.params, img.shape, (float(cx), float(cy)), o, [h])
        out.append(phot.sums_dn[0] / ee[0])
    return np.asarray(out)


def _report(vignettes, oversamps, fit, band: str = "P", *, h: int = 20, parametric_model_sigma=(0.0, 0.0)):  # type: ignore[no-untyped-def]
    ep = nonparametric_mtf(
        vignettes,
        oversamps,
        fit,
        fluxes_dn=window_signals(vignettes, oversamps, fit, h=h),
        half_width_px=8 if band == "P" else 6,
        moment_half_width_px=6 if band == "P" else 4,
    )
    sel = select_mtf(
        (fit.mtf_nyquist_along, fit.mtf_nyquist_across),
        (fit.mtf_nyquist_along_sigma, fit.mtf_nyquist_across_sigma),
        ep,
        fit.misfit.flagged,
        parametric_model_sigma=parametric_model_sigma,
    )
    return ep, sel


@pytest.mark.parametrize(("band", "seed"), [("P", 31), ("B2", 32)])
def test_in_family_pool_is_not_flagged_and_reports_the_parametric_fit(band: str, seed: int) -> None:
    """A right model passes both tests (chi2 at 1e-3, structure at a nominal 1e-2) and is reported, its
    sigma grown only by the model-choice term (0 when the ePSF agrees within the noise)."""
    rng = np.random.default_rng(seed)
    truth = default_psf_params("PHR", band)
    vignettes, oversamps, _, _ = make_pool(rng, truth, band, signal_scale_dn=1e6 if band == "P" else 5e5)
    fit = fit_starpool_psf(vignettes, oversamps, truth, read_noise_dn=READ_NOISE_DN, gain_e_per_dn=GAIN_E_PER_DN)
    m = fit.misfit
    assert not m.flagged, m
    assert m.structure_p > m.structure_alpha and m.chi2_p > m.alpha
    assert 100 <= m.structure_cells <= 144
    if band == "P":
        ep, sel = _report(vignettes, oversamps, fit)
        assert sel.method == "parametric", sel
        assert sel.mtf_nyquist_along_sigma >= fit.mtf_nyquist_along_sigma
        assert 0.0 < ep.mtf_nyquist_along_sigma < 0.01 and 0.0 < ep.mtf_nyquist_across_sigma < 0.01


@pytest.mark.parametrize(("band", "seeds"), [("P", (61, 62, 63)), ("B2", (64, 65, 66))])
def test_pupil_truth_reported_sigma_is_the_fits_without_epsf_noise(band: str, seeds: tuple[int, ...]) -> None:
    """Issue 15's recipe of the reported sigma, on the independent pupil-FFT truth (in_family: the
    estimator's design, rendered by monitor.simulate.pupil_psf's own code path; its MTF from that
    renderer). A right model passes its misfit tests and is reported with the fit's statistical
    sigma and its own model-choice term only: the ePSF disagreement (whose noise is the ePSF's,
    3-10 x the fit's) is recorded, not added. Tolerances: every pull below 3.5, and the rms of the
    6 pulls per band between 0.35 and 1.8 (the benchmark measured 0.72-1.06 over 24 pools; the
    bounds are the 99 % chi-square range for 6 values, widened for the fit's own sigma excess).
    The ePSF's own sigma is at least its bootstrap and at most the bootstrap with the whole choice
    differences (their noise removed), and the ePSF lies within 3 sigma + 0.001 of the truth.
    Catches: the ePSF noise added back into the parametric sigma (it doubles the in-family sigma),
    a zero or absurd sigma, the choice terms counted with their noise or not at all. Cannot catch:
    a mis-scaled model-choice term on out-of-family truths (benchmarks/mtf.py pulls)."""
    from monitor.simulate import pupil_psf

    truth = pupil_psf.truth_family("in_family", "PHR", band)
    t = pupil_psf.mtf_nyquist(truth)
    pulls = []
    for seed in seeds:
        vignettes, oversamps, _, _ = make_pool(
            np.random.default_rng(seed),
            truth,
            band,
            signal_scale_dn=1e6 if band == "P" else 5e5,  # type: ignore[arg-type]
        )
        start = default_psf_params("PHR", band)
        fit = fit_starpool_psf(vignettes, oversamps, start, read_noise_dn=READ_NOISE_DN, gain_e_per_dn=GAIN_E_PER_DN)
        assert not fit.misfit.flagged, fit.misfit
        ep, sel = _report(
            vignettes,
            oversamps,
            fit,
            band,
            h=20 if band == "P" else 12,
            parametric_model_sigma=(fit.mtf_nyquist_along_model_sigma, fit.mtf_nyquist_across_model_sigma),
        )
        assert sel.method == "parametric", sel
        terms = ep.nyquist_sigma_terms
        assert terms is not None
        for j, d in enumerate(("along", "across")):
            fit_sigma = np.hypot(getattr(fit, f"mtf_nyquist_{d}_sigma"), getattr(fit, f"mtf_nyquist_{d}_model_sigma"))
            assert getattr(sel, f"mtf_nyquist_{d}_sigma") == pytest.approx(fit_sigma)
            pulls.append((getattr(sel, f"mtf_nyquist_{d}") - t[j]) / fit_sigma)
            s_e, boot = getattr(ep, f"mtf_nyquist_{d}_sigma"), terms["bootstrap"][j]
            choices = ("moment_window", "fit_centres", "interpolation", "spike_noise")
            whole = np.sqrt(boot**2 + sum(terms.get(k, (0.0, 0.0))[j] ** 2 for k in choices))
            assert boot <= s_e <= whole + 1e-12
            assert abs(getattr(ep, f"mtf_nyquist_{d}") - t[j]) < 0.001 + 3 * s_e
    p = np.asarray(pulls)
    assert np.all(np.abs(p) < 3.5), p
    assert 0.35 < np.sqrt(np.mean(p**2)) < 1.8, p


def test_out_of_family_pool_is_flagged_and_the_epsf_is_reported_within_its_sigma() -> None:
    """Core + halo + spikes + 0.8-px smear: the parametric MTF at Nyquist is off by ~0.01-0.03
    across with a sigma of ~0.001; the misfit tests fire (chi2/dof ~100, structure ~1e4 on 144
    cells), the ePSF (moment centres, data-normalised) is reported and lies within 0.004 + 3
    bootstrap sigma of the truth (the truth's MTF from its own fine-grid Fourier transform)."""
    truth = TruthRenderer(SeparableTruth())
    along = float(truth.mtf(np.array([0.5]), "along")[0])
    across = float(truth.mtf(np.array([0.5]), "across")[0])
    rng = np.random.default_rng(41)
    vignettes, oversamps, _, _ = make_truth_pool(rng, truth, read_noise_dn=READ_NOISE_DN, gain_e_per_dn=GAIN_E_PER_DN)
    fit = fit_starpool_psf(
        vignettes, oversamps, default_psf_params("PHR", "P"), read_noise_dn=READ_NOISE_DN, gain_e_per_dn=GAIN_E_PER_DN
    )
    assert fit.misfit.flagged and fit.misfit.structure_p < 1e-6
    assert abs(fit.mtf_nyquist_across - across) > 5 * fit.mtf_nyquist_across_sigma  # the model is wrong
    ep, sel = _report(vignettes, oversamps, fit)
    assert sel.method == "epsf"
    assert sel.mtf_nyquist_along == ep.mtf_nyquist_along
    assert abs(ep.mtf_nyquist_along - along) < 0.004 + 3 * ep.mtf_nyquist_along_sigma
    assert abs(ep.mtf_nyquist_across - across) < 0.004 + 3 * ep.mtf_nyquist_across_sigma
    assert 1e-4 < ep.mtf_nyquist_across_sigma < 0.006
    # the parametric fit's own centres carry a pixel-phase error that the ePSF cannot remove
    naive = epsf_mtf(vignettes, oversamps, fit.centers_xy, fluxes_dn=fit.fluxes_dn, backgrounds_dn=fit.backgrounds_dn)
    assert abs(naive.mtf_nyquist_across - across) > abs(ep.mtf_nyquist_across - across)


def test_curve_of_growth_signals_hold_on_the_out_of_family_truth() -> None:
    """A_k's star signal from the data: the separable truth has no diffraction wing (nothing
    beyond ~8 px), the fitted model puts ~1.5 % of the light beyond 20 px. The PSF-fit signal
    and the model-EE-corrected windows are then biased by ~1-10 % and disagree between windows;
    the curve of growth scales the model's wing by the data's light between 12 and 20 px, so
    the signals are within 0.2 % (+ 2 sigma of the common tail term) of the truth and the
    windows 3 and 12 agree to 0.1 %. It catches a flux taken from the model's wings and a
    window-dependent EE; it cannot test the r^-3 wing of a real pupil (pupil truth benchmark)."""
    from monitor.science.ee_correction import curve_of_growth_ee

    truth = TruthRenderer(SeparableTruth())
    rng = np.random.default_rng(43)
    vignettes, oversamps, _, signals = make_truth_pool(
        rng, truth, read_noise_dn=READ_NOISE_DN, gain_e_per_dn=GAIN_E_PER_DN
    )
    fit = fit_starpool_psf(
        vignettes, oversamps, default_psf_params("PHR", "P"), read_noise_dn=READ_NOISE_DN, gain_e_per_dn=GAIN_E_PER_DN
    )
    windows = [3, 5, 8, 12, 20]
    sums, sigmas, ee = [], [], []
    for k, (img, o) in enumerate(zip(vignettes, oversamps, strict=True)):
        cx, cy = (float(v) for v in fit.centers_xy[k])
        header = vignette_header(img.shape, (cx, cy), o, band="P")
        phot = measure_star(img, header, windows, guess_xy=(cx, cy), gain_e_per_dn=GAIN_E_PER_DN)
        sums.append(phot.sums_dn)
        sigmas.append(phot.sigmas_dn)
        ee.append(effective_encircled_energy(fit.params, img.shape, (cx, cy), o, windows))
    s, ss, e = np.asarray(sums), np.asarray(sigmas), np.asarray(ee)
    model_only = s / e / signals[:, None] - 1.0
    assert abs(np.mean(fit.fluxes_dn / signals) - 1.0) > 0.01  # the model's wings: biased
    assert abs(np.mean(model_only[:, 0] - model_only[:, 3])) > 0.005  # windows 3 and 12 disagree
    cog = curve_of_growth_ee(s, ss, e, windows)
    assert cog.tail < 0.5 * cog.tail_model  # the data scaled the model's wing down
    rel = s / cog.ee / signals[:, None] - 1.0
    assert abs(np.mean(rel[:, -1])) < 0.002 + 2 * cog.tail_sigma
    assert abs(np.mean(rel[:, 0] - rel[:, 3])) < 0.001
    assert np.all(cog.rel_sigma > 0.0)


def test_structure_test_gathers_a_radial_ring_and_keeps_its_false_alarm_rate() -> None:
    """A radially symmetric residual (the ring a defocus leaves under the parametric model: the
    benchmark's defocus-B2 pools, noise-free residual structure ~50 on the 144-cell grid, ~45 on 12
    annuli) is flagged by the radial stack of the structure test: a 0.1-sigma ring (cos of the radius,
    period 2 px, within 3 px) on 20 000 unit-noise pixels is flagged in all of 20 draws (the grid and
    along/across profiles alone: about half), and pure noise stays below the nominal 1e-2 (<= 6 of 300
    draws: 3 expected at exactly 1e-2; the Bonferroni p-value is conservative)."""
    from monitor.science.mtf_misfit import misfit_statistics

    rng = np.random.default_rng(1)
    n = 20000
    dx, dy = rng.uniform(-4.0, 4.0, (2, n))
    rad = np.hypot(dx, dy)
    ring = np.where(rad < 3.0, np.cos(2.0 * np.pi * rad / 2.0), 0.0)
    flagged = [misfit_statistics(rng.normal(size=n) + 0.1 * ring, dx, dy, n).flagged for _ in range(20)]
    assert sum(flagged) == 20
    false_alarms = sum(misfit_statistics(rng.normal(size=n), dx, dy, n).flagged for _ in range(300))
    assert false_alarms <= 6
