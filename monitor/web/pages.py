"""What each page of the dashboard shows, read from the catalogue through the report's view model
(:func:`monitor.reports.view.build_context`) and the catalogue repositories: the web layer
renders these plain values and never queries the database itself."""

from __future__ import annotations

import csv
import io
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

from monitor.catalogue import acquisitions, lunar_comparisons, measurements
from monitor.catalogue import operations as ops
from monitor.daemon.health import Health, collect_health
from monitor.domain import BANDS_BY_MISSION, MISSION_OF_SATELLITE, Satellite, printable_name
from monitor.reports.context import RatioRow, ReportContext, SatelliteSection, SummaryRow
from monitor.reports.period import Period, parse_period
from monitor.reports.view import band_star_traces, build_context
from monitor.results import TracePoint, build_results, iso_utc, measurement_entry, results_json, star_traces
from monitor.settings import Settings
from monitor.web import charts

__all__ = [
    "NotFound", "ContextCache", "satellites_and_bands", "period_of", "overview", "band_page", "acquisition_page",
    "rejected_page", "report_files", "summary_csv", "measurements_csv", "traces_csv", "results_document",
]


class NotFound(LookupError):
    """The page names something the catalogue does not have (HTTP 404)."""


class ContextCache:
    """The report's view model of a period, reused while the catalogue has not changed.

    :func:`build_context` reads two years of results (without the star traces, see
    :func:`_context`); every page of a period shows the same one. An entry is reused only while
    the catalogue's newest run (ingest, processing, report: its id, outcome and end) and newest
    refused file are the same, and for at most ``ttl_s`` seconds (a processing run commits its
    results before it ends: a page may lag a running processing by that much).
    """

    def __init__(self, ttl_s: float = 30.0, size: int = 4) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._entries: dict[tuple[Any, ...], tuple[float, ReportContext]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def fingerprint(session: Session) -> tuple[Any, ...]:
        run = next(iter(ops.last_runs(session, limit=1)), None)
        rejection = next(iter(acquisitions.recent_rejections(session, limit=1)), None)
        return (None if run is None else (run.id, run.outcome, run.finished_at),
                None if rejection is None else rejection.id)

    def get(self, session: Session, settings: Settings, period: Period, now: datetime) -> ReportContext:
        key = (period.key, period.start, period.end, self.fingerprint(session))
        t = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and t - hit[0] <= self.ttl_s:
            return hit[1]
        ctx = build_context(session, settings, period, now, star_traces=False)
        with self._lock:
            self._entries[key] = (t, ctx)
            for old in sorted(self._entries, key=lambda k: self._entries[k][0])[:-self.size]:
                del self._entries[old]
        return ctx


def _context(session: Session, settings: Settings, period: Period, now: datetime,
             cache: ContextCache | None) -> ReportContext:
    """The view model of the period without star trace panels: no page shows every satellite's
    traces (reading them all was most of an uncached page, issue 21); a band page reads its own
    with :func:`band_star_traces`."""
    if cache is None:
        return build_context(session, settings, period, now, star_traces=False)
    return cache.get(session, settings, period, now)


def satellites_and_bands() -> list[tuple[str, list[str]]]:
    return [(s.value, list(BANDS_BY_MISSION[MISSION_OF_SATELLITE[s]])) for s in Satellite]


def check_band(satellite: str, band: str) -> None:
    known = dict(satellites_and_bands())
    if satellite not in known or band not in known[satellite]:
        raise NotFound(f"unknown satellite/band {printable_name(satellite)} {printable_name(band)}")


def period_of(text: str | None, now: datetime) -> Period:
    """The period of the view: ``text`` as ``monitor report --period`` reads it, else the current
    calendar month (everything up to now)."""
    return parse_period(text if text else f"{now:%Y-%m}", now)


@dataclass(frozen=True)
class Delivery:
    """One satellite's deliveries: the newest accepted acquisition (received, DATE-OBS), the time
    since it was received, and its backlog (archived acquisitions waiting for processing, per type)."""

    satellite: str
    last_received_at: datetime | None
    last_observed_at: datetime | None
    age: timedelta | None
    waiting: dict[str, int] = field(default_factory=dict)

    @property
    def n_waiting(self) -> int:
        return sum(self.waiting.values())


@dataclass(frozen=True)
class Overview:
    ctx: ReportContext
    health: Health
    job_runs: list[Any]
    processing_runs: list[Any]
    deliveries: list[Delivery]
    rejection_counts: list[tuple[str, int]]


def overview(session: Session, settings: Settings, period: Period, now: datetime,
             cache: ContextCache | None = None) -> Overview:
    ctx = _context(session, settings, period, now, cache)
    last = acquisitions.last_delivery_by_satellite(session)
    waiting = ops.processing_backlog_by_satellite(session)
    deliveries = []
    for sat in Satellite:
        received, observed = last.get(sat.value, (None, None))
        deliveries.append(Delivery(satellite=sat.value, last_received_at=received, last_observed_at=observed,
                                   age=None if received is None else now - received,
                                   waiting=waiting.get(sat.value, {})))
    return Overview(ctx=ctx, health=collect_health(session, settings, now), job_runs=list(ops.last_job_runs(session)),
                    processing_runs=list(ops.last_runs(session)), deliveries=deliveries,
                    rejection_counts=acquisitions.catalogue_counts(session).rejections)


@dataclass(frozen=True)
class StarRow:
    """One star acquisition of the band: a starpool member, or rejected with the reason.

    ``unusable_windows``: the windows of a member that are not usable, (half-width [native px],
    reason), e.g. "no prediction" for a window the starpool's EE does not predict (the widest one in
    a band whose PSF fit does not reach it): they are not drawn, the star stays a member."""

    time: datetime
    acq_id: str
    star: str
    usable: bool
    reason: str | None
    unusable_windows: tuple[tuple[int, str], ...] = ()


def _star_rows(points: list[TracePoint]) -> list[StarRow]:
    """One row per acquisition: a member when any of its windows is usable; otherwise rejected, with
    the reason of its windows (a star rejected from its starpool is unusable in every window)."""
    by_acq: dict[str, list[TracePoint]] = {}
    for p in points:
        by_acq.setdefault(p.acq_id, []).append(p)
    rows = []
    for acq_id, pts in by_acq.items():
        usable = any(p.usable for p in pts)
        reason = None if usable else next((p.reason for p in pts if p.reason), None)
        windows = tuple(sorted({(p.half_width_px, p.reason or "no prediction") for p in pts if not p.usable}))
        rows.append(StarRow(time=pts[0].time, acq_id=acq_id, star=pts[0].star, usable=usable, reason=reason,
                            unusable_windows=windows if usable else ()))
    return sorted(rows, key=lambda r: (r.time, r.acq_id))


@dataclass(frozen=True)
class BandPage:
    ctx: ReportContext
    satellite: str
    band: str
    section: SatelliteSection
    summary: list[SummaryRow]
    ratio: RatioRow | None
    stars: list[StarRow]
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    trace_figures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    # per GLOD instrument: its interactive ratio figures vs date and vs phase angle
    lunar_figures: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)


