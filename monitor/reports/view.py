"""The report's view model, read from the catalogue (see :mod:`monitor.reports.context`)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlmodel import Session

from monitor import __version__
from monitor.catalogue import (
    acquisitions,
    mtf_results,
)
from monitor.catalogue import operations as ops
from monitor.catalogue.drift_results import STAR_OFFSETS_MODEL
from monitor.catalogue.models import (
    Acquisition,
    DriftResult,
    MoonMeasurement,
    StarPhotometry,
    Starpool,
    StarpoolResult,
)
from monitor.catalogue.operations import RunVersions
from monitor.domain import (
    BANDS_BY_MISSION,
    ICD_VERSION,
    MISSION_OF_SATELLITE,
    REF1_STAR_NOTE,
    REF_VERSION,
    MoonStatus,
    Satellite,
)
from monitor.reports.context import (
    AlertItem,
    CalibrationSeries,
    DriftFit,
    GeometryRow,
    MoonResult,
    MtfCurve,
    MtfNyquistSeries,
    Provenance,
    RejectedInput,
    ReportContext,
    SatelliteSection,
    StarBudgetRow,
    StarTraceSet,
    SummaryRow,
    VariableStarTrace,
)
from monitor.reports.filters import pm
from monitor.reports.lunar import lunar_comparison_section, pneo_ratio_rows
from monitor.reports.period import Period
from monitor.reports.trace_panel import star_trace_set
from monitor.reports.view_reads import CatalogueView, grouped, read_catalogue, trace_points_by_band
from monitor.results import TracePoint
from monitor.science.constants import SECONDS_PER_YEAR
from monitor.settings import Settings

__all__ = [
    "HISTORY",
    "TITLE",
    "band_star_traces",
    "build_context",
    "star_trace_set",
    "summary_text",
]

MTF_OFF_NOTE = ("The MTF stage is off on this site ([star] mtf = false): no PSF fit, no new MTF result or MTF "
                "drift, and the star A_k come from the largest window without encircled-energy correction.")


def mtf_off_note(settings: Settings) -> str | None:
    """What the report says when ``[star] mtf = false`` (the reports never import the calibration)."""
    return None if settings.star.mtf else MTF_OFF_NOTE

HISTORY = timedelta(days=731)  # trend figures: results of the two years before the period end
TITLE = "Pléiades / Pléiades Neo calibration monitoring"


def _bands(satellite: str) -> list[str]:
    return list(BANDS_BY_MISSION[MISSION_OF_SATELLITE[Satellite(satellite)]])


def _drift(row: DriftResult | None) -> DriftFit | None:
    if row is None:
        return None
    return DriftFit(reference_epoch=row.reference_epoch, a0=row.a0, rate_per_year=row.rate_per_year,
                    rate_sigma=row.rate_sigma)


def _star_offsets_line(row: DriftResult, epochs: list[datetime], a: list[float], a_sigma: list[float]) -> DriftFit:
    """The per-star-offsets drift as a line over the starpool A_k: its rate, and the level that
    best fits the plotted points with that rate (weighted mean of ``a_j / (1 + r dt_j)``, weights
    ``1/sigma_j^2``). Its own a0 is the level of the weighted-mean star, which differs from the
    starpool means by the star mix; the rate is what the drift is about."""
    g = np.array([1.0 + row.rate_per_year * (t - row.reference_epoch).total_seconds() / SECONDS_PER_YEAR
                  for t in epochs])
    w = 1.0 / np.square(np.asarray(a_sigma, dtype=np.float64))
    ok = np.isfinite(w) & (g > 0.0)
    level = float(np.sum(w[ok] * np.asarray(a)[ok] / g[ok]) / np.sum(w[ok])) if ok.any() else row.a0
    return DriftFit(reference_epoch=row.reference_epoch, a0=level, rate_per_year=row.rate_per_year,
                    rate_sigma=row.rate_sigma, model=STAR_OFFSETS_MODEL)


def _variable_stars(hist: list[tuple[StarpoolResult, Starpool]], band: str) -> list[VariableStarTrace]:
    """The stars flagged variable in one band's starpools (issue 14), with their normalised-count
    trace over every starpool of ``hist`` and the newest test statistic."""
    points: dict[int, list[tuple[datetime, float, float]]] = {}
    newest: dict[int, dict[str, Any]] = {}
    first: dict[int, datetime] = {}
    for r, _ in hist:  # oldest first
        for e in (r.per_star or {}).values():
            hip, a, sig = e.get("hip"), e.get("a"), e.get("a_sigma")
            if hip is None:
                continue
            h = int(hip)
            if a is not None and sig is not None and r.a:
                points.setdefault(h, []).append((r.epoch, float(a) / r.a, float(sig) / r.a))
            var = e.get("variability") or {}
            if var.get("flagged"):
                first.setdefault(h, r.epoch)
            if var.get("chi2") is not None:
                newest[h] = var
    out = []
    for h in sorted(first):
        pts = sorted(points.get(h, []))
        v = newest.get(h, {})
        out.append(VariableStarTrace(
            star=f"HIP {h}", band=band, times=[p[0] for p in pts], ratio=[p[1] for p in pts],
            ratio_sigma=[p[2] for p in pts], chi2=v.get("chi2"), n_points=int(v.get("n") or 0),
            p_value=v.get("p"), rms_rel=v.get("rms_rel"), first_flagged=first[h]))
    return out


def _model_a(fit: DriftFit, t: datetime) -> float:
    return fit.a0 * (1.0 + fit.rate_per_year * (t - fit.reference_epoch).total_seconds() / SECONDS_PER_YEAR)


@dataclass
class _Used:
    """The processing runs and acquisitions a satellite's section was computed from."""

    run_ids: set[int] = field(default_factory=set)
    acq_ids: set[str] = field(default_factory=set)


