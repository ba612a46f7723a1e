"""Report parts of issue 16: the PNEO3/PNEO4 ratio from geometry-matched pairs (with numbers) and
the lunar-comparison section."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from monitor.calibration.moon import phase_aliased_rate_sigma
from monitor.catalogue import operations
from monitor.catalogue.models import Acquisition, MoonMeasurement
from monitor.reports.lunar import pneo_ratio_rows
from monitor.science.moon_trends import PhaseSlope
from monitor.settings import load_settings
from monitor.site import init_site, session_scope

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _acq(k: int, sat: str, t: datetime) -> Acquisition:
    return Acquisition(acq_id=f"{sat}-MOON-{k:03d}", sha256=f"{k:064x}", file_name=f"f{k}.fits", size_bytes=1,
                       acq_type="MOON", satellite=sat, target="MOON", date_obs=t, sc_pos_x_km=7000.0,
                       sc_pos_y_km=0.0, sc_pos_z_km=0.0, sc_vel_x_km_s=0.0, sc_vel_y_km_s=7.5, sc_vel_z_km_s=0.0,
                       icd="ICD-1", archive_path=f"archive/f{k}.fits", status="archived", received_at=t)


def test_pneo_ratio_uses_geometry_matched_pairs_never_flagged(tmp_path: Path) -> None:
    """Two pairs at matched geometry with A3/A4 = 0.97 and 0.99 (equal weights: 0.98); decoys that
    a "latest values" ratio would use: a later PNEO4 measurement on the other branch (A = 2.0),
    a PNEO4 one 50 days away (A = 3.0), and a flagged PNEO3 one (A = 5.0) at a matching geometry
    (the ratio of the latest values would be 5.0 / 3.0)."""
    settings = load_settings(tmp_path / "site", env={})
    init_site(settings)
    rows = [  # (satellite, days from T0, signed g, A, status)
        ("PNEO3", 0.0, -30.0, 0.97, "ok"), ("PNEO4", 0.1, -30.5, 1.00, "ok"),
        ("PNEO3", 10.0, 40.0, 0.99, "ok"), ("PNEO4", 11.0, 41.5, 1.00, "ok"),
        ("PNEO4", 12.0, -41.0, 2.00, "ok"),  # other branch than PNEO3's +40
        ("PNEO4", 50.0, -30.0, 3.00, "ok"),  # 50 days from the -30 deg PNEO3 acquisition
        ("PNEO3", 12.5, -41.0, 5.00, "flagged"),  # would pair with the -41 PNEO4 one
    ]
    with session_scope(settings) as session:
        run = operations.start_run(session, "process", T0)
        for k, (sat, days, g, a, status) in enumerate(rows):
            acq = _acq(k, sat, T0 + timedelta(days=days))
            session.add(acq)
            session.flush()
            budget = {"noise": 1e-4, "background": 1e-4, "aperture": 0.0, "geometry": 2.4e-4, "model": 0.01,
                      "model_temporal": 1e-3}
            session.add(MoonMeasurement(run_id=run.id, acquisition_id=acq.id, band="G", status=status,
                                        phase_angle_deg=g, a=a, a_sigma=0.01 * a, budget=budget,
                                        in_trend=status == "ok", created_at=T0))
        session.commit()
        ratios = pneo_ratio_rows(session, settings)
    assert [r.band for r in ratios] == ["G"]
    r = ratios[0]
    assert r.n_pairs == 2
    # weighted mean with sigma_i = r_i x (same relative sigma): weights 1 / r_i^2
    w = np.array([1 / 0.97**2, 1 / 0.99**2])
    assert r.ratio == pytest.approx(float(w @ [0.97, 0.99] / w.sum()), abs=1e-12)  # 0.97980
    assert r.ratio == pytest.approx(0.9798, abs=1e-4)
    # independent terms only (model cancels): sqrt(2) x 2.77e-4 per pair, Birge-scaled by the scatter
    per_pair = np.sqrt(2.0) * np.sqrt(1e-4**2 + 1e-4**2 + 2.4e-4**2)
    sig = np.array([0.97, 0.99]) * per_pair
    mean = r.ratio
    chi2_dof = float(((np.array([0.97, 0.99]) - mean) ** 2 / sig**2).sum())  # dof = 1
    expected = np.sqrt(1.0 / (1.0 / sig**2).sum()) * np.sqrt(chi2_dof)  # Birge-scaled
    assert r.ratio_sigma == pytest.approx(expected, rel=1e-9)
    assert r.ratio_sigma == pytest.approx(0.0100, abs=2e-4)  # the scatter of the two pairs dominates


def test_phase_slope_widens_the_drift_sigma_only_when_phase_trends_with_time() -> None:
    years = np.linspace(0.0, 2.0, 9)
    slope = PhaseSlope(slope_per_deg=1e-4, slope_sigma_per_deg=5e-5, offset=0.0, reference_phase_deg=40.0,
                       chi2_dof=1.0, n_points=9)
    flat = np.full(9, 40.0)
    assert phase_aliased_rate_sigma(0.002, years, flat, slope) == pytest.approx(0.002)
    trending = 20.0 + 15.0 * years  # |g| grows 15 deg/year: a 1e-4/deg model slope aliases to 1.5e-3/year
    expected = np.sqrt(0.002**2 + 15.0**2 * (1e-4**2 + 5e-5**2))
    assert phase_aliased_rate_sigma(0.002, years, trending, slope) == pytest.approx(expected)
    assert phase_aliased_rate_sigma(0.002, years, trending, None) == 0.002
