"""HTTP tests of every route of the dashboard, over a real uvicorn server on a real processed
catalogue (tests/web/conftest.py): pages answer, show the numbers of the report's view model,
escape text from files, have no write route, cannot write the catalogue, and authenticate."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from monitor.catalogue.engine import make_engine
from monitor.domain import BANDS_BY_MISSION, MISSION_OF_SATELLITE, Satellite
from monitor.reports.filters import sci
from monitor.reports.period import parse_period
from monitor.reports.render import render_html
from monitor.reports.view import band_star_traces, build_context
from monitor.results import build_results
from monitor.web import charts
from tests.web.conftest import HOSTILE_NAME, REPORT_BYTES, Served, WebSite, serving

pytestmark = pytest.mark.db


def _context(site: WebSite) -> Any:
    engine = make_engine(site.settings.database_url)
    try:
        with Session(engine) as session:
            return build_context(session, site.settings, parse_period(f"{site.now:%Y-%m}"), site.now)
    finally:
        engine.dispose()


def _star_acq_id(site: WebSite) -> str:
    engine = make_engine(site.settings.database_url)
    try:
        with Session(engine) as session:
            doc = build_results(session, satellite="PHR1A")
    finally:
        engine.dispose()
    return next(m["acq_id"] for m in doc["measurements"] if m["status"] == "ok" and m["a"] is not None)


def _pages(site: WebSite) -> list[str]:
    return ["/", "/satellite/PHR1A/P", "/satellite/PNEO3/NIR", "/satellite/PHR1B/B2",
            f"/acquisition/{_star_acq_id(site)}", "/rejected", "/reports", f"/reports/{site.report_name}",
            "/export/summary.csv", "/export/measurements.csv",
            "/export/results.json", "/export/traces/PHR1A/P.csv", "/static/plotly.min.js", "/static/web.js",
            "/static/web.css"]


def test_every_route_answers(web_site: WebSite, served: Served) -> None:
    types = {".csv": "text/csv", ".json": "application/json", ".js": "text/javascript", ".css": "text/css",
             ".pdf": "application/pdf"}
    for path in _pages(web_site):
        r = served.get(path)
        assert r.status == 200, (path, r.status, r.body[:500])
        suffix = "." + path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
        assert r.header("content-type").startswith(types.get(suffix, "text/html")), (path, r.headers)
        assert "script-src 'self'" in r.header("content-security-policy")
        head = served.get(path, method="HEAD")
        assert head.status == 200 and head.body == b"", path
    assert served.get(f"/reports/{web_site.report_name}").body == REPORT_BYTES


def test_overview_shows_the_reports_numbers(web_site: WebSite, served: Served) -> None:
    ctx = _context(web_site)
    page = served.get("/").text
    assert {r.satellite for r in ctx.summary_rows} == {"PHR1A", "PNEO3"}
    # the summary table has the cells of the PDF report's (its HTML, rendered by the report's own templates)
    assert _summary_cells(page) == _summary_cells(render_html(ctx))
    assert len(_summary_cells(page)) == len(ctx.summary_rows)
    for section in ("Deliveries", "Last processing runs", "Open incidents", "Backlog", "Alerts ("):
        assert section in page
    # time since the last delivery: the site received everything at NOW
    assert re.search(r"<td class=\"l\">PHR1A</td><td class=\"l\">2025-03-05 12:00 UTC</td><td>0 h 0 min</td>", page)
    # the CSV export carries the same values, unrounded
    rows = list(csv.DictReader(io.StringIO(served.get("/export/summary.csv").text)))
    assert [(x["satellite"], x["band"], x["method"], float(x["a"]), float(x["a_sigma"])) for x in rows] == [
        (r.satellite, r.band, r.method, r.a, r.a_sigma) for r in ctx.summary_rows]


def _summary_cells(html: str) -> list[list[str]]:
    """The text of each cell of each row of the (first) summary table, tags removed."""
    table = re.search(r'<table class="data summary-table">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert table is not None
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S)
    return [[re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip()
             for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


def _figures(html: str) -> dict[str, Any]:
    return {m.group(1): json.loads(m.group(2)) for m in re.finditer(
        r'<script type="application/json" class="plot-data" data-target="([^"]+)">(.*?)</script>', html, re.S)}


def test_band_page_plots_the_reports_series(web_site: WebSite, served: Served) -> None:
    ctx = _context(web_site)
    section = next(s for s in ctx.satellites if s.satellite == "PHR1A")
    html = served.get("/satellite/PHR1A/P").text
    figs = _figures(html)
    assert {"fig-a", "fig-mtf-nyquist", "fig-mtf-curve"} <= set(figs)
    assert any(k.startswith("fig-traces-") for k in figs)
    star = next(c for c in section.calibration if c.band == "P" and c.method == "STAR")
    points = figs["fig-a"]["data"][0]
    assert points["y"] == list(star.a) and points["error_y"]["array"] == list(star.a_sigma)
    curve = next(c for c in section.mtf_curves if c.band == "P")
    assert figs["fig-mtf-curve"]["data"][0]["y"] == list(curve.along)
    # starpool members and rejected stars, each acquisition linked
    members = re.findall(r'<a href="/acquisition/([^"]+)">', html)
    assert len(members) == 5 and "member" in html
    moon = _figures(served.get("/satellite/PNEO3/NIR").text)
    assert {"fig-a", "fig-moon-time", "fig-moon-phase"} <= set(moon)
    pneo = next(s for s in ctx.satellites if s.satellite == "PNEO3")
    residuals = [m.residual_pct for m in pneo.moon if m.band == "NIR" and not m.flagged]
    assert moon["fig-moon-time"]["data"][0]["y"] == residuals
    assert "PNEO3 / PNEO4" in served.get("/satellite/PNEO3/NIR").text
    assert "No calibration result for this band." in served.get("/satellite/PHR1B/B2").text


def test_acquisition_page_shows_measurements_and_provenance(web_site: WebSite, served: Served) -> None:
    acq_id = _star_acq_id(web_site)
    engine = make_engine(web_site.settings.database_url)
    with Session(engine) as session:
        entries = [m for m in build_results(session, satellite="PHR1A")["measurements"] if m["acq_id"] == acq_id]
    engine.dispose()
    html = served.get(f"/acquisition/{acq_id}").text
    assert len(entries) == 5
    for e in entries:
        assert re.search(rf'<td class="l">{e["band"]}</td><td class="l">{e["status"]}</td>'
                         rf'<td>{re.escape(sci(e["a"], 5))}</td>'
                         rf"<td>{re.escape(sci(e['a_sigma'], 2))}</td>", html), e
    assert "Provenance" in html and "Processing run" in html and "SHA-256" in html


def test_unknown_things_are_404_and_bad_period_400(served: Served) -> None:
    for path in ("/acquisition/NOPE-1", "/satellite/PHR1A/NIR", "/satellite/XX/P", "/reports/..%2Fmonitor.toml",
                 "/reports/monitor.toml", "/static/..%2F..%2Fmonitor.toml", "/export/passwords.csv", "/nothing"):
        assert served.get(path).status == 404, path
    r = served.get("/?period=2025-13")
    assert r.status == 400 and "month must be 01-12" in r.text


def test_text_from_files_is_escaped(served: Served) -> None:
    html = served.get("/rejected").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;img src=x onerror=alert(1)&gt;.fits" in html
    for path in ("/rejected", "/", "/satellite/PHR1A/P"):
        body = served.get(path).text
        assert "<img src=x" not in body and "<script>alert" not in body, path
    assert HOSTILE_NAME not in html


def test_only_loopback_host_names_are_answered(served: Served) -> None:
    """A page on another site cannot read the dashboard through DNS rebinding: its Host is refused."""
    assert served.get("/", headers={"Host": "attacker.example"}).status == 400
    assert served.get("/", headers={"Host": "localhost:8050"}).status == 200


def test_no_write_routes(web_site: WebSite, served: Served) -> None:
    for route in served.app.routes:
        assert set(route.methods) <= {"GET", "HEAD"}, route.path
    for path in _pages(web_site)[:8]:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert served.get(path, method=method).status == 405, (method, path)


def test_the_dashboards_engine_cannot_write(web_site: WebSite, served: Served) -> None:
    engine = served.app.state.engine
    with pytest.raises(sa.exc.DBAPIError):
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM rejection")
    with pytest.raises(sa.exc.DBAPIError):
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE intruder (x INTEGER)")
    writer = make_engine(web_site.settings.database_url)
    with writer.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM rejection").scalar_one() > 0
    writer.dispose()


def test_no_secret_on_any_page(web_site: WebSite, served: Served) -> None:
    from dataclasses import replace

    from monitor.web.app import create_app

    secret = "s3cret-Pa55word-of-the-catalogue"
    settings = replace(web_site.settings, database_password=secret)
    app = create_app(settings, served.app.state.engine, now=lambda: web_site.now)  # (SQLite takes no password)
    with serving(app) as s:
        for path in _pages(web_site):
            body = s.get(path).body
            assert secret.encode() not in body, path
            assert b"catalogue.db" not in body and b"sqlite:" not in body, path


def test_basic_authentication(web_site: WebSite) -> None:
    from monitor.web.app import create_app

    app = create_app(web_site.settings, now=lambda: web_site.now, auth=("alice", "correct horse"))

    def basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    try:
        with serving(app) as s:
            for path in ("/", "/reports", f"/reports/{web_site.report_name}", "/static/web.js", "/nothing"):
                r = s.get(path)
                assert r.status == 401 and r.header("www-authenticate").startswith("Basic"), path
                assert r.status == 401 and b"PDF" not in r.body
            assert s.get("/", headers=basic("alice", "wrong")).status == 401
            assert s.get("/", headers=basic("bob", "correct horse")).status == 401
            assert s.get("/", headers={"Authorization": "Basic !!!notbase64"}).status == 401
            assert s.get("/", headers=basic("alice", "correct horse")).status == 200
            assert s.get("/reports", headers=basic("alice", "correct horse")).status == 200
    finally:
        app.state.engine.dispose()


def test_serve_refuses_other_interfaces_without_credentials(web_site: WebSite) -> None:
    from monitor.cli import app

    runner = CliRunner()
    env = {"MONITOR_SITE": str(web_site.settings.site), "MONITOR_WEB_USER": "", "MONITOR_WEB_PASSWORD": ""}
    done = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"], env=env)
    assert done.exit_code == 2
    lines = [x for x in done.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "refusing to listen on 0.0.0.0 without authentication" in lines[0]
    done = runner.invoke(app, ["serve", "--host", "10.1.2.3"], env={**env, "MONITOR_WEB_USER": "alice"})
    assert done.exit_code == 2 and "MONITOR_WEB_PASSWORD" in done.output


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.3.2.1", True), ("localhost", True),
                                            ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("::", False),
                                            ("192.168.1.5", False), ("example.org", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    from monitor.cli_web import is_loopback

    assert is_loopback(host) is loopback


def test_band_pages_show_the_reports_star_traces(web_site: WebSite, served: Served) -> None:
    """The dashboard's view model has no star traces (issue 21: reading every satellite's was most
    of an uncached page); each band page reads its own panel, the same as the report's."""
    period = parse_period(f"{web_site.now:%Y-%m}")
    engine = make_engine(web_site.settings.database_url)
    try:
        with Session(engine) as session:
            full = build_context(session, web_site.settings, period, web_site.now)
            light = build_context(session, web_site.settings, period, web_site.now, star_traces=False)
            panels = {(s.value, b): band_star_traces(session, s.value, b, period)
                      for s in Satellite for b in BANDS_BY_MISSION[MISSION_OF_SATELLITE[s]]}
    finally:
        engine.dispose()
    # without traces, everything else is the same
    assert all(not sec.star_traces for sec in light.satellites)
    assert repr(replace(light, satellites=[replace(s, star_traces=[]) for s in full.satellites])) == repr(light)
    # each band's own panel is the report's panel of that band (repr: exact floats, nan included)
    report_panels = {(sec.satellite, t.band): t for sec in full.satellites for t in sec.star_traces}
    assert {k for k, v in panels.items() if v is not None} == set(report_panels)
    assert len(report_panels) >= 4
    for key, panel in report_panels.items():
        assert repr(panels[key]) == repr(panel)
    # the page draws it
    panel = report_panels[("PHR1A", "P")]
    figs = _figures(served.get("/satellite/PHR1A/P").text)
    assert {k for k in figs if k.startswith("fig-traces-")} == {f"fig-traces-{w.half_width_px}" for w in panel.windows}
    for w in panel.windows:
        expected = charts.star_traces(w, f"PHR1A P: star traces, window half-width {w.half_width_px} px")
        assert figs[f"fig-traces-{w.half_width_px}"] == json.loads(json.dumps(expected))