def lunar_figures(session: Session, until: datetime) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The interactive versions of the report's GLOD figures (:func:`monitor.reports.lunar.lunar_comparison_section`:
    the same comparisons, those of the latest run of each observation up to ``until``)."""
    points: dict[str, list[charts.LunarPoint]] = {}
    for c, o in lunar_comparisons.latest_lunar_comparisons(session, until=until):
        if c.ratio is None:
            continue
        t = o.date_obs if o.date_obs.tzinfo is not None else o.date_obs.replace(tzinfo=UTC)
        points.setdefault(o.instrument, []).append(charts.LunarPoint(
            observation=o.observation_id, channel=c.channel, time=t, phase_deg=c.phase_angle_deg, ratio=c.ratio,
            ratio_sigma=c.ratio_sigma, in_trend=c.in_trend))
    return {name: (charts.lunar_ratio(p, f"{name}: observed / REF-1 vs date", by_phase=False),
                   charts.lunar_ratio(p, f"{name}: observed / REF-1 vs phase angle", by_phase=True))
            for name, p in points.items()}


def band_page(session: Session, settings: Settings, satellite: str, band: str, period: Period,
              now: datetime, cache: ContextCache | None = None) -> BandPage:
    check_band(satellite, band)
    ctx = _context(session, settings, period, now, cache)
    section = next(s for s in ctx.satellites if s.satellite == satellite)
    name = f"{satellite} {band}"
    figures: dict[str, dict[str, Any]] = {}
    series = [c for c in section.calibration if c.band == band]
    if series:
        figures["a"] = charts.a_vs_time(series, f"{name}: A_k vs time")
    nyq = next((n for n in section.mtf_nyquist if n.band == band), None)
    if nyq is not None:
        figures["mtf_nyquist"] = charts.mtf_nyquist(nyq, f"{name}: MTF at Nyquist vs time")
    curve = next((c for c in section.mtf_curves if c.band == band), None)
    if curve is not None:
        figures["mtf_curve"] = charts.mtf_curve(curve, f"{name}: latest MTF ({curve.starpool})")
    moon = [m for m in section.moon if m.band == band]
    if moon:
        figures["moon_time"] = charts.moon_residuals(moon, f"{name}: Moon residual vs time", by_phase=False)
        figures["moon_phase"] = charts.moon_residuals(moon, f"{name}: Moon residual vs phase angle", by_phase=True)
    traces = band_star_traces(session, satellite, band, period)  # the view model has none (see _context)
    trace_figures = [] if traces is None else [
        (w.half_width_px, charts.star_traces(w, f"{name}: star traces, window half-width {w.half_width_px} px"))
        for w in traces.windows]
    return BandPage(
        ctx=ctx, satellite=satellite, band=band, section=section,
        summary=[r for r in ctx.summary_rows if r.satellite == satellite and r.band == band],
        ratio=next((r for r in ctx.ratio_rows if r.band == band), None) if satellite in ("PNEO3", "PNEO4") else None,
        stars=_star_rows(star_traces(session, satellite, band)), figures=figures, trace_figures=trace_figures,
        lunar_figures=lunar_figures(session, period.end) if ctx.lunar_comparisons else {},
    )


@dataclass(frozen=True)
class AcquisitionPage:
    acquisition: Any
    bands: list[dict[str, Any]]
    runs: dict[int, Any]
    rejections: list[Any]


def acquisition_page(session: Session, acq_id: str) -> AcquisitionPage:
    found = acquisitions.acquisitions_by_acq_ids(session, [acq_id])
    if not found:
        raise NotFound(f"no acquisition {printable_name(acq_id)}")
    acq = found[0]
    rows = [m for m in measurements.band_measurements(session, acq.satellite, since=acq.date_obs,
                                                     until=acq.date_obs + timedelta(microseconds=1))
            if m.acquisition.acq_id == acq.acq_id]
    bands = []
    run_ids: set[int] = set()
    for m in rows:
        entry = measurement_entry(m)
        result = m.photometry or m.moon
        entry["message"] = getattr(result, "message", None) if result is not None else None
        entry["run_id"] = result.run_id if result is not None else None
        entry["flags"] = m.band_image.flags if m.band_image is not None else ""
        starpool_rejection = None
        if m.starpool_result is not None:
            starpool_rejection = next((x for x in (m.starpool_result.rejected or []) if x.get("acq_id") == acq.acq_id),
                                      None)
            run_ids.add(m.starpool_result.run_id)
        entry["starpool_rejection"] = starpool_rejection
        if result is not None:
            run_ids.add(result.run_id)
        bands.append(entry)
    rejections = [r for r in acquisitions.all_rejections(session) if r.acq_id == acq.acq_id]
    return AcquisitionPage(acquisition=acq, bands=bands, runs=ops.run_versions(session, run_ids),
                           rejections=rejections)


def rejected_page(session: Session, settings: Settings, period: Period, now: datetime,
                  cache: ContextCache | None = None) -> tuple[list[Any], ReportContext]:
    """Every file refused at ingest (newest first), and the period's refusals by processing."""
    rejections = sorted(acquisitions.all_rejections(session), key=lambda r: (r.received_at, r.id or 0), reverse=True)
    return rejections, _context(session, settings, period, now, cache)


