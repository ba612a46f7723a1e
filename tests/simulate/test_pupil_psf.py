"""Tests of the independent pupil-based truth PSF (monitor.simulate.pupil_psf, issue 15).

Each test checks the module against an analytic result written here, not against the estimator's
model (monitor.science.psf), except `test_in_family_truth_matches_the_estimator_design`, which
compares two independent codes of the same physics (a pupil FFT against O'Neill's closed form): it
would catch a unit or scale error in either, not an error both share (none of their code is shared).

What these tests can catch: wrong pupil geometry or frequency scale (clear-circle and annulus MTF),
wrong Zernike normalisation or phase scale (Strehl), a lost or doubled factor of the system OTF
(pixel sinc, smear box, J0 micro-vibration, jitter), a renderer that does not put that OTF on the
vignette (shift theorem, OVERSAMP rows, flux normalisation). What they cannot: whether these truth
families are realistic for Pléiades (that is a modelling choice, see the module docstring).
"""

from __future__ import annotations

import ast
import inspect
import math

import numpy as np
import pytest
from scipy.special import erf

from monitor.simulate import pupil_psf as pp

LAMBDA_UM = 0.65


def _mono(n: int = 128, **kw: object) -> pp.PupilTruth:
    return pp.PupilTruth(
        lambda_n_px=1.0, lambda_ref_um=LAMBDA_UM, wavelengths_um=(LAMBDA_UM,), weights=(1.0,), pupil_samples=n, **kw
    )  # type: ignore[arg-type]


def _circle_mtf(nu: np.ndarray) -> np.ndarray:
    """Clear circular pupil, incoherent: (2/pi)(acos x - x sqrt(1 - x^2)), x = f/f_c <= 1 (Goodman 2005 eq. 6-31)."""
    x = np.minimum(np.abs(nu), 1.0)
    return (2.0 / math.pi) * (np.arccos(x) - x * np.sqrt(1.0 - x * x))


