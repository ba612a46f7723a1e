"""Page load times of the web dashboard (``monitor serve``) on a demo-sized catalogue.

Serves the site's dashboard with uvicorn on a loopback port (the read-only engine of
``monitor serve``) and fetches every page over HTTP: the overview, every satellite/band page, one
acquisition page, the rejected-input list, the reports list and the exports. Twice: as served
(``cached``: the period's report view model is reused while the catalogue is unchanged) and with
that cache off (``uncached``: every page reads two years of results again, the worst case, e.g.
right after a processing run). Prints one JSON object: per configuration and page the first load
and the median and max of ``--runs`` further loads, in seconds of wall time and of CPU time of the
process (server and client; on a machine shared with other work the CPU time is the figure that
does not depend on the load), the page size, and whether every median (wall) and every max (CPU)
is within the target (1 s, issue 21).

Usage: ``.venv/bin/python benchmarks/web.py --site monitor-demo [--runs 5]`` (a site made by
``monitor demo``; without ``--site`` a demo site is made first in a temporary directory, which
takes a few minutes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

TARGET_S = 1.0


def _serve(app: Any) -> tuple[Any, str]:
    import socket

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


def _get(url: str) -> tuple[float, float, int]:
    """Wall time and CPU time of this process (the server's thread, the client's share is small)
    of one page load, and the page size."""
    t0, c0 = time.perf_counter(), time.process_time()
    with urllib.request.urlopen(url, timeout=120) as r:  # noqa: S310 - loopback
        body = r.read()
        assert r.status == 200, (url, r.status)
    return time.perf_counter() - t0, time.process_time() - c0, len(body)


def _browser_loads(base: str, paths: list[str], runs: int) -> dict[str, Any]:
    """Page loads in headless Chromium (Debian ``chromium`` + ``chromium-driver``): from the start
    of the navigation until every figure is drawn (``data-charts-drawn`` set by web.js, or the load
    event on a page without figures), as the browser's clock measures it; first load (empty
    browser cache: Plotly.js fetched and compiled) and median and max of ``runs`` further loads."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1800"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    script = ("var t = performance.getEntriesByType('navigation')[0];"
              "var drawn = document.body.getAttribute('data-charts-drawn');"
              "var charts = document.querySelectorAll('div.chart').length;"
              "if (t.loadEventEnd === 0 || (charts > 0 && drawn === null)) return null;"
              "return (charts > 0 ? performance.now() : t.loadEventEnd) / 1000;")
    out: dict[str, Any] = {}
    try:
        for path in paths:
            times = []
            for _ in range(runs + 1):
                driver.get(base + path)
                deadline = time.monotonic() + 60
                value = None
                while value is None and time.monotonic() < deadline:
                    value = driver.execute_script(script)
                    if value is None:
                        time.sleep(0.01)
                times.append(float(value))
            out[path] = {"first_s": round(times[0], 3), "median_s": round(statistics.median(times[1:]), 3),
                         "max_s": round(max(times[1:]), 3)}
    finally:
        driver.quit()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=None, help="a site made by 'monitor demo'")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--browser", action="store_true",
                        help="also time the overview and two band pages in headless Chromium, figures drawn")
    args = parser.parse_args()

    from monitor.logconfig import configure_logging
    from monitor.settings import load_settings
    from monitor.web import pages
    from monitor.web.app import create_app

    configure_logging("ERROR", rich_console=False)
    tmp = None
    site = args.site
    if site is None:
        from monitor.demo import run_demo

        tmp = tempfile.TemporaryDirectory(prefix="monitor-bench-web-")
        site = Path(tmp.name) / "demo"
        run_demo(site)
    settings = load_settings(site)
    out: dict[str, Any] = {"python": sys.version.split()[0], "site": str(site), "runs": args.runs,
                           "target_s": TARGET_S}
    for name, ttl in (("cached", 30.0), ("uncached", 0.0)):
        app = create_app(settings, cache_ttl_s=ttl)
        server, base = _serve(app)
        from sqlmodel import Session

        with Session(app.state.engine) as session:
            acq = pages.star_traces(session, "PHR1A", "P")
        paths = ["/"] + [f"/satellite/{s}/{b}" for s, bands in pages.satellites_and_bands() for b in bands]
        if acq:
            paths.append(f"/acquisition/{acq[-1].acq_id}")
        paths += ["/rejected", "/reports", "/export/summary.csv", "/export/measurements.csv",
                  "/export/results.json", "/export/traces/PHR1A/P.csv"]
        results = {}
        for path in paths:
            first, first_cpu, size = _get(base + path)
            loads = [_get(base + path) for _ in range(args.runs)]
            wall, cpu = [x[0] for x in loads], [x[1] for x in loads]
            results[path] = {"first_s": round(first, 3), "median_s": round(statistics.median(wall), 3),
                             "max_s": round(max(wall), 3), "first_cpu_s": round(first_cpu, 3),
                             "median_cpu_s": round(statistics.median(cpu), 3), "max_cpu_s": round(max(cpu), 3),
                             "bytes": size}
        browser = (_browser_loads(base, ["/", "/satellite/PHR1A/P", "/satellite/PNEO3/NIR"], args.runs)
                   if args.browser else None)
        server.should_exit = True
        app.state.engine.dispose()
        worst = max(results, key=lambda p: results[p]["median_s"])
        worst_cpu = max(results, key=lambda p: results[p]["median_cpu_s"])
        out[name] = {"slowest_page": worst, "slowest_median_s": results[worst]["median_s"],
                     "slowest_max_s": max(r["max_s"] for r in results.values()),
                     "slowest_cpu_page": worst_cpu, "slowest_median_cpu_s": results[worst_cpu]["median_cpu_s"],
                     "slowest_max_cpu_s": max(r["max_cpu_s"] for r in results.values()),
                     "all_within_target": all(r["median_s"] <= TARGET_S for r in results.values()),
                     "all_cpu_within_target": all(r["max_cpu_s"] <= TARGET_S for r in results.values()),
                     "pages": results}
        if browser is not None:
            out[name]["browser"] = browser
    print(json.dumps(out, indent=1))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
