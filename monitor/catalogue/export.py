"""Rows of the ICD 5 results export (``monitor results``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from monitor.catalogue.acquisitions import all_rejections
from monitor.catalogue.models import (
    Acquisition,
    BandImage,
    DriftResult,
    GeometryResult,
    MoonMeasurement,
    MtfResult,
    StarPhotometry,
    Starpool,
    StarpoolResult,
)
from monitor.catalogue.versions import is_latest

__all__ = [
    "export_rows",
]


def export_rows(
    session: Session,
    *,
    satellite: str | None = None,
    band: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Rows of the ICD 5 results export (latest version of every result), as plain dicts."""
    def keep(sat: str, b: str | None, epoch: datetime | None) -> bool:
        if satellite is not None and sat != satellite:
            return False
        if band is not None and b != band:  # rows without a band (geometry) are not of that band
            return False
        if epoch is not None and since is not None and epoch < since:
            return False
        return not (epoch is not None and until is not None and epoch >= until)

    out: dict[str, list[dict[str, Any]]] = {
        "calibration": [], "mtf": [], "drift": [], "measurements": [], "geometry": [],
    }
    latest = is_latest(StarpoolResult, StarpoolResult.starpool_id, StarpoolResult.band)
    q = (
        select(StarpoolResult, Starpool)
        .join(Starpool, col(Starpool.id) == col(StarpoolResult.starpool_id))
        .where(latest)
        .order_by(Starpool.satellite, StarpoolResult.band, StarpoolResult.epoch)
    )
    star_a: dict[tuple[str, str], tuple[Any, Any]] = {}  # (acq_id, band) -> corrected (a, a_sigma)
    for res, pool in session.exec(q).all():
        for acq_id, entry in (res.per_star or {}).items():
            star_a[(acq_id, res.band)] = (entry.get("a"), entry.get("a_sigma"))
        if keep(pool.satellite, res.band, res.epoch):
            out["calibration"].append({
                "satellite": pool.satellite, "band": res.band, "method": "STAR", "epoch": res.epoch,
                "a": res.a, "a_sigma": res.a_sigma, "n": res.n_used, "starpool": pool.period_key,
            })
    latest_moon = is_latest(MoonMeasurement, MoonMeasurement.acquisition_id, MoonMeasurement.band)
    qm = (
        select(MoonMeasurement, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(MoonMeasurement.acquisition_id))
        .where(latest_moon)
        .order_by(Acquisition.satellite, MoonMeasurement.band, Acquisition.date_obs)
    )
    moon_by_acq_band: dict[tuple[int, str], MoonMeasurement] = {}
    for mm, acq in session.exec(qm).all():
        moon_by_acq_band[(mm.acquisition_id, mm.band)] = mm
        # flagged (|g| outside the ICD 2.3 range) and rejected bands are no calibration result
        if mm.a is not None and mm.status == "ok" and keep(acq.satellite, mm.band, acq.date_obs):
            out["calibration"].append({
                "satellite": acq.satellite, "band": mm.band, "method": "MOON", "epoch": acq.date_obs,
                "a": mm.a, "a_sigma": mm.a_sigma, "n": 1, "starpool": None,
            })
    latest_mtf = is_latest(MtfResult, MtfResult.starpool_id, MtfResult.band, MtfResult.direction, MtfResult.method)
    qf = (
        select(MtfResult, Starpool)
        .join(Starpool, col(Starpool.id) == col(MtfResult.starpool_id))
        .where(latest_mtf, MtfResult.method == "parametric")
        .order_by(Starpool.satellite, MtfResult.band, Starpool.period_start, MtfResult.direction)
    )
    for mtf, pool in session.exec(qf).all():
        if keep(pool.satellite, mtf.band, pool.period_start):
            out["mtf"].append({
                "satellite": pool.satellite, "band": mtf.band, "direction": mtf.direction,
                "frequency": 0.5, "mtf": mtf.mtf_nyquist, "mtf_sigma": mtf.mtf_nyquist_sigma,
                "starpool": pool.period_key,
            })
    # ICD 5 reports the linear drift (rate_per_year = dA/A per year); the exponential fit is kept
    # in the catalogue and the report as an alternative model.
    latest_drift = is_latest(DriftResult, DriftResult.satellite, DriftResult.band, DriftResult.method,
                             DriftResult.quantity, DriftResult.model)
    qd = (
        select(DriftResult)
        .where(latest_drift, DriftResult.quantity == "a", DriftResult.model == "linear")
        .order_by(DriftResult.satellite, DriftResult.band, DriftResult.method)
    )
    for d in session.exec(qd).all():
        if keep(d.satellite, d.band, None):
            out["drift"].append({
                "satellite": d.satellite, "band": d.band, "method": d.method,
                "rate_per_year": d.rate_per_year, "rate_sigma": d.rate_sigma,
                "reference_epoch": d.reference_epoch,
            })
    latest_phot = is_latest(StarPhotometry, StarPhotometry.acquisition_id, StarPhotometry.band)
    phot: dict[tuple[int, str], StarPhotometry] = {
        (p.acquisition_id, p.band): p
        for p in session.exec(select(StarPhotometry).where(latest_phot)).all()
    }
    qa = (
        select(Acquisition, BandImage)
        .join(BandImage, col(BandImage.acquisition_id) == col(Acquisition.id), isouter=True)
        .order_by(Acquisition.date_obs, Acquisition.acq_id, BandImage.id)
    )
    for acq, bimg in session.exec(qa).all():
        b = bimg.band if bimg is not None else None
        if not keep(acq.satellite, b, acq.date_obs):
            continue
        entry: dict[str, Any] = {
            "acq_id": acq.acq_id, "file": acq.file_name, "band": b,
            "status": "ok", "reason": None, "a": None, "a_sigma": None,
        }
        assert acq.id is not None
        result: Any = None
        if b is not None:
            result = phot.get((acq.id, b)) or moon_by_acq_band.get((acq.id, b))
        if result is not None:
            if result.status == "rejected":
                entry["status"], entry["reason"] = "rejected", result.reason
            entry["a"], entry["a_sigma"] = result.a, result.a_sigma
            if result.status == "ok" and (acq.acq_id, b) in star_a:  # EE-corrected, from its starpool
                entry["a"], entry["a_sigma"] = star_a[(acq.acq_id, b)]
        out["measurements"].append(entry)
    for rej in all_rejections(session, since, until):
        if satellite is not None or band is not None:
            continue  # a refused file has no trustworthy satellite/band
        out["measurements"].append({
            "acq_id": rej.acq_id, "file": rej.file_name, "band": None,
            "status": "duplicate" if rej.reason == "duplicate" else "rejected",
            "reason": rej.reason, "a": None, "a_sigma": None,
        })
    latest_geo = is_latest(GeometryResult, GeometryResult.acquisition_id)
    qg = (
        select(GeometryResult, Acquisition)
        .join(Acquisition, col(Acquisition.id) == col(GeometryResult.acquisition_id))
        .where(latest_geo, GeometryResult.status == "ok")
        .order_by(Acquisition.date_obs)
    )
    for g, acq in session.exec(qg).all():
        if keep(acq.satellite, None, acq.date_obs):
            out["geometry"].append({
                "acq_id": acq.acq_id, "n_control": g.n_control, "n_check": g.n_check,
                "check_rmse_m": {"e": g.check_rmse_e_m, "n": g.check_rmse_n_m, "u": g.check_rmse_u_m},
                "velocity_m_s": [g.velocity_x_m_s, g.velocity_y_m_s, g.velocity_z_m_s],
                "velocity_sigma_m_s": [g.velocity_sigma_x_m_s, g.velocity_sigma_y_m_s, g.velocity_sigma_z_m_s],
                "position_sigma_m": g.position_sigma_m, "orbit_model": g.orbit_model,
            })
    return out
