"""Report periods.

``"2025-03"`` (calendar month), ``"2025-W11"`` (ISO week), ``"2025"`` (year), or relative to ``now``:
``"weekly"`` (the ISO week before the current one) and ``"monthly"`` (the previous calendar month).
The trend figures show the results of the :data:`monitor.reports.view.HISTORY` before the period end; tables of
what happened (rejected inputs, geometry, outliers) show the period only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

__all__ = [
    "ReportError",
    "Period",
    "parse_period",
]

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


class ReportError(RuntimeError):
    """A report cannot be made or sent as asked (bad period, nothing to send to...)."""


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
