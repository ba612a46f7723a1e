"""The whole chain on the test catalogue (SQLite, and PostgreSQL when CI reruns ``db`` tests).

SQLite does not enforce VARCHAR lengths, nor some type coercions, that PostgreSQL does: every
result table (star photometry and windows, starpool results, MTF, drift, alerts, Moon, geometry)
and the report's catalogue row are written here at least once, then read back through the ICD 5
export.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor.calibration.service import run_processing
from monitor.ingest.service import run_ingest
from monitor.reports.service import run_report
from monitor.results import build_results
from monitor.settings import load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, session_scope


def test_ingest_process_export_and_report(tmp_path: Path, catalogue_url: str) -> None:
    settings = load_settings(tmp_path / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0",
                                                     "MONITOR_DATABASE_URL": catalogue_url})
    init_site(settings)
    simulate_campaigns(settings.inbox, start=datetime(2025, 1, 1, tzinfo=UTC), months=3, seed=5,
                       stars_per_campaign=8, moon_per_month=1, geom_per_month=1, bad_files=True)
    now = datetime(2025, 4, 2, tzinfo=UTC)
    with session_scope(settings) as session:
        ing = run_ingest(session, settings, now)
        assert ing.ingested and ing.rejected
        out = run_processing(session, settings, now)
        star = out.parts["star"]
        assert star.photometry >= 2 * 3 * 8 - 2 and len(star.starpools) == 6  # PHR1A/1B x 3 months
        doc = build_results(session)
        report = run_report(session, settings, now, period="2025-03")
    methods = {c["method"] for c in doc["calibration"]}
    assert methods == {"STAR", "MOON"}, methods
    assert {m["satellite"] for m in doc["mtf"]} == {"PHR1A", "PHR1B"}
    assert doc["geometry"] and doc["measurements"]
    assert report.path.is_file() and report.path.read_bytes().startswith(b"%PDF")
