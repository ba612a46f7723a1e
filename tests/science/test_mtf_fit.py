"""Tests of the joint starpool PSF/MTF fit (monitor.science.mtf_fit), truth from the simulator."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.science.encircled_energy import encircled_energy_square_mean
from monitor.science.mtf_fit import DEFAULT_FREE, InsufficientStarsError, PsfFitResult, fit_starpool_psf
from monitor.science.psf import PsfParams, mtf_nyquist
from monitor.simulate.star import default_psf_params, default_vignette_shape, simulate_star_vignette

DARK_DN = 200.0
# A noisier detector than the nominal one (monitor.science.instrument: READ_NOISE_DN 1.5 DN, 20 e-/DN).
GAIN_E_PER_DN = 2.0
READ_NOISE_DN = 5.0


def make_pool(
    rng: np.random.Generator,
    truth: PsfParams,
    band: str,
    n_stars: int = 25,
    oversamps: tuple[int, ...] = (1, 2, 3, 4),
    signal_scale_dn: float = 1e6,
) -> tuple[list[np.ndarray], list[float], np.ndarray, np.ndarray]:
    """Dark-subtracted vignettes of one simulated starpool (V 2-5.5, tilted background)."""
    vignettes, os_, centers, signals = [], [], [], []
    for _ in range(n_stars):
        o = float(rng.choice(oversamps))
        shape = default_vignette_shape("PHR", band, o)
        v_mag = rng.uniform(2.0, 5.5)
        signal = signal_scale_dn * 10 ** (-0.4 * (v_mag - 2.0)) * o
        center = ((shape[1] - 1) / 2 + rng.uniform(-2, 2), (shape[0] - 1) / 2 + rng.uniform(-2, 2) * o)
        img = simulate_star_vignette(
            rng,
            total_signal_dn=signal,
            shape=shape,
            center_xy=center,
            oversamp=o,
            psf=truth,
            dark_dn=DARK_DN,
            gain_e_per_dn=GAIN_E_PER_DN,
            read_noise_dn=READ_NOISE_DN,
            background_dn=20.0,
            background_slope=(0.1, -0.05),
        )
        vignettes.append(img.astype(np.float64) - DARK_DN)
        os_.append(o)
        centers.append(center)
        signals.append(signal)
    return vignettes, os_, np.asarray(centers), np.asarray(signals)


def _fit(vignettes: list[np.ndarray], oversamps: list[float], start: PsfParams, **kw: object) -> PsfFitResult:
    return fit_starpool_psf(
        vignettes,
        oversamps,
        start,
        read_noise_dn=READ_NOISE_DN,
        gain_e_per_dn=GAIN_E_PER_DN,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("band", "seed"), [("P", 11), ("B0", 12), ("B3", 13)])
def test_mtf_nyquist_recovered_for_pan_and_ms(band: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Truth differs from the nominal PSF the fit starts from (e.g. a focus change).
    nominal = default_psf_params("PHR", band)
    truth = nominal.replace(sigma_along_px=nominal.sigma_along_px * 1.15, sigma_across_px=nominal.sigma_across_px * 0.9)
    vignettes, oversamps, centers, signals = make_pool(rng, truth, band, signal_scale_dn=1e6 if band == "P" else 5e5)
    res = _fit(vignettes, oversamps, nominal)
    along, across = mtf_nyquist(truth)
    assert abs(res.mtf_nyquist_along - along) < 0.01
    assert abs(res.mtf_nyquist_across - across) < 0.01
    assert abs(res.mtf_nyquist_along - along) < 5 * res.mtf_nyquist_along_sigma + 2e-4
    assert abs(res.mtf_nyquist_across - across) < 5 * res.mtf_nyquist_across_sigma + 2e-4
    assert 0.0 < res.mtf_nyquist_along_sigma < 0.005
    assert 0.9 < res.chi2_dof < 1.1
    np.testing.assert_allclose(res.centers_xy, centers, atol=0.02)
    np.testing.assert_allclose(res.fluxes_dn / signals, 1.0, atol=0.01)
    np.testing.assert_allclose(res.backgrounds_dn, 20.0, atol=3.0)  # local plane under a bright star
    # Curves and encircled energies consistent with the truth model.
    assert res.mtf_along[0] == pytest.approx(1.0)
    i_nyq = int(np.argmin(np.abs(res.frequencies_cy_px - 0.5)))
    assert res.mtf_along[i_nyq] == pytest.approx(res.mtf_nyquist_along)
    ee_truth = encircled_energy_square_mean(res.ee_half_widths_px, truth)
    np.testing.assert_allclose(res.ee, ee_truth, atol=max(1e-3, 5 * float(res.ee_sigma.max())))


@pytest.mark.slow
def test_uncertainties_are_honest_over_many_starpools() -> None:
    """Pull distribution (fit - truth)/sigma of MTF@Nyquist over 50 small, faint starpools."""
    rng = np.random.default_rng(2026)
    truth = default_psf_params("PHR", "B2")
    along, across = mtf_nyquist(truth)
    pulls = []
    for _ in range(50):
        vignettes, oversamps, _, _ = make_pool(rng, truth, "B2", n_stars=6, oversamps=(1, 2), signal_scale_dn=2e4)
        res = _fit(vignettes, oversamps, truth, fit_half_width_px=5, ee_half_widths_px=(2,))
        pulls.append(
            [
                (res.mtf_nyquist_along - along) / res.mtf_nyquist_along_sigma,
                (res.mtf_nyquist_across - across) / res.mtf_nyquist_across_sigma,
            ]
        )
    p = np.asarray(pulls)
    std = p.std(axis=0, ddof=1)
    assert np.all((std > 0.7) & (std < 1.4)), std
    assert np.all(np.abs(p.mean(axis=0)) < 0.45), p.mean(axis=0)


def test_nan_pixels_and_given_centres() -> None:
    rng = np.random.default_rng(5)
    truth = default_psf_params("PHR", "B1")
    vignettes, oversamps, centers, _ = make_pool(rng, truth, "B1", n_stars=6, oversamps=(1, 3))
    vignettes[0][10:12, :] = np.nan
    vignettes[1][:, :3] = np.nan
    res = _fit(
        vignettes,
        oversamps,
        truth,
        centers_xy=centers + 0.3,
        free=("sigma_along_px", "sigma_across_px", "diffusion_px"),
    )
    assert res.free_names == ("sigma_along_px", "sigma_across_px", "diffusion_px")
    assert res.covariance.shape == (3, 3)
    along, across = mtf_nyquist(truth)
    assert abs(res.mtf_nyquist_along - along) < 0.01
    assert abs(res.mtf_nyquist_across - across) < 0.01


def test_errors() -> None:
    truth = default_psf_params("PHR", "P")
    with pytest.raises(InsufficientStarsError):
        _fit([], [], truth)
    with pytest.raises(InsufficientStarsError):
        _fit([np.full((64, 64), np.nan)], [1.0], truth)
    with pytest.raises(ValueError, match="free parameters"):
        _fit([np.zeros((64, 64))], [1.0], truth, free=("lambda_n_px",))
    with pytest.raises(ValueError, match="oversamp"):
        _fit([np.zeros((64, 64))], [0.5], truth)


def test_alternative_model_shift_is_the_constrained_least_squares_solution_of_a_linear_problem() -> None:
    """The model-choice term's alternative model (issue 15): for a linear least-squares problem the
    conditional-mean shift from the free solution equals the solution refitted with the chosen
    parameters held at given values (exact, solved independently with lstsq on the reduced design).
    Catches a wrong sign, a wrong block of the covariance or a shift of the held parameters that
    does not land on their values; cannot say how well the nonlinear PSF fit is linearised."""
    from monitor.science.mtf_select import alternative_model_shift

    rng = np.random.default_rng(5)
    a = rng.normal(size=(200, 4))
    y = a @ np.array([1.0, -0.5, 0.3, 0.2]) + rng.normal(0.0, 0.1, 200)
    theta = np.linalg.lstsq(a, y, rcond=None)[0]
    cov = np.linalg.inv(a.T @ a)
    held = np.array([0.0, 0.0, 0.0, 0.05])
    shift = alternative_model_shift(theta, cov, [2, 3], held)
    reduced = np.linalg.lstsq(a[:, :2], y - a[:, 2:] @ held[2:], rcond=None)[0]
    np.testing.assert_allclose(theta + shift, [*reduced, 0.0, 0.05], atol=1e-12)
    assert not alternative_model_shift(theta, cov, [], held).any()


def test_obscuration_freed_with_its_design_prior_follows_the_pupil_truth() -> None:
    """Issue 15: the central obscuration can be freed within its design tolerance (Gaussian prior
    around the nominal 0.30, PRIOR_SIGMAS). Truth: the independent pupil-FFT PSF
    (monitor.simulate.pupil_psf, its own renderer) with eps = 0.36. Freed, the fit finds eps within
    0.02 and its MTF at Nyquist within 3 sigma + 0.001 of the truth's; a prior as tight as the data's
    own sigma puts eps half-way between the data and the design value. Catches a wrong obscuration
    derivative, a prior that does not act or that enters the misfit statistics; cannot say whether
    0.05 is the right tolerance."""
    from monitor.simulate import pupil_psf

    truth = pupil_psf.truth_family("in_family", "PHR", "P").replace(obscuration=0.36)
    t_along, t_across = pupil_psf.mtf_nyquist(truth)
    vignettes, oversamps, _, _ = make_pool(np.random.default_rng(53), truth, "P", n_stars=15)  # type: ignore[arg-type]
    start = default_psf_params("PHR", "P")
    free = (*DEFAULT_FREE, "obscuration")
    fit = _fit(vignettes, oversamps, start, free=free)
    eps = fit.values[free.index("obscuration")]
    assert abs(eps - 0.36) < 0.02, eps
    assert not fit.misfit.flagged, fit.misfit
    assert abs(fit.mtf_nyquist_along - t_along) < 0.001 + 3 * fit.mtf_nyquist_along_sigma
    assert abs(fit.mtf_nyquist_across - t_across) < 0.001 + 3 * fit.mtf_nyquist_across_sigma
    # a prior as tight as the data: the estimate is the inverse-variance mean of the two (linear problem)
    j = free.index("obscuration")
    s_data = float(np.sqrt(fit.covariance[j, j]))
    held = _fit(vignettes, oversamps, start, free=free, prior_sigmas={"obscuration": s_data})
    expected = 0.5 * (eps + start.obscuration)
    assert abs(held.values[j] - expected) < 0.15 * (eps - start.obscuration), (held.values[j], expected)


def test_active_set_covariance_is_the_inverse_information_without_the_held_parameters() -> None:
    """The covariance of a fit with parameters held at an active bound is the inverse of the
    information matrix with their rows and columns removed (computed independently here by
    inverting that reduced matrix), with zeros on the held rows and columns. Catches a wrong
    Schur complement (sign, block) or held parameters keeping a variance."""
    from monitor.science.mtf_fit import active_set_covariance

    rng = np.random.default_rng(3)
    a = rng.normal(size=(40, 5))
    info = a.T @ a
    active = np.array([False, True, False, False, True])
    cond = active_set_covariance(np.linalg.inv(info), active)
    keep = ~active
    np.testing.assert_allclose(cond[np.ix_(keep, keep)], np.linalg.inv(info[np.ix_(keep, keep)]), rtol=1e-10)
    assert not cond[active].any() and not cond[:, active].any()
    np.testing.assert_array_equal(active_set_covariance(np.linalg.inv(info), np.zeros(5, bool)), np.linalg.inv(info))


def test_active_bound_covariance_covers_a_linear_bound_constrained_problem_with_truth_on_the_bound() -> None:
    """Why the fit conditions its covariance on the active bounds (issue 15: the in-family MTF pulls
    were 0.6-0.8 with the wave-front depths and the smear pinned at 0). A linear least-squares problem
    with a parameter bounded below by 0 whose truth is 0 (the in-family wave-front depth), solved
    with its bound (scipy lsq_linear) 3000 times: the derived quantity ``q = j . theta`` has pull rms
    ~1 with the active-set covariance (active_bounds with the Gauss-Newton step, then
    active_set_covariance), while the linear covariance that ignores the bound over-covers (rms
    sqrt(1 - rho/2) with rho the bounded direction's share of var(q), 0.77 here). Catches an
    active-set test with the wrong sign or a conditional covariance of the wrong block; says
    nothing about how far the nonlinear PSF fit is from this linear picture."""
    from scipy.optimize import lsq_linear

    from monitor.science.mtf_fit import active_bounds, active_set_covariance

    rng = np.random.default_rng(7)
    a = rng.normal(size=(30, 3))
    a[:, 2] += 0.8 * a[:, 0]  # the bounded parameter is correlated with a free one
    truth = np.array([1.0, -0.5, 0.0])
    lower, upper = np.array([-np.inf, -np.inf, 0.0]), np.full(3, np.inf)
    cov = np.linalg.inv(a.T @ a)
    j = np.array([0.3, 0.2, 1.0])
    pulls_active, pulls_linear, n_active = [], [], 0
    for _ in range(3000):
        y = a @ truth + rng.normal(size=30)
        x = lsq_linear(a, y, bounds=(lower, upper), method="bvls").x
        step = -cov @ (a.T @ (a @ x - y))
        act = active_bounds(x, step, (lower, upper))
        n_active += int(act[2])
        err = float(j @ (x - truth))
        pulls_active.append(err / np.sqrt(j @ active_set_covariance(cov, act) @ j))
        pulls_linear.append(err / np.sqrt(j @ cov @ j))
    assert 1300 < n_active < 1700  # half of the unconstrained estimates fall below the bound
    rms_active = float(np.sqrt(np.mean(np.square(pulls_active))))
    rms_linear = float(np.sqrt(np.mean(np.square(pulls_linear))))
    assert 0.95 < rms_active < 1.05, rms_active
    assert rms_linear < 0.85, rms_linear


def test_active_bounds_test_the_squared_coordinate_of_even_parameters() -> None:
    """A blur or smear s >= 0 enters the PSF through s^2 (even functions), so the solver creeps
    towards 0 without reaching it: the bound is active when the linearised optimum of u = s^2,
    s^2 + 2 s ds, is <= 0 (here s = 0.3, ds = -0.2: active, although s + ds > 0); a parameter entering
    linearly is active when x + dx <= its bound; an interior one is not; an upper bound is tested
    too. Catches the linear test applied to the even parameters, or a sign error."""
    from monitor.science.mtf_fit import active_bounds

    bounds = ([0.0, 0.0, 0.0, 0.0], [np.inf, np.inf, np.inf, 0.9])
    x = [0.3, 0.3, 1e-9, 0.85]
    dx = [-0.2, -0.2, -1e-4, 0.1]
    assert active_bounds(x, dx, bounds, [True, False, False, False]).tolist() == [True, False, True, True]
    assert not active_bounds(x, [-0.1, 0.0, 1e-4, 0.0], bounds, [True, False, False, False]).any()


def test_fit_holds_the_wave_front_depth_at_its_active_bound_in_the_covariance() -> None:
    """An in-family pool (the estimator's own PSF, no wave-front error, 12 stars): the fit reports
    the parameters at an active bound (the wave-front depths pinned at 0, Shannon's ATF depth being
    >= 0), their covariance rows are zero and the MTF sigma at Nyquist is that of the fit without
    them (the linear covariance that ignores the bound, condition_on_bounds=False, is larger; by
    0.3 % here: the depths barely move the MTF at Nyquist, the smear pinned at 0 does, benchmarks/mtf.py);
    the model-choice term does not change. Catches a fit that does not condition on its active bounds or conditions on
    interior parameters (values must then be at the bound)."""
    band = "P"
    nominal = default_psf_params("PHR", band)
    vignettes, oversamps, _, _ = make_pool(np.random.default_rng(21), nominal, band, n_stars=12)
    fit = _fit(vignettes, oversamps, nominal)
    plain = _fit(vignettes, oversamps, nominal, condition_on_bounds=False)
    assert fit.active_bounds == plain.active_bounds
    assert {"aberration_along", "aberration_across"} & set(fit.active_bounds), fit.active_bounds
    for name in fit.active_bounds:
        i = fit.free_names.index(name)
        assert not fit.covariance[i].any() and not fit.covariance[:, i].any()
        assert plain.covariance[i, i] > 0.0
    np.testing.assert_allclose(fit.values, plain.values, rtol=0, atol=0)
    assert fit.mtf_nyquist_along_sigma <= plain.mtf_nyquist_along_sigma
    assert fit.mtf_nyquist_across_sigma <= plain.mtf_nyquist_across_sigma
    assert fit.mtf_nyquist_along_sigma + fit.mtf_nyquist_across_sigma < (
        plain.mtf_nyquist_along_sigma + plain.mtf_nyquist_across_sigma
    )
    assert fit.mtf_nyquist_along_model_sigma == plain.mtf_nyquist_along_model_sigma
    # the conditioned sigma is sqrt(j^T C_A j) of the unconditioned shared covariance (conditioning and
    # marginalising over the stars' nuisance parameters commute): what benchmarks/mtf.py --dump recombines
    from monitor.science.mtf_fit import active_set_covariance
    from monitor.science.psf import NYQUIST_CY_PX, otf_grid

    _, d_along = otf_grid(np.zeros(1), np.array([NYQUIST_CY_PX]), fit.params, fit.free_names)
    j = np.array([d[0, 0] for d in d_along])
    held = np.isin(fit.free_names, fit.active_bounds)
    assert np.sqrt(j @ active_set_covariance(plain.covariance, held) @ j) == pytest.approx(
        fit.mtf_nyquist_along_sigma, rel=1e-6
    )


def test_model_choice_alternatives_hold_the_pair_and_each_member_and_the_largest_change_counts() -> None:
    """The model-choice term's alternatives (mtf_select.alternative_model_shifts): the wave-front pair
    held together, then each member alone; each shift is the linear least-squares refit with that
    subset held (solved independently with lstsq). A quantity whose change under the pair cancels
    (here built so) still moves when one member is held alone: the largest of the three changes is
    not zero. Catches alternatives that are not the refits, or a term taken from the pair alone."""
    from monitor.science.mtf_select import alternative_model_shifts

    rng = np.random.default_rng(8)
    a = rng.normal(size=(300, 4))
    y = a @ np.array([1.0, -0.5, 0.3, 0.2]) + rng.normal(0.0, 0.1, 300)
    theta = np.linalg.lstsq(a, y, rcond=None)[0]
    cov = np.linalg.inv(a.T @ a)
    held = np.zeros(4)
    shifts = alternative_model_shifts(theta, cov, [2, 3], held)
    assert len(shifts) == 3
    for sh, keep_free, hold in zip(shifts, ([0, 1], [0, 1, 3], [0, 1, 2]), ([2, 3], [2], [3]), strict=True):
        refit = np.zeros(4)
        refit[keep_free] = np.linalg.lstsq(a[:, keep_free], y, rcond=None)[0]
        np.testing.assert_allclose(theta + sh, refit, atol=1e-12)
        np.testing.assert_allclose((theta + sh)[hold], 0.0, atol=1e-12)
    # a derived quantity q = j . theta whose change under the pair is 0
    pair, one, two = shifts
    j = one - (one @ pair) / (pair @ pair) * pair  # orthogonal to the pair's shift, generic otherwise
    changes = [abs(float(j @ sh)) for sh in shifts]
    assert changes[0] < 1e-12 and max(changes) > 0.1 * np.linalg.norm(j) * min(np.linalg.norm(one), np.linalg.norm(two))
    assert len(alternative_model_shifts(theta, cov, [3], held)) == 1
