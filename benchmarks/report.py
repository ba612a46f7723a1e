"""Benchmark of the report chain on fabricated data: figures, HTML, PDF.

Default scenario: 2 years of 4 satellites. PHR1A/PHR1B: 5 bands, 6 extraction windows, 25 stars per
monthly campaign, one starpool a month (A_k, MTF curves, MTF at Nyquist). PNEO3/PNEO4: 7 bands, one
Moon acquisition a month. Plus a few geometry rows and rejected files.

Usage::

    python benchmarks/report.py [--months 24] [--stars 25] [--out report.pdf]

Prints one JSON document: plot time, render time (HTML + PDF), total (wall and CPU), pages, PDF bytes.
:func:`fabricate_context` is also used by ``tests/reports`` (smaller scenario).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from monitor.domain import BANDS_BY_MISSION, DEFAULT_STAR_HALF_WIDTHS_PX, ICD_VERSION, REF_VERSION, Mission
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
    SummaryRow,
)
from monitor.reports.period import Period
from monitor.reports.view import star_trace_set
from monitor.results import TracePoint
from monitor.science.constants import SECONDS_PER_YEAR

__all__ = ["fabricate_context", "main"]

_A0 = {
    "P": 11.0,
    "B0": 9.5,
    "B1": 10.2,
    "B2": 11.4,
    "B3": 12.6,
    "DB": 8.1,
    "B": 9.0,
    "G": 9.9,
    "R": 10.8,
    "RE": 11.7,
    "NIR": 12.9,
}


def _month_starts(start: datetime, months: int) -> list[datetime]:
    out = []
    y, m = start.year, start.month
    for _ in range(months):
        out.append(datetime(y, m, 15, 10, 30, tzinfo=UTC))
        m += 1
        if m == 13:
            y, m = y + 1, 1
    return out


def _years(t: datetime, ref: datetime) -> float:
    return (t - ref).total_seconds() / SECONDS_PER_YEAR


def _mtf(freq: np.ndarray, nyq: float) -> np.ndarray:
    """Smooth MTF shape through 1 at 0 and ``nyq`` at 0.5 cycles/pixel."""
    k = -math.log(nyq) / 0.25
    return np.exp(-k * freq**2)


def _star_section(
    sat: str,
    bands: Sequence[str],
    epochs: list[datetime],
    n_stars: int,
    windows: Sequence[int],
    rng: np.random.Generator,
    *,
    alert_band: str | None,
) -> tuple[SatelliteSection, list[SummaryRow]]:
    ref = epochs[0]
    calib, traces, curves, nyqs, rows = [], [], [], [], []
    freq = np.linspace(0.0, 0.6, 25)
    acq_ids = [f"{sat}_{e:%Y%m%d}_STAR_{i:03d}" for e in epochs for i in range(n_stars)]
    stars = [f"HIP {10000 + 397 * i}" for i in range(n_stars)]
    for band in bands:
        rate = 0.031 if band == alert_band else rng.normal(-0.004, 0.002)
        a0 = _A0[band]
        a = np.array([a0 * (1 + rate * _years(e, ref)) for e in epochs]) * (1 + rng.normal(0, 0.002, len(epochs)))
        sig = np.abs(a) * 0.004
        calib.append(
            CalibrationSeries(
                band=band,
                method="STAR",
                epochs=epochs,
                a=a.tolist(),
                a_sigma=sig.tolist(),
                drift=DriftFit(reference_epoch=ref, a0=a0, rate_per_year=rate, rate_sigma=0.002),
            )
        )
        points = []
        for h in windows:
            ee = 1.0 - 0.04 / h  # encircled-energy loss of the window
            for k, star in enumerate(stars):
                ratio = (ee * (1 + rate * np.array([_years(e, ref) for e in epochs]))
                         * (1 + rng.normal(0, 0.01, len(epochs))))
                if k == 0 and len(stars) >= 5:  # a variable star: 15 % faint at the last epoch
                    ratio[-1] *= 0.85
                points += [TracePoint(time=e, acq_id=f"{band}-{star}-{i}", star=star, band=band, half_width_px=h,
                                      normalised_count_dn=None, sum_dn=None, sigma_dn=None, status="ok",
                                      reason=None, usable=True, ratio_to_prediction=float(r))
                           for i, (e, r) in enumerate(zip(epochs, ratio, strict=True))]
        trace_set = star_trace_set(points, band, period=Period("p", "p", epochs[-1] - timedelta(days=20),
                                                               epochs[-1] + timedelta(days=20)))
        assert trace_set is not None
        traces.append(trace_set)
        nyq_al = 0.09 + rng.normal(0, 0.003, len(epochs)) - 0.004 * np.array([_years(e, ref) for e in epochs])
        nyq_ac = 0.11 + rng.normal(0, 0.003, len(epochs))
        nyqs.append(
            MtfNyquistSeries(
                band=band,
                epochs=epochs,
                along=nyq_al.tolist(),
                along_sigma=[0.004] * len(epochs),
                across=nyq_ac.tolist(),
                across_sigma=[0.004] * len(epochs),
            )
        )
        curves.append(
            MtfCurve(
                band=band,
                frequency=freq.tolist(),
                along=_mtf(freq, float(nyq_al[-1])).tolist(),
                along_sigma=(0.01 + 0.02 * freq).tolist(),
                across=_mtf(freq, float(nyq_ac[-1])).tolist(),
                across_sigma=(0.01 + 0.02 * freq).tolist(),
                epoch=epochs[-1],
                starpool=f"{sat}-{epochs[-1]:%Y-%m}",
            )
        )
        rows.append(
            SummaryRow(
                satellite=sat,
                band=band,
                method="STAR",
                a=float(a[-1]),
                a_sigma=float(sig[-1]),
                change_pct_since_previous=float(100 * (a[-1] / a[-2] - 1)) if len(a) > 1 else None,
                drift_per_year=rate,
                drift_sigma=0.002,
                mtf_nyquist_along=float(nyq_al[-1]),
                mtf_nyquist_across=float(nyq_ac[-1]),
                alert=(f"drift {100 * rate:+.1f} %/yr exceeds 2.0 %/yr" if band == alert_band else None),
            )
        )
    geometry = [
        GeometryRow(
            acq_id=f"{sat}_{e:%Y%m%d}_GEOM",
            n_control=40 + i,
            n_check=12,
            rmse_e_m=1.2 + 0.1 * i,
            rmse_n_m=1.5,
            rmse_u_m=2.8 - 0.1 * i,
            velocity_m_s=(6890.1, -1201.7, 3.2),
            epoch=e,
        )
        for i, e in enumerate(epochs[-3:])
    ]
    rejected = [
        RejectedInput(
            file=f"{sat}_{epochs[-1]:%Y%m%d}_STAR_bad.fits",
            reason="truncated",
            message="file ends after 2880 of 5760 bytes",
            time=epochs[-1],
        )
    ]
    section = SatelliteSection(
        satellite=sat,
        mission="PHR",
        bands=bands,
        calibration=calib,
        star_traces=traces,
        mtf_curves=curves,
        mtf_nyquist=nyqs,
        geometry=geometry,
        rejected=rejected,
        provenance=Provenance(code_versions=("monitor 0.1.0+g82d574f",), acquisition_ids=acq_ids),
    )
    return section, rows


def _moon_section(
    sat: str, bands: Sequence[str], epochs: list[datetime], rng: np.random.Generator
) -> tuple[SatelliteSection, list[SummaryRow], dict[str, MoonResult]]:
    ref = epochs[0]
    moon, calib, rows, latest = [], [], [], {}
    phases = [(-1) ** i * (25 + 35 * abs(math.sin(0.7 * i))) for i in range(len(epochs))]
    for band in bands:
        rate = rng.normal(-0.003, 0.002)
        a0 = _A0[band] * (1.01 if sat == "PNEO4" else 1.0)
        a_vals, sig_vals = [], []
        for i, (e, ph) in enumerate(zip(epochs, phases, strict=True)):
            resid = 0.02 * abs(ph) / 60 + rng.normal(0, 0.4)
            a = a0 * (1 + rate * _years(e, ref)) * (1 + resid / 100)
            r = MoonResult(
                acq_id=f"{sat}_{e:%Y%m%d}_MOON",
                band=band,
                epoch=e,
                phase_deg=ph,
                a=a,
                a_sigma=a * 0.006,
                residual_pct=resid,
                flagged=(i == 5 and band == "NIR"),
            )
            moon.append(r)
            a_vals.append(a)
            sig_vals.append(a * 0.006)
            latest[band] = r
        calib.append(
            CalibrationSeries(
                band=band,
                method="MOON",
                epochs=epochs,
                a=a_vals,
                a_sigma=sig_vals,
                drift=DriftFit(reference_epoch=ref, a0=a0, rate_per_year=rate, rate_sigma=0.0025),
            )
        )
        rows.append(
            SummaryRow(
                satellite=sat,
                band=band,
                method="MOON",
                a=a_vals[-1],
                a_sigma=sig_vals[-1],
                change_pct_since_previous=100 * (a_vals[-1] / a_vals[-2] - 1) if len(a_vals) > 1 else None,
                drift_per_year=rate,
                drift_sigma=0.0025,
            )
        )
    moon.sort(key=lambda r: (r.epoch, bands.index(r.band)))
    section = SatelliteSection(
        satellite=sat,
        mission="PNEO",
        bands=bands,
        calibration=calib,
        moon=moon,
        provenance=Provenance(
            code_versions=("monitor 0.1.0+g82d574f",), acquisition_ids=[f"{sat}_{e:%Y%m%d}_MOON" for e in epochs]
        ),
    )
    return section, rows, latest


def fabricate_context(
    *,
    months: int = 24,
    n_stars: int = 25,
    windows: Sequence[int] = DEFAULT_STAR_HALF_WIDTHS_PX,
    satellites: Sequence[str] = ("PHR1A", "PHR1B", "PNEO3", "PNEO4"),
    empty: Sequence[str] = (),
    seed: int = 12345,
    end: datetime = datetime(2026, 11, 1, tzinfo=UTC),
) -> ReportContext:
    """A realistic report context with known content.

    Satellites named in ``empty`` get a section with no data at all.
    """
    rng = np.random.default_rng(seed)
    start_month = end - timedelta(days=int(months * 30.44))
    epochs = _month_starts(start_month, months)
    sections, rows, latest = [], [], {}
    for sat in satellites:
        mission = Mission.PHR if sat.startswith("PHR") else Mission.PNEO
        bands = list(BANDS_BY_MISSION[mission])
        if sat in empty:
            sections.append(SatelliteSection(satellite=sat, mission=mission.value, bands=bands))
        elif mission is Mission.PHR:
            sec, r = _star_section(
                sat, bands, epochs, n_stars, windows, rng, alert_band="B3" if sat == "PHR1A" else None
            )
            sections.append(sec)
            rows += r
        else:
            sec, r, lt = _moon_section(sat, bands, epochs, rng)
            sections.append(sec)
            rows += r
            latest[sat] = lt
    ratios = []
    if "PNEO3" in latest and "PNEO4" in latest:
        for band in BANDS_BY_MISSION[Mission.PNEO]:
            a3, a4 = latest["PNEO3"][band], latest["PNEO4"][band]
            q = a3.a / a4.a
            ratios.append(
                RatioRow(
                    band=band,
                    ratio=q,
                    ratio_sigma=q * math.hypot(a3.a_sigma / a3.a, a4.a_sigma / a4.a),
                    n_pairs=1,
                )
            )
    return ReportContext(
        title="Pléiades calibration monitoring report",
        period_label=f"{end:%B %Y}",
        period_start=end - timedelta(days=30),
        period_end=end,
        generated_at=end + timedelta(hours=6),
        code_version="monitor 0.1.0+g82d574f",
        icd_version=ICD_VERSION,
        reference_model=REF_VERSION,
        summary_rows=rows,
        satellites=sections,
        ratio_rows=ratios,
    )


def main(argv: Sequence[str] | None = None) -> int:
    from pypdf import PdfReader

    from monitor.reports.plots import make_figures
    from monitor.reports.render import render_html, render_pdf

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--months", type=int, default=24)
    p.add_argument("--stars", type=int, default=25)
    p.add_argument("--out", type=Path, default=None, help="write the PDF here")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    ctx = fabricate_context(months=args.months, n_stars=args.stars)
    t1, c1 = time.perf_counter(), time.process_time()
    figs = make_figures(ctx)
    t2, c2 = time.perf_counter(), time.process_time()
    pdf = render_pdf(ctx, figs)  # production path: Jinja HTML + WeasyPrint, figures from memory
    t4, c4 = time.perf_counter(), time.process_time()
    t3 = time.perf_counter()
    html = render_html(ctx, figs)  # self-contained HTML (data URIs), for its size only
    t5 = time.perf_counter()
    import io

    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    if args.out:
        args.out.write_bytes(pdf)
    n_figs = sum(
        sum(
            x is not None for x in (f.calibration, f.mtf_curves, f.mtf_nyquist, f.moon_series, f.moon_phase, f.geometry)
        )
        + len(f.star_traces)
        for f in figs.satellites.values()
    )
    json.dump(
        {
            "months": args.months,
            "stars": args.stars,
            "figures": n_figs,
            "fabricate_s": round(t1 - t0, 3),
            "plot_s": round(t2 - t1, 3),
            "render_pdf_s": round(t4 - t2, 3),
            "total_s": round(t4 - t1, 3),
            "html_only_s": round(t5 - t3, 3),
            "plot_cpu_s": round(c2 - c1, 3),
            "total_cpu_s": round(c4 - c1, 3),
            "pages": pages,
            "pdf_bytes": len(pdf),
            "html_bytes": len(html.encode()),
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
