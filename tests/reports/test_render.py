"""HTML and PDF rendering of the report (Jinja2 + WeasyPrint), read back with pypdf."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import jinja2
import pytest
from pypdf import PdfReader

from monitor.reports import filters
from monitor.reports.context import RejectedInput, ReportContext, SatelliteSection, SummaryRow
from monitor.reports.plots import ReportFigures, make_figures
from monitor.reports.render import (
    LocalOnlyURLFetcher,
    RefusedURLError,
    ReportRenderError,
    get_environment,
    render_html,
    render_pdf,
    render_report,
    templates_dir,
)

HOSTILE = '<script>alert("x")</script><img src="http://evil.example/x.png">'


@pytest.fixture(scope="module")
def figures(small_context: ReportContext) -> ReportFigures:
    return make_figures(small_context)


@pytest.fixture(scope="module")
def pdf_bytes(small_context: ReportContext, figures: ReportFigures) -> bytes:
    return render_pdf(small_context, figures)


@pytest.fixture(scope="module")
def pdf_text(pdf_bytes: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf_bytes))
    return "\n".join(page.extract_text() for page in reader.pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


# --------------------------------------------------------------------------- PDF


def test_page_count_is_the_documents(small_context: ReportContext, figures: ReportFigures, pdf_bytes: bytes) -> None:
    """The page count recorded with a report is WeasyPrint's laid-out document's, and the PDF has them all."""
    rendered = render_report(small_context, figures)
    assert rendered.pdf == pdf_bytes  # render_pdf is the same rendering
    assert rendered.pages == len(PdfReader(io.BytesIO(rendered.pdf)).pages) > 1


def test_pdf_has_pages_sections_and_no_data_wording(pdf_bytes: bytes, pdf_text: str) -> None:
    reader = PdfReader(io.BytesIO(pdf_bytes))
    assert len(reader.pages) > 1
    assert reader.pages[0].mediabox.width == pytest.approx(595.28, abs=0.5)  # A4 portrait, pt
    text = _flat(pdf_text)
    for needle in (
        "Pléiades calibration monitoring report",
        "Summary",
        "PHR1A (PHR)",
        "PHR1B (PHR)",
        "PNEO3 (PNEO)",
        "B3",
        "NIR",
        "star traces",
        "PNEO3 / PNEO4 inter-calibration",
        "Appendix: provenance",
        "page 1 / ",
    ):
        assert needle in text, needle
    # the empty satellite says so plainly, and so does the ratio table (no PNEO4 here)
    assert "No data: no acquisition or result for PHR1B in this period." in text
    assert "No data: no PNEO3/PNEO4 pair of Moon results in this period." in text
    # the alert of the fabricated data is in the summary
    assert "drift +3.1 %/yr exceeds 2.0 %/yr" in text


def test_pdf_bookmarks_metadata_and_fonts(pdf_bytes: bytes, small_context: ReportContext) -> None:
    reader = PdfReader(io.BytesIO(pdf_bytes))
    titles = [o.title for o in reader.outline if not isinstance(o, list)]
    assert titles[:2] == ["Pléiades calibration monitoring report", "Summary"]
    assert {"PHR1A (PHR)", "PHR1B (PHR)", "PNEO3 (PNEO)", "Appendix: provenance"} <= set(titles)
    assert reader.metadata is not None
    assert reader.metadata.creation_date == small_context.generated_at
    fonts = {
        str(font["/BaseFont"]) for page in reader.pages for font in (page["/Resources"].get("/Font") or {}).values()
    }
    assert fonts and all("Report-Sans" in f for f in fonts), fonts


def test_same_context_gives_same_bytes(pdf_bytes: bytes, small_context: ReportContext) -> None:
    assert render_pdf(small_context, make_figures(small_context)) == pdf_bytes


# --------------------------------------------------------------------------- HTML


def test_html_autoescapes_hostile_values(small_context: ReportContext, figures: ReportFigures) -> None:
    sats = list(small_context.satellites)
    sats[0] = dataclasses.replace(
        sats[0],
        rejected=[
            RejectedInput(file=HOSTILE, reason="not-fits", message=HOSTILE, time=datetime(2026, 10, 3, tzinfo=UTC))
        ],
    )
    ctx = dataclasses.replace(
        small_context,
        title=HOSTILE,
        satellites=sats,
        summary_rows=[SummaryRow(satellite="PHR1A", band="P", method="STAR", alert=HOSTILE)],
    )
    html = render_html(ctx, figures)
    assert "<script>" not in html
    assert 'src="http://evil.example' not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    # and the escaped text renders without any fetch of the hostile URL
    pdf = render_pdf(ctx, figures, html=html)
    assert b"%PDF" in pdf[:8]


def test_missing_template_variable_raises(figures: ReportFigures) -> None:
    incomplete = SimpleNamespace(title="t", period_label="p")  # no period_start, ...
    with pytest.raises(jinja2.UndefinedError):
        render_html(incomplete, figures)  # type: ignore[arg-type]
    with pytest.raises(jinja2.UndefinedError):
        get_environment().from_string("{{ ctx.no_such_field }}").render(ctx=incomplete)


def test_empty_context_renders_no_data_everywhere() -> None:
    t0 = datetime(2026, 11, 16, tzinfo=UTC)
    ctx = ReportContext(
        title="Weekly report",
        period_label="Week 2026-W47",
        period_start=t0,
        period_end=t0 + timedelta(days=7),
        generated_at=t0 + timedelta(days=7, hours=6),
        code_version="test",
        icd_version="ICD-1",
        reference_model="REF-1",
        satellites=[SatelliteSection(satellite="PNEO4", mission="PNEO")],
    )
    html = render_html(ctx)
    assert "No data: no calibration result in this period." in html
    assert "No data: no acquisition or result for PNEO4 in this period." in html
    assert '<meta name="dcterms.created" content="2026-11-23T06:00:00Z">' in html


# --------------------------------------------------------------------------- safety


def test_missing_image_is_an_error(small_context: ReportContext, figures: ReportFigures) -> None:
    html = render_html(small_context, figures).replace("</body>", '<img src="no_such_plot.png"></body>')
    with pytest.raises(ReportRenderError, match="no_such_plot.png"):
        render_pdf(small_context, figures, html=html)


def test_network_urls_are_refused(small_context: ReportContext, figures: ReportFigures) -> None:
    html = render_html(small_context, figures).replace("</body>", '<img src="https://example.org/a.png"></body>')
    with pytest.raises(ReportRenderError, match="refused non-local URL"):
        render_pdf(small_context, figures, html=html)


def test_fetcher_allows_only_templates_files_and_data() -> None:
    fetcher = LocalOnlyURLFetcher(templates_dir())
    css = fetcher.fetch((templates_dir() / "css" / "report.css").as_uri())
    assert b"@font-face" in css.read()
    css.close()
    assert fetcher.fetch("data:text/plain,hi").read() == b"hi"
    figs = LocalOnlyURLFetcher(templates_dir(), {"abc": b"\x89PNG..."})
    assert figs.fetch("monitor-figure:abc").read() == b"\x89PNG..."
    with pytest.raises(RefusedURLError, match="unknown report figure"):
        figs.fetch("monitor-figure:nope")
    for url in ("file:///etc/passwd", "http://127.0.0.1/x.png", "ftp://example.org/x"):
        with pytest.raises(RefusedURLError):
            fetcher.fetch(url)


def test_templates_dir_is_complete() -> None:
    root = templates_dir()
    for rel in (
        "base.html",
        "report.html",
        "css/report.css",
        "fonts/DejaVuSans.ttf",
        "fonts/DejaVuSans-Bold.ttf",
        "fonts/LICENSE-DejaVu.txt",
        "partials/_summary.html",
    ):
        assert (root / rel).is_file(), rel


# --------------------------------------------------------------------------- filters


def test_filters() -> None:
    assert filters.sci(12.3456789) == "1.235e+01"
    assert filters.sci(None) == filters.MISSING
    assert filters.sci(float("nan")) == filters.MISSING
    assert filters.num(0.12345, 2) == "0.12"
    assert filters.signed(-0.5, 1) == "\u22120.5"
    assert filters.signed(0.5, 1) == "+0.5"
    assert filters.pct(0.0123, ratio=True) == "+1.23\u00a0%"
    assert filters.pct(1.5, 1, sign=False) == "1.5\u00a0%"
    t = datetime(2026, 11, 23, 8, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    assert filters.utc_iso(t) == "2026-11-23T07:00:05Z"
    assert filters.utc_minute(t) == "2026-11-23 07:00 UTC"
    assert filters.utc_date(t) == "2026-11-23"
    assert filters.utc_iso(None) == filters.MISSING
    with pytest.raises(ValueError, match="naive"):
        filters.utc_iso(datetime(2026, 11, 23))