@dataclass(frozen=True)
class ReportFile:
    name: str
    size_bytes: int
    modified_at: datetime


def report_files(settings: Settings) -> list[ReportFile]:
    """The archived report PDFs of the site (newest first)."""
    from datetime import UTC

    directory = settings.reports_dir
    if not directory.is_dir():
        return []
    out = []
    for p in directory.iterdir():
        if p.suffix == ".pdf" and p.is_file() and not p.name.startswith("."):
            st = p.stat()
            out.append(ReportFile(p.name, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)))
    return sorted(out, key=lambda f: (f.modified_at, f.name), reverse=True)


def report_path(settings: Settings, name: str) -> Path:
    """The archived PDF called ``name`` (only a name listed by :func:`report_files`)."""
    if name not in {f.name for f in report_files(settings)}:
        raise NotFound(f"no report {printable_name(name)}")
    return settings.reports_dir / name


def _csv(fields: list[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: iso_utc(v) if isinstance(v, datetime) else v for k, v in r.items()})
    return buf.getvalue()


def summary_csv(ctx: ReportContext) -> str:
    fields = ["satellite", "band", "method", "a", "a_sigma", "change_pct_since_previous", "drift_per_year",
              "drift_sigma", "mtf_nyquist_along", "mtf_nyquist_across", "alert"]
    return _csv(fields, [r.__dict__ for r in ctx.summary_rows])


def results_document(session: Session) -> str:
    """The ICD 5 results export (``monitor results``)."""
    return results_json(build_results(session))


def measurements_csv(session: Session) -> str:
    doc = build_results(session)
    return _csv(["acq_id", "file", "band", "status", "reason", "a", "a_sigma"], doc["measurements"])


def traces_csv(session: Session, satellite: str, band: str) -> str:
    """The star traces of one band (``monitor traces --format csv``)."""
    check_band(satellite, band)
    fields = ["time", "acq_id", "star", "band", "half_width_px", "normalised_count_dn", "sum_dn", "sigma_dn",
              "status", "reason", "usable", "ratio_to_prediction"]
    return _csv(fields, [p.__dict__ for p in star_traces(session, satellite, band)])
