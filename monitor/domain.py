"""Shared vocabulary of the monitoring system: enums and frozen dataclasses.

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
from typing import Any

__all__ = [
    "ICD_VERSION",
    "REF_VERSION",
    "REF2_VERSION",
    "STAR_MODELS",
    "REFERENCE_TABLES_VERSION",
    "REF1_STAR_NOTE",
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
    "GlodChannel",
    "GlodObservation",
    "EARTH_FIXED_FRAMES",
    "INERTIAL_FRAMES",
]

ICD_VERSION = "ICD-1"
REF_VERSION = "REF-1"  # the REF-1 star model (ICD 2.2) and the lunar model (ICD 2.3)
REF2_VERSION = "REF-2"  # the REF-2 star model (ICD 2.2b): library template on the CALSPEC Vega zero point
STAR_MODELS = (REF_VERSION, REF2_VERSION)
REF1_STAR_NOTE = ("REF-1 star model: black-body spectra at the colour temperature (ICD 2.2), biased by several % "
                  "per band on real stars; configure [reference] star_library for REF-2 (ICD 2.2b)")
REFERENCE_TABLES_VERSION = "REF-2"  # version of the tables shipped in monitor/reference_data (its README)


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

# ICD 6: names of the observer-position frames of GLOD files (sat_pos_ref)
EARTH_FIXED_FRAMES = frozenset({"ITRF93", "ITRF", "ITRS", "ECEF", "IAU_EARTH", "EARTH_FIXED"})
INERTIAL_FRAMES = frozenset({"J2000", "GCRS", "EME2000", "ICRF", "ICRS"})

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
    OFF_CENTRE = "off-centre"
    UNREADABLE = "unreadable"
    TOO_LARGE = "too-large"  # declared image or file size beyond the ingest limits
    NOT_A_FILE = "not-a-file"  # an inbox entry that is a symlink, FIFO, device, socket or directory
    MOON_TRUNCATED = "moon-truncated"  # the lunar disk touches or leaves the frame
    UNKNOWN_INSTRUMENT = "unknown-instrument"  # a GLOD file of an instrument without a configured SRF
    NOT_NETCDF = "not-netcdf"  # a *.nc inbox file that is not a readable netCDF-4/HDF5 or classic file


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



@dataclass(frozen=True, eq=False)
class GlodChannel:
    """One channel of a GSICS lunar observation (GLOD) file (ICD 6); None where the file has the fill
    value or lacks the optional variable.

    ``imagette_dn`` is the Moon imagette in digital counts (rows, columns), NaN where the file has
    its fill value; ``offset_dn`` the deep-space offset per pixel; ``dc_obs`` the file's integrated
    counts; ``pixel_solid_angle_sr`` the solid angle of one imagette pixel; ``oversampling`` the
    oversampling factor; ``irr_obs_w_m2_um`` the observed irradiance, W m^-2 um^-1.
    """

    name: str
    imagette_dn: Any  # NDArray[np.float64] (rows, columns) or None; typed loosely to keep numpy out of domain
    offset_dn: float | None
    dc_obs: float | None
    moon_pix_num: int | None
    moon_pix_thld: float | None
    pixel_solid_angle_sr: float | None
    oversampling: float | None
    irr_obs_w_m2_um: float | None


@dataclass(frozen=True, eq=False)
class GlodObservation:
    """A GLOD lunar observation (ICD 6): instrument, time, observer position and channels."""

    instrument: str
    date_obs: datetime  # aware UTC
    sat_pos_km: tuple[float, float, float]  # in the frame ``sat_pos_ref``
    sat_pos_ref: str
    channels: tuple[GlodChannel, ...]
    attributes: dict[str, str] = field(default_factory=dict)  # global attributes (text), for provenance

    @property
    def observation_id(self) -> str:
        """``<instrument> <UTC time>``: what identifies an observation in the catalogue."""
        return f"{self.instrument} {self.date_obs:%Y-%m-%dT%H:%M:%S.%fZ}"
