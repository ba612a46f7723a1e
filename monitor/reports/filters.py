"""Jinja2 display filters of the report: number and time formatting, nothing else.

Every filter accepts ``None`` (and NaN for numbers) and returns :data:`MISSING` for it, so a
template never has to test for missing values just to print them. Times must be timezone-aware;
a naive ``datetime`` is a bug upstream and raises ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["MISSING", "sci", "num", "pct", "signed", "utc_iso", "utc_date", "utc_minute", "FILTERS"]

MISSING = "\u2014"  # em dash shown for a missing value


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def sci(value: float | None, digits: int = 4) -> str:
    """Scientific notation with ``digits`` significant figures: ``1.234e+02``."""
    if _missing(value):
        return MISSING
    return f"{value:.{max(digits - 1, 0)}e}"


def num(value: float | None, decimals: int = 3) -> str:
    """Fixed-point number: ``0.123``."""
    if _missing(value):
        return MISSING
    return f"{value:.{decimals}f}"


def signed(value: float | None, decimals: int = 2) -> str:
    """Fixed-point number with an explicit sign: ``+0.12`` / ``-0.12`` (Unicode minus)."""
    if _missing(value):
        return MISSING
    return f"{value:+.{decimals}f}".replace("-", "\u2212")


def pct(value: float | None, decimals: int = 2, *, ratio: bool = False, sign: bool = True) -> str:
    """Percentage: ``+1.23 %``.

    ``value`` is already in percent unless ``ratio=True`` (then 0.0123 -> ``+1.23 %``).
    """
    if _missing(value):
        return MISSING
    assert value is not None
    v = value * 100.0 if ratio else value
    text = signed(v, decimals) if sign else f"{v:.{decimals}f}"
    return f"{text}\u00a0%"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime in report context: {value!r}")
    return value.astimezone(UTC)


def utc_iso(value: datetime | None) -> str:
    """ISO 8601 UTC to the second: ``2026-11-23T07:00:00Z``."""
    if value is None:
        return MISSING
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_minute(value: datetime | None) -> str:
    """Readable UTC time to the minute: ``2026-11-23 07:00 UTC``."""
    if value is None:
        return MISSING
    return _utc(value).strftime("%Y-%m-%d %H:%M UTC")


def utc_date(value: datetime | None) -> str:
    """UTC calendar date: ``2026-11-23``."""
    if value is None:
        return MISSING
    return _utc(value).strftime("%Y-%m-%d")


FILTERS: dict[str, Callable[..., Any]] = {
    "sci": sci,
    "num": num,
    "signed": signed,
    "pct": pct,
    "utc_iso": utc_iso,
    "utc_minute": utc_minute,
    "utc_date": utc_date,
}