@dataclass
class _SatelliteData:
    section: SatelliteSection
    summary: list[SummaryRow]
    moon_latest: dict[str, MoonResult]


def _alert_text(cat: CatalogueView, satellite: str, band: str, method: str, end: datetime) -> str | None:
    """The alerts of one series still active at the end of the period (``kind: message``, with
    ``[acknowledged]`` when a person has), or None; the alerts section lists the closed ones too."""
    return "; ".join(f"{a.kind}{' [acknowledged]' if a.state == 'acknowledged' else ''}: {a.message}"
                     for a in cat.alerts if (a.satellite, a.band, a.method) == (satellite, band, method)
                     and (a.closed_at is None or a.closed_at >= end)) or None


def _star_band(cat: CatalogueView, satellite: str, band: str, period: Period, used: _Used
               ) -> tuple[CalibrationSeries, SummaryRow, list[RejectedInput]] | None:
    """The starpool A_k series of one band, its summary row and the outliers of the period."""
    hist = cat.starpools.get((satellite, band), [])
    if not hist:
        return None
    drift_row = cat.drifts.get((satellite, band, "STAR"))
    fit = _drift(drift_row)
    primary_row = cat.primary_drifts.get((satellite, band, "STAR"))
    epochs, a_k, a_sig = [r.epoch for r, _ in hist], [r.a for r, _ in hist], [r.a_sigma for r, _ in hist]
    if primary_row is not None and primary_row.model == STAR_OFFSETS_MODEL:
        # the plot and table show the primary drift (the summary's); the starpool-mean fit beside it
        series = CalibrationSeries(band=band, method="STAR", epochs=epochs, a=a_k, a_sigma=a_sig,
                                   drift=_star_offsets_line(primary_row, epochs, a_k, a_sig), starpool_mean_drift=fit)
    else:
        series = CalibrationSeries(band=band, method="STAR", epochs=epochs, a=a_k, a_sigma=a_sig, drift=fit)
    outliers: list[RejectedInput] = []
    for r, pool in hist:
        used.run_ids.add(r.run_id)
        used.acq_ids.update(r.acquisition_ids)
        if period.start <= r.epoch < period.end:
            outliers += [
                RejectedInput(file=str(x.get("acq_id")), reason=str(x.get("reason") or "outlier"),
                              message=_outlier_message(x, pool.period_key, band), time=r.epoch)
                for x in r.rejected if (x.get("reason") or "outlier") == "outlier"
            ]
    latest, _ = hist[-1]
    before = [r for r, _ in hist if r.epoch < period.start]
    change = None
    if latest.epoch >= period.start and before:
        change = 100.0 * (latest.a / before[-1].a - 1.0)
    alert = _alert_text(cat, satellite, band, "STAR", period.end)
    if drift_row is not None:
        used.run_ids.add(drift_row.run_id)
    primary = _drift(cat.primary_drifts.get((satellite, band, "STAR")))  # the summary's drift (star-offsets)
    last_mtf = {d: rows[-1][0] for d in ("along", "across")
                if (rows := cat.mtf.get((satellite, band, d, mtf_results.REPORTED)))}
    mtf_drift = {d: m for d in ("along", "across") if (m := cat.mtf_drifts.get((satellite, band, d))) is not None}
    used.run_ids.update(m.run_id for m in mtf_drift.values())
    summary = SummaryRow(
        satellite=satellite, band=band, method="STAR", a=latest.a, a_sigma=latest.a_sigma,
        change_pct_since_previous=change,
        drift_per_year=None if primary is None else primary.rate_per_year,
        drift_sigma=None if primary is None else primary.rate_sigma,
        mtf_nyquist_along=last_mtf["along"].mtf_nyquist if "along" in last_mtf else None,
        mtf_nyquist_across=last_mtf["across"].mtf_nyquist if "across" in last_mtf else None,
        mtf_drift_along=mtf_drift["along"].rate_per_year if "along" in mtf_drift else None,
        mtf_drift_along_sigma=mtf_drift["along"].rate_sigma if "along" in mtf_drift else None,
        mtf_drift_across=mtf_drift["across"].rate_per_year if "across" in mtf_drift else None,
        mtf_drift_across_sigma=mtf_drift["across"].rate_sigma if "across" in mtf_drift else None,
        alert=alert, epoch=latest.epoch,
    )
    return series, summary, outliers


