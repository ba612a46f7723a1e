"""Tests of monitor.science.stereo_adjustment on simulated GEOM pairs with known truth.

The truth is an integrated two-body + J2 orbit with biased/drifting attitude (monitor.simulate.geom),
never the adjusted model itself. The noise floor is computed here with the TRUE orbit and attitude:
the same noisy CHECK measurements are space-intersected with the true geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import pytest

from monitor.science.orbit import OrbitModelError
from monitor.science.stereo_adjustment import (
    GeomAdjustmentResult,
    InsufficientControlError,
    adjust_stereo_geometry,
    check_point_errors,
)
from monitor.simulate.geom import GeomInputs, GeomSimulation, geom_inputs_from_simulation, simulate_geom_pair

EPOCH = datetime(2025, 3, 14, 10, 15, 33, 120000, tzinfo=UTC)
SEEDS = tuple(range(8))  # fixed; pooled over 8 pairs x 48 check points to keep the ratio stable


@dataclass(frozen=True)
class Case:
    sim: GeomSimulation
    inputs: GeomInputs
    floor_enu_m: np.ndarray  # check-point errors with the true model, (n_check, 3)
    by_order: dict[int, GeomAdjustmentResult]


def adjust(inp: GeomInputs, **kw: object) -> GeomAdjustmentResult:
    return adjust_stereo_geometry(
        inp.gcp,
        inp.cameras,
        inp.ephem_t_s,
        inp.ephem_position_m,
        inp.ephem_velocity_m_s,
        inp.era_ref_rad,
        **kw,  # type: ignore[arg-type]
    )


def make_case(seed: int, noise_px: float = 0.3, orders: tuple[int, ...] = (2, 3), **sim_kw: object) -> Case:
    sim = simulate_geom_pair(
        np.random.default_rng(seed),
        epoch_utc=EPOCH,
        site_lat_deg=43.6,
        site_lon_deg=1.44,
        image_noise_px=noise_px,
        **sim_kw,  # type: ignore[arg-type]
    )
    inp = geom_inputs_from_simulation(sim)
    tr = sim.truth
    _, floor = check_point_errors(inp.gcp, tr["cameras"], tr["trajectory"], tr["attitude"], tr["era_ref_rad"])
    sigma = max(noise_px, 0.01)
    # Orders 2 and 3: the Kepler model (orbit_model="kepler"), kept for comparison with the paper.
    return Case(
        sim, inp, floor, {o: adjust(inp, orbit_model="kepler", orbit_order=o, image_sigma_px=sigma) for o in orders}
    )


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return [make_case(s, n_control=24, n_check=48) for s in SEEDS]


def rms(errors: list[np.ndarray]) -> np.ndarray:
    return np.sqrt(np.mean(np.concatenate(errors) ** 2, axis=0))


def test_check_point_rmse_reaches_noise_floor(cases: list[Case]) -> None:
    floor = rms([c.floor_enu_m for c in cases])
    for order in (2, 3):
        got = rms([c.by_order[order].check_errors_enu_m for c in cases])
        # Measured (these 8 seeds): floor 0.158/0.137/0.441 m; ratio 1.045/1.098/1.073 (3rd order),
        # 1.058/1.101/1.078 (2nd order). Over 36 seeds the pooled ratio is ~1.04-1.09 per axis.
        assert np.all(got <= 1.15 * floor), (order, got, floor)
        assert np.all(got >= 0.9 * floor)
    assert all(c.by_order[3].blunders == () for c in cases)


def test_third_order_removes_the_velocity_bias(cases: list[Case]) -> None:
    dv = {o: np.array([c.by_order[o].velocity_m_s - c.sim.truth["velocity_m_s"] for c in cases]) for o in (2, 3)}
    bias2 = np.linalg.norm(dv[2], axis=1).mean()
    bias3 = np.linalg.norm(dv[3], axis=1).mean()
    # Measured (these 8 seeds): 2.44 m/s (2nd order: truncated jerk over +-33 s) vs 0.032 m/s (3rd order, J2 left).
    assert bias2 > 1.0
    assert bias3 < 0.1
    assert bias2 > 20 * bias3


def test_noise_free_model_error_is_small() -> None:
    case = make_case(100, noise_px=0.0)
    # Measured (seed 100): 3rd order 0.0002/0.002/0.009 m (J2 only); 2nd order 0.0004/0.006/0.08 m.
    assert np.all(case.by_order[3].check_rmse_enu_m < 0.03)  # m
    assert np.all(case.by_order[2].check_rmse_enu_m < 0.2)  # m: truncation absorbed by attitude
    assert case.by_order[3].sigma0 < case.by_order[2].sigma0


def test_blunder_is_detected_and_reported() -> None:
    case = make_case(7, orders=(3,), blunder=True, blunder_px=3.0)
    res = case.by_order[3]
    assert res.blunders == (case.sim.truth["blunder_id"],)
    assert res.n_control == 23
    assert res.blunders[0] not in res.residual_ids
    assert res.sigma0 < 1.5
    # The removed observation is the view that got the blunder, with |w| above the threshold.
    rows = np.flatnonzero(case.sim.gcp["ID"] == res.blunders[0])
    worst = rows[np.argmax(np.linalg.norm(case.sim.truth["noise_px"][rows], axis=1))]
    assert res.blunder_views == (str(case.sim.gcp["VIEW"][worst]),)
    assert len(res.blunder_w) == 1 and res.blunder_w[0] > 4.0


def test_result_bookkeeping(cases: list[Case]) -> None:
    res = cases[0].by_order[3]
    n_par = 6 + 2 * 5  # orbit + (roll, pitch: bias + drift; yaw: bias) per view
    assert res.n_control == 24 and res.n_check == 48
    assert res.dof == 4 * 24 + 6 - n_par
    assert res.residuals_px.shape == (48, 2)
    assert res.covariance.shape == (n_par, n_par) and len(res.parameter_names) == n_par
    assert res.check_rmse_enu_m.shape == (3,) and res.velocity_m_s.shape == (3,)
    assert 0.7 < res.sigma0 < 1.3
    assert np.linalg.norm(res.velocity_m_s) == pytest.approx(7500.0, rel=0.01)
    # The a-posteriori velocity sigma is honest w.r.t. the truth (within 5 sigma).
    sig_v = res.velocity_sigma_m_s
    assert np.all(np.abs(res.velocity_m_s - cases[0].sim.truth["velocity_m_s"]) < 5 * sig_v + 0.05)
    assert res.orbit_model == "kepler3" and res.state_covariance.shape == (6, 6)


def test_too_few_control_points_raise(cases: list[Case]) -> None:
    inp = cases[0].inputs
    ids = sorted(set(inp.gcp.point_id[inp.gcp.role == "CONTROL"]))[:5]
    keep = np.isin(inp.gcp.point_id, ids) | (inp.gcp.role == "CHECK")
    gcp = replace(
        inp.gcp,
        **{
            f: getattr(inp.gcp, f)[keep]
            for f in ("point_id", "role", "view", "lat_deg", "lon_deg", "h_m", "line", "sample")
        },
    )
    with pytest.raises(InsufficientControlError):
        adjust(replace(inp, gcp=gcp))


def test_orbit_model_and_sigmas_are_validated(cases: list[Case]) -> None:
    inp = cases[0].inputs
    with pytest.raises(OrbitModelError, match="orbit model"):
        adjust(inp, orbit_model="sgp4")
    with pytest.raises(OrbitModelError, match="sigmas"):
        adjust(inp, prior_position_sigma_m=0.0)


def test_j2_model_keeps_the_ephemeris_where_kepler_does_not(cases: list[Case]) -> None:
    """Same pairs: the default J2 model's orbit stays within metres of the truth over the views,
    the Kepler expansions (fitted to the same EPHEM) are off by tens (order 3) to hundreds (2) of m."""
    t = np.linspace(-40.0, 40.0, 81)
    for c in cases[:3]:
        res = adjust(c.inputs)
        assert res.orbit_model == "j2"
        truth = c.sim.truth["trajectory"].state(t)[0]
        err = {
            "j2": np.linalg.norm(res.orbit.state(t)[0] - truth, axis=1).max(),
            2: np.linalg.norm(c.by_order[2].orbit.state(t)[0] - truth, axis=1).max(),
        }
        assert err["j2"] < 2.0 and err[2] > 20.0, err  # measured: 0.85 m vs 47 m (seed 0)
        assert np.all(res.position_sigma_m > 0.4) and np.all(res.velocity_sigma_m_s > 1e-3)