def _optics_only(truth: pp.PupilTruth, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
    """System OTF divided by the pixel sinc (the only other factor of a bare optics truth)."""
    return pp.system_otf(truth, fx, fy) / (np.sinc(fx) * np.sinc(fy))


def test_module_does_not_import_the_estimator() -> None:
    tree = ast.parse(inspect.getsource(pp))
    names = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    forbidden = ("psf", "psf_renderer", "mtf_fit", "mtf_joint", "encircled_energy", "ee_correction", "epsf")
    assert not any(n.startswith("monitor.science") and n.rsplit(".", 1)[-1] in forbidden for n in names), names
    assert not any(n.startswith("monitor") for n in names), names  # numpy/scipy only


@pytest.mark.parametrize("direction", [(1.0, 0.0), (0.0, 1.0), (0.6, 0.8)])
def test_clear_circular_pupil_matches_the_analytic_mtf(direction: tuple[float, float]) -> None:
    truth = _mono()
    nu = np.linspace(0.0, 1.2, 49)
    otf = _optics_only(truth, nu * direction[0], nu * direction[1])  # lambda N = 1 px: f = nu
    # 128 pupil samples: the grey-edge pupil is good to ~1e-4 away from nu = 0 (O(1/n) within 6 steps)
    assert np.abs(otf.real - _circle_mtf(nu)).max() < 1.5e-3
    assert np.abs(otf.real - _circle_mtf(nu))[nu > 0.05].max() < 4e-4
    assert np.abs(otf[nu >= 1.0]).max() < 1e-3  # band-limited at the cut-off 1/(lambda N)


def test_annular_pupil_matches_the_overlap_formula() -> None:
    """Annulus autocorrelation by inclusion-exclusion of circle overlaps (O'Neill 1956).

    For an outer radius 1 and inner eps, the overlap of two annuli shifted by 2 nu is
    O(1,1) + O(eps,eps) - 2 O(1,eps). Where the small disc lies inside the big one (nu <= (1-eps)/2)
    O(1, eps) = pi eps^2; where the shift exceeds (1 + eps)/2 it is 0. So
      nu <= min(eps, (1-eps)/2):  MTF = [A(nu) + eps^2 A(nu/eps) - 2 eps^2] / (1 - eps^2)
      nu >= (1 + eps)/2:          MTF = A(nu) / (1 - eps^2)
    with A the clear-circle MTF.
    """
    eps = 0.25
    truth = _mono(obscuration=eps)
    low = np.linspace(0.0, min(eps, (1 - eps) / 2), 12)
    high = np.linspace((1 + eps) / 2, 0.99, 12)
    zero = np.zeros_like(low)
    expected_low = (_circle_mtf(low) + eps**2 * _circle_mtf(low / eps) - 2 * eps**2) / (1 - eps**2)
    expected_high = _circle_mtf(high) / (1 - eps**2)
    assert np.abs(_optics_only(truth, low, zero).real - expected_low).max() < 1.5e-3
    assert np.abs(_optics_only(truth, zero, high).real - expected_high).max() < 5e-4


def test_defocus_strehl_is_exact_and_close_to_marechal() -> None:
    """Defocus W = sqrt(3) sigma (2 rho^2 - 1) on a clear pupil: the on-axis amplitude is
    int_0^1 exp(i a (2u - 1)) du = sin(a)/a with a = 2 pi sqrt(3) sigma, so Strehl = (sin a / a)^2
    exactly; Maréchal's exp(-(2 pi sigma)^2) is its small-sigma approximation.
    """
    sigma = 0.05
    perfect, _ = pp.monochromatic_psf(_mono(), LAMBDA_UM)
    defocused, _ = pp.monochromatic_psf(_mono(defocus_waves=sigma), LAMBDA_UM)
    n = 128
    strehl = defocused[n, n] / perfect[n, n]  # both sum to 1; index (n, n) is the chief ray
    a = 2 * math.pi * math.sqrt(3) * sigma
    assert strehl == pytest.approx((math.sin(a) / a) ** 2, abs=2e-3)
    assert strehl == pytest.approx(math.exp(-((2 * math.pi * sigma) ** 2)), abs=0.01)


def test_aberration_phase_scales_as_one_over_wavelength() -> None:
    """A fixed optical path: 0.05 wave at lambda_ref is 0.025 wave at 2 lambda_ref (Strehl exact formula)."""
    truth = _mono(defocus_waves=0.05)
    perfect, _ = pp.monochromatic_psf(_mono(), 2 * LAMBDA_UM)
    psf, spacing = pp.monochromatic_psf(truth, 2 * LAMBDA_UM)
    a = 2 * math.pi * math.sqrt(3) * 0.025
    assert psf[128, 128] / perfect[128, 128] == pytest.approx((math.sin(a) / a) ** 2, abs=1e-3)
    assert spacing == pytest.approx(1.0)  # lambda N / 2 at twice the reference wavelength


def test_centro_symmetric_pupils_have_a_real_otf_and_coma_does_not() -> None:
    f = np.linspace(-1.0, 1.0, 21)
    fx, fy = np.meshgrid(f, f * 0.7)
    sym = _mono(obscuration=0.4, spider_vanes=4, spider_width=0.02, astig0_waves=0.04, astig45_waves=0.02)
    otf = pp.system_otf(sym, fx, fy)
    assert np.abs(otf.imag).max() < 1e-6
    coma = pp.system_otf(_mono(coma_x_waves=0.05), fx, fy)
    assert np.abs(coma.imag).max() > 1e-3
    # OTF(-f) = conj OTF(f) for any real PSF
    assert np.allclose(pp.system_otf(_mono(coma_x_waves=0.05), -fx, -fy), np.conj(coma), atol=1e-6)


def test_spiders_and_obscuration_remove_their_area_from_the_pupil() -> None:
    """Clear fraction of the unit disc: 1 - eps^2 - vanes (a vane of width w (diameter units) over the
    radius 1 - eps covers 2 w (1 - eps) / pi of the disc area pi: 4 vanes, w = 0.02, eps = 0.4)."""
    truth = _mono(obscuration=0.4, spider_vanes=4, spider_width=0.02)
    amp = np.abs(pp.pupil_function(truth, LAMBDA_UM))
    n = truth.pupil_samples
    area = amp.sum() / (n / 2) ** 2 / math.pi
    expected = 1 - 0.4**2 - 4 * 2 * 0.02 * (1 - 0.4) / math.pi
    assert area == pytest.approx(expected, abs=2e-3)


def test_micro_vibration_factor_is_the_time_average_of_the_shift() -> None:
    """A sinusoidal motion x(t) = a sin(w t) multiplies the OTF by <exp(-2 pi i f x(t))>_t = J0(2 pi a f);
    the average is taken here over one period with 4096 samples (no Bessel function)."""
    a = 0.3
    base = _mono()
    vib = base.replace(vibration_amplitude_px=a)
    f = np.linspace(0.0, 0.9, 10)  # below the pixel-sinc zero at 1 cy/px
    ratio = pp.system_otf(vib, 0.0, f) / pp.system_otf(base, 0.0, f)
    t = np.linspace(0.0, 2 * math.pi, 4096, endpoint=False)
    expected = np.exp(-2j * math.pi * np.outer(f, a * np.sin(t))).mean(axis=1).real
    assert np.allclose(ratio.real, expected, atol=1e-9)
    across = pp.system_otf(vib, f, 0.0) / pp.system_otf(base, f, 0.0)  # along-track motion: no effect across
    assert np.allclose(across, 1.0)


def test_mtf_includes_pixel_box_smear_and_jitter() -> None:
    """The reported MTF (same definition as the system) is the optics times sinc(f) (pixel),
    sinc(s f) (TDI smear, along only) and exp(-2 pi^2 sigma^2 f^2) (jitter)."""
    base = _mono()
    full = base.replace(smear_along_px=1.0, jitter_along_px=0.2, jitter_across_px=0.1)
    optics = _circle_mtf(np.array(0.5))
    along, across = pp.mtf_nyquist(full)
    assert along == pytest.approx(optics * (2 / math.pi) ** 2 * math.exp(-2 * math.pi**2 * 0.04 * 0.25), abs=3e-4)
    assert across == pytest.approx(optics * (2 / math.pi) * math.exp(-2 * math.pi**2 * 0.01 * 0.25), abs=3e-4)


def test_rendered_gaussian_star_equals_pixel_integrals() -> None:
    """Gaussian optics (no diffraction), monochromatic, nothing else: each pixel must hold the
    integral of the Gaussian over its 1 x 1 native-pixel box, rows spaced 1/o px (ICD-1 §1.2)."""
    sigma_lambda_n = 0.6
    truth = _mono(optics="gaussian", gaussian_sigma_lambda_n=sigma_lambda_n)  # sigma = 0.6 px
    o, flux, center = 3.0, 1000.0, (7.3, 20.6)
    image = pp.render_vignette(truth, (45, 15), center, o, flux)
    x = np.arange(15) - center[0]
    y = (np.arange(45) - center[1]) / o

    def box(u: np.ndarray) -> np.ndarray:
        s = sigma_lambda_n * math.sqrt(2)
        return 0.5 * (erf((u + 0.5) / s) - erf((u - 0.5) / s))

    expected = flux * np.outer(box(y), box(x))
    assert np.abs(image - expected).max() < 1e-6 * flux
    assert image.sum() == pytest.approx(o * flux, rel=1e-9)


@pytest.mark.parametrize("family", ["in_family", "astig_spiders"])
def test_vignette_flux_is_normalised_and_converged(family: str) -> None:
    # spiders without the astigmatism: one pupil table instead of 11 (the test stays fast); the
    # spikes of the vanes are the wings that alias most
    truth = pp.truth_family(family, "PHR", "P").replace(astig0_waves=0.0, astig45_waves=0.0)
    assert complex(pp.system_otf(truth, 0.0, 0.0)) == pytest.approx(1.0)
    image = pp.render_vignette(truth, (128, 64), (31.4, 63.2), 2.0, 1.0)
    fraction = image.sum() / 2.0
    # diffraction wings beyond a 64-px square: ~2 lambda N / (pi^2 r (1 - eps)) ~ 1 % (notes/star.md §0)
    assert 0.975 < fraction < 0.995
    wider = pp.render_vignette(truth, (128, 64), (31.4, 63.2), 2.0, 1.0, pad_px=128).sum() / 2.0
    assert wider == pytest.approx(fraction, abs=1.5e-4)  # periodisation of the wings is negligible
    assert pp.vignette_flux_fraction(truth, (128, 64), (31.4, 63.2), 2.0) == pytest.approx(fraction, abs=1e-12)


def test_render_uses_the_same_otf_shift_and_smear() -> None:
    """A TDI-smeared star equals the mean of unsmeared stars shifted along the smear box (16-node
    Gauss-Legendre rule over the box), and a shifted star is the same image shifted by whole pixels."""
    base = pp.truth_family("in_family", "PHR", "B2", pupil_samples=128).replace(smear_along_px=0.0)
    smeared = base.replace(smear_along_px=1.0)
    o, center = 2.0, (15.2, 31.7)
    img = pp.render_vignette(smeared, (64, 32), center, o, 1.0)
    nodes, weights = np.polynomial.legendre.leggauss(16)
    offsets = nodes / 2.0  # native px along track, box [-1/2, 1/2]
    renders = [pp.render_vignette(base, (64, 32), (center[0], center[1] + d * o), o, 1.0) for d in offsets]
    mean = np.tensordot(weights / 2.0, np.asarray(renders), axes=1)
    assert np.abs(img - mean).max() < 2e-6 * img.max()
    shifted = pp.render_vignette(base, (64, 32), (center[0] + 1, center[1] + 2), o, 1.0)
    assert np.allclose(shifted[2:, 1:], pp.render_vignette(base, (64, 32), center, o, 1.0)[:-2, :-1], atol=1e-7)


def test_window_fractions_grow_to_the_vignette_fraction() -> None:
    truth = pp.truth_family("in_family", "PHR", "P")
    ee = pp.window_flux_fractions(truth, [2, 3, 5, 8, 12, 20], (0.2, -0.3), 2.0)
    assert np.all(np.diff(ee) > 0)
    assert 0.85 < ee[0] < ee[-1] < 0.995
    # outer windows: the lost fraction falls about as 1/h (r^-3 wings)
    loss = 1.0 - ee[3:]
    assert loss[0] / loss[-1] == pytest.approx(20.0 / 8.0, rel=0.3)


def test_truth_families_differ_as_designed() -> None:
    nominal = pp.truth_family("in_family", "PHR", "P")
    mtf = {name: pp.mtf_nyquist(pp.truth_family(name, "PHR", "P")) for name in ("tdi_smear", "microvibration")}
    base_along, base_across = pp.mtf_nyquist(nominal)
    assert mtf["tdi_smear"][0] == pytest.approx(
        base_along * math.sin(math.pi / 2) / (math.pi / 2) / np.sinc(0.125), rel=1e-9
    )
    assert mtf["tdi_smear"][1] == pytest.approx(base_across, rel=1e-12)
    assert mtf["microvibration"][1] == pytest.approx(base_across, rel=1e-12)
    red = pp.truth_family("red_star", "PHR", "P")
    assert red.effective_wavelength_um / nominal.effective_wavelength_um == pytest.approx(1.10, abs=0.001)
    with pytest.raises(ValueError, match="unknown truth family"):
        pp.truth_family("nope", "PHR", "P")


def test_in_family_truth_matches_the_estimator_design() -> None:
    """Two independent codes (pupil FFT here, O'Neill closed form + Gauss-Legendre in the estimator)
    for the nominal design agree on the MTF at Nyquist; the copied design constants match."""
    from monitor.science.instrument import BAND_CENTRES_UM, nominal_psf_params
    from monitor.science.psf import mtf_nyquist
    from monitor.simulate.star import default_psf_params

    for mission, band in (("PHR", "P"), ("PHR", "B2"), ("PNEO", "P"), ("PNEO", "NIR")):
        truth = pp.truth_family("in_family", mission, band, pupil_samples=256)
        params = default_psf_params(mission, band)
        assert pp._BAND_CENTRES_UM[(mission, band)] == BAND_CENTRES_UM[(mission, band)]
        assert truth.lambda_n_px == pytest.approx(params.lambda_n_px)
        assert truth.obscuration == params.obscuration
        assert (truth.jitter_along_px, truth.jitter_across_px) == (params.sigma_along_px, params.sigma_across_px)
        assert (truth.diffusion_px, truth.smear_along_px) == (params.diffusion_px, params.smear_along_px)
        assert nominal_psf_params(mission, band).obscuration == truth.obscuration
        np.testing.assert_allclose(pp.mtf_nyquist(truth), mtf_nyquist(params), atol=5e-4)


def test_band_weights_fold_rsr_and_photon_spectrum() -> None:
    lam = np.linspace(0.5, 0.8, 31)
    rsr = np.where((lam > 0.55) & (lam < 0.75), 1.0, 0.0)
    nodes, weights = pp.band_weights(lam, rsr, lam**2)
    assert min(nodes) > 0.55 and max(nodes) < 0.75
    assert sum(weights) == pytest.approx(1.0)
    assert weights[-1] > weights[0]  # redder spectrum weighs the red end more
    with pytest.raises(ValueError):
        pp.band_weights(lam, np.zeros_like(lam))
    # rebinning keeps the weight and the effective wavelength
    nodes11, weights11 = pp.band_weights(lam, rsr, lam**2, n_nodes=5)
    assert len(nodes11) == 5 and sum(weights11) == pytest.approx(1.0)
    assert np.dot(nodes11, weights11) == pytest.approx(np.dot(nodes, weights), rel=1e-12)


def test_truth_from_the_package_rsr() -> None:
    """A truth built from the package's PHR PAN RSR (rebinned to 15 nodes) instead of the flat band:
    same effective wavelength within 2 %, same MTF at Nyquist within 0.003 (the band shape matters
    little for PAN at lambda N = 1 px)."""
    from monitor.io.reference_data import load_rsr

    rsr = load_rsr("PHR", "P")
    nodes, weights = pp.band_weights(rsr.wavelength_nm / 1000.0, rsr.values, n_nodes=15)
    flat = pp.truth_family("in_family", "PHR", "P")
    truth = flat.replace(wavelengths_um=nodes, weights=weights)
    assert truth.effective_wavelength_um == pytest.approx(flat.effective_wavelength_um, rel=0.02)
    np.testing.assert_allclose(pp.mtf_nyquist(truth), pp.mtf_nyquist(flat), atol=3e-3)


def test_simulator_draws_stars_from_the_pupil_truth() -> None:
    from monitor.simulate.star import simulate_star_vignette, truth_psf

    truth = truth_psf("PHR", "P", "tdi_smear")
    assert isinstance(truth, pp.PupilTruth) and truth.smear_along_px == 1.0
    rng = np.random.default_rng(5)
    kw = dict(shape=(128, 64), center_xy=(31.5, 63.0), oversamp=2.0, psf=truth, dark_dn=100.0)
    img = simulate_star_vignette(rng, total_signal_dn=2e6, gain_e_per_dn=10.0, read_noise_dn=1.0, **kw)  # type: ignore[arg-type]
    expected = pp.render_vignette(truth, (128, 64), (31.5, 63.0), 2.0, 1e6)
    resid = (img - 100.0 - expected) / np.sqrt(expected / 10.0 + 1.0)
    assert abs(resid.mean()) < 0.05 and 0.9 < resid.std() < 1.1  # Poisson + read noise around the pupil image


def test_campaign_star_band_uses_the_psf_family() -> None:
    """The campaign switch: a STAR band drawn with psf_family records the pupil truth's MTF."""
    from monitor.domain import Mission
    from monitor.simulate.star_acquisition import _star_band

    rng = np.random.default_rng(3)
    _, image, truth = _star_band(rng, Mission.PHR, "P", 2.0, 2e-10, 2, False, "tdi_smear")
    expected = pp.mtf_nyquist(pp.truth_family("tdi_smear", "PHR", "P"))
    assert (truth.mtf_nyquist_along, truth.mtf_nyquist_across) == expected
    assert truth.extra["psf_family"] == "tdi_smear"
    assert image.shape == (128, 64)
    _, _, default = _star_band(np.random.default_rng(3), Mission.PHR, "P", 2.0, 2e-10, 2, False)
    assert "psf_family" not in default.extra and default.mtf_nyquist_along != expected[0]


@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_far_wings_match_the_asymptotic_airy_energy(eps: float) -> None:
    """Far from the core the azimuthally averaged PSF of an annulus is lambda N / (pi^3 (1 - eps) r^3)
    (the cone 1 - (4/pi) nu / (1 - eps) of its OTF; Born & Wolf §8.5.2 for eps = 0: 1 - EE(r) ->
    2 lambda N / (pi^2 r)). Outside a square of half-side H = h + 1/2 (a (2h+1)-pixel window) it holds
    (lambda N / pi^3 (1 - eps)) int_0^{2 pi} max(|cos|, |sin|) dtheta / H = 4 sqrt(2) lambda N / (pi^3 (1 - eps) H).
    Checks the amplitude of the r^-3 wings that the renderer adds analytically (next order: < 1 %)."""
    truth = _mono(n=256, obscuration=eps)
    hs = np.array([12, 20])
    loss = 1.0 - pp.window_flux_fractions(truth, hs.tolist(), (0.0, 0.0), 1.0)
    expected = 4 * math.sqrt(2) / (math.pi**3 * (1 - eps) * (hs + 0.5))
    np.testing.assert_allclose(loss, expected, rtol=0.02)
