"""What a reader sees: star traces as median ± spread with outlier stars named, labels inside every
figure, one number format (value rounded to its σ), the "as of" statement, read back from the PDF."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pypdf import PdfReader

from monitor.reports import plots
from monitor.reports.context import GeometryRow
from monitor.reports.filters import MISSING, decimals_for, pm
from monitor.reports.period import Period
from monitor.reports.render import render_pdf
from monitor.reports.view import star_trace_set
from monitor.results import TracePoint

T0 = datetime(2025, 1, 10, tzinfo=UTC)


def _point(star: str, t: datetime, h: int, ratio: float, usable: bool = True) -> TracePoint:
    return TracePoint(time=t, acq_id=f"PHR1A-STAR-{t:%Y%m%d}-{star[4:]}", star=star, band="P", half_width_px=h,
                      normalised_count_dn=None, sum_dn=None, sigma_dn=None, status="ok", reason=None,
                      usable=usable, ratio_to_prediction=ratio if usable else None)


def _stars(n_months: int = 3, n_stars: int = 12, seed: int = 1) -> list[TracePoint]:
    """Stars at 1.000 ± 0.3 % per month and window; HIP 999 is 8 % faint in the last month only,
    HIP 998 is rejected from its starpool (no ratio: never drawn, never named)."""
    rng = np.random.default_rng(seed)
    pts = []
    for m in range(n_months):
        t = T0 + timedelta(days=31 * m)
        for h in (3, 8):
            for k in range(n_stars):
                pts.append(_point(f"HIP {100 + k}", t + timedelta(hours=k), h, 1.0 + rng.normal(0, 0.003)))
            pts.append(_point("HIP 999", t + timedelta(hours=20), h, 0.92 if m == n_months - 1 else 1.0))
            pts.append(_point("HIP 998", t + timedelta(hours=21), h, 0.0, usable=False))
    return pts


def test_star_traces_are_median_and_spread_per_starpool_with_the_outlier_named() -> None:
    last = T0 + timedelta(days=62)
    period = Period("2025-03", "March 2025", datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))
    ts = star_trace_set(_stars(), "P", period=period)
    assert ts is not None
    for w in ts.windows:
        assert len(w.epochs) == 3 and list(w.n_stars) == [13, 13, 13]  # HIP 998 (rejected) not counted
        assert np.allclose(w.median, 1.0, atol=0.003)
        assert all(0.0005 < s < 0.008 for s in w.spread)  # ~0.3 % scatter (MAD of 13 stars), not the 8 %
        assert [(o.star, o.time.date()) for o in w.outliers] == [("HIP 999", (last + timedelta(hours=20)).date())]
        assert w.outliers[0].departure_sigma < -8
    assert ts.outlier_stars == ["HIP 999"]
    [row] = ts.outlier_rows
    assert row.star == "HIP 999" and list(row.windows_px) == [7, 17]
    assert {t.star for w in ts.windows for t in w.traces} == {f"HIP {100 + k}" for k in range(12)} | {"HIP 999"}
    # the same outlier before the period is history: drawn, not named in the period's table
    earlier = Period("2025-01", "January 2025", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
    ts_jan = star_trace_set(_stars(), "P", period=earlier)
    assert ts_jan is not None and ts_jan.outliers and ts_jan.outlier_stars == [] and ts_jan.outlier_rows == []


def test_starpool_ids_bin_the_points() -> None:
    """Two starpools in the same calendar month are two bins; without ids the month is the bin."""
    pts = [_point(f"HIP {k}", T0 + timedelta(days=k % 2), 3, 1.0 + 0.01 * (k % 2)) for k in range(10)]
    by_pool = star_trace_set(pts, "P", bins=[k % 2 for k in range(10)])
    by_month = star_trace_set(pts, "P")
    assert by_pool is not None and by_month is not None
    assert list(by_pool.windows[0].n_stars) == [5, 5] and list(by_month.windows[0].n_stars) == [10]
    assert by_pool.windows[0].median == pytest.approx([1.0, 1.01])


def test_pm_rounds_the_value_to_its_sigma() -> None:
    assert pm(1234.5678, 2.345) == "1234.6\u00a0±\u00a02.3"
    assert pm(0.12345, 0.0012) == "0.1235\u00a0±\u00a00.0012"
    assert pm(123456.0, 234.0) == "123460\u00a0±\u00a0230"
    assert pm(-0.0245, 0.0235, "%/yr", scale=100.0, sign=True) == "\u22122.5\u00a0±\u00a02.4\u00a0%/yr"
    assert pm(0.031, 0.002, scale=100.0, sign=True) == "+3.10\u00a0±\u00a00.20"
    assert pm(1.5e-5, 2e-7) == "(1.500\u00a0±\u00a00.020)\u00d710\u207b\u2075"
    assert pm(5.0, None) == "5" and pm(5.0, float("nan")) == "5" and pm(None, 1.0) == MISSING
    assert [decimals_for(s) for s in (0.0234, 2.34, 23.4, 234.0)] == [3, 1, 0, -1]


def test_no_text_extends_beyond_its_figure(fabricate: object) -> None:
    """Every title, tick label, axis label, legend text and outlier name lies inside the figure
    (measured with the Agg renderer after drawing): nothing is clipped at the PNG's edge."""
    ctx = fabricate(months=6, n_stars=6, windows=(2, 5, 8, 12), satellites=("PHR1A", "PNEO3"))  # type: ignore[operator]
    # real ACQ_IDs are 31 characters: rotated, they ran off the geometry figure's left edge
    geometry = [GeometryRow(acq_id=f"PHR1A-GEOM-2025{m:02d}12T052642-{26 * m:04d}", n_control=24, n_check=12,
                            rmse_e_m=0.2, rmse_n_m=0.15, rmse_u_m=0.5, epoch=datetime(2025, m, 12, tzinfo=UTC))
                for m in range(1, 13)]
    with plots.capture_figures() as figs:
        plots.make_figures(ctx)
        assert plots.plot_geometry(geometry, "PHR1A") is not None
    assert len(figs) >= 8
    assert any(t.get_text().isdigit() for f in figs for ax in f.axes for t in ax.texts)  # outliers are named
    for fig in figs:
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        box = fig.bbox
        # everything drawn (tick labels in view, titles, labels, legends, annotations), in inches
        tight = fig.get_tightbbox(renderer)
        page = fig.bbox_inches
        assert (tight.x0 >= page.x0 - 0.01 and tight.x1 <= page.x1 + 0.01 and tight.y0 >= page.y0 - 0.01
                and tight.y1 <= page.y1 + 0.01), (tight, page)
        # and each text that is not a tick label (ticks out of view exist undrawn), in pixels
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            legend = ax.get_legend()
            texts = [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts,
                     *(legend.get_texts() if legend is not None else [])]
            for text in texts:
                if not text.get_visible() or not text.get_text().strip():
                    continue
                ext = text.get_window_extent(renderer)
                assert (ext.x0 >= box.x0 - 0.5 and ext.x1 <= box.x1 + 0.5 and ext.y0 >= box.y0 - 0.5
                        and ext.y1 <= box.y1 + 0.5), (text.get_text(), ext, box)


