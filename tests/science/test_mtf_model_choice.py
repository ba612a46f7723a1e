"""Model-choice term by Akaike-weighted averaging over nested models (monitor.science.mtf_model_choice).

Truth here is a linear-Gaussian least-squares problem solved independently (numpy lstsq refits of
each nested model), not the module's conditional-mean algebra. These tests catch: a wrong shift or
chi2 increase (sign, missing nuisance coupling, wrong covariance block), wrong Akaike weights
(penalty sign, normalisation), a spread that is not zero when the data reject every alternative.
They cannot tell whether the ensemble of nested models is rich enough for real optics: that is
measured on the pupil truth by benchmarks/mtf.py (pull scatter of the reported MTF).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.science.mtf_model_choice import default_alternatives, ensemble_sigma, nested_model_ensemble


def _linear_problem(seed: int, theta_true: np.ndarray, n: int = 200, noise: float = 1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, theta_true.size))
    x[:, 1] += 0.6 * x[:, 0]  # correlated parameters, as blur and wave-front error are
    y = x @ theta_true + rng.normal(0.0, noise, n)
    theta, *_ = np.linalg.lstsq(x, y, rcond=None)
    cov = np.linalg.inv(x.T @ x) * noise**2
    return x, y, theta, cov


def _refit(x: np.ndarray, y: np.ndarray, held: list[int], held_values: np.ndarray) -> tuple[np.ndarray, float]:
    free = [i for i in range(x.shape[1]) if i not in held]
    y_res = y - x[:, held] @ held_values[held]
    sol, *_ = np.linalg.lstsq(x[:, free], y_res, rcond=None)
    theta = held_values.copy()
    theta[free] = sol
    r = y - x @ theta
    return theta, float(r @ r)


def test_shifts_and_chi2_increase_equal_the_refits_of_the_nested_models() -> None:
    truth = np.array([1.0, 0.3, -0.5, 0.05])
    x, y, theta, cov = _linear_problem(3, truth)
    design = np.zeros(4)
    names = ["a", "b", "c", "d"]
    ens = nested_model_ensemble(theta, cov, names, [("b",), ("c", "d"), ("d",)], design)
    _, chi2_full = _refit(x, y, [], design)
    for held_names, shift, d2 in zip(ens.names, ens.shifts, ens.delta_chi2, strict=True):
        held = [names.index(n) for n in held_names]
        ref, chi2 = _refit(x, y, held, design)
        np.testing.assert_allclose(theta + shift, ref, atol=1e-10)
        assert d2 == pytest.approx(chi2 - chi2_full, rel=1e-8, abs=1e-9)
    assert ens.weights.sum() == pytest.approx(1.0)
    assert ens.names[0] == ()


def test_weights_follow_aic_and_rejected_models_add_nothing() -> None:
    # b is 0.3 true with sigma ~0.09: holding it at 0 costs dchi2 ~10 -> weight ~exp(-4) of the full's
    truth = np.array([1.0, 0.3, 0.0])
    x, y, theta, cov = _linear_problem(5, truth)
    ens = nested_model_ensemble(theta, cov, ["a", "b", "c"], [("b",), ("c",)], np.zeros(3))
    aic = ens.delta_chi2 - 2.0 * np.array([0, 1, 1])
    expected = np.exp(-0.5 * (aic - aic.min()))
    np.testing.assert_allclose(ens.weights, expected / expected.sum(), rtol=1e-12)
    # c is truly at its design value: the data cannot reject holding it, it gets most of the weight
    assert ens.weights[2] > ens.weights[0]
    # a quantity that depends only on a: its spread is the weighted rms of the models' changes of a
    sig = ensemble_sigma(ens, np.array([[1.0, 0.0, 0.0]]))[0]
    assert sig == pytest.approx(math.sqrt(float(ens.weights @ ens.shifts[:, 0] ** 2)), rel=1e-12)
    # a strongly rejected alternative (b held 20 sigma away) contributes ~nothing
    held = np.array([0.0, theta[1] + 20 * math.sqrt(cov[1, 1]), 0.0])
    far = nested_model_ensemble(theta, cov, ["a", "b", "c"], [("b",)], held)
    assert far.weights[1] < 1e-80
    assert ensemble_sigma(far, np.eye(3)).max() < 1e-30


def test_default_alternatives_and_dropped_duplicates() -> None:
    alts = default_alternatives(["s", "m", "ab_a", "ab_c"], ["ab_a", "ab_c", "obscuration"])
    assert alts == [("s",), ("m",), ("ab_a",), ("ab_c",), ("ab_a", "ab_c")]
    ens = nested_model_ensemble([1.0, 1.0], np.eye(2), ["p", "q"], [("p",), ("p",), ("zz",), ()], [0.0, 0.0])
    assert ens.names == ((), ("p",))
