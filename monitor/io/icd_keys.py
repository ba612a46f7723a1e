"""Typed, range-checked access to the header keys of the ICD (physical ranges ``*_RANGE*``)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
from astropy.io import fits

from monitor.domain import RejectReason
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.fits_structure import Hdu

__all__ = [
    "DARK_RANGE_DN",
    "GAINFACT_RANGE",
    "OVERSAMP_RANGE",
    "BINNING_RANGE",
    "PIXSCALE_RANGE_URAD",
    "LINEPER_RANGE_MS",
    "SATURATE_RANGE_DN",
    "BSCALE_RANGE",
    "BZERO_RANGE_DN",
    "FOCAL_RANGE_MM",
    "PIXPITCH_RANGE_UM",
    "NSAMP_RANGE",
    "ORBIT_RADIUS_RANGE_KM",
    "ORBIT_SPEED_RANGE_KM_S",
    "DATE_RANGE_YEARS",
]

# Physical ranges of header values (ICD 1.2 and 3): generous, but finite and plausible.
DARK_RANGE_DN = (-1e6, 1e6)  # DARK, DN per native pixel (12-bit detectors: 20-60 DN)


GAINFACT_RANGE = (0.0, 1000.0)  # GAINFACT, dimensionless, lower bound open (simulator: 1-4)

OVERSAMP_RANGE = (1.0, 64.0)  # OVERSAMP, dimensionless (simulator: 1-4)

BINNING_RANGE = (1, 1024)  # BINNING, native pixels summed along each axis (Moon: ~10-60)

PIXSCALE_RANGE_URAD = (0.0, 1000.0)  # PIXSCALE, urad, lower bound open (PHR PAN 1.008, MS 4.03)

LINEPER_RANGE_MS = (0.0, 1000.0)  # LINEPER, ms, lower bound open (PHR PAN 0.103, PNEO PAN 0.044)

SATURATE_RANGE_DN = (0.0, 1e7)  # SATURATE, DN, lower bound open (12-bit: 4095)

BSCALE_RANGE = (0.0, 1e6)  # BSCALE of integer images, DN per stored unit, lower bound open

BZERO_RANGE_DN = (-1e10, 1e10)  # BZERO, DN (uint16: 32768, uint32: 2147483648)

FOCAL_RANGE_MM = (0.0, 1e5)  # FOCAL, mm, lower bound open (PHR 12905 mm)

PIXPITCH_RANGE_UM = (0.0, 1000.0)  # PIXPITCH, um, lower bound open (PHR 13 um)

NSAMP_RANGE = (1, 1_000_000)  # NSAMP, detector samples (PHR PAN 30000)

ORBIT_RADIUS_RANGE_KM = (6500.0, 8000.0)  # |SC_POS|, km (PHR ~7072 km, PNEO ~6998 km)

ORBIT_SPEED_RANGE_KM_S = (6.5, 8.5)  # |SC_VEL|, km/s (circular LEO ~7.5 km/s)

DATE_RANGE_YEARS = (2000, 2100)

_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


class _Keys:
    """Typed, validated access to the keys of one HDU; errors name the HDU and key."""

    def __init__(self, hdu: Hdu, acq_id: str | None) -> None:
        self.hdu = hdu
        self.acq_id = acq_id

    def fail(self, reason: RejectReason, message: str) -> InvalidAcquisitionError:
        return InvalidAcquisitionError(reason, message, self.acq_id)

    def raw(self, key: str) -> Any:
        header = self.hdu.header
        if key not in header:
            raise self.fail(RejectReason.MISSING_KEY, f"required key {key} is missing from {self.hdu.label}")
        value = header[key]
        if isinstance(value, fits.card.Undefined) or value is None:
            raise self.fail(RejectReason.MISSING_KEY, f"key {key} of {self.hdu.label} has no value")
        return value

    def str_(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise self.fail(RejectReason.BAD_VALUE, f"key {key} of {self.hdu.label} must be a string, not {value!r}")
        value = value.strip()
        if not value:
            raise self.fail(RejectReason.BAD_VALUE, f"key {key} of {self.hdu.label} is an empty string")
        return value

    def float_(
        self,
        key: str,
        lo: float | None = None,
        hi: float | None = None,
        *,
        lo_open: bool = False,
        hi_open: bool = False,
        unit: str = "",
    ) -> float:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise self.fail(RejectReason.BAD_VALUE, f"key {key} of {self.hdu.label} must be a number, not {value!r}")
        x = float(value)
        bad = not math.isfinite(x)
        if lo is not None:
            bad |= x <= lo if lo_open else x < lo
        if hi is not None:
            bad |= x >= hi if hi_open else x > hi
        if bad:
            lo_s = "" if lo is None else (f"> {lo:g}" if lo_open else f">= {lo:g}")
            hi_s = "" if hi is None else (f"< {hi:g}" if hi_open else f"<= {hi:g}")
            rng = " and ".join(s for s in (lo_s, hi_s) if s) or "finite"
            raise self.fail(
                RejectReason.BAD_VALUE,
                f"key {key} of {self.hdu.label} is {value!r}{unit}; it must be {rng}",
            )
        return x

    def int_(self, key: str, lo: int | None = None, hi: int | None = None, default: int | None = None) -> int:
        if default is not None and key not in self.hdu.header:
            return default
        value = self.raw(key)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise self.fail(RejectReason.BAD_VALUE, f"key {key} of {self.hdu.label} must be an integer, not {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            rng = " and ".join(s for s in ("" if lo is None else f">= {lo}", "" if hi is None else f"<= {hi}") if s)
            raise self.fail(RejectReason.BAD_VALUE, f"key {key} of {self.hdu.label} is {value}; it must be {rng}")
        return int(value)

    def date(self, key: str) -> datetime:
        text = self.str_(key)
        parsed: datetime | None = None
        if _ISO_RE.match(text):
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                parsed = None
        if parsed is None:
            raise self.fail(
                RejectReason.BAD_VALUE,
                f"key {key} of {self.hdu.label} is {text!r}, not an ISO 8601 date and time "
                "like '2025-03-14T02:15:33.120'",
            )
        if parsed.tzinfo is not None:
            offset = parsed.utcoffset()
            if offset is None or offset.total_seconds() != 0:
                raise self.fail(RejectReason.BAD_VALUE, f"key {key} of {self.hdu.label} is {text!r}, not a UTC time")
        parsed = parsed.replace(tzinfo=UTC)
        if not DATE_RANGE_YEARS[0] <= parsed.year <= DATE_RANGE_YEARS[1]:
            raise self.fail(
                RejectReason.BAD_VALUE, f"key {key} of {self.hdu.label} is {text!r}, outside {DATE_RANGE_YEARS}"
            )
        return parsed
