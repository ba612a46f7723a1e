"""Exceptions shared by the science functions (``monitor.science``).

Science functions raise these instead of returning sentinel values; the use-cases catch them and
record a rejected row with a reason (ICD 4/5). Every class also derives from ``ValueError`` so a
caller that only knows the standard library still catches bad input.
"""

from __future__ import annotations

from monitor.domain import RejectReason

__all__ = [
    "ScienceError",
    "InsufficientDataError",
    "InsufficientStarsError",
    "InsufficientBackgroundError",
    "AllNaNError",
    "MoonPhotometryError",
    "MoonNotFoundError",
    "MoonTruncatedError",
    "MoonNaNOnDiskError",
    "MoonSaturatedError",
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


class MoonPhotometryError(ScienceError):
    """A band image cannot give a Moon measurement; ``reason`` is the ICD 5 category."""

    reason: RejectReason = RejectReason.BAD_VALUE


class MoonNotFoundError(MoonPhotometryError):
    """No lunar disk above the sky background."""


class MoonTruncatedError(MoonPhotometryError):
    """The disk touches or leaves the frame (its fitted limb plus a minimal margin does not fit)."""

    reason = RejectReason.MOON_TRUNCATED


class MoonNaNOnDiskError(MoonPhotometryError):
    """Missing (NaN) pixels on the lunar disk."""

    reason = RejectReason.NAN_IN_WINDOW


class MoonSaturatedError(MoonPhotometryError):
    """A pixel of the Moon reaches the native saturation level."""

    reason = RejectReason.SATURATED