def _mtf_band(cat: CatalogueView, satellite: str, band: str, used: _Used) -> tuple[MtfNyquistSeries, MtfCurve] | None:
    """The MTF at Nyquist over time and the latest MTF curve of one band (with its ePSF cross-check)."""
    along = cat.mtf.get((satellite, band, "along", "parametric"), [])
    across = cat.mtf.get((satellite, band, "across", "parametric"), [])
    if not along and not across:
        return None
    ref = along or across
    # the Nyquist trend of what the system reports (the ePSF where the fit was flagged)
    r_along = cat.mtf.get((satellite, band, "along", mtf_results.REPORTED), [])
    r_across = cat.mtf.get((satellite, band, "across", mtf_results.REPORTED), [])
    nyquist = MtfNyquistSeries(
        band=band, epochs=[p.period_start + (p.period_end - p.period_start) / 2 for _, p in ref],
        along=[m.mtf_nyquist for m, _ in r_along] if len(r_along) == len(ref) else [],
        along_sigma=[m.mtf_nyquist_sigma for m, _ in r_along] if len(r_along) == len(ref) else [],
        across=[m.mtf_nyquist for m, _ in r_across] if len(r_across) == len(ref) else [],
        across_sigma=[m.mtf_nyquist_sigma for m, _ in r_across] if len(r_across) == len(ref) else [],
    )
    la = along[-1][0] if along else None
    lc = across[-1][0] if across else None
    f = (la or lc).curve.get("f", []) if (la or lc) is not None else []  # type: ignore[union-attr]
    pool_id = ref[-1][1].id
    epsf = {d: next((m for m, p in cat.mtf.get((satellite, band, d, "epsf"), []) if p.id == pool_id), None)
            for d in ("along", "across")}
    flags = [m.agrees_with_epsf for m in (la, lc) if m is not None and m.agrees_with_epsf is not None]
    curve = MtfCurve(
        band=band, frequency=list(f),
        along=list(la.curve.get("mtf", [])) if la else [],
        along_sigma=list(la.curve.get("sigma", [])) if la else [],
        across=list(lc.curve.get("mtf", [])) if lc else [],
        across_sigma=list(lc.curve.get("sigma", [])) if lc else [],
        epoch=ref[-1][1].period_start, starpool=ref[-1][1].period_key,
        epsf_along=list(epsf["along"].curve.get("mtf", [])) if epsf["along"] else [],
        epsf_across=list(epsf["across"].curve.get("mtf", [])) if epsf["across"] else [],
        epsf_along_sigma=list(epsf["along"].curve.get("sigma", [])) if epsf["along"] else [],
        epsf_across_sigma=list(epsf["across"].curve.get("sigma", [])) if epsf["across"] else [],
        nyquist_along=la.mtf_nyquist if la else None,
        nyquist_along_sigma=la.mtf_nyquist_sigma if la else None,
        nyquist_across=lc.mtf_nyquist if lc else None,
        nyquist_across_sigma=lc.mtf_nyquist_sigma if lc else None,
        epsf_nyquist_along=epsf["along"].mtf_nyquist if epsf["along"] else None,
        epsf_nyquist_across=epsf["across"].mtf_nyquist if epsf["across"] else None,
        epsf_nyquist_along_sigma=epsf["along"].mtf_nyquist_sigma if epsf["along"] else None,
        epsf_nyquist_across_sigma=epsf["across"].mtf_nyquist_sigma if epsf["across"] else None,
        agrees_with_epsf=all(flags) if flags else None,
        reported="epsf" if any(e is not None and e.params.get("selected") for e in epsf.values()) else "parametric",
        misfit=any(bool((m.params.get("misfit") or {}).get("flagged")) for m in (la, lc) if m is not None),
    )
    used.run_ids.update(m.run_id for rows in (along, across) for m, _ in rows)
    return nyquist, curve


