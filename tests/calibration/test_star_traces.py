"""Star traces of stars rejected from their starpool (issue 20).

A real site: one simulated PHR1A campaign of 10 stars (enough for the PSF fit and the EE
correction), one star made an outlier by a GAINFACT four times too large in every band (its
normalised counts are four times too low), ingested and processed. A star rejected from its
starpool is not usable in the traces (its encircled energy, evaluated at a meaningless fitted
centre, reached ~1e-8 in the demo and its ratio 3e8), and every usable ratio is close to 1.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from monitor.calibration.service import run_processing
from monitor.catalogue import star_results
from monitor.domain import BANDS_BY_MISSION, Mission
from monitor.ingest.service import run_ingest
from monitor.reports.period import parse_period
from monitor.reports.view import build_context
from monitor.results import star_traces
from monitor.settings import Settings, load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, session_scope

BANDS = BANDS_BY_MISSION[Mission.PHR]
START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 2, 10, tzinfo=UTC)


def _site(tmp_path: Path, catalogue_url: str) -> tuple[Settings, str]:
    settings = load_settings(tmp_path / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0",
                                                     "MONITOR_DATABASE_URL": catalogue_url})
    init_site(settings)
    truth = simulate_campaigns(settings.inbox, start=START, months=1, seed=5, satellites=["PHR1A"],
                               stars_per_campaign=10, moon_per_month=0, geom_per_month=0, bad_files=False,
                               saturated_fraction=0.0, gzip_fraction=0.0, uint16_fraction=0.0)
    star = next(f for f in truth.files if f.type == "STAR" and f.status == "ok" and f.file.endswith(".fits"))
    with fits.open(settings.inbox / star.file, mode="update") as hd:
        for band in BANDS:
            hd[band].header["GAINFACT"] = 4.0 * float(hd[band].header["GAINFACT"])
    with session_scope(settings) as session:
        run_ingest(session, settings, NOW)
        run_processing(session, settings, NOW)
    assert star.acq_id is not None
    return settings, star.acq_id


@pytest.mark.slow  # ~20 s: the PSF fits of four bands
@pytest.mark.e2e  # the traces' queries are the fast tests' concern: once, on SQLite
def test_rejected_stars_not_usable_and_usable_ratios_sane(tmp_path: Path, catalogue_url: str) -> None:
    settings, outlier = _site(tmp_path, catalogue_url)
    with session_scope(settings) as session:
        report = build_context(session, settings, parse_period("2025-01"), NOW)
        for band in BANDS:
            ((res, _pool),) = star_results.latest_starpool_results(session, "PHR1A", band)
            assert res.ee_source.startswith("psf-fit"), res.ee_source  # the EE-corrected case of the demo
            assert outlier in {r["acq_id"] for r in res.rejected}, band
            rejected = {r["acq_id"] for r in res.rejected}
            traces = [dataclasses.asdict(p) for p in star_traces(session, "PHR1A", band)]
            assert traces
            for t in traces:
                if t["acq_id"] in rejected:
                    assert t["usable"] is False, (band, t)
                    assert t["ratio_to_prediction"] is None, (band, t)
                    assert t["reason"], (band, t)
                if t["usable"]:
                    # within a factor 3 of 1: the faint stars' large MS windows are background-
                    # limited (sigma 13 to 28 %) and run up to 2.2 (issue 20 noted it); the defect
                    # was 3e8
                    assert 1 / 3 < t["ratio_to_prediction"] < 3.0, (band, t)
            for h in sorted({t["half_width_px"] for t in traces if t["usable"]}):
                med = float(np.median([t["ratio_to_prediction"] for t in traces
                                       if t["usable"] and t["half_width_px"] == h]))
                assert 0.8 < med < 1.25, (band, h, med)
            assert any(t["usable"] for t in traces)
            out = [t for t in traces if t["acq_id"] == outlier]
            assert out and all("outlier" in str(t["reason"]) for t in out), out
            # the report's panels: only usable rows, none of them absurd
            phr1a = next(s for s in report.satellites if s.satellite == "PHR1A")
            panel = next(p for p in phr1a.star_traces if p.band == band)
            for w in panel.windows:
                assert all(1 / 3 < r < 3.0 for tr in w.traces for r in tr.ratio), (band, w.half_width_px)
