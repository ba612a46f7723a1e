"""Shared vocabulary of the monitoring system: enums, frozen dataclasses and unit constants.

Everything here is plain data: no I/O, no database, no clock. The FITS readers build these
objects (``monitor.io``), the science functions consume them (``monitor.science``) and the
catalogue stores them (``monitor.catalogue``).

Conventions (ICD-1):
- angles in degrees unless the name says ``_rad``;
- positions in km, velocities in km/s (GCRS for SC_POS/SC_VEL);
- irradiances in W m^-2 um^-1, radiances in W m^-2 sr^-1 um^-1;
- A_k in DN / (W m^-2 sr^-1 um^-1);
- times are timezone-aware UTC ``datetime``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "ICD_VERSION",
    "REF_VERSION",
    "AU_KM",
    "MOON_MEAN_DISTANCE_KM",
    "MOON_SOLID_ANGLE_SR",
    "F_V0_W_M2_UM",
    "Mission",
    "Satellite",
    "AcqType",
    "BANDS_BY_MISSION",
    "MISSION_OF_SATELLITE",
    "STAR_SATELLITES",
    "MOON_SATELLITES",
    "DEFAULT_STAR_HALF_WIDTHS_PX",
    "BandHeader",
    "AcquisitionHeader",
    "GeomHeader",
    "RejectReason",
    "PhotometryStatus",
    "MoonStatus",
    "GeometryStatus",
    "printable_name",
]

ICD_VERSION = "ICD-1"
REF_VERSION = "REF-1"

AU_KM = 149_597_870.7  # km, IAU 2012
MOON_MEAN_DISTANCE_KM = 384_400.0  # km, ROLO reference distance (ICD 2.3)
MOON_SOLID_ANGLE_SR = 6.4177e-5  # sr, ROLO Omega_M (ICD 2.3)
F_V0_W_M2_UM = 3.631e-8  # W m^-2 um^-1, V = 0 flux (ICD 2.2)


class Mission(enum.StrEnum):
    PHR = "PHR"
    PNEO = "PNEO"


class Satellite(enum.StrEnum):
    PHR1A = "PHR1A"
    PHR1B = "PHR1B"
    PNEO3 = "PNEO3"
    PNEO4 = "PNEO4"


class AcqType(enum.StrEnum):
    STAR = "STAR"
    MOON = "MOON"
    GEOM = "GEOM"


BANDS_BY_MISSION: dict[Mission, tuple[str, ...]] = {
    Mission.PHR: ("P", "B0", "B1", "B2", "B3"),
    Mission.PNEO: ("P", "DB", "B", "G", "R", "RE", "NIR"),
}

MISSION_OF_SATELLITE: dict[Satellite, Mission] = {
    Satellite.PHR1A: Mission.PHR,
    Satellite.PHR1B: Mission.PHR,
    Satellite.PNEO3: Mission.PNEO,
    Satellite.PNEO4: Mission.PNEO,
}

STAR_SATELLITES = (Satellite.PHR1A, Satellite.PHR1B)
MOON_SATELLITES = (Satellite.PNEO3, Satellite.PNEO4)

# ICD 4: square half-widths h of the star extraction windows, native pixels.
DEFAULT_STAR_HALF_WIDTHS_PX: tuple[int, ...] = (2, 3, 5, 8, 12, 20)


class RejectReason(enum.StrEnum):
    """Short reason categories of ICD 5 (``measurements[].reason``)."""

    NOT_FITS = "not-fits"
    TRUNCATED = "truncated"
    MISSING_KEY = "missing-key"
    BAD_VALUE = "bad-value"
    UNKNOWN_BAND = "unknown-band"
    ALL_NAN = "all-nan"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"
    SATURATED = "saturated"
    NAN_IN_WINDOW = "nan-in-window"
    TRUNCATED_WINDOW = "off-centre"
    UNREADABLE = "unreadable"
    TOO_LARGE = "too-large"  # declared image or file size beyond the ingest limits
    NOT_A_FILE = "not-a-file"  # an inbox entry that is a symlink, FIFO, device, socket or directory


class PhotometryStatus(enum.StrEnum):
    """Verdict of the photometry of one star acquisition in one band (ICD 4)."""

    OK = "ok"
    REJECTED = "rejected"  # with its RejectReason


class MoonStatus(enum.StrEnum):
    """Verdict of the Moon measurement of one acquisition in one band."""

    OK = "ok"
    REJECTED = "rejected"  # with its RejectReason
    FLAGGED = "flagged"  # measured, but outside the ICD 2.3 phase-angle range: no calibration result


class GeometryStatus(enum.StrEnum):
    """Outcome of the stereo adjustment of one GEOM acquisition."""

    OK = "ok"
    FAILED = "failed"


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable_name(name: str) -> str:
    """``name`` with every non-printable character escaped, for logs and the catalogue.

    Control characters become ``\\n``, ``\\r``, ``\\t`` or ``\\xNN`` (ESC is ``\\x1b``, DEL
    ``\\x7f``); the surrogate escapes that Python gives to bytes that are not UTF-8 in a file name
    (``os.fsdecode``) become the byte they stand for (``"\\udcff"`` -> ``\\xff``); other
    non-printable code points (separators, format characters) become ``\\uNNNN`` or ``\\UNNNNNNNN``.
    Printable text, backslashes included, is unchanged, so the function is idempotent and its
    result is valid UTF-8 text.

    Parameters
    ----------
    name : str
        A file name (or any text).

    Returns
    -------
    str
        The same text, printable on one line.
    """
    if name.isprintable():
        return name
    out: list[str] = []
    for ch in name:
        code = ord(ch)
        if ch.isprintable():
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # surrogateescape of a non-UTF-8 byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


@dataclass(frozen=True)
class BandHeader:
    """Per-band image keywords of ICD 1.2 for one image HDU."""

    band: str
    shape: tuple[int, int]  # (rows, columns) = (along track, across track)
    dark_dn: float  # DN per native pixel
    gain_factor: float  # G, dimensionless
    oversamp: float  # o >= 1, along-track oversampling
    binning: int  # b >= 1, delivered pixel = sum of b x b native pixels
    pixscale_urad: float  # native pixel IFOV, microradians
    lineper_ms: float  # native line period, ms
    saturate_dn: float  # native-pixel saturation level, DN
    star_x: float | None = None  # predicted column (STAR only)
    star_y: float | None = None  # predicted row (STAR only)
    bunit: str = "DN"

    @property
    def pixel_solid_angle_sr(self) -> float:
        """Omega_pix = (PIXSCALE * 1e-6)^2, sr (ICD 1.3)."""
        return (self.pixscale_urad * 1e-6) ** 2


@dataclass(frozen=True)
class AcquisitionHeader:
    """Primary-header content of ICD 1.1, validated and converted (aware UTC, floats)."""

    acq_id: str
    mission: Mission
    satellite: Satellite
    acq_type: AcqType
    target: str
    date_obs: datetime  # aware UTC
    sc_pos_km: tuple[float, float, float]  # GCRS
    sc_vel_km_s: tuple[float, float, float]  # GCRS
    ra_deg: float | None
    dec_deg: float | None
    icd: str
    bands: tuple[BandHeader, ...] = field(default=())

    @property
    def hip(self) -> int | None:
        """Hipparcos number of a STAR target (``HIP <n>``), else None."""
        if self.acq_type is AcqType.STAR and self.target.upper().startswith("HIP "):
            return int(self.target.split()[1])
        return None


@dataclass(frozen=True)
class GeomHeader:
    """Extra primary keys of a GEOM file (ICD 3)."""

    focal_mm: float
    pixpitch_um: float
    nsamp: int
    lineper_ms: float
    t0_fore: datetime
    t0_aft: datetime
    pitch_fore_deg: float
    pitch_aft_deg: float

