"""GEOM acquisitions of a campaign (ICD 3).

**GEOM** (every satellite, ``geom_per_month``): a stereo pair over a calibration site from
:func:`monitor.simulate.geom.simulate_geom_pair` (EPHEM and GCP tables, ICD 3 keys).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from monitor.domain import (
    ICD_VERSION,
    MISSION_OF_SATELLITE,
    AcqType,
    AcquisitionHeader,
    GeomHeader,
    Satellite,
)
from monitor.simulate.acquisition import CampaignContext, SimulatedAcquisition, make_acq_id, round_to_ms
from monitor.simulate.truth import FileTruth

__all__ = ["GEOM_SITES", "simulate_geom_acquisition"]

GEOM_SITES: tuple[tuple[str, float, float, float], ...] = (
    ("SALON", 43.64, 5.10, 60.0),
    ("LACRAU", 43.56, 4.86, 20.0),
    ("BAOTOU", 40.85, 109.63, 1270.0),
    ("RAILROAD", 38.50, -115.69, 1440.0),
    ("LIBYA4", 28.55, 23.39, 120.0),
)


def simulate_geom_acquisition(ctx: CampaignContext, satellite: Satellite, epoch: datetime) -> SimulatedAcquisition:
    """One GEOM stereo-pair file of a calibration site."""
    from monitor.simulate.geom import simulate_geom_pair

    rng = ctx.rng
    mission = MISSION_OF_SATELLITE[satellite]
    name, lat, lon, h = GEOM_SITES[int(rng.integers(len(GEOM_SITES)))]
    sim = simulate_geom_pair(
        rng, epoch_utc=round_to_ms(epoch), site_lat_deg=lat, site_lon_deg=lon, site_h_m=h, satellite=satellite.value
    )
    hd = sim.header
    date_obs = datetime.fromisoformat(hd["DATE-OBS"]).replace(tzinfo=UTC)
    seq = ctx.next_seq(satellite)
    acq_id = make_acq_id(satellite, AcqType.GEOM, date_obs, seq)
    header = AcquisitionHeader(
        acq_id=acq_id,
        mission=mission,
        satellite=satellite,
        acq_type=AcqType.GEOM,
        target=name,
        date_obs=date_obs,
        sc_pos_km=(float(hd["SC_POSX"]), float(hd["SC_POSY"]), float(hd["SC_POSZ"])),
        sc_vel_km_s=(float(hd["SC_VELX"]), float(hd["SC_VELY"]), float(hd["SC_VELZ"])),
        ra_deg=None,
        dec_deg=None,
        icd=ICD_VERSION,
    )
    geom = GeomHeader(
        focal_mm=float(hd["FOCAL"]),
        pixpitch_um=float(hd["PIXPITCH"]),
        nsamp=int(hd["NSAMP"]),
        lineper_ms=float(hd["LINEPER"]),
        t0_fore=datetime.fromisoformat(hd["T0_FORE"]).replace(tzinfo=UTC),
        t0_aft=datetime.fromisoformat(hd["T0_AFT"]).replace(tzinfo=UTC),
        pitch_fore_deg=float(hd["PITCH_F"]),
        pitch_aft_deg=float(hd["PITCH_A"]),
    )
    t = sim.truth
    roles = np.asarray(sim.gcp["ROLE"]).astype(str)
    ids = np.asarray(sim.gcp["ID"]).astype(str)
    summary = {
        "site": name,
        "site_lat_deg": lat,
        "site_lon_deg": lon,
        "position_m": [float(v) for v in np.asarray(t["position_m"]).ravel()],
        "velocity_m_s": [float(v) for v in np.asarray(t["velocity_m_s"]).ravel()],
        "n_control": len(set(ids[roles == "CONTROL"].tolist())),
        "n_check": len(set(ids[roles == "CHECK"].tolist())),
        "image_noise_px": float(t["image_noise_px"]),
        "blunder_id": t["blunder_id"],
        "ephem_bias_m": [float(v) for v in np.ravel(t["ephem_bias_m"])],
        "ephem_drift_m_s": [float(v) for v in np.ravel(t["ephem_drift_m_s"])],
        "cross_track_m": float(t["cross_track_m"]),
        "pitch_fore_deg": geom.pitch_fore_deg,
        "pitch_aft_deg": geom.pitch_aft_deg,
    }
    truth = FileTruth(
        file="",
        acq_id=acq_id,
        satellite=satellite.value,
        type=AcqType.GEOM.value,
        epoch=date_obs,
        status="ok",
        reason=None,
        target=name,
        geom=summary,
    )
    return SimulatedAcquisition(header, {}, truth, geom=geom, ephem=dict(sim.ephem), gcp=dict(sim.gcp))
