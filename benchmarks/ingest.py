"""Ingest throughput on SQLite: files/s for N simulated STAR files (simulation not timed).

Usage: OMP_NUM_THREADS=1 python benchmarks/ingest.py [--n 1000] [--seed 1] [--workdir DIR]
Prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from monitor.ingest.service import run_ingest
from monitor.settings import load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, session_scope, utc_now


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000, help="STAR files to ingest")
    ap.add_argument("--stars-per-campaign", type=int, default=25)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the site here (default: temporary)")
    args = ap.parse_args()
    root = Path(args.workdir or tempfile.mkdtemp(prefix="bench_ingest_"))
    settings = load_settings(root / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0"})
    init_site(settings)
    months = math.ceil(args.n / args.stars_per_campaign)
    t = time.perf_counter()
    simulate_campaigns(settings.inbox, start=datetime(2024, 1, 1, tzinfo=UTC), months=months, seed=args.seed,
                       satellites=["PHR1A"], stars_per_campaign=args.stars_per_campaign, moon_per_month=0,
                       geom_per_month=0, bad_files=False)
    files = sorted(settings.inbox.glob("*.fits*"))
    files = [f for f in files if not f.name.endswith(".done")]
    for extra in files[args.n:]:  # exactly n files
        extra.unlink()
        extra.with_name(extra.name + ".done").unlink(missing_ok=True)
    n = min(args.n, len(files))
    sim_s = time.perf_counter() - t
    t = time.perf_counter()
    with session_scope(settings) as session:
        summary = run_ingest(session, settings, utc_now())
    ingest_s = time.perf_counter() - t
    print(json.dumps({
        "benchmark": "ingest", "database": "sqlite", "files": n, "ingested": len(summary.ingested),
        "rejected": len(summary.rejected), "simulation_s": round(sim_s, 2), "ingest_s": round(ingest_s, 2),
        "files_per_s": round(n / ingest_s, 2), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
    }, indent=2))
    if args.workdir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
