"""Starpool A_k accuracy against truth, and against the Cramér-Rao bound of the photon budget.

``--pools`` monthly PHR1A campaigns of ``--stars`` stars (V 2 to 5.5, the simulator's defaults:
OVERSAMP 1-4, GAINFACT 1-4 chosen per band, dark, tilted stray light, photon + read noise) go
through the real chain on SQLite: ingest, ``run_processing`` (photometry, joint PSF fit, EE
correction, robust starpool mean). Per band it prints, over the starpools:

* ``mean_error`` / ``rms_error``: reported A_k / truth - 1 (truth: mean true A_k of the stars used);
* ``mean_sigma``: mean reported relative 1-sigma; ``pull_std``: std of error / sigma;
* ``within_0.3pct``: fraction of starpools whose error is within 0.3 % (issue 4's target);
* ``crlb_sigma``: mean Cramér-Rao lower bound on a starpool's relative A_k: per star,
  ``monitor.science.crlb.star_signal_crlb_dn`` for the truth set-up (PSF, centre, signal,
  stray light, gain, read noise); over the pool, 1 / sqrt(sum of 1/var) over the stars used. No
  unbiased estimator does better; ``efficiency`` = (crlb_sigma / rms_error)^2.

Usage: OMP_NUM_THREADS=1 python benchmarks/star_precision.py [--pools 12] [--stars 25] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import select

from monitor.calibration.service import run_processing
from monitor.catalogue.models import Acquisition, StarpoolResult
from monitor.domain import BANDS_BY_MISSION, BandHeader, Mission
from monitor.ingest.service import run_ingest
from monitor.io.acquisition import read_acquisition_header
from monitor.science.crlb import star_signal_crlb_dn
from monitor.science.instrument import E_PER_DN_REFERENCE, READ_NOISE_DN
from monitor.settings import load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.simulate.star import default_psf_params, stray_light_plane_dn
from monitor.simulate.truth import BandFileTruth
from monitor.site import init_site, session_scope, utc_now

START = datetime(2024, 1, 1, tzinfo=UTC)


def flux_crlb_rel(bt: BandFileTruth, hdr: BandHeader) -> float:
    """Relative Cramér-Rao bound sd(S)/S of one star's total signal, for its truth set-up."""
    assert bt.s_true_dn is not None and bt.gain_factor is not None
    assert bt.star_x is not None and bt.star_y is not None
    rows, cols = int(hdr.shape[0]), int(hdr.shape[1])
    slope = bt.extra.get("background_slope", [0.0, 0.0])
    background = stray_light_plane_dn(bt.extra.get("background_dn", 0.0), (slope[0], slope[1]), (rows, cols))
    sd = star_signal_crlb_dn((rows, cols), (bt.star_x, bt.star_y), default_psf_params(Mission.PHR.value, hdr.band),
                             float(hdr.oversamp), bt.s_true_dn, background,
                             E_PER_DN_REFERENCE[Mission.PHR] / bt.gain_factor, READ_NOISE_DN)
    return sd / bt.s_true_dn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pools", type=int, default=12)
    ap.add_argument("--stars", type=int, default=25)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_star_precision_"))
    try:
        settings = load_settings(root / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0"})
        init_site(settings)
        truth = simulate_campaigns(settings.inbox, start=START, months=args.pools, seed=args.seed,
                                   satellites=["PHR1A"], stars_per_campaign=args.stars, moon_per_month=0,
                                   geom_per_month=0, bad_files=False)
        files = {f.acq_id: f for f in truth.files if f.type == "STAR" and f.status == "ok"}
        t0 = time.perf_counter()
        with session_scope(settings) as session:
            run_ingest(session, settings, utc_now())
            run_processing(session, settings, utc_now())
            results = session.exec(select(StarpoolResult)).all()
            headers = {a.acq_id: read_acquisition_header(settings.site / a.archive_path)
                       for a in session.exec(select(Acquisition)).all()}
        process_s = time.perf_counter() - t0
        per_band: dict[str, dict[str, list[float]]] = {}
        for res in results:
            used = [a for a, st in res.per_star.items() if st["used"]]
            band = res.band
            a_true = float(np.mean([files[a].bands[band].a_true for a in used]))
            crlb = [flux_crlb_rel(files[a].bands[band], next(b for b in headers[a].bands if b.band == band))
                    for a in used]
            d = per_band.setdefault(band, {"err": [], "sig": [], "crlb": []})
            d["err"].append(res.a / a_true - 1.0)
            d["sig"].append(res.a_sigma / a_true)
            d["crlb"].append(1.0 / math.sqrt(sum(1.0 / c**2 for c in crlb)))
        out: dict[str, Any] = {}
        for band in BANDS_BY_MISSION[Mission.PHR]:
            err, sig, crlb = (np.array(per_band[band][k]) for k in ("err", "sig", "crlb"))
            rms = float(np.sqrt(np.mean(err**2)))
            out[band] = {
                "pools": int(err.size), "mean_error": round(float(err.mean()), 5), "rms_error": round(rms, 5),
                "mean_sigma": round(float(sig.mean()), 5), "pull_std": round(float(np.std(err / sig)), 3),
                "within_0.3pct": round(float(np.mean(np.abs(err) <= 0.003)), 3),
                "crlb_sigma": round(float(crlb.mean()), 5), "efficiency": round(float((crlb.mean() / rms) ** 2), 3),
            }
        print(json.dumps({"benchmark": "star_precision", "pools": args.pools, "stars_per_pool": args.stars,
                          "seed": args.seed, "process_s": round(process_s, 1),
                          "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "bands": out}, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
