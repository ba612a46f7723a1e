"""GEOM acquisitions of a campaign (ICD 3).

**GEOM** (every satellite, ``geom_per_month``): a stereo pair over a calibration site from
:func:`monitor.simulate.geom.simulate_geom_pair` (EPHEM and GCP tables, ICD 3 keys).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from monitor.domain import AcqType, Satellite
from monitor.simulate.acquisition import (
    CampaignContext,
    SimulatedAcquisition,
    acquisition_header,
    file_truth,
    round_to_ms,
)
from monitor.simulate.geom import GeomSimulation, simulate_geom_pair

__all__ = ["GEOM_SITES", "simulate_geom_acquisition"]

GEOM_SITES: tuple[tuple[str, float, float, float], ...] = (
    ("SALON", 43.64, 5.10, 60.0),
    ("LACRAU", 43.56, 4.86, 20.0),
    ("BAOTOU", 40.85, 109.63, 1270.0),
    ("RAILROAD", 38.50, -115.69, 1440.0),
    ("LIBYA4", 28.55, 23.39, 120.0),
)


def simulate_geom_acquisition(ctx: CampaignContext, satellite: Satellite, epoch: datetime) -> SimulatedAcquisition:
    """One GEOM stereo-pair file of a calibration site drawn from :data:`GEOM_SITES`."""
    rng = ctx.rng
    name, lat, lon, h = GEOM_SITES[int(rng.integers(len(GEOM_SITES)))]
    sim = simulate_geom_pair(
        rng, epoch_utc=round_to_ms(epoch), site_lat_deg=lat, site_lon_deg=lon, site_h_m=h, satellite=satellite.value
    )
    state = (sim.sc_pos_km, sim.sc_vel_km_s)
    header = acquisition_header(ctx, satellite, AcqType.GEOM, sim.date_obs, state, target=name)
    truth = file_truth(header, geom={"site": name, "site_lat_deg": lat, "site_lon_deg": lon, **_summary(sim)})
    return SimulatedAcquisition(header, {}, truth, geom=sim.geom, ephem=dict(sim.ephem), gcp=dict(sim.gcp))


def _summary(sim: GeomSimulation) -> dict[str, Any]:
    """The truth of a pair as JSON values: true state, point counts, noise and error draws."""
    t = sim.truth
    roles = np.asarray(sim.gcp["ROLE"]).astype(str)
    ids = np.asarray(sim.gcp["ID"]).astype(str)
    return {
        "position_m": [float(v) for v in np.asarray(t["position_m"]).ravel()],
        "velocity_m_s": [float(v) for v in np.asarray(t["velocity_m_s"]).ravel()],
        "n_control": len(set(ids[roles == "CONTROL"].tolist())),
        "n_check": len(set(ids[roles == "CHECK"].tolist())),
        "image_noise_px": float(t["image_noise_px"]),
        "blunder_id": t["blunder_id"],
        "ephem_bias_m": [float(v) for v in np.ravel(t["ephem_bias_m"])],
        "ephem_drift_m_s": [float(v) for v in np.ravel(t["ephem_drift_m_s"])],
        "cross_track_m": float(t["cross_track_m"]),
        "pitch_fore_deg": sim.geom.pitch_fore_deg,
        "pitch_aft_deg": sim.geom.pitch_aft_deg,
    }
