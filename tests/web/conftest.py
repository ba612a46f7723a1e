"""A small processed site shared by the web tests (built once per session): two months of
simulated PHR1A, PNEO3 and PNEO4 acquisitions (stars, Moon, refused files, and a file whose name
is HTML), ingested and processed, plus an archived PDF report."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from monitor.calibration.service import run_processing
from monitor.ingest.service import run_ingest
from monitor.settings import Settings, load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, session_scope

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
HOSTILE_NAME = '<script>alert("x")<img src=x onerror=alert(1)>.fits'


@dataclass(frozen=True)
class WebSite:
    settings: Settings
    now: datetime
    report_name: str


def _database_url(tmp: Path) -> Iterator[str]:
    """SQLite in ``tmp``, or a fresh PostgreSQL database when MONITOR_TEST_DATABASE_URL says so."""
    env_url = os.environ.get("MONITOR_TEST_DATABASE_URL", "")
    if not (env_url and make_url(env_url).get_backend_name() == "postgresql"):
        yield f"sqlite:///{tmp / 'catalogue.db'}"
        return
    server = make_url(env_url)
    name = f"monitor_web_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def web_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    from monitor.reports.service import run_report

    tmp = tmp_path_factory.mktemp("web")
    for url in _database_url(tmp):
        settings = load_settings(tmp / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0",
                                                    "MONITOR_DATABASE_URL": url})
        init_site(settings)
        simulate_campaigns(settings.inbox, start=datetime(2025, 1, 1, tzinfo=UTC), months=2, seed=11,
                           satellites=("PHR1A", "PNEO3", "PNEO4"), stars_per_campaign=8, moon_per_month=2,
                           geom_per_month=0, bad_files=True)
        (settings.inbox / HOSTILE_NAME).write_bytes(b"not a FITS file")
        with session_scope(settings) as session:
            run_ingest(session, settings, NOW)
            run_processing(session, settings, NOW)
            outcome = run_report(session, settings, NOW, "2025-02", send=False)
        assert outcome.path is not None
        yield WebSite(settings=settings, now=NOW, report_name=outcome.path.name)
