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

__all__ = ["MISSING", "sci", "num", "pct", "signed", "pm", "decimals_for", "utc_iso", "utc_date", "utc_minute",
           "FILTERS"]

MISSING = "\u2014"  # em dash shown for a missing value


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def sci(value: float | None, digits: int = 4) -> str:
    """Scientific notation with ``digits`` significant figures: ``1.234e+02``."""
    if _missing(value):
        return MISSING
    return f"{value:.{max(digits - 1, 0)}e}"


def num(value: float | None, decimals: int = 3) -> str:
    """Fixed-point number: ``0.123`` (negative with a Unicode minus, as every number of the report)."""
    if _missing(value):
        return MISSING
    return f"{value:.{decimals}f}".replace("-", "\u2212")


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


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
SIGMA_DIGITS = 2  # significant digits of an uncertainty; the value is rounded to the same decimal place


def decimals_for(sigma: float, digits: int = SIGMA_DIGITS) -> int:
    """Decimal places that show ``sigma`` with ``digits`` significant digits (negative: round to tens,
    hundreds...). ``decimals_for(0.0234) == 3``, ``decimals_for(23.4) == 0``, ``decimals_for(234) == -1``."""
    return digits - 1 - math.floor(math.log10(abs(sigma)))


def _fixed(value: float, decimals: int, sign: bool) -> str:
    if decimals < 0:  # round to tens, hundreds...: no decimal point
        value = round(value, decimals)
        decimals = 0
    text = f"{value:+.{decimals}f}" if sign else f"{value:.{decimals}f}"
    return text.replace("-", "\u2212")


def pm(value: float | None, sigma: float | None = None, unit: str = "", *, scale: float = 1.0,
       sign: bool = False, digits: int = SIGMA_DIGITS) -> str:
    """``value ± sigma`` with the uncertainty to ``digits`` significant digits and the value rounded
    to the same decimal place: ``pm(1234.5678, 2.345) == "1234.6 ± 2.3"``.

    The one number format of the report for a measured value: tables, captions, figure legends and
    the e-mail all use it. ``scale`` multiplies both (100 for a ratio shown in percent), ``sign``
    prints an explicit sign (drifts, changes), ``unit`` is appended after a no-break space. Without
    a usable ``sigma`` (None, NaN, 0) the value is shown with 4 significant digits. Values of 10⁶ or
    more, or below 10⁻³, are written ``(m ± s)×10ᵉ`` with the same rule applied to the mantissa.
    """
    if _missing(value):
        return MISSING
    assert value is not None
    v = value * scale
    suffix = f"\u00a0{unit}" if unit else ""
    if _missing(sigma) or sigma == 0 or not math.isfinite(v):
        text = f"{v:+.4g}" if sign else f"{v:.4g}"
        return text.replace("-", "\u2212") + suffix
    assert sigma is not None
    s = abs(sigma * scale)
    exponent = 0
    magnitude = max(abs(v), s)
    if magnitude >= 1e6 or magnitude < 1e-3:
        exponent = math.floor(math.log10(magnitude))
        v, s = v / 10.0**exponent, s / 10.0**exponent
    d = decimals_for(s, digits)
    text = f"{_fixed(v, d, sign)}\u00a0±\u00a0{_fixed(s, d, False)}"
    if exponent:
        text = f"({text})\u00d710{str(exponent).translate(_SUPERSCRIPT)}"
    return text + suffix


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
    "pm": pm,
    "utc_iso": utc_iso,
    "utc_minute": utc_minute,
    "utc_date": utc_date,
}