def _moon(cat: CatalogueView, satellite: str, bands: list[str], period: Period, used: _Used
          ) -> tuple[list[CalibrationSeries], list[SummaryRow], list[MoonResult], dict[str, MoonResult]]:
    """The Moon A_k of each band (with the residual to its drift model), summary rows and the latest
    result per band."""
    rows_all = [(mm, acq) for mm, acq in cat.moon.get(satellite, [])
                if mm.status != MoonStatus.REJECTED and mm.a is not None]
    by_band = grouped(rows_all, lambda ma: ma[0].band)
    for mm, acq in rows_all:
        used.run_ids.add(mm.run_id)
        used.acq_ids.add(acq.acq_id)
    calibration: list[CalibrationSeries] = []
    summary: list[SummaryRow] = []
    moon: list[MoonResult] = []
    latest: dict[str, MoonResult] = {}
    for band in [b for b in bands if b in by_band] + sorted(set(by_band) - set(bands)):
        rows = by_band[band]
        drift_row = cat.drifts.get((satellite, band, "MOON"))
        fit = _drift(drift_row)
        good = [float(mm.a or 0.0) for mm, _ in rows if mm.status == MoonStatus.OK and mm.in_trend]
        median = statistics.median(good or [float(mm.a or 0.0) for mm, _ in rows])
        results: list[MoonResult] = []
        for mm, acq in rows:
            a_value = float(mm.a or 0.0)  # only rows with a value are kept
            ref_a = _model_a(fit, acq.date_obs) if fit is not None else median
            results.append(MoonResult(
                acq_id=acq.acq_id, band=band, epoch=acq.date_obs,
                phase_deg=float(mm.phase_angle_deg or 0.0), a=a_value, a_sigma=float(mm.a_sigma or 0.0),
                residual_pct=100.0 * (a_value / ref_a - 1.0) if ref_a else None,
                flagged=mm.status == MoonStatus.FLAGGED or not mm.in_trend,
            ))
        moon += results
        latest[band] = results[-1]
        calibration.append(CalibrationSeries(
            band=band, method="MOON", epochs=[r.epoch for r in results], a=[r.a for r in results],
            a_sigma=[r.a_sigma for r in results], drift=fit,
        ))
        alert = _alert_text(cat, satellite, band, "MOON", period.end)
        if drift_row is not None:
            used.run_ids.add(drift_row.run_id)
        last_moon = results[-1]
        earlier = [r for r in results if r.epoch < period.start]
        change = (100.0 * (last_moon.a / earlier[-1].a - 1.0)
                  if last_moon.epoch >= period.start and earlier else None)
        summary.append(SummaryRow(
            satellite=satellite, band=band, method="MOON", a=last_moon.a, a_sigma=last_moon.a_sigma,
            change_pct_since_previous=change, drift_per_year=None if fit is None else fit.rate_per_year,
            drift_sigma=None if fit is None else fit.rate_sigma, alert=alert, epoch=last_moon.epoch,
        ))
    moon.sort(key=lambda r: (r.epoch, r.acq_id))
    return calibration, summary, moon, latest


