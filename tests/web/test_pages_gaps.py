"""Dashboard pages the first version lacked or drew differently from the PDF (issue 21 review):
the per-satellite backlog on the overview, the star trace figure with the PDF's starpool median ±
spread and its rejected (outlier) stars, the MTF curve's hover with σ, the A_k figure's comparison
drift line, and figures whose values include NaN (JSON has none: the browser would draw nothing)."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from monitor.catalogue import operations as ops
from monitor.catalogue.engine import make_engine
from monitor.ingest.service import run_ingest
from monitor.reports.context import (
    CalibrationSeries,
    DriftFit,
    MoonResult,
    MtfCurve,
    StarOutlier,
    StarTrace,
    StarWindowTraces,
)
from monitor.settings import load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, session_scope
from monitor.web import charts
from tests.web.conftest import serving

T0 = datetime(2025, 2, 1, tzinfo=UTC)


def _strict_json(text: str) -> Any:
    """``JSON.parse`` of a browser: no NaN, no Infinity."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _figures(html: str) -> dict[str, Any]:
    return {m.group(1): _strict_json(m.group(2)) for m in re.finditer(
        r'<script type="application/json" class="plot-data" data-target="([^"]+)">(.*?)</script>', html, re.S)}


@pytest.mark.db
def test_overview_shows_each_satellites_backlog(tmp_path: Path) -> None:
    """Acquisitions ingested but not processed: each satellite's row of the overview counts them
    per type, as many as the files archived for it (counted on disk, not by the catalogue)."""
    from monitor.web.app import create_app

    now = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
    settings = load_settings(tmp_path / "site", env={"MONITOR_INGEST_SETTLE_SECONDS": "0",
                                                     "MONITOR_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    init_site(settings)
    simulate_campaigns(settings.inbox, start=T0, months=1, seed=5, satellites=("PHR1A",), stars_per_campaign=3,
                       moon_per_month=0, geom_per_month=1, bad_files=False)
    simulate_campaigns(settings.inbox, start=T0, months=1, seed=6, satellites=("PNEO4",), stars_per_campaign=0,
                       moon_per_month=1, geom_per_month=0, bad_files=False)
    with session_scope(settings) as session:
        run_ingest(session, settings, now)
    on_disk = Counter(p.relative_to(settings.archive).parts[0] for p in settings.archive.rglob("*.fits*")
                      if p.is_file() and not p.name.endswith(".done"))
    assert set(on_disk) == {"PHR1A", "PNEO4"}

    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        by_sat = ops.processing_backlog_by_satellite(session)
        total = ops.processing_backlog(session).counts
    engine.dispose()
    assert {s: sum(v.values()) for s, v in by_sat.items()} == dict(on_disk)
    assert set(by_sat["PHR1A"]) == {"STAR", "GEOM"} and set(by_sat["PNEO4"]) == {"MOON"}
    assert sum(total.values()) == sum(on_disk.values())

    app = create_app(settings, now=lambda: now)
    try:
        with serving(app) as s:
            page = s.get("/").text
    finally:
        app.state.engine.dispose()
    for sat, n in on_disk.items():
        row = re.search(rf'<td class="l">{sat}</td>.*?<td class="backlog">([^<]*)</td>', page)
        assert row is not None, sat
        parts = ", ".join(f"{k} {v}" for k, v in sorted(by_sat[sat].items()))
        assert row.group(1) == f"{n} ({parts})"
    assert re.search(r'<td class="l">PHR1B</td>.*?<td class="backlog">0</td>', page)


def test_star_trace_figure_has_the_pdfs_median_spread_and_outliers() -> None:
    t = [T0 + timedelta(days=30 * i) for i in range(3)]
    w = StarWindowTraces(
        half_width_px=4,
        traces=[StarTrace("HIP 1", t, [1.0, 0.99, 1.01]), StarTrace("HIP 2", t, [1.02, float("nan"), 0.98])],
        epochs=t, median=[1.01, 0.99, 0.995], spread=[0.01, 0.02, 0.015], n_stars=[2, 1, 2],
        outliers=[StarOutlier("HIP 3", "ACQ-3", t[1], 4, 0.8, 0.99, -9.5)])
    fig = _strict_json(json.dumps(charts.star_traces(w, "x")))
    median, outliers, stars = fig["data"]
    assert median["y"] == [1.01, 0.99, 0.995] and median["error_y"]["array"] == [0.01, 0.02, 0.015]
    assert median["customdata"] == [2, 1, 2] and "± %{error_y.array" in median["hovertemplate"]
    assert outliers["y"] == [0.8] and outliers["marker"]["symbol"] == "x" and outliers["text"] == ["HIP 3 ACQ-3"]
    assert outliers["customdata"] == [-9.5] and "rejected" in outliers["hovertemplate"]
    # every star in one trace, a gap between two stars; hover names the star
    assert stars["text"] == ["HIP 1"] * 3 + [None] + ["HIP 2"] * 3 and stars["name"] == "each star (2)"
    assert stars["y"] == [1.0, 0.99, 1.01, None, 1.02, None, 0.98]  # NaN: a gap, not invalid JSON
    assert stars["x"][3] is None and stars["x"][:3] == [x.isoformat() for x in t]


def test_figures_never_carry_nan_or_infinity() -> None:
    t = [T0, T0 + timedelta(days=10)]
    fit = DriftFit(reference_epoch=T0, a0=100.0, rate_per_year=-0.01, rate_sigma=0.002, model="star-offsets")
    mean_fit = DriftFit(reference_epoch=T0, a0=100.5, rate_per_year=-0.02, rate_sigma=0.004)
    series = CalibrationSeries("P", "STAR", t, [100.0, math.nan], [0.1, math.inf], drift=fit,
                               starpool_mean_drift=mean_fit)
    moon = [MoonResult("M1", "P", T0, -30.0, 100.0, 0.2, residual_pct=math.nan)]
    for fig in (charts.a_vs_time([series], "a"), charts.moon_residuals(moon, "m", by_phase=True),
                charts.mtf_curve(MtfCurve("P", [0.1, 0.5], [0.9, math.nan], [0.01, 0.02]), "c")):
        _strict_json(json.dumps(fig))
    a = charts.a_vs_time([series], "a")["data"]
    assert a[0]["y"] == [100.0, None] and a[0]["error_y"]["array"] == [0.1, None]
    # the primary drift solid, the starpool means' linear fit dashed (the PDF's two lines)
    assert [(d["line"]["dash"], d["name"].split(" ")[1]) for d in a[1:]] == [("solid", "drift"), ("dash", "starpool")]
    assert "-1.00 ± 0.20 %/yr" in a[1]["name"] and "-2.00 ± 0.40 %/yr" in a[2]["name"]


def test_mtf_curve_hover_shows_sigma_when_known() -> None:
    c = MtfCurve("P", frequency=[0.1, 0.3, 0.5], along=[0.9, 0.6, 0.3], along_sigma=[0.01, 0.02, 0.03],
                 across=[0.88, 0.55, 0.25], across_sigma=[], epsf_along=[0.9, 0.6, 0.31],
                 epsf_along_sigma=[0.02, 0.03, 0.04])
    data = {d["name"]: d for d in charts.mtf_curve(c, "c")["data"]}
    assert set(data) == {"along", "across", "ePSF along"}
    assert data["along"]["error_y"]["array"] == [0.01, 0.02, 0.03]
    assert "± %{error_y.array" in data["along"]["hovertemplate"]
    assert "error_y" not in data["across"] and "±" not in data["across"]["hovertemplate"]
    assert data["ePSF along"]["line"]["dash"] == "dot" and "±" in data["ePSF along"]["hovertemplate"]


GLOD_SRF = "W_XX-EUMETSAT-Darmstadt_VIS+IR+SRF_MSG3+SEVIRI_C_EUMG.nc"
GLOD_OBS = ["W_XX-EUMETSAT-Darmstadt,VISNIR+SUBSET+MOON,MSG3+SEVIRI_C_EUMG_20130101145644_01.nc",
            "W_XX-EUMETSAT-Darmstadt,VISNIR+SUBSET+MOON,MSG3+SEVIRI_C_EUMG_20140318140112_01.nc"]


@pytest.mark.db
@pytest.mark.slow
def test_band_page_draws_the_glod_lunar_comparisons(tmp_path: Path, glod_reference: Path) -> None:
    """Real SEVIRI GLOD files, ingested and compared: every band page has the report's statistics
    table of the instrument and its two interactive figures, one point per compared channel of
    each observation with the catalogue's ratio and 1σ (the report draws these as PNG)."""
    import shutil

    from monitor.calibration.service import run_processing
    from monitor.catalogue.lunar_comparisons import latest_lunar_comparisons
    from monitor.reports.filters import pct
    from monitor.reports.period import parse_period
    from monitor.reports.view import build_context
    from monitor.site import utc_now
    from monitor.web.app import create_app

    root = tmp_path / "site"
    root.mkdir()
    (root / "monitor.toml").write_text(f'[instruments."MSG3 SEVIRI"]\nsrf = "{glod_reference / GLOD_SRF}"\n')
    settings = load_settings(root, env={"MONITOR_INGEST_SETTLE_SECONDS": "0",
                                        "MONITOR_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"})
    init_site(settings)
    for name in GLOD_OBS:
        shutil.copy(glod_reference / name, settings.inbox / name)
    now = utc_now()  # after the copies: ingest takes files modified before now
    with session_scope(settings) as session:
        got = run_ingest(session, settings, now)
        assert len(got.ingested) == len(GLOD_OBS), got
        done = run_processing(session, settings, now)
        assert done.parts["lunar comparison"].observations == len(GLOD_OBS), done
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        rows = [(c, o) for c, o in latest_lunar_comparisons(session) if c.ratio is not None]
        ctx = build_context(session, settings, parse_period(f"{now:%Y-%m}"), now)
    engine.dispose()
    assert len({o.id for _, o in rows}) == len(GLOD_OBS) and len(rows) >= 4
    (section,) = ctx.lunar_comparisons

    app = create_app(settings, now=lambda: now)
    try:
        with serving(app) as s:
            html = s.get("/satellite/PNEO4/B").text
    finally:
        app.state.engine.dispose()
    assert f"{section.instrument}: observed / REF-1 lunar irradiance" in html
    for r in section.stats:
        assert pct(r.stats.mrd, 2, ratio=True) in html, r.channel
    figs = _figures(html)
    date_fig, phase_fig = figs["fig-glod-date-1"], figs["fig-glod-phase-1"]
    plotted = sorted((d["name"].split(" ")[0], y, e) for d in date_fig["data"]
                     for y, e in zip(d["y"], d["error_y"]["array"], strict=True))
    assert plotted == sorted((c.channel, c.ratio, c.ratio_sigma or 0.0) for c, _ in rows)
    assert sum(len(d["x"]) for d in phase_fig["data"]) == sum(c.phase_angle_deg is not None for c, _ in rows)
    assert 'src="data:image/png' not in html  # the interactive figures replace the report's PNGs


def test_star_verdict_per_acquisition() -> None:
    """A star is a member when any of its windows is usable (a window its starpool does not
    predict does not reject it, as the widest one in PHR B3 of the demo); rejected, with the
    reason, when none is."""
    from monitor.results import TracePoint
    from monitor.web.pages import _star_rows

    def point(acq: str, h: int, usable: bool, reason: str | None, minutes: int) -> TracePoint:
        return TracePoint(time=T0 + timedelta(minutes=minutes), acq_id=acq, star="HIP 7", band="B3", half_width_px=h,
                          normalised_count_dn=1.0, sum_dn=1.0, sigma_dn=0.1, status="ok", reason=reason,
                          usable=usable, ratio_to_prediction=1.0 if usable else None)

    points = ([point("A1", h, h != 20, None, 0) for h in (2, 5, 20)]
              + [point("A2", h, False, "outlier", 1) for h in (2, 5, 20)]
              + [point("A3", h, h != 2, "saturated" if h == 2 else None, 2) for h in (2, 5)])
    rows = {r.acq_id: r for r in _star_rows(points)}
    assert rows["A1"].usable and rows["A1"].reason is None and rows["A1"].unusable_windows == ((20, "no prediction"),)
    assert not rows["A2"].usable and rows["A2"].reason == "outlier" and rows["A2"].unusable_windows == ()
    assert rows["A3"].usable and rows["A3"].unusable_windows == ((2, "saturated"),)
    assert [r.acq_id for r in _star_rows(points)] == ["A1", "A2", "A3"]
