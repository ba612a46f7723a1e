"""Lunar-comparison use-case (ICD 6): every archived GLOD observation -> one row per channel.

Per observation: the observer position converted to GCRS (:mod:`monitor.science.observer_frames`,
offline), the REF-1 geometry at the satellite (ICD 2.3); per channel: the system's integration of
the imagette against the file's ``dc_obs`` (net of its offset), the REF-1 irradiance over the
channel's SRF (the instrument's GSICS SRF file named in ``[instruments."<name>"] srf``; band
average of ICD 2.1 on a 1 nm grid), ``ratio = irr_obs / irr_model`` with its uncertainty
(:func:`monitor.science.lunar_comparison.compare`).

Statuses: ``ok``; ``flagged`` (kept, ``in_trend`` False) outside 2–90° of phase or the ROLO
libration range; ``rejected`` with its reason when the channel cannot be compared (no SRF for the
channel: ``unknown-band``; no Moon, a truncated Moon, NaN on the disk: the photometry's reason;
no positive irradiance: ``bad-value``). The counts uncertainty of irr_obs is the quadrature sum of
the integration's own budget and the disagreement of the two integrations (ours vs the file's).
One commit per observation; a failure that is not the data's leaves it pending.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session

from monitor.calibration.moon import geometry_columns
from monitor.calibration.pending import StageSummary, after_commit, unit_of_work
from monitor.catalogue import lunar_comparisons as lc
from monitor.catalogue import versions
from monitor.catalogue.models import ProcessingRun
from monitor.domain import REF_VERSION, GlodChannel, RejectReason
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.glod import SpectralResponse, read_glod, read_srf
from monitor.io.reference_data import load_rolo_coefficients, load_solar_spectrum
from monitor.science.constants import MOON_RADIUS_KM
from monitor.science.exceptions import AllNaNError, MoonPhotometryError, ScienceError
from monitor.science.lunar_comparison import compare, file_net_counts, integrate_imagette
from monitor.science.lunar_geometry import LunarGeometry, lunar_geometry
from monitor.science.lunar_model import lunar_band_irradiance
from monitor.science.observer_frames import observer_gcrs_km
from monitor.settings import Settings

__all__ = ["LunarComparisonSummary", "run_lunar_comparison", "srf_band_irradiance", "log_rejections"]

log = logging.getLogger(__name__)


@dataclass
class LunarComparisonSummary(StageSummary):
    """What one lunar-comparison run did."""

    observations: int = 0
    channels_ok: int = 0
    channels_flagged: int = 0
    channels_rejected: int = 0

    def __str__(self) -> str:
        return (f"{self.observations} GLOD observations ({self.channels_ok} channels ok, {self.channels_flagged} "
                f"flagged, {self.channels_rejected} rejected){self.pending_text()}")


@functools.lru_cache(maxsize=16)
def _srf(path: str, mtime_ns: int) -> dict[str, SpectralResponse]:
    return read_srf(Path(path))


def srf_band_irradiance(geo: LunarGeometry, srf: SpectralResponse) -> float:
    """REF-1 lunar irradiance at the observer averaged over a channel SRF (ICD 2.1 on 1 nm).

    Raises
    ------
    ValueError
        When the SRF lies outside the solar spectrum (300-2500 nm) or has no 1 nm sample.
    """
    grid = np.arange(math.ceil(srf.wavelength_nm[0]), math.floor(srf.wavelength_nm[-1]) + 1.0)
    if grid.size < 2:
        raise ValueError(f"SRF of {srf.channel} spans less than 1 nm")
    response = np.interp(grid, srf.wavelength_nm, srf.response)
    sun = load_solar_spectrum()
    return lunar_band_irradiance(
        geo.phase_angle_deg, geo.sun_selenographic_lon_deg, geo.observer_selenographic_lat_deg,
        geo.observer_selenographic_lon_deg, geo.d_sun_moon_km, geo.d_obs_moon_km, coeffs=load_rolo_coefficients(),
        rsr_wavelength_nm=grid, rsr=response, solar_wavelength_nm=sun.wavelength_nm,
        solar_irradiance_w_m2_um=sun.values,
    )  # fmt: skip


def _reason(exc: Exception) -> str:
    if isinstance(exc, MoonPhotometryError):
        return str(exc.reason)
    if isinstance(exc, AllNaNError):
        return RejectReason.ALL_NAN.value
    return RejectReason.BAD_VALUE.value


def _channel_row(ch: GlodChannel, geo: LunarGeometry, srf: dict[str, SpectralResponse], base: dict[str, Any],
                 extra: dict[str, Any]) -> lc.LunarComparisonRow:
    """The comparison of one channel (data problems give a rejected row)."""
    row = dict(base, channel=ch.name, irr_obs=ch.irr_obs_w_m2_um, **geometry_columns(geo))

    def rejected(reason: str, message: str, **more: Any) -> lc.LunarComparisonRow:
        return lc.LunarComparisonRow(**row, **more, status="rejected", reason=reason, message=message[:1000],
                                     in_trend=False)

    if ch.name not in srf:
        return rejected(RejectReason.UNKNOWN_BAND.value, f"no spectral response for channel {ch.name!r} in the SRF")
    try:
        e_model = srf_band_irradiance(geo, srf[ch.name])
    except ValueError as exc:
        return rejected(RejectReason.BAD_VALUE.value, f"no REF-1 irradiance: {exc}")
    base_budget = {"reference_model": REF_VERSION, "dc_obs": ch.dc_obs, "offset_dn": ch.offset_dn,
                   "moon_pix_num": ch.moon_pix_num, "oversampling": ch.oversampling,
                   "pixel_solid_angle_sr": ch.pixel_solid_angle_sr, **extra}
    if ch.imagette_dn is None:  # dc_obs_imgt is optional: irr_obs compared as given, counts not verified
        return _compared(ch, geo, e_model, row, dict(base_budget, counts=0.0, integration=None,
                                                     note="no imagette in the file: irr_obs not re-integrated"),
                         dict(dc_integrated=None, dc_file=ch.dc_obs, irr_model=e_model))
    expected = (math.asin(min(1.0, MOON_RADIUS_KM / geo.d_obs_moon_km)) / math.sqrt(ch.pixel_solid_angle_sr)
                if ch.pixel_solid_angle_sr else None)
    try:
        disk = integrate_imagette(ch.imagette_dn, ch.offset_dn, ch.oversampling or 1.0,
                                  pixel_solid_angle_sr=ch.pixel_solid_angle_sr or 1e-10, expected_radius_px=expected)
    except ScienceError as exc:
        return rejected(_reason(exc), f"{type(exc).__name__}: {exc}", irr_model=e_model)
    counts = (file_net_counts(ch.imagette_dn, ch.dc_obs, ch.offset_dn, ch.moon_pix_num, ch.moon_pix_thld)
              if ch.dc_obs is not None else None)
    disagreement = disk.dc_integrated / counts.dc_file - 1.0 if counts is not None and counts.dc_file > 0 else 0.0
    u_counts = math.hypot(disk.rel_sigma, disagreement)
    budget = {
        **base_budget, "counts": u_counts, "integration": disk.rel_sigma,
        "integration_disagreement": disagreement, "dc_sky_subtracted": disk.dc_sky_subtracted,
        "residual_sky_dn": disk.residual_sky_dn, "n_pixels": disk.n_pixels,
        "aperture_radius_px": disk.photometry.aperture_radius_px, "disk_radius_px": disk.photometry.disk_radius_px,
        "expected_disk_radius_px": expected, "oversampling_axis": disk.oversampling_axis,
        "dc_convention": counts.convention if counts else None,
    }  # fmt: skip
    fields = dict(dc_integrated=disk.dc_integrated, dc_file=counts.dc_file if counts else None, irr_model=e_model)
    return _compared(ch, geo, e_model, row, budget, fields)


def _compared(ch: GlodChannel, geo: LunarGeometry, e_model: float, row: dict[str, Any], budget: dict[str, Any],
              fields: dict[str, Any]) -> lc.LunarComparisonRow:
    """The ratio row of a channel whose counts are settled (``budget["counts"]``: their rel. 1-sigma)."""
    if ch.irr_obs_w_m2_um is None or not ch.irr_obs_w_m2_um > 0:
        return lc.LunarComparisonRow(**row, **fields, budget=budget, status="rejected",
                                     reason=RejectReason.BAD_VALUE.value,
                                     message=f"irr_obs {ch.irr_obs_w_m2_um!r} is not > 0", in_trend=False)
    cmp = compare(ch.irr_obs_w_m2_um, e_model, phase_angle_deg=geo.phase_angle_deg,
                  observer_lat_deg=geo.observer_selenographic_lat_deg,
                  observer_lon_deg=geo.observer_selenographic_lon_deg, rel_sigma_counts=budget["counts"])
    budget.update(geometry=cmp.rel_sigma_geometry, model=cmp.rel_sigma_model, flags=list(cmp.flags))
    flagged = bool(cmp.flags)
    return lc.LunarComparisonRow(
        **row, **fields, ratio=cmp.ratio, ratio_sigma=cmp.ratio_sigma, budget=budget,
        status="flagged" if flagged else "ok", reason=cmp.flags[0] if flagged else None,
        message=("kept, not in trends: " + ", ".join(cmp.flags)) if flagged else budget.get("note", ""),
        in_trend=not flagged,
    )  # fmt: skip


def observation_rows(obs_row: lc.GlodObservationRow, settings: Settings, run_id: int,
                      now: datetime) -> list[lc.LunarComparisonRow]:
    base: dict[str, Any] = dict(run_id=run_id, observation_id=obs_row.id, created_at=now)
    srf_path = settings.srf_file(obs_row.instrument)

    def all_rejected(reason: str, message: str) -> list[lc.LunarComparisonRow]:
        return [lc.LunarComparisonRow(**base, channel=name, status="rejected", reason=reason, message=message[:1000],
                                      in_trend=False) for name in obs_row.channels]

    if srf_path is None:
        return all_rejected(RejectReason.UNKNOWN_INSTRUMENT.value,
                            f"no [instruments.\"{obs_row.instrument}\"] srf configured any more")
    srf = _srf(str(srf_path), srf_path.stat().st_mtime_ns)  # OSError: left pending (the site's problem)
    try:
        obs = read_glod(settings.site / obs_row.archive_path)
    except InvalidAcquisitionError as exc:
        return all_rejected(exc.reason.value, f"archived file damaged: {exc.message}")
    pos = observer_gcrs_km(obs.sat_pos_km, obs.sat_pos_ref, obs.date_obs)
    geo = lunar_geometry(obs.date_obs, pos.gcrs_km)
    extra = {"eop_source": pos.eop_source, "ut1_utc_s": pos.ut1_utc_s, "sat_pos_gcrs_km": list(pos.gcrs_km),
             "srf_file": srf_path.name}
    return [_channel_row(ch, geo, srf, base, extra) for ch in obs.channels]


def run_lunar_comparison(session: Session, settings: Settings, run: ProcessingRun, now: datetime, *,
                         reprocess: bool = False) -> LunarComparisonSummary:
    """Compare every pending GLOD observation (``reprocess``: all of them, as new rows)."""
    assert run.id is not None
    summary = LunarComparisonSummary()
    for obs_row in lc.glods_pending(session, run.id - 1 if reprocess else None):
        with unit_of_work(session, summary, obs_row.observation_id, log, "lunar comparison"):
            rows = observation_rows(obs_row, settings, run.id, now)
            versions.add_rows(session, rows)
            session.commit()
            after_commit("lunar_comparison")
            summary.observations += 1
            for r in rows:
                summary.channels_ok += r.status == "ok"
                summary.channels_flagged += r.status == "flagged"
                summary.channels_rejected += r.status == "rejected"
            log_rejections(obs_row.observation_id, rows)
    return summary


def log_rejections(observation_id: str, rows: list[lc.LunarComparisonRow]) -> None:
    """One WARNING per rejected channel of an observation (the stage and its work unit alike)."""
    for r in rows:
        if r.status == "rejected":
            log.warning("lunar observation %s channel %s rejected (%s): %s", observation_id, r.channel, r.reason,
                        r.message)