def _geometry(cat: CatalogueView, satellite: str, used: _Used) -> list[GeometryRow]:
    """The geometry results of the period."""
    geometry = []
    for g, acq in cat.geometry.get(satellite, []):
        used.run_ids.add(g.run_id)
        used.acq_ids.add(acq.acq_id)
        vel = (g.velocity_x_m_s, g.velocity_y_m_s, g.velocity_z_m_s)
        geometry.append(GeometryRow(
            acq_id=acq.acq_id, n_control=g.n_control, n_check=g.n_check, rmse_e_m=g.check_rmse_e_m,
            rmse_n_m=g.check_rmse_n_m, rmse_u_m=g.check_rmse_u_m,
            velocity_m_s=None if any(v is None for v in vel) else (float(vel[0]), float(vel[1]), float(vel[2])),  # type: ignore[arg-type]
            epoch=acq.date_obs,
        ))
    return geometry


def _refused_by_processing(cat: CatalogueView, satellite: str, period: Period) -> list[RejectedInput]:
    """Star photometry and Moon measurements of the period refused by processing."""
    moon = sorted(((mm, acq) for mm, acq in cat.moon.get(satellite, [])
                   if mm.status == MoonStatus.REJECTED and period.start <= acq.date_obs < period.end),
                  key=lambda ma: (ma[1].date_obs, ma[0].band))
    refused: list[tuple[StarPhotometry | MoonMeasurement, Acquisition]] = [*cat.star_rejected.get(satellite, []), *moon]
    return [RejectedInput(file=f"{acq.acq_id} [{r.band}]", reason=r.reason or "rejected", message=r.message,
                          time=acq.date_obs)
            for r, acq in refused]


def _trace_panel(pairs: list[tuple[int | None, TracePoint]], band: str, period: Period) -> StarTraceSet | None:
    return star_trace_set([p for _, p in pairs], band, bins=[k for k, _ in pairs], period=period)


def band_star_traces(session: Session, satellite: str, band: str, period: Period) -> StarTraceSet | None:
    """The star trace panel of one satellite and band, the same as in :func:`build_context`'s
    section of the satellite, read for that band only (the dashboard's band page: reading the
    traces of every satellite and band is most of the cost of the view model)."""
    traces = trace_points_by_band(session, period.end - HISTORY, period.end, satellite, band)
    return _trace_panel(traces.get((satellite, band), []), band, period)


