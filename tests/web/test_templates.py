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
    assert "5.7989e+00" in html and "1.9e-02" in html and "−4.12\u00a0%" in html and "0.194" in html
    assert '<a href="/satellite/PHR1B/B3">B3</a>' in html
