"""Exceptions shared by the science functions (``monitor.science``).

Science functions raise these instead of returning sentinel values; the use-cases catch them and
record a rejected row with a reason (ICD 4/5). Every class also derives from ``ValueError`` so a
caller that only knows the standard library still catches bad input.
"""

from __future__ import annotations

__all__ = [
    "ScienceError",
    "InsufficientDataError",
    "InsufficientStarsError",
    "InsufficientBackgroundError",
    "AllNaNError",
]


class ScienceError(ValueError):
    """Base class of the errors raised by ``monitor.science`` on unusable input."""


class InsufficientDataError(ScienceError):
    """Too few (or degenerate) data points for the requested estimate, e.g. a drift fit."""


class InsufficientStarsError(InsufficientDataError):
    """Fewer stars than the minimum remain in a starpool after outlier rejection."""


class InsufficientBackgroundError(InsufficientDataError):
    """Too few valid pixels far from the star to estimate the background of a vignette."""


class AllNaNError(ScienceError):
    """An image (vignette) holds no finite pixel (ICD 5 reason ``all-nan``)."""