def _satellite(cat: CatalogueView, satellite: str, period: Period, versions: dict[int, RunVersions]) -> _SatelliteData:
    """Everything about one satellite; trends over ``[since, period.end)``, events in the period."""
    bands = _bands(satellite)
    used = _Used()
    calibration: list[CalibrationSeries] = []
    summary: list[SummaryRow] = []
    rejected: list[RejectedInput] = []
    traces: list[StarTraceSet] = []
    variable: list[VariableStarTrace] = []
    curves: list[MtfCurve] = []
    nyquist: list[MtfNyquistSeries] = []
    for band in bands:
        if (star := _star_band(cat, satellite, band, period, used)) is not None:
            calibration.append(star[0])
            summary.append(star[1])
            rejected += star[2]
            variable += _variable_stars(cat.starpools.get((satellite, band), []), band)
        if (mtf := _mtf_band(cat, satellite, band, used)) is not None:
            nyquist.append(mtf[0])
            curves.append(mtf[1])
        if (panel := _trace_panel(cat.traces.get((satellite, band), []), band, period)) is not None:
            traces.append(panel)
    moon_series, moon_summary, moon, moon_latest = _moon(cat, satellite, bands, period, used)
    geometry = _geometry(cat, satellite, used)
    rejected += _refused_by_processing(cat, satellite, period)
    code_versions = sorted({f"{v.code_version} ({v.icd_version}, {v.reference_model})"
                            for i in used.run_ids if (v := versions.get(i)) is not None})
    section = SatelliteSection(
        satellite=satellite, mission=MISSION_OF_SATELLITE[Satellite(satellite)].value, bands=bands,
        calibration=calibration + moon_series, star_traces=traces, variable_stars=variable, mtf_curves=curves,
        mtf_nyquist=nyquist,
        moon=moon, geometry=geometry, rejected=rejected,
        provenance=Provenance(code_versions=code_versions, acquisition_ids=sorted(used.acq_ids)),
    )
    return _SatelliteData(section, summary + moon_summary, moon_latest)


def _run_ids(cat: CatalogueView) -> set[int]:
    """Every processing run the report may cite (a superset of each section's own)."""
    ids = {d.run_id for d in cat.drifts.values()}
    ids.update(d.run_id for d in cat.mtf_drifts.values())
    ids.update(r.run_id for rows in cat.starpools.values() for r, _ in rows)
    ids.update(m.run_id for rows in cat.mtf.values() for m, _ in rows)
    ids.update(m.run_id for rows in cat.moon.values() for m, _ in rows)
    ids.update(g.run_id for rows in cat.geometry.values() for g, _ in rows)
    return ids


def _outlier_message(x: dict[str, object], pool_key: str, band: str) -> str:
    res = x.get("residual_sigma")
    text = f"starpool {pool_key} band {band}: rejected as an outlier"
    if isinstance(res, int | float):
        text += f" (normalised residual {res:+.1f}σ)"
    return text


def _satellite_of_file(name: str, acq_id: str | None) -> str | None:
    for text in (acq_id or "", name):
        for sat in Satellite:
            if text.upper().startswith(sat.value):
                return sat.value
    return None


def build_context(session: Session, settings: Settings, period: Period, now: datetime, *,
                  star_traces: bool = True) -> ReportContext:
    """Read the catalogue into the report's view model (plain values, no ORM objects): one query
    per kind of row for the whole report, whatever the number of satellites and bands.

    ``star_traces=False``: the sections have no star trace panels (``star_traces`` empty) and the
    traces are not read; everything else is the same (the dashboard reads one band's panel with
    :func:`band_star_traces`)."""
    cat = read_catalogue(session, period, period.end - HISTORY, with_traces=star_traces)
    versions = ops.run_versions(session, _run_ids(cat))
    sats = [s.value for s in Satellite]
    data = {s: _satellite(cat, s, period, versions) for s in sats}
    # ingest rejections of the period, attributed to a satellite by ACQ_ID or file name
    other: list[RejectedInput] = []
    extra: dict[str, list[RejectedInput]] = defaultdict(list)
    for rej in cat.ingest_rejected:
        item = RejectedInput(file=rej.file_name, reason=rej.reason, message=rej.message, time=rej.received_at)
        sat = _satellite_of_file(rej.file_name, rej.acq_id)
        (extra[sat] if sat is not None else other).append(item)
    sections = []
    for s in sats:
        sec = data[s].section
        if extra[s]:
            rejected = sorted([*extra[s], *sec.rejected], key=lambda r: (r.time, r.file))
            sec = SatelliteSection(**{**sec.__dict__, "rejected": rejected})
        sections.append(sec)
    ratio_rows = pneo_ratio_rows(session, settings)  # geometry-matched pairs, never flagged measurements
    budget = star_budget_rows(cat.starpools, period)
    star_models = sorted({b.reference_model for b in budget}) or [REF_VERSION]
    return ReportContext(
        title=TITLE, period_label=period.label, period_start=period.start, period_end=period.end,
        generated_at=now.astimezone(UTC), code_version=__version__, icd_version=ICD_VERSION,
        reference_model="+".join(star_models), star_budget=budget,
        reference_note=REF1_STAR_NOTE if REF_VERSION in star_models else "",
        summary_rows=[r for s in sats for r in data[s].summary],
        satellites=sections, ratio_rows=ratio_rows, other_rejected=sorted(other, key=lambda r: (r.time, r.file)),
        lunar_comparisons=lunar_comparison_section(session, until=period.end),
        alerts=[AlertItem(id=a.id, kind=a.kind, satellite=a.satellite, band=a.band, method=a.method, state=a.state,
                          opened_at=a.opened_at, message=a.message, value=a.value, sigma=a.sigma,
                          closed_at=a.closed_at, note=a.note) for a in cat.alerts],
        acquisitions_in_period=acquisitions.count_acquisitions_in(session, period.start, period.end),
        mtf_note=mtf_off_note(settings) or "",
    )


