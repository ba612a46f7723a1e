"""The report's view model, read from a catalogue written row by row (tests/catalogue/rows.py).

The view model reads the catalogue with one query per kind of row for the whole report (the
first version made one query per band and direction: 209 for the demo's four satellites); the
number of queries must not grow with the satellites, bands or periods. The content checks say
which versions and which rows the report shows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from monitor.reports.period import parse_period
from monitor.reports.view import build_context
from monitor.settings import load_settings
from tests.catalogue import rows

NOW = datetime(2025, 5, 3, tzinfo=UTC)
MAX_QUERIES = 14  # starpool results, drifts, alerts, MTF, traces (2), Moon, geometry, refused (2), run versions,
# the in-trend Moon series of PNEO3/PNEO4 (geometry-matched ratio), the GLOD lunar comparisons, the count of
# acquisitions dated in the period (the cover says when there is none)


@pytest.mark.parametrize("period", ["2025-02", "2025", "2025-W07"])
def test_one_query_per_kind_of_row(example_catalogue: tuple[Session, rows.Example], tmp_path: Path,
                                   period: str) -> None:
    session, _ = example_catalogue
    settings = load_settings(tmp_path / "site", env={})
    queries: list[str] = []
    engine = session.get_bind()
    listener = lambda *args: queries.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        ctx = build_context(session, settings, parse_period(period, NOW), NOW)
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    assert len(queries) <= MAX_QUERIES, "\n\n".join(queries)
    assert {s.satellite for s in ctx.satellites} == {"PHR1A", "PHR1B", "PNEO3", "PNEO4"}


def test_february_shows_the_latest_versions_and_the_period_events(
        example_catalogue: tuple[Session, rows.Example], tmp_path: Path) -> None:
    session, _ = example_catalogue
    ctx = build_context(session, load_settings(tmp_path / "site", env={}), parse_period("2025-02", NOW), NOW)
    sec = {s.satellite: s for s in ctx.satellites}
    star = {(c.band, c.method): list(c.a) for c in sec["PHR1A"].calibration}
    assert star == {("P", "STAR"): [9.9, 10.0], ("B0", "STAR"): [8.1]}  # version 2 of the January P result
    summary = {(r.satellite, r.band, r.method): r for r in ctx.summary_rows}
    p = summary[("PHR1A", "P", "STAR")]
    assert p.a == 10.0 and p.drift_per_year == -0.011  # the newest linear fit, not the exponential one
    assert p.change_pct_since_previous == pytest.approx(100 * (10.0 / 9.9 - 1))
    assert p.mtf_nyquist_along == 0.11 and p.mtf_nyquist_across == 0.12  # parametric, latest version
    curve = next(c for c in sec["PHR1A"].mtf_curves if c.band == "P")
    assert curve.starpool == "PHR1A-2025-02" and curve.epsf_nyquist_along == 0.13
    # refused by processing in February: S2's B0 photometry; the March Moon rejection is not shown
    assert [(r.file, r.reason) for r in sec["PHR1A"].rejected] == [("PHR1A-S2 [B0]", "off-centre")]
    assert not sec["PNEO3"].rejected
    moon = {(m.acq_id, m.band): m for m in sec["PNEO3"].moon}
    assert moon[("PNEO3-M1", "B")].a == 5.0 and moon[("PNEO3-M1", "G")].flagged
    assert ("PNEO3-M2", "B") not in moon  # rejected, and after the period
    # PNEO3-M1 and PNEO4-M3 have no phase angle: no pair at similar geometry, so no PNEO3/PNEO4 ratio
    # (never the ratio of the two latest values; the matched ratio: tests/reports/test_lunar_report.py)
    assert ctx.ratio_rows == []
    assert [g.acq_id for g in sec["PHR1A"].geometry] == ["PHR1A-G1"]
    assert sec["PHR1A"].provenance.code_versions == ["test (ICD-1, REF-1)"]
    assert "PHR1A-S1" in sec["PHR1A"].provenance.acquisition_ids
