"""The report's view model, read from the catalogue (see :mod:`monitor.reports.context`)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from monitor import __version__
from monitor.catalogue import (
    acquisitions,
    drift_results,
    geometry_results,
    moon_results,
    mtf_results,
    star_results,
)
from monitor.catalogue import operations as ops
from monitor.catalogue.models import Acquisition, MoonMeasurement
from monitor.domain import BANDS_BY_MISSION, ICD_VERSION, MISSION_OF_SATELLITE, REF_VERSION, MoonStatus, Satellite
from monitor.reports.context import (
    CalibrationSeries,
    DriftFit,
    GeometryRow,
    MoonResult,
    MtfCurve,
    MtfNyquistSeries,
    Provenance,
    RatioRow,
    RejectedInput,
    ReportContext,
    SatelliteSection,
    StarTrace,
    StarTraceSet,
    StarWindowTraces,
    SummaryRow,
)
from monitor.reports.period import Period
from monitor.results import trace_points
from monitor.settings import Settings

__all__ = [
    "HISTORY",
    "TITLE",
    "build_context",
    "summary_text",
]

HISTORY = timedelta(days=731)  # trend figures: results of the two years before the period end
TITLE = "Pléiades / Pléiades Neo calibration monitoring"
_YEAR_S = 365.25 * 86400.0


def _bands(satellite: str) -> list[str]:
    return list(BANDS_BY_MISSION[MISSION_OF_SATELLITE[Satellite(satellite)]])


def _drift(row: object | None) -> DriftFit | None:
    if row is None:
        return None
    return DriftFit(reference_epoch=row.reference_epoch, a0=row.a0, rate_per_year=row.rate_per_year,  # type: ignore[attr-defined]
                    rate_sigma=row.rate_sigma)  # type: ignore[attr-defined]


def _model_a(fit: DriftFit, t: datetime) -> float:
    return fit.a0 * (1.0 + fit.rate_per_year * (t - fit.reference_epoch).total_seconds() / _YEAR_S)


@dataclass
class _SatelliteData:
    section: SatelliteSection
    summary: list[SummaryRow]
    moon_latest: dict[str, MoonResult]


def _satellite(session: Session, satellite: str, period: Period, since: datetime) -> _SatelliteData:
    """Everything about one satellite; trends over ``[since, period.end)``, events in the period."""
    bands = _bands(satellite)
    end = period.end
    run_ids: set[int] = set()
    acq_ids: set[str] = set()
    calibration: list[CalibrationSeries] = []
    summary: list[SummaryRow] = []
    traces: list[StarTraceSet] = []
    curves: list[MtfCurve] = []
    nyquist: list[MtfNyquistSeries] = []
    rejected: list[RejectedInput] = []

    # --- STAR: starpool A_k, drift, alerts, MTF
    for band in bands:
        hist = star_results.latest_starpool_results(session, satellite, band, since=since, until=end)
        drift_row = drift_results.latest_drift(session, satellite, band, "STAR")
        fit = _drift(drift_row)
        mtf_rows = {d: mtf_results.latest_mtf_history(session, satellite, band, d, until=end, since=since)
                    for d in ("along", "across")}
        if hist:
            calibration.append(CalibrationSeries(
                band=band, method="STAR", epochs=[r.epoch for r, _ in hist], a=[r.a for r, _ in hist],
                a_sigma=[r.a_sigma for r, _ in hist], drift=fit,
            ))
            for r, pool in hist:
                run_ids.add(r.run_id)
                acq_ids.update(r.acquisition_ids)
                if period.start <= r.epoch < end:
                    rejected += [
                        RejectedInput(file=str(x.get("acq_id")), reason=str(x.get("reason") or "outlier"),
                                      message=_outlier_message(x, pool.period_key, band), time=r.epoch)
                        for x in r.rejected if (x.get("reason") or "outlier") == "outlier"
                    ]
            latest, _ = hist[-1]
            before = [r for r, _ in hist if r.epoch < period.start]
            change = None
            if latest.epoch >= period.start and before:
                change = 100.0 * (latest.a / before[-1].a - 1.0)
            alerts: list[str] = []
            if drift_row is not None:
                run_ids.add(drift_row.run_id)
                alerts = [a.message for a in drift_results.alerts_of_run(session, drift_row.run_id, satellite, band,
                                                                                 "STAR")]
            last_mtf = {d: rows[-1][0] for d, rows in mtf_rows.items() if rows}
            summary.append(SummaryRow(
                satellite=satellite, band=band, method="STAR", a=latest.a, a_sigma=latest.a_sigma,
                change_pct_since_previous=change,
                drift_per_year=None if fit is None else fit.rate_per_year,
                drift_sigma=None if fit is None else fit.rate_sigma,
                mtf_nyquist_along=last_mtf["along"].mtf_nyquist if "along" in last_mtf else None,
                mtf_nyquist_across=last_mtf["across"].mtf_nyquist if "across" in last_mtf else None,
                alert="; ".join(alerts) or None,
            ))
        if any(mtf_rows.values()):
            along, across = mtf_rows["along"], mtf_rows["across"]
            ref = along or across
            nyquist.append(MtfNyquistSeries(
                band=band, epochs=[p.period_start + (p.period_end - p.period_start) / 2 for _, p in ref],
                along=[m.mtf_nyquist for m, _ in along] if len(along) == len(ref) else [],
                along_sigma=[m.mtf_nyquist_sigma for m, _ in along] if len(along) == len(ref) else [],
                across=[m.mtf_nyquist for m, _ in across] if len(across) == len(ref) else [],
                across_sigma=[m.mtf_nyquist_sigma for m, _ in across] if len(across) == len(ref) else [],
            ))
            la = along[-1][0] if along else None
            lc = across[-1][0] if across else None
            f = (la or lc).curve.get("f", []) if (la or lc) is not None else []  # type: ignore[union-attr]
            pool_id = ref[-1][1].id
            epsf = {
                d: next((m for m, p in mtf_results.latest_mtf_history(session, satellite, band, d, "epsf", until=end,
                                                                      since=since)
                         if p.id == pool_id), None)
                for d in ("along", "across")
            }
            flags = [m.agrees_with_epsf for m in (la, lc) if m is not None and m.agrees_with_epsf is not None]
            curves.append(MtfCurve(
                band=band, frequency=list(f),
                along=list(la.curve.get("mtf", [])) if la else [],
                along_sigma=list(la.curve.get("sigma", [])) if la else [],
                across=list(lc.curve.get("mtf", [])) if lc else [],
                across_sigma=list(lc.curve.get("sigma", [])) if lc else [],
                epoch=ref[-1][1].period_start, starpool=ref[-1][1].period_key,
                epsf_along=list(epsf["along"].curve.get("mtf", [])) if epsf["along"] else [],
                epsf_across=list(epsf["across"].curve.get("mtf", [])) if epsf["across"] else [],
                nyquist_along=la.mtf_nyquist if la else None,
                nyquist_along_sigma=la.mtf_nyquist_sigma if la else None,
                nyquist_across=lc.mtf_nyquist if lc else None,
                nyquist_across_sigma=lc.mtf_nyquist_sigma if lc else None,
                epsf_nyquist_along=epsf["along"].mtf_nyquist if epsf["along"] else None,
                epsf_nyquist_across=epsf["across"].mtf_nyquist if epsf["across"] else None,
                agrees_with_epsf=all(flags) if flags else None,
            ))
            run_ids.update(m.run_id for rows in mtf_rows.values() for m, _ in rows)
        band_traces = _star_traces(session, satellite, band, since, end)
        if band_traces is not None:
            traces.append(band_traces)

    # --- MOON
    moon_rows = moon_results.moon_history(session, satellite, since, end)
    moon: list[MoonResult] = []
    moon_latest: dict[str, MoonResult] = {}
    by_band: dict[str, list[tuple[MoonMeasurement, Acquisition]]] = defaultdict(list)
    for mm, acq in moon_rows:
        by_band[mm.band].append((mm, acq))
        run_ids.add(mm.run_id)
        acq_ids.add(acq.acq_id)
    for band in [b for b in bands if b in by_band] + sorted(set(by_band) - set(bands)):
        rows = by_band[band]
        drift_row = drift_results.latest_drift(session, satellite, band, "MOON")
        fit = _drift(drift_row)
        good = [float(mm.a or 0.0) for mm, _ in rows if mm.status == MoonStatus.OK and mm.in_trend]
        median = statistics.median(good or [float(mm.a or 0.0) for mm, _ in rows])
        results: list[MoonResult] = []
        for mm, acq in rows:
            a_value = float(mm.a or 0.0)  # the query keeps only rows with a value
            ref_a = _model_a(fit, acq.date_obs) if fit is not None else median
            results.append(MoonResult(
                acq_id=acq.acq_id, band=band, epoch=acq.date_obs,
                phase_deg=float(mm.phase_angle_deg or 0.0), a=a_value, a_sigma=float(mm.a_sigma or 0.0),
                residual_pct=100.0 * (a_value / ref_a - 1.0) if ref_a else None,
                flagged=mm.status == MoonStatus.FLAGGED or not mm.in_trend,
            ))
        moon += results
        moon_latest[band] = results[-1]
        calibration.append(CalibrationSeries(
            band=band, method="MOON", epochs=[r.epoch for r in results], a=[r.a for r in results],
            a_sigma=[r.a_sigma for r in results], drift=fit,
        ))
        alerts = []
        if drift_row is not None:
            run_ids.add(drift_row.run_id)
            alerts = [a.message for a in drift_results.alerts_of_run(session, drift_row.run_id, satellite, band,
                                                                             "MOON")]
        last_moon = results[-1]
        earlier = [r for r in results if r.epoch < period.start]
        change = (100.0 * (last_moon.a / earlier[-1].a - 1.0)
                  if last_moon.epoch >= period.start and earlier else None)
        summary.append(SummaryRow(
            satellite=satellite, band=band, method="MOON", a=last_moon.a, a_sigma=last_moon.a_sigma,
            change_pct_since_previous=change, drift_per_year=None if fit is None else fit.rate_per_year,
            drift_sigma=None if fit is None else fit.rate_sigma, alert="; ".join(alerts) or None,
        ))
    moon.sort(key=lambda r: (r.epoch, r.acq_id))

    # --- geometry (period only)
    geometry = []
    for g, acq in geometry_results.geometry_in(session, satellite, period.start, end):
        run_ids.add(g.run_id)
        acq_ids.add(acq.acq_id)
        vel = (g.velocity_x_m_s, g.velocity_y_m_s, g.velocity_z_m_s)
        geometry.append(GeometryRow(
            acq_id=acq.acq_id, n_control=g.n_control, n_check=g.n_check, rmse_e_m=g.check_rmse_e_m,
            rmse_n_m=g.check_rmse_n_m, rmse_u_m=g.check_rmse_u_m,
            velocity_m_s=None if any(v is None for v in vel) else (float(vel[0]), float(vel[1]), float(vel[2])),  # type: ignore[arg-type]
            epoch=acq.date_obs,
        ))

    # --- inputs refused by processing (period only)
    for p, acq in star_results.star_rejections_in(session, satellite, period.start, end):
        rejected.append(RejectedInput(file=f"{acq.acq_id} [{p.band}]", reason=p.reason or "rejected",
                                      message=p.message, time=acq.date_obs))
    for mm, acq in moon_results.moon_rejections_in(session, satellite, period.start, end):
        rejected.append(RejectedInput(file=f"{acq.acq_id} [{mm.band}]", reason=mm.reason or "rejected",
                                      message=mm.message, time=acq.date_obs))

    section = SatelliteSection(
        satellite=satellite, mission=MISSION_OF_SATELLITE[Satellite(satellite)].value, bands=bands,
        calibration=calibration, star_traces=traces, mtf_curves=curves, mtf_nyquist=nyquist, moon=moon,
        geometry=geometry, rejected=rejected,
        provenance=Provenance(code_versions=ops.run_code_versions(session, sorted(run_ids)),
                              acquisition_ids=sorted(acq_ids)),
    )
    return _SatelliteData(section, summary, moon_latest)


def _outlier_message(x: dict[str, object], pool_key: str, band: str) -> str:
    res = x.get("residual_sigma")
    text = f"starpool {pool_key} band {band}: rejected as an outlier"
    if isinstance(res, int | float):
        text += f" (normalised residual {res:+.1f}σ)"
    return text


def _star_traces(session: Session, satellite: str, band: str, since: datetime, until: datetime
                 ) -> StarTraceSet | None:
    """Measured / predicted ratio of each star and window (latest photometry), ``[since, until)``;
    only usable rows (a star rejected from its starpool has no meaningful prediction)."""
    per_window: dict[int, dict[str, tuple[list[datetime], list[float]]]] = defaultdict(dict)
    for point in trace_points(star_results.trace_rows(session, satellite, band, since=since, until=until)):
        ratio = point.ratio_to_prediction
        if not point.usable or ratio is None:  # rejected stars: not drawn
            continue
        times, values = per_window[point.half_width_px].setdefault(point.star, ([], []))
        times.append(point.time)
        values.append(ratio)
    if not per_window:
        return None
    return StarTraceSet(band=band, windows=[
        StarWindowTraces(half_width_px=h, traces=[StarTrace(star=s, times=tv[0], ratio=tv[1])
                                                  for s, tv in sorted(stars.items())])
        for h, stars in sorted(per_window.items())
    ])


def _satellite_of_file(name: str, acq_id: str | None) -> str | None:
    for text in (acq_id or "", name):
        for sat in Satellite:
            if text.upper().startswith(sat.value):
                return sat.value
    return None


def build_context(session: Session, settings: Settings, period: Period, now: datetime) -> ReportContext:
    """Read the catalogue into the report's view model (plain values, no ORM objects)."""
    since = period.end - HISTORY
    sats = [s.value for s in Satellite]
    data = {s: _satellite(session, s, period, since) for s in sats}
    # ingest rejections of the period, attributed to a satellite by ACQ_ID or file name
    other: list[RejectedInput] = []
    extra: dict[str, list[RejectedInput]] = defaultdict(list)
    for rej in acquisitions.all_rejections(session, period.start, period.end):
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
    ratio_rows = []
    m3, m4 = data["PNEO3"].moon_latest, data["PNEO4"].moon_latest
    for band in _bands("PNEO3"):
        if band in m3 and band in m4:
            a3, a4 = m3[band], m4[band]
            ratio = a3.a / a4.a
            sig = abs(ratio) * ((a3.a_sigma / a3.a) ** 2 + (a4.a_sigma / a4.a) ** 2) ** 0.5
            ratio_rows.append(RatioRow(band=band, a_pneo3=a3.a, a_pneo4=a4.a, ratio=ratio, ratio_sigma=sig,
                                       epoch=max(a3.epoch, a4.epoch)))
    return ReportContext(
        title=TITLE, period_label=period.label, period_start=period.start, period_end=period.end,
        generated_at=now.astimezone(UTC), code_version=__version__, icd_version=ICD_VERSION,
        reference_model=REF_VERSION, summary_rows=[r for s in sats for r in data[s].summary],
        satellites=sections, ratio_rows=ratio_rows, other_rejected=sorted(other, key=lambda r: (r.time, r.file)),
    )


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
                     else f"drift {100 * r.drift_per_year:+.2f} ± {100 * (r.drift_sigma or 0):.2f} %/yr")
            change = ("" if r.change_pct_since_previous is None
                      else f", {r.change_pct_since_previous:+.2f} % since previous")
            lines.append(f"  {r.satellite} {r.band:<3} {r.method}: A = {r.a:.5g} ± {r.a_sigma:.2g}{change}, {drift}")
    else:
        lines.append("No calibration result up to the end of this period.")
    n_rej = sum(len(s.rejected) for s in ctx.satellites) + len(ctx.other_rejected)
    lines += ["", f"Rejected inputs in the period: {n_rej}.", "", f"monitor {ctx.code_version}"]
    return "\n".join(lines) + "\n"
