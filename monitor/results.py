"""The documents of the query commands, built from catalogue rows: the ICD 5 results document
(``monitor results``) and the star traces (``monitor traces``).

The catalogue reads the rows, filtered in SQL; the rules of the documents are here: which
results are calibration results, how a measurement's status reads, which A_k a star measurement
reports, when a trace point is usable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlmodel import Session

from monitor.catalogue import (
    acquisitions,
    alerts,
    drift_results,
    geometry_results,
    measurements,
    moon_results,
    mtf_results,
    star_results,
)
from monitor.catalogue.measurements import BandMeasurement
from monitor.catalogue.models import StarpoolResult
from monitor.catalogue.star_results import TraceRow
from monitor.domain import ICD_VERSION, REF1_STAR_NOTE, REF_VERSION, MoonStatus, PhotometryStatus
from monitor.science.star_traces import ratio_to_prediction

__all__ = ["build_results", "results_json", "iso_utc", "measurement_entry", "TracePoint", "trace_points", "star_traces",
           "CSV_TABLES", "results_tables", "table_csv"]


def iso_utc(t: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` suffix and millisecond precision."""
    if t.tzinfo is None:
        raise ValueError("naive datetime in results export")
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- ICD 5 results


def build_results(
    session: Session,
    *,
    satellite: str | None = None,
    band: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Assemble the ICD 5 document from the latest version of every stored result.

    The filters select what the rows are about: the satellite and band, and the time (a starpool
    result's epoch, a Moon or star acquisition's observation time, an MTF starpool's start, a
    refused file's reception time) in ``[since, until)``; a drift fit has no time and is kept
    whatever the time filter. Rows without a band (geometry, refused files) are not of any band;
    refused files have no trustworthy satellite either.
    """
    calibration = _calibration(session, satellite, band, since, until)
    doc: dict[str, Any] = {"icd": ICD_VERSION, **star_reference_summary(calibration)}
    doc.update(_plain({
        "calibration": calibration,
        "mtf": _mtf(session, satellite, band, since, until),
        "drift": _drift(session, satellite, band),
        "mtf_drift": _mtf_drift(session, satellite, band),
        "measurements": _measurements(session, satellite, band, since, until),
        "geometry": [] if band is not None else _geometry(session, satellite, since, until),
    }))
    from monitor.lunar_results import lunar_comparison_entries  # ICD 6

    doc["lunar_comparison"] = lunar_comparison_entries(session, satellite=satellite, band=band, since=since,
                                                       until=until)
    doc["alerts"] = _plain(_alerts(session, satellite, band, since, until))
    return doc


def star_reference_summary(calibration: list[dict[str, Any]]) -> dict[str, Any]:
    """Top-level ``reference_model`` of the export: the star model of the STAR results listed
    (``"REF-1"`` when there are none; ``"REF-1+REF-2"`` when both are), with ``reference_note``
    saying once that REF-1 is in use when it is."""
    models = sorted({c["reference_model"] for c in calibration if c["method"] == "STAR"}) or [REF_VERSION]
    out: dict[str, Any] = {"reference_model": "+".join(models)}
    if REF_VERSION in models:
        out["reference_note"] = REF1_STAR_NOTE
    return out


def results_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, allow_nan=False)


def _calibration(session: Session, satellite: str | None, band: str | None, since: datetime | None,
                 until: datetime | None) -> list[dict[str, Any]]:
    """One entry per starpool result (STAR), then per Moon acquisition and band (MOON): only Moon
    measurements ``ok`` with an A_k (flagged ones, |g| outside the ICD 2.3 range, and rejected
    ones are no calibration result)."""
    out = [
        {"satellite": pool.satellite, "band": res.band, "method": "STAR", "epoch": res.epoch, "a": res.a,
         "a_sigma": res.a_sigma, "n": res.n_used, "starpool": pool.period_key,
         "reference_model": res.reference_model,
         # ICD 2.2b item 6: the checksums of the library (REF-2; null for REF-1) and of the RSRs used
         "library_sha256": (res.reference or {}).get("library_sha256"), "rsr": (res.reference or {}).get("rsr"),
         "a_sigma_components": res.a_sigma_components, "a_star_offsets": (res.reference or {}).get("a_star_offsets")}
        for res, pool in star_results.latest_starpool_results(session, satellite, band, since=since, until=until)
    ]
    out += [
        {"satellite": acq.satellite, "band": mm.band, "method": "MOON", "epoch": acq.date_obs, "a": mm.a,
         "a_sigma": mm.a_sigma, "n": 1, "starpool": None}
        for mm, acq in moon_results.latest_moon_measurements(session, satellite, band, since=since, until=until)
        if mm.a is not None and mm.status == MoonStatus.OK
    ]
    return out


def _mtf(session: Session, satellite: str | None, band: str | None, since: datetime | None,
         until: datetime | None) -> list[dict[str, Any]]:
    """The reported MTF at Nyquist of every starpool starting in ``[since, until)``: the parametric
    fit, or the ePSF where the fit was flagged or disagreed (issue 15). Beyond ICD 5: ``estimator``
    (``parametric`` or ``epsf``) says which."""
    rows = mtf_results.latest_mtf_history(session, satellite, band, method=mtf_results.REPORTED, until=until,
                                          starts_from=since)
    return [
        {"satellite": pool.satellite, "band": mtf.band, "direction": mtf.direction, "frequency": 0.5,
         "mtf": mtf.mtf_nyquist, "mtf_sigma": mtf.mtf_nyquist_sigma, "starpool": pool.period_key,
         "estimator": mtf.method}
        for mtf, pool in rows
    ]


def _drift(session: Session, satellite: str | None, band: str | None) -> list[dict[str, Any]]:
    """The primary drift of A_k (rate_per_year = dA/A per year) of every series
    (:func:`monitor.catalogue.drift_results.latest_primary_drifts`): for STAR the fit with one
    offset per star when enough stars were seen in two or more starpools, else the linear fit of
    the starpool means. Beyond ICD 5: ``model`` names the fit (``star-offsets`` or ``linear``) and
    ``drift_starpool_mean`` gives the linear fit of the starpool means (``rate_per_year``,
    ``rate_sigma``, ``reference_epoch``) when it is not the primary one, else null. The
    exponential fit is kept in the catalogue as an alternative model."""
    out = []
    for d, mean in drift_results.latest_primary_drifts(session, satellite=satellite, band=band):
        out.append({
            "satellite": d.satellite, "band": d.band, "method": d.method, "rate_per_year": d.rate_per_year,
            "rate_sigma": d.rate_sigma, "reference_epoch": d.reference_epoch, "model": d.model,
            "drift_starpool_mean": None if mean is None else {
                "rate_per_year": mean.rate_per_year, "rate_sigma": mean.rate_sigma,
                "reference_epoch": mean.reference_epoch},
        })
    return out


def _mtf_drift(session: Session, satellite: str | None, band: str | None) -> list[dict[str, Any]]:
    """Beyond ICD 5 (a key of its own, so that the ICD's ``drift`` entries stay the drift of A_k):
    the newest linear drift of the parametric MTF at Nyquist of every satellite, band and direction
    (:mod:`monitor.calibration.mtf_stage`): ``mtf_nyquist`` ± ``mtf_nyquist_sigma`` the fitted value
    at ``reference_epoch``, ``rate_per_year`` ± ``rate_sigma`` the relative drift dMTF/MTF per
    year, ``n_starpools`` the starpools fitted. Like ``drift``, kept whatever the time filter."""
    out = []
    for direction in ("along", "across"):
        for d in drift_results.latest_drifts(session, satellite=satellite, band=band, method="STAR",
                                             quantity=f"mtf_{direction}"):
            out.append({
                "satellite": d.satellite, "band": d.band, "method": d.method, "direction": direction,
                "frequency": 0.5, "mtf_nyquist": d.a0, "mtf_nyquist_sigma": d.a0_sigma,
                "rate_per_year": d.rate_per_year, "rate_sigma": d.rate_sigma, "reference_epoch": d.reference_epoch,
                "model": d.model, "chi2_dof": d.chi2_dof, "n_starpools": d.n_points,
            })
    return sorted(out, key=lambda e: (e["satellite"], e["band"], e["direction"]))


def _measurements(session: Session, satellite: str | None, band: str | None, since: datetime | None,
                  until: datetime | None) -> list[dict[str, Any]]:
    """One entry per acquisition and band, then one per refused or duplicate file (only without a
    satellite or band filter: a refused file has no trustworthy satellite or band).

    Beyond the fields of ICD 5, every entry names its ``satellite``, ``epoch`` (the acquisition's
    DATE-OBS) and ``method`` (its type: STAR, MOON, GEOM), all null for a refused file (nothing
    of it is trustworthy)."""
    out = [_measurement(m) for m in measurements.band_measurements(session, satellite, band, since, until)]
    if satellite is None and band is None:
        out += [
            {"acq_id": rej.acq_id, "file": rej.file_name, "band": None,
             "status": "duplicate" if rej.reason == "duplicate" else "rejected", "reason": rej.reason,
             "a": None, "a_sigma": None, "satellite": None, "epoch": None, "method": None}
            for rej in acquisitions.all_rejections(session, since, until)
        ]
    return out


def _measurement(m: BandMeasurement) -> dict[str, Any]:
    """A band's entry: ``rejected`` with the reason of its rejected photometry or Moon measurement,
    else ``ok``; the A_k of a star in a starpool is its starpool's EE-corrected value for it."""
    acq = m.acquisition
    b = m.band_image.band if m.band_image is not None else None
    entry: dict[str, Any] = {"acq_id": acq.acq_id, "file": acq.file_name, "band": b, "status": "ok",
                             "reason": None, "a": None, "a_sigma": None, "satellite": acq.satellite,
                             "epoch": acq.date_obs, "method": acq.acq_type}
    result = m.photometry or m.moon
    if result is not None:  # their statuses share the values ok and rejected
        if result.status == PhotometryStatus.REJECTED:
            entry["status"], entry["reason"] = "rejected", result.reason
        entry["a"], entry["a_sigma"] = result.a, result.a_sigma
        per_star = m.starpool_result.per_star if m.starpool_result is not None else {}
        if result.status == PhotometryStatus.OK and acq.acq_id in (per_star or {}):
            star = per_star[acq.acq_id]
            entry["a"], entry["a_sigma"] = star.get("a"), star.get("a_sigma")
    return entry


def _alerts(session: Session, satellite: str | None, band: str | None, since: datetime | None,
            until: datetime | None) -> list[dict[str, Any]]:
    """The calibration alerts (every state), of the satellite and band, active at some time of
    ``[since, until)``: opened before ``until`` and not closed before ``since``."""
    rows = alerts.list_alerts(session, include_closed=True, satellite=satellite, band=band)
    return [
        {"id": a.id, "satellite": a.satellite, "band": a.band, "method": a.method, "kind": a.kind, "state": a.state,
         "opened_at": a.opened_at, "closed_at": a.closed_at, "acknowledged_at": a.acknowledged_at,
         "value": a.value, "sigma": a.sigma, "threshold": a.threshold, "message": a.message, "note": a.note}
        for a in rows
        if (until is None or a.opened_at < until) and (since is None or a.closed_at is None or a.closed_at >= since)
    ]
measurement_entry = _measurement  # one band's ICD 5 measurement entry (the web dashboard's acquisition page)


def _geometry(session: Session, satellite: str | None, since: datetime | None,
              until: datetime | None) -> list[dict[str, Any]]:
    return [
        {"acq_id": acq.acq_id, "satellite": acq.satellite, "epoch": acq.date_obs, "method": acq.acq_type,
         "n_control": g.n_control, "n_check": g.n_check,
         "check_rmse_m": {"e": g.check_rmse_e_m, "n": g.check_rmse_n_m, "u": g.check_rmse_u_m},
         "velocity_m_s": [g.velocity_x_m_s, g.velocity_y_m_s, g.velocity_z_m_s],
         "velocity_sigma_m_s": [g.velocity_sigma_x_m_s, g.velocity_sigma_y_m_s, g.velocity_sigma_z_m_s],
         "position_sigma_m": g.position_sigma_m, "orbit_model": g.orbit_model}
        for g, acq in geometry_results.geometry_in(session, satellite, since, until)
    ]


# --------------------------------------------------------------------------- star traces


@dataclass(frozen=True)
class TracePoint:
    """One point of a star trace (``monitor traces``): a star's normalised count
    S_w/(OVERSAMP*GAINFACT) in one window at one time, and its ratio to its starpool's prediction."""

    time: datetime
    acq_id: str
    star: str
    band: str
    half_width_px: int
    normalised_count_dn: float | None
    sum_dn: float | None
    sigma_dn: float | None
    status: str
    reason: str | None
    usable: bool
    ratio_to_prediction: float | None


def trace_points(rows: Sequence[TraceRow]) -> list[TracePoint]:
    """The trace points of catalogue rows (:func:`monitor.catalogue.star_results.trace_rows`).

    A star rejected from its starpool (outlier, rejected photometry), or one its starpool could give
    no A_k (``per_star`` entry with ``a`` null: a star too faint in the band for its PSF fit), is not
    ``usable`` (its ``reason`` says why) and has no ratio: its EE, evaluated at a meaningless fitted
    centre (down to ~1e-8), predicts nothing. The ratio of a usable window is
    :func:`monitor.science.star_traces.ratio_to_prediction` of its A_raw, its EE in its starpool's
    latest result (1 when the result has none: no PSF fit) and the starpool's A_k.
    """
    usable: list[bool] = []
    reasons: list[str | None] = []
    a_window, ee, a_pool = [], [], []
    for r in rows:
        res, w = r.starpool_result, r.window
        why = _starpool_rejection(res, r.acquisition.acq_id)
        star_entry = None if res is None else (res.per_star or {}).get(r.acquisition.acq_id)
        no_coefficient = why is None and star_entry is not None and star_entry.get("a") is None
        ok = w.a is not None and why is None and not no_coefficient
        usable.append(ok)
        reason = r.photometry.reason
        if why is not None:
            reason = reason or f"rejected from its starpool: {why.get('reason') or 'unknown'}"
        elif no_coefficient:  # measured, but its starpool could give it no A_k (its EE is not usable)
            reason = reason or "no coefficient in its starpool"
        reasons.append(reason)
        if res is not None and ok and res.a:
            star = res.per_star.get(r.acquisition.acq_id) or {}
            e = star.get("ee", {}).get(str(w.half_width_px), 1.0)
            a_window.append(w.a)
            ee.append(np.nan if e is None else e)
            a_pool.append(res.a)
        else:  # no prediction
            a_window.append(np.nan)
            ee.append(np.nan)
            a_pool.append(np.nan)
    ratios = ratio_to_prediction(np.array(a_window, dtype=np.float64), np.array(ee, dtype=np.float64),
                                 np.array(a_pool, dtype=np.float64))
    return [
        TracePoint(time=r.acquisition.date_obs, acq_id=r.acquisition.acq_id, star=r.acquisition.target,
                   band=r.photometry.band, half_width_px=r.window.half_width_px,
                   normalised_count_dn=r.window.normalised_count, sum_dn=r.window.sum_dn,
                   sigma_dn=r.window.sigma_dn, status=r.photometry.status, reason=reason, usable=ok,
                   ratio_to_prediction=float(x) if np.isfinite(x) else None)
        for r, reason, ok, x in zip(rows, reasons, usable, ratios, strict=True)
    ]


def _starpool_rejection(result: StarpoolResult | None, acq_id: str) -> dict[str, Any] | None:
    """The entry of ``acq_id`` in the rejected stars of a starpool result, or None."""
    if result is None:
        return None
    return next((x for x in (result.rejected or []) if x.get("acq_id") == acq_id), None)


def star_traces(session: Session, satellite: str, band: str, hip: int | None = None) -> list[TracePoint]:
    """Every trace point of one satellite and band (optionally one star ``HIP hip``), by time and window."""
    return trace_points(star_results.trace_rows(session, satellite, band, hip=hip))


# --------------------------------------------------------------------------- CSV tables


# The columns of each table of ``monitor results --format csv``: the entries of the ICD 5 document
# flattened (check_rmse_m -> check_rmse_e_m..., velocity_m_s -> velocity_x_m_s...,
# drift_starpool_mean -> starpool_mean_rate_*), plus the alerts and the star traces
# (``monitor traces`` of every satellite and band, with the satellite).
CSV_TABLES: dict[str, tuple[str, ...]] = {
    "calibration": ("satellite", "band", "method", "epoch", "a", "a_sigma", "n", "starpool"),
    "measurements": ("acq_id", "file", "satellite", "band", "method", "epoch", "status", "reason", "a", "a_sigma"),
    "drift": ("satellite", "band", "method", "rate_per_year", "rate_sigma", "reference_epoch", "model",
              "starpool_mean_rate_per_year", "starpool_mean_rate_sigma"),
    "mtf": ("satellite", "band", "direction", "frequency", "mtf", "mtf_sigma", "starpool"),
    "mtf_drift": ("satellite", "band", "method", "direction", "frequency", "mtf_nyquist", "mtf_nyquist_sigma",
                  "rate_per_year", "rate_sigma", "reference_epoch", "model", "chi2_dof", "n_starpools"),
    "geometry": ("acq_id", "satellite", "method", "epoch", "n_control", "n_check", "check_rmse_e_m", "check_rmse_n_m",
                 "check_rmse_u_m", "velocity_x_m_s", "velocity_y_m_s", "velocity_z_m_s", "velocity_sigma_x_m_s",
                 "velocity_sigma_y_m_s", "velocity_sigma_z_m_s", "position_sigma_m", "orbit_model"),
    "alerts": ("id", "satellite", "band", "method", "kind", "state", "opened_at", "closed_at", "acknowledged_at",
               "value", "sigma", "threshold", "message", "note"),
    "traces": ("satellite", "time", "acq_id", "star", "band", "half_width_px", "normalised_count_dn", "sum_dn",
               "sigma_dn", "status", "reason", "usable", "ratio_to_prediction"),
}


def _flat_geometry(g: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in g.items() if k not in ("check_rmse_m", "velocity_m_s", "velocity_sigma_m_s")}
    for axis in ("e", "n", "u"):
        out[f"check_rmse_{axis}_m"] = (g.get("check_rmse_m") or {}).get(axis)
    for i, axis in enumerate("xyz"):
        out[f"velocity_{axis}_m_s"] = (g.get("velocity_m_s") or [None] * 3)[i]
        out[f"velocity_sigma_{axis}_m_s"] = (g.get("velocity_sigma_m_s") or [None] * 3)[i]
    return out


def results_tables(
    session: Session, names: Sequence[str], *, satellite: str | None = None, band: str | None = None,
    since: datetime | None = None, until: datetime | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The rows of the tables ``names`` (keys of :data:`CSV_TABLES`), with the filters of
    :func:`build_results` (traces: acquisition time in ``[since, until)``); times ISO 8601 UTC."""
    unknown = [n for n in names if n not in CSV_TABLES]
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(unknown)}")
    out: dict[str, list[dict[str, Any]]] = {}
    if any(n != "traces" for n in names):
        doc = build_results(session, satellite=satellite, band=band, since=since, until=until)
        for n in names:
            if n == "geometry":
                out[n] = [_flat_geometry(g) for g in doc["geometry"]]
            elif n == "drift":
                out[n] = [{**d, "starpool_mean_rate_per_year": (d["drift_starpool_mean"] or {}).get("rate_per_year"),
                           "starpool_mean_rate_sigma": (d["drift_starpool_mean"] or {}).get("rate_sigma")}
                          for d in doc["drift"]]
            elif n != "traces":
                out[n] = list(doc[n])
    if "traces" in names:
        rows = star_results.trace_rows(session, satellite, band, since=since, until=until)
        out["traces"] = [
            {"satellite": r.acquisition.satellite, **_plain(p.__dict__)}
            for r, p in zip(rows, trace_points(rows), strict=True)
        ]
    return {n: out[n] for n in names}


def table_csv(name: str, rows: Sequence[dict[str, Any]]) -> str:
    """CSV text of one table: a header line with the columns of :data:`CSV_TABLES`, one line per
    row (empty cell for null)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_TABLES[name]), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
