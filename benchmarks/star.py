"""Star-method throughput and incremental cost on SQLite. Prints one JSON document.

(a) ingest + photometry of ``--n`` STAR acquisitions (5 bands each), acquisitions/s. The
    photometry stage is timed through the progress callback of ``run_star_calibration``; this part
    runs without the starpool PSF fit (``[star] mtf = false``), whose cost is per starpool, not per
    acquisition, and is reported in (b).
(b) incremental cost: ingest + ``run_processing`` (the real one, PSF fits included) of one new
    campaign of 25 acquisitions on a catalogue already holding ``--small`` and ``--n`` real
    acquisitions (all simulated with the project simulator, fixed seed, consecutive months;
    the history itself is processed without PSF fits to save time). Ratio large / small.

Usage: OMP_NUM_THREADS=1 python benchmarks/star.py [--n 600] [--small 100] [--seed 1]
The brief's full size is --n 2000 (and a 10,000 history); see the report for the timings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.calibration.service import run_processing
from monitor.calibration.star import run_star_calibration
from monitor.catalogue import operations as ops
from monitor.ingest.service import run_ingest
from monitor.settings import Settings, load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, session_scope, utc_now

STARS = 25
START = datetime(2024, 1, 1, tzinfo=UTC)


def _site(root: Path) -> Settings:
    settings = load_settings(root / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0"})
    init_site(settings)
    return settings


def _simulate(outdir: Path, start: datetime, n: int, seed: int) -> float:
    t = time.perf_counter()
    simulate_campaigns(outdir, start=start, months=math.ceil(n / STARS), seed=seed, satellites=["PHR1A"],
                       stars_per_campaign=STARS, moon_per_month=0, geom_per_month=0, bad_files=False)
    return time.perf_counter() - t


def _history(settings: Settings) -> dict[str, Any]:
    """Ingest and process (no PSF fit) everything in the inbox; time the stages."""
    marks: list[float] = []
    with session_scope(settings) as session:
        t0 = time.perf_counter()
        ing = run_ingest(session, settings, utc_now())
        t1 = time.perf_counter()
        run = ops.start_run(session, "process", utc_now())
        session.commit()
        # the history without PSF fits: [star] mtf = false (since issue 15 ee_provider=None alone does not skip them)
        no_mtf = dataclasses.replace(settings, star=dataclasses.replace(settings.star, mtf=False))
        summary = run_star_calibration(session, no_mtf, run, utc_now(), ee_provider=None,
                                       progress=lambda done, total, *_: marks.append(time.perf_counter()))
        t2 = time.perf_counter()
        ops.finish_run(session, run, utc_now(), "ok", "benchmark history", n_items=summary.photometry)
        session.commit()
    phot_s = (marks[-1] if marks else t2) - t1
    n = len(ing.ingested)
    return {"acquisitions": n, "ingest_s": round(t1 - t0, 2), "photometry_s": round(phot_s, 2),
            "starpools_and_drift_s": round(t2 - t1 - phot_s, 2),
            "ingest_plus_photometry_acq_per_s": round(n / (t1 - t0 + phot_s), 2),
            "ingest_files_per_s": round(n / (t1 - t0), 2), "photometry_acq_per_s": round(n / phot_s, 2)}


def _new_campaign(settings: Settings, campaign_dir: Path) -> dict[str, Any]:
    for f in campaign_dir.iterdir():
        shutil.copy2(f, settings.inbox / f.name)
    with session_scope(settings) as session:
        t0 = time.perf_counter()
        ing = run_ingest(session, settings, utc_now())
        t1 = time.perf_counter()
        out = run_processing(session, settings, utc_now())
        t2 = time.perf_counter()
    star = out.parts["star"]
    return {"ingested": len(ing.ingested), "measured": star.photometry, "starpools": star.starpools,
            "ingest_s": round(t1 - t0, 2), "process_s": round(t2 - t1, 2), "total_s": round(t2 - t0, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=600, help="acquisitions of (a) and of the large history of (b)")
    ap.add_argument("--small", type=int, default=100, help="acquisitions of the small history of (b)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_star_"))
    try:
        large, small = _site(root / "large"), _site(root / "small")
        sim_large = _simulate(large.inbox, START, args.n, args.seed)
        sim_small = _simulate(small.inbox, START, args.small, args.seed)
        months = math.ceil(args.n / STARS)
        new_start = datetime(START.year + (START.month - 1 + months) // 12, (START.month - 1 + months) % 12 + 1, 1,
                             tzinfo=UTC)
        campaign = root / "campaign"
        sim_new = _simulate(campaign, new_start, STARS, args.seed + 1000)
        hist_large = _history(large)
        hist_small = _history(small)
        new_small = _new_campaign(small, campaign)
        new_large = _new_campaign(large, campaign)
        doc = {
            "benchmark": "star", "database": "sqlite", "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "cpu_count": os.cpu_count(),
            "simulation_s": {"large": round(sim_large, 1), "small": round(sim_small, 1), "new": round(sim_new, 1)},
            "a_ingest_photometry": hist_large,
            "b_incremental": {
                "history_small": hist_small["acquisitions"], "history_large": hist_large["acquisitions"],
                "new_campaign_small_history": new_small, "new_campaign_large_history": new_large,
                "ratio_total": round(new_large["total_s"] / new_small["total_s"], 3),
                "ratio_process": round(new_large["process_s"] / new_small["process_s"], 3),
            },
        }
        print(json.dumps(doc, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
