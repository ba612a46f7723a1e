"""The Moon method's detector gain is its own setting ([moon] e_per_dn_reference, Pléiades Neo), not the
star method's ([star] e_per_dn_reference, Pléiades).

One simulated PNEO3 Moon acquisition is processed three times on a real SQLite site (the last two as
``--reprocess`` runs, new rows): with the defaults, with another [star] gain, with another [moon] gain.
The gain only enters the photon-noise term of the uncertainty (the A_k value is a sum, not a weighted
fit), so the check is on ``a_sigma``: unchanged by the star gain, changed by the Moon gain (which shows
the test would see the gain reach the Moon result at all).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from monitor.calibration.service import run_processing
from monitor.catalogue.models import MoonMeasurement
from monitor.ingest.service import run_ingest
from monitor.settings import Settings, load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, session_scope, utc_now


def _latest(session: Session) -> dict[str, tuple[float | None, float | None]]:
    """band -> (A_k, sigma) of the latest measurement of each band."""
    per_band = (col(MoonMeasurement.acquisition_id), col(MoonMeasurement.band))
    latest = select(func.max(MoonMeasurement.id)).group_by(*per_band)
    rows = session.exec(select(MoonMeasurement).where(col(MoonMeasurement.id).in_(latest))).all()
    return {m.band: (m.a, m.a_sigma) for m in rows if m.status == "ok"}


def _process(settings: Settings, *, first: bool = False) -> dict[str, tuple[float | None, float | None]]:
    with session_scope(settings) as session:
        if first:
            run_ingest(session, settings, utc_now())
        run_processing(session, settings, utc_now(), reprocess=not first)
        return _latest(session)


def test_star_gain_does_not_change_a_moon_result(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0"})
    assert settings.moon.e_per_dn_reference == settings.star.e_per_dn_reference == 20.0  # defaults: no number moved
    init_site(settings)
    simulate_campaigns(settings.inbox, start=datetime(2025, 3, 1, tzinfo=UTC), months=1, seed=11,
                       satellites=["PNEO3"], stars_per_campaign=0, moon_per_month=1, geom_per_month=0,
                       bad_files=False)
    default = _process(settings, first=True)
    assert len(default) == 7, default

    other_star = _process(replace(settings, star=replace(settings.star, e_per_dn_reference=2.0)))
    assert other_star == default  # the same A_k and sigma, to the last bit

    other_moon = _process(replace(settings, moon=replace(settings.moon, e_per_dn_reference=2.0)))
    for band, (a, sigma) in default.items():
        a_moon, sigma_moon = other_moon[band]
        assert a_moon == pytest.approx(a, rel=1e-12)  # the gain weighs nothing in A_k itself
        assert sigma is not None and sigma_moon is not None and sigma_moon > sigma, band  # more photon noise
