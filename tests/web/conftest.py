"""A small processed site shared by the web tests (built once per session): simulated PHR1A star
acquisitions and PNEO3 Moon acquisitions, refused files (one whose name is HTML), ingested and
processed, plus an archived report."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from monitor.calibration.service import run_processing
from monitor.ingest.service import run_ingest
from monitor.reports.archive import archive_report
from monitor.settings import Settings, load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, session_scope
from tests.pg import fresh_postgres_database

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
REPORT_BYTES = b"%PDF-1.4\n% monitor web test\n%%EOF\n"
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
    with fresh_postgres_database(env_url, prefix="monitor_web") as url:
        yield url


@pytest.fixture(scope="session")
def web_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    tmp = tmp_path_factory.mktemp("web")
    for url in _database_url(tmp):
        settings = load_settings(tmp / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0",
                                                    "MONITOR_DATABASE_URL": url})
        init_site(settings)
        # PHR1A: one month of star acquisitions (5 stars: enough for the PSF/MTF fit) and refused files;
        # PNEO3: two months of Moon acquisitions (A_k series with a drift fit)
        simulate_campaigns(settings.inbox, start=datetime(2025, 2, 1, tzinfo=UTC), months=1, seed=11,
                           satellites=("PHR1A",), stars_per_campaign=5, moon_per_month=0, geom_per_month=0,
                           bad_files=True)
        simulate_campaigns(settings.inbox, start=datetime(2025, 1, 1, tzinfo=UTC), months=2, seed=12,
                           satellites=("PNEO3",), stars_per_campaign=0, moon_per_month=1, geom_per_month=0,
                           bad_files=False)
        hostile = settings.inbox / HOSTILE_NAME
        hostile.write_bytes(b"not a FITS file")
        os.utime(hostile, (NOW.timestamp() - 3600, NOW.timestamp() - 3600))  # delivered before NOW
        with session_scope(settings) as session:
            run_ingest(session, settings, NOW)
            run_processing(session, settings, NOW)
        # an archived report (the archive's own writer; rendering a real PDF is the report tests' job)
        archived = archive_report(settings, "monitor-report-2025-02", REPORT_BYTES, lambda name: f"{name}\n")
        yield WebSite(settings=settings, now=NOW, report_name=archived.path.name)


@dataclass
class Served:
    """A dashboard served by uvicorn on a free loopback port (a real HTTP server)."""

    base: str
    app: Any

    def get(self, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> Response:
        req = urllib.request.Request(self.base + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - loopback only
                return Response(r.status, dict(r.headers.items()), r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, dict(e.headers.items()), e.read())


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), "")


@contextmanager
def serving(app: Any) -> Iterator[Served]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def served(web_site: WebSite) -> Iterator[Served]:
    """The dashboard of ``web_site`` (its own read-only engine), clock at ``NOW``."""
    from monitor.web.app import create_app

    app = create_app(web_site.settings, now=lambda: web_site.now)
    try:
        with serving(app) as s:
            yield s
    finally:
        app.state.engine.dispose()
