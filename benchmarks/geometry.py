"""Benchmark of the GEOM stereo adjustment (ICD §3): run time and check-point accuracy vs noise floor.

Prints one JSON document: the median wall time of one adjustment with 36 points (24 CONTROL +
12 CHECK, target < 1 s), and the check-point RMSE (east/north/up) pooled over a few simulated pairs
against the noise floor (the same noisy measurements intersected with the TRUE orbit and
attitude), plus the velocity bias of the 2nd- and 3rd-order Kepler models.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/geometry.py [--seeds 5] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime

import numpy as np

from monitor.science.stereo_adjustment import adjust_stereo_geometry, check_point_errors
from monitor.simulate.geom import geom_inputs_from_simulation, simulate_geom_pair

EPOCH = datetime(2025, 3, 14, 10, 15, 33, 120000, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--noise-px", type=float, default=0.3)
    args = parser.parse_args()

    times: list[float] = []
    errors: dict[int, list[np.ndarray]] = {2: [], 3: []}
    dv: dict[int, list[float]] = {2: [], 3: []}
    floors: list[np.ndarray] = []
    for seed in range(args.seeds):
        sim = simulate_geom_pair(
            np.random.default_rng(seed),
            epoch_utc=EPOCH,
            site_lat_deg=43.6,
            site_lon_deg=1.44,
            n_control=24,
            n_check=12,
            image_noise_px=args.noise_px,
        )
        inp = geom_inputs_from_simulation(sim)
        tr = sim.truth
        floors.append(
            check_point_errors(inp.gcp, tr["cameras"], tr["trajectory"], tr["attitude"], tr["era_ref_rad"])[1]
        )
        for order in (2, 3):
            repeats = args.repeat if (order == 3 and seed == 0) else 1
            for _ in range(repeats):
                t0 = time.perf_counter()
                res = adjust_stereo_geometry(
                    inp.gcp,
                    inp.cameras,
                    inp.ephem_t_s,
                    inp.ephem_position_m,
                    inp.ephem_velocity_m_s,
                    inp.era_ref_rad,
                    orbit_order=order,
                    image_sigma_px=args.noise_px,
                )
                if order == 3:
                    times.append(time.perf_counter() - t0)
            errors[order].append(res.check_errors_enu_m)
            dv[order].append(float(np.linalg.norm(res.velocity_m_s - tr["velocity_m_s"])))

    def rms(e: list[np.ndarray]) -> list[float]:
        return [round(float(x), 4) for x in np.sqrt(np.mean(np.concatenate(e) ** 2, axis=0))]

    floor = rms(floors)
    out = {
        "benchmark": "geometry",
        "n_points": 36,
        "n_control": 24,
        "n_check": 12,
        "image_noise_px": args.noise_px,
        "seeds": args.seeds,
        "adjustment_time_s": {"median": round(float(np.median(times)), 4), "max": round(max(times), 4)},
        "target_time_s": 1.0,
        "noise_floor_rmse_enu_m": floor,
        "check_rmse_enu_m": {str(o): rms(errors[o]) for o in (2, 3)},
        "ratio_to_floor": {
            str(o): [round(a / b, 3) for a, b in zip(rms(errors[o]), floor, strict=True)] for o in (2, 3)
        },
        "velocity_bias_m_s": {str(o): round(float(np.mean(dv[o])), 4) for o in (2, 3)},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
