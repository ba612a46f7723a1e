"""The dashboard's templates on fabricated rows: an alert is highlighted and its text escaped, the
numbers are formatted as in the PDF report's summary table."""

from __future__ import annotations

from monitor.reports.context import SummaryRow
from monitor.web.app import _environment


def test_alert_row_is_highlighted_and_escaped() -> None:
    env = _environment()
    template = env.from_string('{% import "web/_macros.html" as m %}{{ m.summary_table(rows) }}')
    rows = [
        SummaryRow(satellite="PHR1B", band="B3", method="STAR", a=5.79889, a_sigma=0.0187, drift_per_year=-0.0412,
                   drift_sigma=0.0061, mtf_nyquist_along=0.1942, alert='drift -4.1 %/yr <img src=x onerror="x()">'),
        SummaryRow(satellite="PHR1B", band="P", method="STAR", a=1.93772, a_sigma=0.0022),
    ]
    html = template.render(rows=rows)
    assert '<tr class="alert">' in html and html.count('<tr class="alert">') == 1
    assert "&lt;img src=x onerror=&#34;x()&#34;&gt;" in html and "<img" not in html
    assert "5.799\u00a0±\u00a00.019" in html and "1.9377\u00a0±\u00a00.0022" in html
    assert "−4.12\u00a0±\u00a00.61" in html and "0.194" in html
    assert '<a href="/satellite/PHR1B/B3">B3</a>' in html


def test_alert_states_table_shows_state_and_escapes_message() -> None:
    from datetime import UTC, datetime

    from monitor.reports.context import AlertItem

    env = _environment()
    template = env.from_string('{% import "web/_macros.html" as m %}{{ m.alert_states(alerts) }}')
    opened = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)
    alerts = [
        AlertItem(id=7, kind="drift-rate", satellite="PHR1B", band="B3", method="STAR", state="open",
                  opened_at=opened, message="rate <b>-4.1</b> %/yr", value=-0.041, sigma=0.006,
                  closed_at=None, note=None),
        AlertItem(id=3, kind="drift-departure", satellite="PHR1A", band="P", method="STAR", state="closed",
                  opened_at=opened, message="old", value=0.01, sigma=0.002,
                  closed_at=datetime(2025, 3, 9, tzinfo=UTC), note=None),
    ]
    html = template.render(alerts=alerts)
    assert html.count('<tr class="alert">') == 1  # only the open one is highlighted
    assert "drift-rate" in html and "closed" in html and "2025-03-04 05:06" in html
    assert "&lt;b&gt;-4.1&lt;/b&gt;" in html and "<b>" not in html
    assert template.render(alerts=[]).strip() == ""


def test_ratio_table_has_the_pdfs_cells() -> None:
    """The PNEO3/PNEO4 table of the dashboard shows what the PDF's does (its own partial, the same
    filters), for rows with a ratio and without."""
    import re

    from monitor.reports.context import RatioRow
    from monitor.reports.render import make_environment

    rows = [RatioRow(band="NIR", ratio=0.97083, ratio_sigma=0.00412, n_pairs=3), RatioRow(band="B", n_pairs=0)]

    def cells(html: str) -> list[list[str]]:
        body = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
        assert body is not None
        return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
                for r in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]

    web = _environment().from_string('{% import "web/_macros.html" as m %}{{ m.ratio_table(rows) }}').render(rows=rows)
    pdf = make_environment().get_template("partials/_ratio.html").render(ctx=_RatioCtx(rows))
    assert cells(web) == cells(pdf)
    assert cells(web)[0] == ["NIR", "3", "0.9708\u00a0±\u00a00.0041"]


class _RatioCtx:
    def __init__(self, rows: list[object]) -> None:
        self.ratio_rows = rows


def test_figure_json_cannot_close_its_script_element() -> None:
    """Text from files inside a figure (an ACQ_ID, a star or GLOD observation name in the hover)
    is embedded as JSON in a <script type="application/json">: it cannot end that element nor open
    another, and it reads back unchanged."""
    import json
    import re

    hostile = '</script><script>alert("x")</script><!--'
    fig = {"data": [{"type": "scatter", "x": [1], "y": [2], "text": [hostile], "name": hostile}], "layout": {}}
    html = _environment().from_string('{% import "web/_macros.html" as m %}{{ m.chart("fig-x", fig) }}').render(fig=fig)
    assert html.count("</script>") == 1 and "<script>alert" not in html and "<!--" not in html
    body = re.search(r'<script type="application/json" class="plot-data" data-target="fig-x">(.*)</script>', html, re.S)
    assert body is not None and json.loads(body.group(1))["data"][0]["text"] == [hostile]
