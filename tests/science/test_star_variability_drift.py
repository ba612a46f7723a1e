"""Variable-star flagging, drift with per-star offsets and the uncertainty budget (issue 14), on
simulated traces: sinusoidal variables, Student-t photometric errors, a changing star mix."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.science.drift import fit_drift
from monitor.science.exceptions import InsufficientDataError
from monitor.science.star_budget import COMPONENT_KEYS, pool_components
from monitor.science.star_drift import (
    STARPOOL_LEVEL_ESTIMATOR,
    fit_drift_star_offsets,
    fit_starpool_levels,
    starpool_level_star_offsets,
)
from monitor.science.star_variability import variability_test, variability_test_bands, variability_test_two_way
from monitor.science.starpool import combine_starpool, student_variance_factor


def _traces(rng: np.random.Generator, n_stars: int, n_points: int, amp: np.ndarray, sigma: np.ndarray):
    star = np.repeat(np.arange(n_stars), n_points)
    t_days = rng.uniform(0.0, 730.0, star.size)
    period = rng.uniform(20.0, 400.0, n_stars)[star]
    phase = rng.uniform(0.0, 2 * np.pi, n_stars)[star]
    offset = 1.0 + rng.normal(0.0, 0.02, n_stars)[star]  # template mismatch: constant per star
    s = sigma[star]
    # heavier tails than the test's Gaussian model (t with 8 dof, unit variance)
    noise = rng.standard_t(8, star.size) * np.sqrt(6.0 / 8.0) * s
    r = offset * (1.0 + amp[star] * np.sin(2 * np.pi * t_days / period + phase)) + noise
    return star, r, s * np.ones_like(r)


def test_variables_of_1_5_percent_flagged_and_few_false_flags() -> None:
    rng = np.random.default_rng(42)
    n_stars, n_points = 400, 8
    amp = np.where(np.arange(n_stars) < 40, rng.uniform(0.015, 0.05, n_stars), 0.0)
    sigma = rng.uniform(0.001, 0.005, n_stars)  # photometric 1-sigma of the ratio (incl. the pool's)
    star, r, s = _traces(rng, n_stars, n_points, amp, sigma)
    test = variability_test(star, r, s)
    var = amp > 0
    detected = float(test.flagged[var].mean())
    false = float(test.flagged[~var].mean())
    # measured (seed 42): 100 % of the 40 variables detected, 0 of 360 constant stars flagged
    assert detected >= 0.95, detected
    assert false < 0.02, false
    assert np.all(test.n_points == n_points) and np.all(np.isfinite(test.chi2))


def test_too_few_points_is_no_verdict() -> None:
    test = variability_test([1, 1, 2, 2, 2], [1.0, 1.5, 1.0, 1.0, 1.0], [0.001] * 5)
    assert test.n_points.tolist() == [2, 3]
    assert np.isnan(test.chi2[0]) and not test.flagged[0]


def test_drift_with_star_offsets_ignores_a_changing_mix() -> None:
    """Stars with 3 % per-star offsets; the mix shifts from blue-offset to red-offset stars over
    two years. The starpool means see a fake drift; the per-star-offset fit does not."""
    rng = np.random.default_rng(3)
    n_stars, months, per_pool, rate = 60, 24, 20, -0.01
    offset = np.sort(rng.normal(0.0, 0.03, n_stars))  # low offsets first
    t_pool = (np.arange(months) + 0.5) / 12.0
    ts, a_all, s_all, st, pool_a, pool_s = [], [], [], [], [], []
    for k in range(months):
        lo = int(k * (n_stars - per_pool) / (months - 1))  # the mix slides through the list
        mem = np.arange(lo, lo + per_pool)
        a = 100.0 * (1.0 + rate * t_pool[k]) * (1.0 + offset[mem]) * (1.0 + rng.normal(0.0, 0.002, per_pool))
        s = 0.002 * a
        est = combine_starpool(a, s, list(mem))
        pool_a.append(est.a)
        pool_s.append(est.a_sigma)
        ts += [t_pool[k]] * per_pool
        a_all += list(a)
        s_all += list(s)
        st += list(mem)
    naive = fit_drift(t_pool, np.array(pool_a), np.array(pool_s))
    mixed = fit_drift_star_offsets(np.array(ts), np.array(a_all), np.array(s_all), np.array(st))
    true_log_rate = float(np.polyfit(t_pool, np.log1p(rate * t_pool), 1)[0])
    assert abs(naive.rate_per_year - rate) > 0.01  # the mix change reads as a drift of > 1 %/yr
    assert abs(mixed.rate_per_year - true_log_rate) < 3 * mixed.rate_sigma_per_year
    assert mixed.rate_sigma_per_year < 0.0005  # 0.05 %/yr
    assert mixed.n_stars == n_stars
    with pytest.raises(InsufficientDataError):
        fit_drift_star_offsets([0.0, 0.0], [1.0, 1.1], [0.01, 0.01], [1, 2])


def test_budget_components_propagate_as_the_weighted_mean() -> None:
    rng = np.random.default_rng(1)
    a = 100.0 * (1.0 + rng.normal(0.0, 0.01, 30))
    photon = rng.uniform(0.001, 0.004, 30)
    w = 1.0 / (photon * a) ** 2
    mean = float(np.sum(w * a) / np.sum(w))
    c = pool_components(a, w, {"photon": photon, "template": 0.015}, mean, zero_point_rel=0.005, rsr_rel=0.005)
    assert set(c) == set(COMPONENT_KEYS)
    # photon: exactly the inverse-variance mean's error; template: 1.5 % averaged with these weights
    assert c["photon"] == pytest.approx(1.0 / np.sqrt(w.sum()) / mean, rel=1e-12)
    assert c["template"] == pytest.approx(0.015 * np.sqrt(np.sum((w * a) ** 2)) / w.sum() / mean, rel=1e-12)
    # Monte Carlo of the weighted mean with independent per-star photon errors
    draws = a * (1.0 + photon * rng.standard_normal((4000, 30)))
    mc = np.std(draws @ w / w.sum()) / mean
    assert c["photon"] == pytest.approx(mc, rel=0.05)
    assert c["zero_point"] == 0.005 and c["ee_correction"] == 0.0


def test_starpool_levels_do_not_move_with_the_star_mix() -> None:
    # Truth drawn here, not from the fitter: a level that steps by known amounts per starpool,
    # stars offset by +-3 % (two groups), 0.2 % noise; the share of the +3 % group grows from 20 %
    # to 80 %, so the starpool means climb by 3.6 % more than the truth. The levels, referenced to
    # each star's own offset, follow the truth's steps (up to one common factor: the level of the
    # weight-averaged star). Catches: offsets not removed, a wrong constraint, sigma far off.
    rng = np.random.default_rng(5)
    offset = np.where(np.arange(40) < 20, -0.03, 0.03) + rng.normal(0.0, 0.003, 40)
    truth = 10.0 * (1.0 + np.array([0.0, 0.01, -0.005, 0.002, 0.0, -0.01, 0.004, 0.0, 0.003]))
    pool, star, a = [], [], []
    for j, level in enumerate(truth):
        n_hi = round(15 * (0.2 + 0.6 * j / 8))
        pick = np.concatenate([rng.choice(20, 15 - n_hi, replace=False), 20 + rng.choice(20, n_hi, replace=False)])
        pool += [j] * pick.size
        star += list(pick)
        a += list(level * (1.0 + offset[pick]) * (1.0 + 0.002 * rng.standard_normal(pick.size)))
    a_arr = np.array(a)
    f = fit_starpool_levels(pool, star, a_arr, 0.002 * a_arr)
    means = np.array([a_arr[np.array(pool) == j].mean() for j in range(truth.size)])
    ratio, ratio_means = f.a / truth, means / truth
    assert np.ptp(ratio_means) > 0.03  # the mix moves the plain means by > 3 %
    assert np.ptp(ratio) < 0.003  # the levels do not move (0.2 % noise / sqrt(15) per starpool)
    pulls = (ratio - ratio.mean()) / (f.a_sigma / f.a)
    assert 0.4 < float(np.std(pulls, ddof=1)) < 2.0
    assert f.chi2_dof == pytest.approx(1.0, abs=0.3)


def test_append_only_star_offset_levels_follow_the_truth_whatever_the_mix() -> None:
    # Truth drawn here, not from the fitter's model: per-star offsets uniform in +-4 % (not
    # Gaussian), a level stepping by known amounts, noise with t(6) tails (0.3 %); the share of the
    # high half of the stars grows from 10 % to 90 % of each starpool. Each starpool's level is
    # fitted append-only (its history up to it). Catches: the offsets not taken out (the plain
    # means climb with the mix), a history leaking from later starpools, sigma far off, and a
    # first starpool that is not the random-effects mean of its own stars.
    rng = np.random.default_rng(11)
    n_star, n_pool = 60, 12
    offset = np.sort(rng.uniform(-0.04, 0.04, n_star))
    truth = 10.0 * (1.0 + rng.normal(0.0, 0.005, n_pool))
    pool, star, a = [], [], []
    levels, sig, means, seen = [], [], [], []
    for j in range(n_pool):
        n_hi = round(20 * (0.1 + 0.8 * j / (n_pool - 1)))
        pick = np.concatenate([rng.choice(30, 20 - n_hi, replace=False), 30 + rng.choice(30, n_hi, replace=False)])
        noise = 0.003 * rng.standard_t(6, pick.size) * np.sqrt(4.0 / 6.0)
        pool += [j] * pick.size
        star += list(pick)
        a += list(truth[j] * (1.0 + offset[pick]) * (1.0 + noise))
        a_arr = np.array(a)
        f = starpool_level_star_offsets(pool, star, a_arr, 0.003 * a_arr, j)
        assert f.n_pools == j + 1 and f.estimator == STARPOOL_LEVEL_ESTIMATOR
        levels.append(f.a)
        sig.append(f.a_sigma)  # against the other levels (the common part is the seen stars' mean's)
        assert f.a_sigma_common > 0.0 or j == 0  # one starpool: no split (all in a_sigma)
        means.append(a_arr[-pick.size:].mean())
        seen.append(np.mean(np.log1p(offset[np.unique(star)])))  # ln of the mean star seen so far
    ratio, ratio_means = np.array(levels) / truth, np.array(means) / truth
    assert ratio_means[-1] - ratio_means[0] > 0.03  # the mix moves the plain means by 4.5 %
    # each level is the truth times the mean star seen so far (the reference grows with the
    # history: its wander is the only mix effect left), to the noise
    dev = np.log(ratio) - np.array(seen)
    assert np.max(np.abs(dev)) < 0.003, dev  # measured 0.0011
    assert np.ptp(ratio[6:]) < 0.006  # once most stars were seen (measured 0.0030)
    pulls = dev / (np.array(sig) / np.array(levels))
    assert 0.5 < float(np.sqrt(np.mean(pulls**2))) < 1.5  # measured 0.86
    # the first starpool alone: its stars' weighted mean with the star-to-star scatter (no other information)
    first = starpool_level_star_offsets(pool[:20], star[:20], np.array(a[:20]), 0.003 * np.array(a[:20]), 0)
    assert first.a == pytest.approx(float(np.exp(np.mean(np.log(a[:20])))), rel=2e-3)
    assert first.n_stars_linked == 0 and first.tau_rel > 0.01


def test_band_average_test_finds_grey_variables_the_bands_miss_and_few_false_flags() -> None:
    # Truth drawn here: 300 constant stars and 30 grey variables (1.0-1.5 %, below what one band
    # sees in 5 acquisitions at 0.6 % noise), five bands with independent noise and their own
    # per-star offsets (template mismatch) and per-starpool levels (drift, mix). Catches: the bands
    # not averaged (per-band power only), the offsets or levels read as variability, a chi2 not
    # calibrated (false flags).
    rng = np.random.default_rng(7)
    n_star, n_pool, bands = 330, 5, ("P", "B0", "B1", "B2", "B3")
    amp = np.where(np.arange(n_star) < 30, rng.uniform(0.010, 0.015, n_star), 0.0)
    period, phase = rng.uniform(20.0, 400.0, n_star), rng.uniform(0.0, 2 * np.pi, n_star)
    star = np.tile(np.arange(n_star), n_pool)
    pool = np.repeat(np.arange(n_pool), n_star)
    t_days = pool * 30.4 + rng.uniform(0.0, 3.0, star.size)
    grey = 1.0 + amp[star] * np.sin(2 * np.pi * t_days / period[star] + phase[star])
    rows = []
    for b in bands:
        offset = 1.0 + rng.normal(0.0, 0.02, n_star)
        level = 1.0 + rng.normal(0.0, 0.01, n_pool)
        a = level[pool] * offset[star] * grey * (1.0 + 0.006 * rng.standard_normal(star.size))
        rows.append((b, a))
    band = np.concatenate([np.full(star.size, b) for b, _ in rows])
    a_all = np.concatenate([a for _, a in rows])
    st, po = np.tile(star, len(bands)), np.tile(pool, len(bands))
    joint = variability_test_bands(st, po, band, a_all, 0.006 * a_all, floor_rel=0.0)
    per_band = np.zeros(n_star, dtype=bool)
    for _, a in rows:
        per_band |= variability_test_two_way(star, pool, a, 0.006 * a, floor_rel=0.0).flagged
    var = amp > 0
    # measured (seed 7): band average 24/30 variables, 0 of 300 constant stars; per band (any of five) 13/30
    assert joint.flagged[var].mean() >= 0.7, joint.flagged[var].mean()
    assert joint.flagged[var].mean() > per_band[var].mean() + 0.2
    assert joint.flagged[~var].mean() < 0.02


def test_budget_components_add_up_to_the_starpool_sigma() -> None:
    # The use-case's budget of a starpool (monitor.calibration.starpool_stage._budget's arithmetic):
    # the weights of combine_starpool, the template term a fraction of the level, and the Student
    # factor of the estimated tau in the template term; the per-star components must then add up in
    # quadrature to combine_starpool's own a_sigma (which is computed without pool_components).
    # Catches: the factor dropped (7 stars: 0.82 of a_sigma), the template term taken relative to
    # each star's A_i instead of the level.
    rng = np.random.default_rng(7)
    for n in (4, 7, 25):
        a = 100.0 * (1.0 + rng.normal(0.0, 0.05, n))
        photon = rng.uniform(0.002, 0.01, n)
        est = combine_starpool(a, photon * a, list(range(n)))
        assert est.tau > 0.0 and est.n_used == n
        w = 1.0 / ((photon * a) ** 2 + (est.tau * est.a) ** 2)
        c = pool_components(
            a,
            w,
            {"photon": photon, "template": est.tau * est.a / a},
            est.a,
            zero_point_rel=0.005,
            rsr_rel=0.005,
            variance_factor=student_variance_factor(n, est.tau),
        )
        total = np.sqrt(sum(v**2 for k, v in c.items() if k not in ("zero_point", "rsr")))
        assert total == pytest.approx(est.a_sigma / est.a, rel=1e-9), n
        assert c["photon"] == pytest.approx(np.sqrt(np.sum((w * photon * a) ** 2)) / w.sum() / est.a, rel=1e-12)
    with pytest.raises(ValueError, match="variance_factor"):
        pool_components([1.0], [1.0], {}, 1.0, zero_point_rel=0.0, rsr_rel=0.0, variance_factor=0.5)