@pytest.fixture(scope="module")
def outlier_pdf_text(fabricate: object) -> str:
    ctx = fabricate(months=4, n_stars=6, windows=(2, 8), satellites=("PHR1A",))  # type: ignore[operator]
    reader = PdfReader(io.BytesIO(render_pdf(ctx)))
    return re.sub(r"\s+", " ", "\n".join(page.extract_text() for page in reader.pages))


def test_pdf_names_the_outlier_star_and_says_what_as_of_means(outlier_pdf_text: str) -> None:
    text = outlier_pdf_text
    assert "Outlier stars of band P in this period" in text
    assert re.search(r"HIP 10000 P-HIP 10000-3", text)  # the fabricated variable star, in the table
    assert "Appendix: traces of the outlier stars" in text
    assert "As of" in text and "latest result from acquisitions dated before this instant" in text
    assert "monitor traces --satellite" in text


def test_pdf_numbers_are_value_plus_minus_sigma(outlier_pdf_text: str) -> None:
    text = outlier_pdf_text
    # fabricated drift sigma 0.2 %/yr -> two significant digits and the rate to the same place
    assert re.search(r"[+\u2212]\d\.\d\d ± 0\.20", text), text[:2000]
    # A is ~10 with sigma ~0.04: "10.938 ± 0.044" style, never the old "1.0938e+01"
    assert re.search(r"\b\d{1,2}\.\d{3} ± 0\.0\d\d\b", text)
    assert "e+01" not in text
