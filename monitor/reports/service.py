"""Report use-case: catalogue -> view model -> PDF archived in the site, e-mailed through an outbox.

Periods
-------
``"2025-03"`` (calendar month), ``"2025-W11"`` (ISO week), ``"2025"`` (year), or relative to ``now``:
``"weekly"`` (the ISO week before the current one) and ``"monthly"`` (the previous calendar month).
The trend figures show the results of the :data:`HISTORY` before the period end; tables of
what happened (rejected inputs, geometry, outliers) show the period only.

Archive
-------
The PDF is written to ``<site>/reports/monitor-report-<period>.pdf`` (a new version of the same
period gets ``-v2``, ``-v3``...; an existing file is never overwritten) through a temporary file
and a hard link, next to a ``.txt`` file holding the e-mail body. Then one ``report`` row
(path, SHA-256, pages, size) and, when sending, one ``outbox`` row per recipient are committed
together.

E-mail (delivered once per recipient, never lost)
-------------------------------------------------
:func:`send_pending` marks a due row ``sending``, with the Message-ID it will carry stored in the
row, and commits **before** talking to the SMTP server, then marks it ``sent`` when the server
confirmed the message (250 to DATA). A failure puts it back to ``queued`` with exponential
backoff (:func:`monitor.reports.mail.next_retry_delay`); a permanent refusal (5xx for the
recipient) or :data:`MAX_ATTEMPTS` attempts makes it ``failed``.

An attempt interrupted where the server may already have the message (a row still ``sending``
after :data:`SENDING_STALE`: the process was killed or crashed mid-send; or the reply to DATA
never came) is retried automatically, by the next :func:`send_pending` (the daemon's
``email_retry`` job, ``monitor report --send``), with the **same** Message-ID, so that a receiving
system can drop the repeat. The row says so: ``uncertain`` set, ``attempts`` counted, and a note
in ``last_error`` ("interrupted ... retried with the same Message-ID <...>"), kept once sent.
E-mail is thus at least once, with one Message-ID per recipient for deduplication.
``monitor report --resend REPORT_ID`` requeues the ``failed`` rows (same Message-ID) and never
sends a ``sent`` row again; ``--resend REPORT_ID --force`` also sends the confirmed ones again, as
a deliberate new copy with a new Message-ID.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import statistics
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

from sqlmodel import Session

from monitor import __version__
from monitor.catalogue import (
    acquisitions,
    drift_results,
    geometry_results,
    moon_results,
    mtf_results,
    outbox,
    star_results,
)
from monitor.catalogue import operations as ops
from monitor.catalogue.models import Acquisition, MoonMeasurement, Outbox
from monitor.catalogue.states import OutboxKind, OutboxStatus
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
from monitor.reports.mail import (
    MailDeliveryError,
    build_report_message,
    build_text_message,
    next_retry_delay,
    send_message,
)
from monitor.results import trace_points
from monitor.settings import Settings

__all__ = [
    "HISTORY",
    "SENDING_STALE",
    "MAX_ATTEMPTS",
    "ReportError",
    "Period",
    "parse_period",
    "build_context",
    "summary_text",
    "ReportOutcome",
    "SendSummary",
    "run_report",
    "send_pending",
    "resend_report",
    "count_pdf_pages",
]

log = logging.getLogger(__name__)

HISTORY = timedelta(days=731)  # trend figures: results of the two years before the period end
SENDING_STALE = timedelta(minutes=10)  # a 'sending' row older than this was interrupted
MAX_ATTEMPTS = 20  # ~6 days of backoff (5 min doubling, capped at 12 h), then 'failed'
TITLE = "Pléiades / Pléiades Neo calibration monitoring"
_YEAR_S = 365.25 * 86400.0
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


class ReportError(RuntimeError):
    """A report cannot be made or sent as asked (bad period, nothing to send to...)."""


# --------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """A report period: catalogue key (``2025-03``), readable label, ``[start, end)`` in UTC."""

    key: str
    label: str
    start: datetime
    end: datetime


def _month(year: int, month: int) -> Period:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return Period(f"{year:04d}-{month:02d}", f"{_MONTHS[month - 1]} {year}", start, end)


def _week(year: int, week: int) -> Period:
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ReportError(f"no ISO week {week} in {year}") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    end = start + timedelta(days=7)
    return Period(f"{year:04d}-W{week:02d}", f"Week {year:04d}-W{week:02d} ({start:%d %b} – "
                  f"{end - timedelta(days=1):%d %b %Y})", start, end)


def parse_period(text: str, now: datetime | None = None) -> Period:
    """``2025-03`` | ``2025-W11`` | ``2025`` | ``weekly`` | ``monthly`` -> :class:`Period`.

    ``weekly``/``monthly`` need ``now``: the ISO week before the one holding ``now``, the calendar
    month before the one holding ``now``.

    Raises
    ------
    ReportError
        Unrecognised text, a month outside 1-12, a week the year does not have.
    """
    t = text.strip()
    if not t:
        raise ReportError("empty period: use 2025-03 (month), 2025-W11 (ISO week), 2025 (year), weekly or monthly")
    if t in ("weekly", "monthly"):
        if now is None:
            raise ReportError(f"period {t!r} needs the current time")
        now = now.astimezone(UTC)
        if t == "weekly":
            y, w, _ = (now - timedelta(days=7)).isocalendar()
            return _week(y, w)
        prev = datetime(now.year, now.month, 1, tzinfo=UTC) - timedelta(days=1)
        return _month(prev.year, prev.month)
    if m := re.fullmatch(r"(\d{4})-(\d{2})", t):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise ReportError(f"month must be 01-12 in {t!r}")
        return _month(year, month)
    if m := re.fullmatch(r"(\d{4})-W(\d{2})", t, flags=re.IGNORECASE):
        return _week(int(m.group(1)), int(m.group(2)))
    if re.fullmatch(r"\d{4}", t):
        year = int(t)
        return Period(t, f"Year {t}", datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC))
    raise ReportError(f"unknown period {text!r}: use 2025-03 (month), 2025-W11 (ISO week), 2025 (year), "
                      "weekly or monthly")


# --------------------------------------------------------------------------- view model


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


# --------------------------------------------------------------------------- archive


def count_pdf_pages(pdf: bytes) -> int:
    """Number of page objects of a PDF written by WeasyPrint.

    WeasyPrint (pydyf) puts most objects into compressed object streams, so page dictionaries are
    looked for both in the plain file and inside every Flate-compressed stream.
    """
    page = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
    n = len(page.findall(pdf))
    for m in re.finditer(rb"stream\r?\n", pdf):
        end = pdf.find(b"endstream", m.end())
        if end < 0:
            break
        try:
            data = zlib.decompressobj().decompress(pdf[m.end():end])
        except zlib.error:
            continue
        n += len(page.findall(data))
    return n


def _write_new(directory: Path, stem: str, pdf: bytes) -> Path:
    """Write ``pdf`` under a name not used yet (``stem.pdf``, ``stem-v2.pdf``...), atomically.

    The bytes go to a temporary file (fsync'd) that is then hard-linked to the final name; the
    link fails if the name exists, so nothing is ever overwritten.
    """
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{stem}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(pdf)
        f.flush()
        os.fsync(f.fileno())
    try:
        version = 1
        while True:
            name = f"{stem}.pdf" if version == 1 else f"{stem}-v{version}.pdf"
            target = directory / name
            try:
                os.link(tmp, target)
                break
            except FileExistsError:
                version += 1
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def _stored_path(settings: Settings, path: Path) -> str:
    try:
        return str(path.relative_to(settings.site))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- use-cases


@dataclass
class SendSummary:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    interrupted: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"e-mail: sent {self.sent}, retrying {self.retrying}, failed {self.failed}"
        if self.interrupted:
            text += f", interrupted earlier (retried with the same Message-ID) {self.interrupted}"
        return text

    @property
    def problems(self) -> list[str]:
        """E-mails not delivered by this run (a job that leaves any reports a failure). An
        interrupted send retried in this run is one only if the retry failed too (in errors)."""
        return list(self.errors)


@dataclass
class ReportOutcome:
    period: str
    report_id: int | None = None
    path: Path | None = None
    sha256: str = ""
    pages: int = 0
    size_bytes: int = 0
    render_s: float = 0.0
    queued: int = 0
    skipped: str = ""
    mail: SendSummary | None = None

    @property
    def problems(self) -> list[str]:
        return self.mail.problems if self.mail is not None else []

    def __str__(self) -> str:
        if self.skipped:
            return f"report {self.period}: skipped ({self.skipped})"
        text = (f"report {self.period} #{self.report_id}: {self.path} ({self.pages} pages, "
                f"{self.size_bytes / 1e6:.2f} MB, rendered in {self.render_s:.1f} s)")
        if self.queued:
            text += f"; queued for {self.queued} recipient(s)"
        if self.mail is not None:
            text += f"; {self.mail}"
        return text


def run_report(
    session: Session, settings: Settings, now: datetime, period: str | None = None, send: bool | None = None
) -> ReportOutcome:
    """Render, archive and (optionally) e-mail the report of ``period``.

    ``send`` None is the daemon's scheduled job: ``period`` ``"weekly"``/``"monthly"`` (default
    ``"monthly"``) is made once (when that period's report already exists, and was queued for
    e-mail if e-mail is configured, nothing happens: a re-run after a restart sends nothing twice)
    and queued for ``report.recipients`` when e-mail is configured. ``send`` True or False is a
    person's command (``monitor report``): a new version every time, e-mailed only with True
    (``--send``); ``weekly``/``monthly`` then only name the period.

    Raises
    ------
    ReportError
        Bad period, or ``send`` without recipients or without an SMTP host.
    """
    text = "monthly" if period is None else period
    scheduled = send is None and text.strip() in ("weekly", "monthly")
    p = parse_period(text, now)
    if send and not settings.report.recipients:
        raise ReportError("--send: no recipients configured ([report] recipients in monitor.toml)")
    if send and not settings.smtp.host:
        raise ReportError("--send: e-mail is disabled ([smtp] host is empty in monitor.toml)")
    mailing = bool(settings.report.recipients) and bool(settings.smtp.host)
    made = outbox.reports_of_period(session, p.key) if scheduled else []
    if made and (not mailing or any(outbox.outbox_of_report(session, r.id) for r in made)):  # type: ignore[arg-type]
        log.info("report %s already exists; scheduled run does nothing", p.key)
        return ReportOutcome(period=p.key, skipped="already made")
    from monitor.reports.plots import make_figures
    from monitor.reports.render import render_pdf

    t0 = time.perf_counter()
    ctx = build_context(session, settings, p, now)
    session.rollback()  # end the read transaction before the long rendering (SQLite writers wait less)
    pdf = render_pdf(ctx, make_figures(ctx))
    render_s = time.perf_counter() - t0
    stem = f"monitor-report-{p.key}"
    path = _write_new(settings.reports_dir, stem, pdf)
    body = summary_text(ctx, path.name)
    path.with_suffix(".txt").write_text(body, encoding="utf-8")
    digest = hashlib.sha256(pdf).hexdigest()
    pages = count_pdf_pages(pdf)
    row = outbox.add_report(session, period=p.key, path=_stored_path(settings, path), sha256=digest, pages=pages,
                        size_bytes=len(pdf), created_at=now)
    queue = bool(send) or (scheduled and mailing)  # only --send or the scheduled job e-mails
    queued = outbox.queue_outbox(session, row.id, settings.report.recipients, now) if queue else []  # type: ignore[arg-type]
    session.commit()
    outcome = ReportOutcome(period=p.key, report_id=row.id, path=path, sha256=digest, pages=pages,
                            size_bytes=len(pdf), render_s=render_s, queued=len(queued))
    log.info("report %s #%s written: %s (%d pages, sha256 %s, %.1f s)", p.key, row.id, path, pages, digest[:12],
             render_s)
    if queued:
        outcome.mail = send_pending(session, settings, now)
    return outcome


def _domain(sender: str) -> str:
    try:
        return Address(addr_spec=sender).domain or "localhost"
    except (ValueError, IndexError):
        return "localhost"


def _new_message_id(row: Outbox, sender: str) -> str:
    """The Message-ID stored in an outbox row at its first attempt, then sent at every attempt.

    Unique (a random part), so that an operator's forced resend gets a new one. A row queued
    before the ids were stored (``attempts`` > 0, schema 0004) keeps the id the older code derived
    from the row, which its earlier attempts carried.
    """
    what = f"report-{row.report_id}" if row.kind == OutboxKind.REPORT else f"{row.kind}-{row.incident_id}"
    if row.attempts > 0:
        return f"<monitor-{what}-{row.id}@{_domain(sender)}>"
    return f"<monitor-{what}-{row.id}.{secrets.token_hex(6)}@{_domain(sender)}>"


def _message_of(session: Session, settings: Settings, row: Outbox) -> tuple[EmailMessage | None, str]:
    """The e-mail of an outbox row, or ``(None, reason)`` when it can never be sent (the report
    file is gone or changed since it was archived)."""
    sender = settings.smtp.sender
    if row.kind != OutboxKind.REPORT:
        return build_text_message(sender=sender, recipients=[row.recipient], subject=row.subject,
                                  body_text=row.body, message_id=row.message_id), ""
    assert row.report_id is not None
    report = outbox.report_by_id(session, row.report_id)
    assert report is not None
    pdf_path = settings.site / report.path
    try:
        pdf = pdf_path.read_bytes()
    except OSError as exc:
        return None, f"cannot read the report file {report.path}: {exc.strerror or exc}"
    if hashlib.sha256(pdf).hexdigest() != report.sha256:
        return None, f"report file {report.path} changed since it was archived (SHA-256 mismatch)"
    body_path = pdf_path.with_suffix(".txt")
    body = body_path.read_text(encoding="utf-8") if body_path.is_file() else (
        f"{TITLE}: report {report.period} attached.\n")
    return build_report_message(
        sender=sender, recipients=[row.recipient], subject=f"[monitor] calibration report {report.period}",
        body_text=body, pdf_bytes=pdf, pdf_filename=pdf_path.name, message_id=row.message_id,
    ), ""


def _what(row: Outbox) -> str:
    """What an outbox row carries, for the log: ``report 12``, ``alert of incident 3``."""
    return f"report {row.report_id}" if row.kind == OutboxKind.REPORT else f"{row.kind} of incident {row.incident_id}"


def _record(session: Session, row: Outbox, **values: object) -> None:
    """Record the outcome of one attempt (a unit of work of its own: committed)."""
    outbox.save_outbox(session, row, **values)
    session.commit()


def send_pending(session: Session, settings: Settings, now: datetime) -> SendSummary:
    """Send every due outbox row once (see the module docstring for the state machine): report
    PDFs and the alert/recovery e-mails of incidents alike."""
    summary = SendSummary()
    for row in outbox.stale_sending(session, now - SENDING_STALE):
        # killed or crashed mid-send: the server may have the message; retry now, same Message-ID
        what = _what(row)
        attempts = row.attempts + 1
        note = (f"attempt {attempts} interrupted (started {row.next_attempt_at:%Y-%m-%dT%H:%M:%SZ}; process "
                f"killed or crashed mid-send): {row.recipient} may have it; retried with the same Message-ID "
                f"{row.message_id}")
        requeued = outbox.requeue_interrupted(session, row, now, attempts=attempts, uncertain=True,
                                              last_error=note[:2000])
        session.commit()
        if requeued:
            log.warning("outbox %s (%s): %s", row.id, what, note)
            summary.interrupted += 1
    for row in outbox.due_outbox(session, now):
        assert row.id is not None
        claimed = outbox.claim_outbox(session, row.id, now, _new_message_id(row, settings.smtp.sender))
        session.commit()  # the claim and its Message-ID, before the SMTP conversation
        if claimed is None:
            continue  # another sender took it
        row = claimed
        attempts = row.attempts + 1
        what = _what(row)
        try:
            message, error = _message_of(session, settings, row)
        except OSError as exc:  # transient (the body file): back in the queue
            _record(session, row, status=OutboxStatus.QUEUED, attempts=row.attempts, last_error=str(exc)[:2000])
            summary.retrying += 1
            summary.errors.append(str(exc))
            continue
        if message is None:
            _record(session, row, status=OutboxStatus.FAILED, attempts=attempts, last_error=error)
            log.error("outbox %s (%s): %s", row.id, what, error)
            summary.failed += 1
            summary.errors.append(error)
            continue
        try:
            send_message(settings.smtp, message)
        except MailDeliveryError as exc:
            permanent = any(int(code) >= 500 for code, _ in exc.refused.values())
            uncertain = row.uncertain or exc.uncertain
            error = str(exc) + (f"; retried with the same Message-ID {row.message_id}" if exc.uncertain else "")
            if permanent or attempts >= MAX_ATTEMPTS:
                why = "refused permanently" if permanent else f"gave up after {attempts} attempts"
                _record(session, row, status=OutboxStatus.FAILED, attempts=attempts, uncertain=uncertain,
                        last_error=f"{why}: {error}"[:2000])
                log.error("outbox %s (%s to %s): %s: %s", row.id, what, row.recipient, why, error)
                summary.failed += 1
            else:
                delay = next_retry_delay(attempts)
                _record(session, row, status=OutboxStatus.QUEUED, attempts=attempts, next_attempt_at=now + delay,
                        uncertain=uncertain, last_error=error[:2000])
                log.warning("outbox %s (%s to %s): attempt %d failed, retry in %s: %s", row.id, what,
                            row.recipient, attempts, delay, exc)
                summary.retrying += 1
            summary.errors.append(str(exc))
            continue
        note = ""
        if row.uncertain:  # the recipient may see it twice: both copies carry this one Message-ID
            note = (f"sent at attempt {attempts} with the same Message-ID {row.message_id} as an earlier, "
                    f"interrupted attempt; before: {row.last_error}")[:2000]
        _record(session, row, status=OutboxStatus.SENT, attempts=attempts, sent_at=now, last_error=note)
        log.info("outbox %s (%s) sent to %s%s", row.id, what, row.recipient,
                 " (same Message-ID as an interrupted attempt)" if row.uncertain else "")
        summary.sent += 1
    return summary


def resend_report(session: Session, settings: Settings, now: datetime, report_id: int,
                  force: bool = False) -> tuple[int, SendSummary]:
    """Requeue the failed e-mails of a report (and queue recipients added since), then send.

    Rows already ``sent`` (the server confirmed them) are never sent again, unless ``force``: then
    they go again as a new copy with a new Message-ID. Returns (rows queued, send summary).

    Raises
    ------
    ReportError
        Unknown report, or no recipient / SMTP host configured.
    """
    report = outbox.report_by_id(session, report_id)
    if report is None:
        raise ReportError(f"no report with id {report_id}")
    if not settings.smtp.host:
        raise ReportError("--resend: e-mail is disabled ([smtp] host is empty in monitor.toml)")
    requeued = outbox.requeue_failed(session, report_id, now, force=force)
    added = outbox.queue_outbox(session, report_id, settings.report.recipients, now)
    session.commit()
    if not requeued and not added:
        return 0, send_pending(session, settings, now)
    return len(requeued) + len(added), send_pending(session, settings, now)
