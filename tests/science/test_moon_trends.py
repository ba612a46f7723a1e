"""Phase-angle residual slope and two-satellite ratio at similar geometry (synthetic truth)."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.science.exceptions import InsufficientDataError
from monitor.science.moon_trends import match_similar_geometry, pair_ratio, phase_residual_slope


def test_phase_slope_recovers_injected_model_error() -> None:
    """A lunar-model error of -2e-5 per degree of |g| (waxing and waning alike) is found."""
    rng = np.random.default_rng(7)
    g = np.array([-80.0, -55.0, -30.0, -5.0, 5.0, 30.0, 55.0, 80.0] * 3)
    sigma = np.full(g.size, 1e-4)
    resid = 3e-4 - 2e-5 * np.abs(g) + rng.normal(0.0, 1e-4, g.size)
    fit = phase_residual_slope(g, resid, sigma)
    assert fit.slope_per_deg == pytest.approx(-2e-5, abs=4 * fit.slope_sigma_per_deg)
    assert fit.slope_sigma_per_deg < 2e-6 and fit.n_points == g.size
    assert abs(fit.slope_per_deg / fit.slope_sigma_per_deg) > 10  # clearly significant
    flat = phase_residual_slope(g, rng.normal(0.0, 1e-4, g.size), sigma)
    assert abs(flat.slope_per_deg) < 4 * flat.slope_sigma_per_deg


def test_phase_slope_needs_two_phases() -> None:
    with pytest.raises(InsufficientDataError):
        phase_residual_slope([30.0, -30.0, 30.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="sigma > 0"):
        phase_residual_slope([5.0, 30.0, 55.0], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0])


def test_pairs_same_branch_close_phase_and_time() -> None:
    ga, ta = [-30.0, 30.5, 55.0, 80.0], [0.0, 5.0, 7.0, 9.0]
    gb, tb = [-29.0, -30.5, 31.0, 56.0, 79.9], [0.1, 40.0, 5.0, 7.2, 9.1]
    pairs = match_similar_geometry(ga, ta, gb, tb, max_phase_diff_deg=2.0, max_days=15.0)
    # -30 pairs with -29 (the -30.5 one is 40 days away); 30.5 with 31; 55 with 56; 80 with 79.9
    assert pairs == [(0, 0), (1, 2), (2, 3), (3, 4)]
    # a waxing measurement never pairs with a waning one, even at the same |g|
    assert match_similar_geometry([-30.0], [0.0], [30.0], [0.0], max_phase_diff_deg=90.0, max_days=1.0) == []
    # each measurement used once: the closer phase wins
    assert match_similar_geometry([30.0, 30.4], [0.0, 0.0], [30.5], [0.0], max_phase_diff_deg=2.0, max_days=1.0) == [
        (1, 0)
    ]


def test_pair_ratio_weighted_mean() -> None:
    a3 = np.array([1.00, 1.01, 0.99])
    a4 = a3 * 1.03
    r = pair_ratio(a3, [1e-4] * 3, a4, [1e-4] * 3, [(0, 0), (1, 1), (2, 2)])
    assert r.ratio == pytest.approx(1 / 1.03, rel=1e-12) and r.n_pairs == 3
    assert r.ratio_sigma == pytest.approx(r.ratio * np.sqrt(2e-8) / np.sqrt(3), rel=1e-9)
    with pytest.raises(InsufficientDataError):
        pair_ratio(a3, [1e-4] * 3, a4, [1e-4] * 3, [])
