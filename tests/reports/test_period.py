"""Report periods: months, ISO weeks, years, and the scheduled ``weekly``/``monthly``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.reports.period import ReportError, parse_period

NOW = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "key", "start", "end"),
    [
        ("2025-03", "2025-03", datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)),
        ("2024-12", "2024-12", datetime(2024, 12, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
        ("2025-W11", "2025-W11", datetime(2025, 3, 10, tzinfo=UTC), datetime(2025, 3, 17, tzinfo=UTC)),
        ("2026-W01", "2026-W01", datetime(2025, 12, 29, tzinfo=UTC), datetime(2026, 1, 5, tzinfo=UTC)),
        ("2025", "2025", datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
        # relative to NOW (Monday 2025-03-03): the previous ISO week and the previous month
        ("weekly", "2025-W09", datetime(2025, 2, 24, tzinfo=UTC), datetime(2025, 3, 3, tzinfo=UTC)),
        ("monthly", "2025-02", datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)),
    ],
)
def test_parse_period(text: str, key: str, start: datetime, end: datetime) -> None:
    p = parse_period(text, NOW)
    assert (p.key, p.start, p.end) == (key, start, end)


@pytest.mark.parametrize("text", ["2025-13", "2025-W54", "March", "25-03", "weekly-ish"])
def test_parse_period_refuses(text: str) -> None:
    with pytest.raises(ReportError):
        parse_period(text, NOW)
