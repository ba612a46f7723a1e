"""Export of Pléiades Neo Moon acquisitions as GSICS lunar observation files (GLOD, ICD 6).

One file per archived MOON acquisition of the satellite (``<ACQ_ID>.nc``) with every band that has
a Moon measurement (status ok or flagged), so that GIRO or LIME TBX can ingest our observations;
plus ``<SATELLITE>_SRF.nc``, the GSICS SRF file of the REF-1 spectral responses used.

Per band (one GLOD channel):
- ``dc_obs_imgt``: the delivered image cropped to the measurement's aperture (plus 10 % and 4 px),
  in delivered DN (dark and sky included; other bands' imagettes padded with -999);
- ``dc_obs_offset``: ``DARK b² + sky`` (the sky level fitted outside the limb, per delivered pixel);
- ``dc_obs``: Σ (DN − offset) over the imagette (NET counts; ``moon_pix_thld`` is not written, so
  a reader takes ``dc_obs`` as given);
- ``pix_solid_ang``: the delivered pixel's solid angle ``b² Ω_pix``; ``ovrsamp_fa``: OVERSAMP;
- ``irr_obs = dc_obs · Ω_pix / (o · G · A_k)`` (ICD 1.3) with ``A_k`` the coefficient IN FORCE at
  the acquisition's time: the latest MOON drift fit of that satellite and band,
  ``a0 (1 + rate (t − t_ref))``; without a drift fit, the acquisition's own A_k (then irr_obs equals
  the REF-1 model by construction). Each channel's source is written in the attribute
  ``calibration_coefficients`` (JSON), with the model and software versions.
- ``sat_pos``: SC_POS in GCRS (``sat_pos_ref = "GCRS"``); ``instrument``: the satellite name.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session

from monitor import __version__
from monitor.catalogue import lunar_comparisons as lc
from monitor.domain import ICD_VERSION, MISSION_OF_SATELLITE, REF_VERSION, GlodChannel, GlodObservation, Satellite
from monitor.io.glod import SpectralResponse, write_glod, write_srf
from monitor.io.pixels import read_band
from monitor.io.reference_data import load_rsr
from monitor.settings import Settings

__all__ = ["GlodExportSummary", "export_glod"]

log = logging.getLogger(__name__)
SECONDS_PER_YEAR = 365.25 * 86400.0


@dataclass
class GlodExportSummary:
    files: list[Path]
    srf_file: Path
    skipped: int  # acquisitions without any usable band


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _coefficient(session: Session, satellite: str, band: str, t: datetime, own_a: float) -> tuple[float, str]:
    """A_k in force at ``t`` and where it comes from."""
    fit = lc.latest_moon_drift(session, satellite, band)
    if fit is None:
        return own_a, "this acquisition's own A_k (no drift fit yet: irr_obs equals the REF-1 model)"
    years = (_utc(t) - _utc(fit.reference_epoch)).total_seconds() / SECONDS_PER_YEAR
    a = fit.a0 * (1.0 + fit.rate_per_year * years)
    return a, (f"MOON drift fit of processing run {fit.run_id}: a0 = {fit.a0:.6g} at "
               f"{_utc(fit.reference_epoch):%Y-%m-%dT%H:%M:%SZ}, rate {fit.rate_per_year:+.4g}/year")


def _channel(acq: Any, m: Any, b: Any, site: Path, a_k: float) -> GlodChannel:
    budget = m.budget or {}
    image = read_band(site / acq.archive_path, b.band).astype(np.float64)
    o, bb = float(b.oversamp), int(b.binning)
    rc, cc = float(budget["centre_row"]), float(budget["centre_col"])
    half = 1.1 * float(m.aperture_radius_px) + 4.0
    r0, r1 = max(int(math.floor(rc - half * o)), 0), min(int(math.ceil(rc + half * o)) + 1, image.shape[0])
    c0, c1 = max(int(math.floor(cc - half)), 0), min(int(math.ceil(cc + half)) + 1, image.shape[1])
    crop = image[r0:r1, c0:c1]
    offset = float(b.dark_dn) * bb * bb + float(budget.get("background_dn", 0.0))
    dc = float(np.nansum(crop - offset))
    omega_native = (float(b.pixscale_urad) * 1e-6) ** 2
    irr = dc * omega_native / (o * float(b.gain_factor) * a_k)
    return GlodChannel(name=b.band, imagette_dn=crop, offset_dn=offset, dc_obs=dc,
                       moon_pix_num=int(np.isfinite(crop).sum()), moon_pix_thld=None,
                       pixel_solid_angle_sr=omega_native * bb * bb, oversampling=o, irr_obs_w_m2_um=irr)


def export_glod(session: Session, settings: Settings, satellite: str, out_dir: Path) -> GlodExportSummary:
    """Write the GLOD files of every measured MOON acquisition of ``satellite`` into ``out_dir``
    (created; existing files of the same names are replaced), and the SRF file (module doc)."""
    sat = Satellite(satellite)
    mission = MISSION_OF_SATELLITE[sat].value
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    bands_seen: set[str] = set()
    skipped = 0
    for acq, measured in lc.moon_export_rows(session, sat.value):
        channels = []
        sources: dict[str, Any] = {}
        for m, b in measured:
            a_k, source = _coefficient(session, sat.value, b.band, acq.date_obs, float(m.a))
            channels.append(_channel(acq, m, b, settings.site, a_k))
            sources[b.band] = {"a_k": a_k, "unit": "DN / (W m-2 sr-1 um-1)", "source": source}
            bands_seen.add(b.band)
        if not channels:
            skipped += 1
            continue
        obs = GlodObservation(
            instrument=sat.value, date_obs=_utc(acq.date_obs),
            sat_pos_km=(acq.sc_pos_x_km, acq.sc_pos_y_km, acq.sc_pos_z_km), sat_pos_ref="GCRS",
            channels=tuple(channels),
        )  # fmt: skip
        path = out_dir / f"{acq.acq_id}.nc"
        write_glod(path, obs, {
            "title": f"{sat.value} lunar observation file", "institution": "monitor (Pleiades Neo calibration)",
            "data_source": f"monitor {__version__}", "acquisition_id": acq.acq_id, "icd": ICD_VERSION,
            "reference_model": REF_VERSION, "calibration_coefficients": json.dumps(sources, sort_keys=True),
            "dc_obs_convention": "net: sum of (DN - dc_obs_offset) over the imagette",
            "date_created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        })  # fmt: skip
        files.append(path)
        log.info("exported %s as GLOD %s (%d bands)", acq.acq_id, path.name, len(channels))
    srf_path = out_dir / f"{sat.value}_SRF.nc"
    responses = []
    for band in sorted(bands_seen):
        rsr = load_rsr(mission, band)
        responses.append(SpectralResponse(band, np.asarray(rsr.wavelength_nm, dtype=np.float64),
                                          np.asarray(rsr.values, dtype=np.float64)))
    if responses:
        write_srf(srf_path, responses, {"instrument": sat.value, "source": f"monitor REF-1 nominal RSRs ({mission})"})
    return GlodExportSummary(files=files, srf_file=srf_path, skipped=skipped)