def star_budget_rows(starpools: dict[tuple[str, str], list[tuple[StarpoolResult, Starpool]]],
                     period: Period) -> list[StarBudgetRow]:
    """The budget of the newest starpool result of the period per satellite and band (issue 14)."""
    rows = []
    for (satellite, band), hist in sorted(starpools.items()):
        inside = [(r, p) for r, p in hist if period.start <= r.epoch < period.end]
        if not inside:
            continue
        res, pool = inside[-1]
        comps = {k: 100.0 * float(v) for k, v in (res.a_sigma_components or {}).items() if v is not None}
        variable = (res.reference or {}).get("variable_stars", [])
        rows.append(StarBudgetRow(satellite, band, pool.period_key, res.reference_model,
                                  100.0 * res.a_sigma / res.a if res.a else float("nan"), comps,
                                  tuple(int(h) for h in variable)))
    return rows


def summary_text(ctx: ReportContext, pdf_name: str) -> str:
    """The e-mail body: period, alerts first, then one line per satellite, band and method."""
    lines = [f"{ctx.title}", f"Report: {ctx.period_label} ({ctx.period_start:%Y-%m-%d} to "
             f"{ctx.period_end - timedelta(seconds=1):%Y-%m-%d} UTC), attached as {pdf_name}.", ""]
    alerts = [r for r in ctx.summary_rows if r.alert]
    if alerts:
        lines.append(f"ALERTS ({len(alerts)}):")
        lines += [f"  {r.satellite} {r.band} ({r.method}): {r.alert}" for r in alerts]
    else:
        lines.append("No alert.")
    lines.append("")
    if ctx.summary_rows:
        lines.append("Latest A_k [DN/(W m-2 sr-1 um-1)], drift dA/A per year:")
        for r in ctx.summary_rows:
            drift = ("no drift fit" if r.drift_per_year is None
                     else "drift " + pm(r.drift_per_year, r.drift_sigma, "%/yr", scale=100.0, sign=True))
            change = ("" if r.change_pct_since_previous is None
                      else f", {r.change_pct_since_previous:+.2f} % since previous")
            earlier = ", earlier" if r.epoch is not None and r.epoch < ctx.period_start else ""
            epoch = "" if r.epoch is None else f" ({r.epoch:%Y-%m-%d}{earlier})"
            lines.append(f"  {r.satellite} {r.band:<3} {r.method}: A = {pm(r.a, r.a_sigma)}{epoch}{change}, {drift}")
    else:
        lines.append("No calibration result up to the end of this period.")
    n_rej = sum(len(s.rejected) for s in ctx.satellites) + len(ctx.other_rejected)
    lines += ["", f"Rejected inputs in the period: {n_rej}.", "", f"monitor {ctx.code_version}"]
    return "\n".join(lines) + "\n"
