"""REF-2 through the whole image chain: starpool A_k against truth on FITS files whose stars have
library spectra. Prints one JSON document.

benchmarks/star_ref2.py isolates the reference model (per-star coefficients drawn directly); this
one runs the system as a site does: ``simulate_campaigns(star_spectra="library")`` writes PHR1A STAR
acquisitions (``--months`` monthly campaigns of ``--stars`` stars; true spectra = another library
template of nearby colour x a smooth 1 % perturbation, :mod:`monitor.simulate.star_spectra`; no
saturated set-ups, no bad files), then ``monitor init`` (with ``[reference] star_model = "REF-2"``,
the library and the measured RSRs), ``ingest``, ``process`` and ``results`` in a temporary site.
Per band: each starpool's ``A / A_true - 1`` (A_true of the truth at the starpool's epoch), its
mean, worst and the rms of ``(A / A_true - 1) / (a_sigma / A_true)``, and the same for the
mix-corrected ``a_star_offsets``; ``--variables`` of the observable stars vary (unflagged, 1.5-5 %,
``simulate_campaigns(star_variable_fraction=...)``), and the report says which the site flagged
(the starpool results' ``variable_stars``) and how many constant stars it flagged. About 2 min per seed.

Usage: python benchmarks/star_ref2_images.py --library /work/shared/reference/pickles \\
         --rsr-dir /work/shared/reference/rsr_measured [--seeds 3,4] [--months 4] [--stars 25]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from monitor.catalogue import star_results
from monitor.settings import load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.simulate.truth import a_true
from monitor.site import session_scope

BANDS = ("P", "B0", "B1", "B2", "B3")


def _monitor(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], check=True, capture_output=True,
                          text=True).stdout


def one_seed(work: Path, library: Path, rsr_dir: Path, seed: int, months: int, stars: int,
             template: str = "nearest", variables: float = 0.0) -> dict[str, Any]:
    site = work / f"site{seed}"
    _monitor("init", str(site))
    toml = site / "monitor.toml"
    text = toml.read_text()
    for key, value in (("star_model", "REF-2"), ("star_library", str(library)), ("rsr_dir", str(rsr_dir))):
        text = text.replace(f'\n{key} = ""\n', f'\n{key} = "{value}"\n', 1)
    text = text.replace('\nstar_template = "nearest"\n', f'\nstar_template = "{template}"\n', 1)
    toml.write_text(text)
    truth = simulate_campaigns(site / "inbox", start=datetime(2025, 1, 1, tzinfo=UTC), months=months, seed=seed,
                               satellites=("PHR1A",), stars_per_campaign=stars, moon_per_month=0, geom_per_month=0,
                               bad_files=False, saturated_fraction=0.0, star_spectra="library", star_library=library,
                               star_rsr_dir=rsr_dir, star_variable_fraction=variables)
    _monitor("ingest", "--site", str(site))
    _monitor("process", "--site", str(site))
    doc = json.loads(_monitor("results", "--site", str(site)))
    out: dict[str, Any] = {}
    # injected variables (with their number of acquisitions) against the stars the site flagged
    n_obs: dict[int, int] = {}
    injected: dict[int, float] = {}
    for f in truth.files:
        if f.type != "STAR" or f.status != "ok" or not f.target:
            continue
        hip = int(f.target.split()[-1])
        n_obs[hip] = n_obs.get(hip, 0) + 1
        if (info := f.extra.get("star_spectrum", {}).get("variable")) is not None:
            injected[hip] = info["amplitude_rel"]
    settings = load_settings(site)
    with session_scope(settings, read_only=True) as session:
        flagged = {int(h) for r, _ in star_results.latest_starpool_results(session, "PHR1A")
                   for h in (r.reference or {}).get("variable_stars", [])}
    out["variables"] = [{"hip": h, "amplitude_pct": round(100 * a, 2), "n_obs": n_obs.get(h, 0),
                         "flagged": h in flagged} for h, a in sorted(injected.items())]
    out["false_flags"] = sorted(flagged - set(injected))
    out["stars_observed"] = len(n_obs)
    for c in doc["calibration"]:
        if c.get("method") != "STAR" or c.get("reference_model") != "REF-2":
            continue
        epoch = datetime.fromisoformat(c["epoch"].replace("Z", "+00:00"))
        at = a_true(truth.calibration[c["satellite"]][c["band"]], epoch)
        out.setdefault(c["band"] + "_err", []).append(c["a"] / at - 1.0)
        out.setdefault(c["band"] + "_sig", []).append(c["a_sigma"] / at)
        if c.get("a_star_offsets"):  # the mix-corrected A_k beside it
            mix = c["a_star_offsets"]
            out.setdefault(c["band"] + "_mix_err", []).append(mix["a"] / at - 1.0)
            out.setdefault(c["band"] + "_mix_sig", []).append(math.hypot(mix["a_sigma"], mix["a_sigma_common"]) / at)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--library", type=Path, required=True)
    ap.add_argument("--rsr-dir", type=Path, required=True)
    ap.add_argument("--seeds", default="3,4", help='comma-separated seeds (about 2 min each)')
    ap.add_argument("--months", type=int, default=4)
    ap.add_argument("--stars", type=int, default=25)
    ap.add_argument("--template", choices=("nearest", "blend"), default="nearest",
                    help="[reference] star_template of the site (ICD rule: nearest)")
    ap.add_argument("--variables", type=float, default=0.05,
                    help="fraction of the observable stars made variable (1.5-5 %%, 20-400 d; 0: none)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    runs: list[dict[str, list[float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            runs.append(one_seed(Path(tmp), args.library.resolve(), args.rsr_dir.resolve(), seed, args.months,
                                 args.stars, args.template, args.variables))
    bands: dict[str, Any] = {}
    for band in BANDS:
        err = np.array([x for r in runs for x in r.get(band + "_err", [])])
        sig = np.array([x for r in runs for x in r.get(band + "_sig", [])])
        if err.size == 0:
            continue
        bands[band] = {
            "n_starpools": int(err.size),
            "bias_pct": round(100 * float(err.mean()), 3),
            "bias_sem_pct": round(100 * float(err.std(ddof=1) / np.sqrt(err.size)), 3) if err.size > 1 else None,
            "worst_pool_pct": round(100 * float(err[np.argmax(np.abs(err))]), 3),
            "pull_rms": round(float(np.sqrt(np.mean((err / sig) ** 2))), 3),
            "errors_pct": [round(100 * float(e), 3) for e in err],
        }
        mix = np.array([x for r in runs for x in r.get(band + "_mix_err", [])])
        mix_sig = np.array([x for r in runs for x in r.get(band + "_mix_sig", [])])
        if mix.size:
            bands[band]["a_star_offsets"] = {
                "bias_pct": round(100 * float(mix.mean()), 3),
                "worst_pool_pct": round(100 * float(mix[np.argmax(np.abs(mix))]), 3),
                "pull_rms": round(float(np.sqrt(np.mean((mix / mix_sig) ** 2))), 3),
                "errors_pct": [round(100 * float(e), 3) for e in mix],
            }
    variables = [v for r in runs for v in r["variables"]]
    print(json.dumps({"config": {"seeds": args.seeds, "months": args.months, "stars": args.stars,
                                 "satellite": "PHR1A", "reference_model": "REF-2", "variables": args.variables},
                      "bands": bands,
                      "variables": {"injected": variables, "flagged": sum(v["flagged"] for v in variables),
                                    "false_flags": sum(len(r["false_flags"]) for r in runs),
                                    "stars_observed": sum(r["stars_observed"] for r in runs)},
                      "seconds": round(time.perf_counter() - t0, 1)}, indent=1))


if __name__ == "__main__":
    main()
