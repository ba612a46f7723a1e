"""The drift alert rule (issue 20): a RATE alert only when the rate is significantly above the
threshold, ``|rate| - k * sigma > threshold``, and only from a fit of at least ``min_epochs``
epochs; no alert at all from fewer epochs. Synthetic drift series of known truth."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.science.drift import AlertKind, DriftFit, drift_alerts, fit_drift

A0 = 180.0
THRESHOLD = 0.02  # the default [star]/[moon] drift_alert_rate_per_year


def _series(truth: float, n: int, sigma_rel: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = 2025.0 + np.arange(n) / 12.0  # monthly campaigns
    model = A0 * (1.0 + truth * (t - t.mean()))
    sig = sigma_rel * model
    return t, model + sig * rng.standard_normal(n), sig


def _rate_alerts(fit: DriftFit, t: np.ndarray, a: np.ndarray, s: np.ndarray, **kw: float) -> list[AlertKind]:
    return [al.kind for al in drift_alerts(fit, t, a, s, 3.0, THRESHOLD, **kw) if al.kind is AlertKind.RATE]


def test_significant_drift_alerts() -> None:
    t, a, s = _series(-0.10, 24, 0.002, seed=1)  # -10 %/yr over two years, 0.2 % campaigns
    fit = fit_drift(t, a, s)
    assert fit.rate_sigma_per_year < 0.005
    assert _rate_alerts(fit, t, a, s) == [AlertKind.RATE]


def test_demo_case_minus_2p45_plus_minus_2p35_does_not_alert() -> None:
    """The demo's only alert: -2.45 +- 2.35 %/yr (truth -1.5): above 2 %/yr, not significantly."""
    fit = DriftFit(model="linear", reference_time_years=2025.5, a0=A0, a0_sigma=0.1, rate_per_year=-0.0245,
                   rate_sigma_per_year=0.0235, covariance=np.diag([0.01, 0.0235**2]), chi2=4.0, dof=4,
                   scale_factor=1.0, normalised_residuals=np.zeros(6), n_points=6)
    t = np.linspace(2025.0, 2026.0, 6)
    a = A0 * (1.0 - 0.0245 * (t - 2025.5))
    s = np.full(6, 0.5)
    assert _rate_alerts(fit, t, a, s) == []
    # the old rule (k = 0) would have alerted: the significance term is what refuses it
    assert _rate_alerts(fit, t, a, s, rate_k_sigma=0.0) == [AlertKind.RATE]


def test_insignificant_noisy_series_does_not_alert() -> None:
    t, a, s = _series(-0.015, 6, 0.01, seed=4)  # truth -1.5 %/yr, 1 % campaigns, 6 months
    fit = fit_drift(t, a, s)
    assert abs(fit.rate_per_year) - 2.0 * fit.rate_sigma_per_year <= THRESHOLD
    assert _rate_alerts(fit, t, a, s) == []


@pytest.mark.parametrize("truth", [-0.5, 0.5])
def test_two_epoch_fit_never_alerts(truth: float) -> None:
    """Two points: any rate, however 'significant', and any departure give no alert."""
    t = np.array([2025.0, 2025.1])
    a = A0 * (1.0 + truth * (t - 2025.05))
    s = 1e-4 * a
    fit = fit_drift(t, a, s)
    assert abs(fit.rate_per_year) - 2.0 * fit.rate_sigma_per_year > THRESHOLD  # would alert on the rate
    assert drift_alerts(fit, t, a, s, 3.0, THRESHOLD) == []
    assert drift_alerts(fit, np.array([2025.2]), np.array([A0 * 0.5]), np.array([0.01]), 3.0, THRESHOLD) == []
    # four epochs (the default minimum) of the same drift do alert
    t4 = 2025.0 + np.arange(4) / 10.0
    a4 = A0 * (1.0 + truth * (t4 - t4.mean()))
    fit4 = fit_drift(t4, a4, 1e-4 * a4)
    assert _rate_alerts(fit4, t4, a4, 1e-4 * a4) == [AlertKind.RATE]
    assert _rate_alerts(fit4, t4, a4, 1e-4 * a4, min_epochs=5) == []


def test_rule_parameters_checked() -> None:
    t, a, s = _series(-0.1, 6, 0.002, seed=2)
    fit = fit_drift(t, a, s)
    with pytest.raises(ValueError):
        drift_alerts(fit, t, a, s, 3.0, THRESHOLD, rate_k_sigma=-1.0)
    with pytest.raises(ValueError):
        drift_alerts(fit, t, a, s, 3.0, THRESHOLD, min_epochs=1)
