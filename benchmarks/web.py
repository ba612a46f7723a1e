"""Page load times of the web dashboard (``monitor serve``) on a demo-sized catalogue.

Serves the site's dashboard with uvicorn on a loopback port (the read-only engine of
``monitor serve``) and fetches every page over HTTP: the overview, every satellite/band page, one
acquisition page, the rejected-input list, the reports list and the exports. Twice: as served
(``cached``: the period's report view model is reused while the catalogue is unchanged) and with
that cache off (``uncached``: every page reads two years of results again, the worst case, e.g.
right after a processing run). Prints one JSON object: per configuration and page the first load
and the median and max of ``--runs`` further loads, in seconds, the page size, and whether every
median is within the target (1 s, issue 21).

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


def _get(url: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:  # noqa: S310 - loopback
        body = r.read()
        assert r.status == 200, (url, r.status)
    return time.perf_counter() - t0, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=None, help="a site made by 'monitor demo'")
    parser.add_argument("--runs", type=int, default=5)
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
            first, size = _get(base + path)
            times = [_get(base + path)[0] for _ in range(args.runs)]
            results[path] = {"first_s": round(first, 3), "median_s": round(statistics.median(times), 3),
                             "max_s": round(max(times), 3), "bytes": size}
        server.should_exit = True
        app.state.engine.dispose()
        worst = max(results, key=lambda p: results[p]["median_s"])
        out[name] = {"slowest_page": worst, "slowest_median_s": results[worst]["median_s"],
                     "all_within_target": all(r["median_s"] <= TARGET_S for r in results.values()),
                     "pages": results}
    print(json.dumps(out, indent=1))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