def test_view_model_cache_follows_the_catalogue(web_site: WebSite, served: Served) -> None:
    """A period's view model is reused while nothing changed, rebuilt once a file is refused."""
    import os

    from monitor.ingest.service import run_ingest
    from monitor.site import session_scope
    from monitor.web.pages import ContextCache

    cache = ContextCache(ttl_s=3600)
    period = parse_period(f"{web_site.now:%Y-%m}")
    engine = served.app.state.engine
    with Session(engine) as session:
        first = cache.get(session, web_site.settings, period, web_site.now)
        assert cache.get(session, web_site.settings, period, web_site.now) is first
    assert "late-garbage.fits" not in served.get("/rejected").text
    late = web_site.settings.inbox / "late-garbage.fits"
    late.write_bytes(b"garbage")
    os.utime(late, (web_site.now.timestamp() - 60, web_site.now.timestamp() - 60))
    with session_scope(web_site.settings) as session:
        assert run_ingest(session, web_site.settings, web_site.now).rejected
    with Session(engine) as session:
        assert cache.get(session, web_site.settings, period, web_site.now) is not first
    assert "late-garbage.fits" in served.get("/rejected").text


def test_monitor_serve_command_serves_the_site(web_site: WebSite) -> None:
    """``monitor serve`` itself (a subprocess): listens on the port, authenticates with the
    environment's credentials, stops on SIGTERM."""
    import signal
    import socket
    import subprocess
    import time
    import urllib.error
    import urllib.request

    from tests.harness import REPO_ROOT, command
    from tests.test_cli_errors import _env

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = _env(MONITOR_DATABASE_URL=web_site.settings.database_url, MONITOR_WEB_USER="alice",
               MONITOR_WEB_PASSWORD="pw of alice")
    proc = subprocess.Popen(command("serve", "--port", str(port), "--site", str(web_site.settings.site)), env=env,
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    token = base64.b64encode(b"alice:pw of alice").decode()
    try:
        deadline = time.monotonic() + 90
        status = None
        while status is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/reports", timeout=30)  # noqa: S310
                status = 200
            except urllib.error.HTTPError as e:
                status = e.code
            except OSError:
                time.sleep(0.2)
        assert status == 401, (status, proc.poll(), proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
        req = urllib.request.Request(f"http://127.0.0.1:{port}/reports", headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310
            assert r.status == 200 and web_site.report_name in r.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    # uvicorn shuts down cleanly, then re-raises the SIGTERM it caught (exit by that signal)
    assert proc.returncode in (0, -signal.SIGTERM) and "Traceback" not in err, err
    assert f"http://127.0.0.1:{port}/" in out and "basic authentication" in out
