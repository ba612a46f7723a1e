"""Validation of ICD-1 acquisition files (FITS, optionally gzip-compressed).

Every file is validated once, from its headers, before anything else touches it: its structure
and sizes (:mod:`monitor.io.fits_structure`), then its keys. Primary keys of ICD 1.1, image keys
of ICD 1.2 (STAR, MOON) and GEOM keys and tables of ICD 3 are checked for presence
(``MISSING_KEY``), type and physical range (``BAD_VALUE``; ranges are the constants ``*_RANGE*``
of :mod:`monitor.io.icd_keys`), band names (``UNKNOWN_BAND``). :func:`validate_acquisition`
(ingest) walks the file once, however many bands it holds.

The GEOM keys are returned by a separate function, :func:`read_geom_header`, so that
:func:`read_acquisition_header` has one return type for every acquisition type; both validate
the whole file.

Conventions the ICD leaves open and this validation fixes:

- ``TIMESYS`` may be absent (the FITS default is UTC); when present it must be ``UTC``.
  ``DATE-OBS`` must be ISO 8601 with a ``T`` and a time; a ``Z`` or ``+00:00`` suffix is accepted,
  any other offset is refused.
- ``BINNING`` may be absent (ICD 1.2: default 1).
- A file with two image HDUs of the same band is ``BAD_VALUE``. A STAR or MOON file that ends
  right after its primary HDU, and a GEOM file that ends before its ``GCP`` table (after the
  primary HDU or after ``EPHEM``, the order our writer uses), are ``TRUNCATED``: a cut on an HDU
  boundary leaves no missing byte, and the writer does not set ``NEXTEND``. Other files without an
  image HDU (STAR, MOON) are ``BAD_VALUE``; a cut after a complete band HDU cannot be told from a
  file carrying a subset of the bands (ICD 1.2) without ``NEXTEND``.
- Image HDUs of a GEOM file and table HDUs other than ``EPHEM``/``GCP`` are ignored (but bounded).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.domain import (
    BANDS_BY_MISSION,
    ICD_VERSION,
    MISSION_OF_SATELLITE,
    AcqType,
    AcquisitionHeader,
    BandHeader,
    GeomHeader,
    Mission,
    RejectReason,
    Satellite,
)
from monitor.io.errors import InvalidAcquisitionError, shown_name
from monitor.io.fits_structure import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_MOON_BAND_PIXELS,
    DEFAULT_MAX_STAR_BAND_PIXELS,
    Hdu,
    Limits,
    open_stream,
    padded,
    scan,
)
from monitor.io.icd_keys import (
    BINNING_RANGE,
    BSCALE_RANGE,
    BZERO_RANGE_DN,
    DARK_RANGE_DN,
    FOCAL_RANGE_MM,
    GAINFACT_RANGE,
    LINEPER_RANGE_MS,
    NSAMP_RANGE,
    ORBIT_RADIUS_RANGE_KM,
    ORBIT_SPEED_RANGE_KM_S,
    OVERSAMP_RANGE,
    PIXPITCH_RANGE_UM,
    PIXSCALE_RANGE_URAD,
    SATURATE_RANGE_DN,
    _Keys,
)
from monitor.io.pixels import _all_nan_error, _can_hold_nan, _is_all_nan
from monitor.io.reference_data import load_star_catalogue
from monitor.io.tables import validate_ephem, validate_gcp

__all__ = ["STAR_POINTING_TOLERANCE_DEG", "read_acquisition_header", "read_geom_header", "validate_acquisition"]

STAR_POINTING_TOLERANCE_DEG = 1.0  # RA_TARG/DEC_TARG vs. the catalogue position of the star

_HIP_RE = re.compile(r"^HIP\s+(\d+)$")


@dataclass(frozen=True)
class _Validated:
    header: AcquisitionHeader
    geom: GeomHeader | None
    hdus: tuple[Hdu, ...]


def _angle_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    r1, d1, r2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    c = math.sin(d1) * math.sin(d2) + math.cos(d1) * math.cos(d2) * math.cos(r1 - r2)
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def _vector(keys: _Keys, prefix: str, rng: tuple[float, float], what: str, unit: str) -> tuple[float, ...]:
    vec = tuple(keys.float_(f"{prefix}{axis}") for axis in "XYZ")
    norm = math.sqrt(sum(v * v for v in vec))
    if not rng[0] <= norm <= rng[1]:
        raise keys.fail(
            RejectReason.BAD_VALUE,
            f"{what} ({prefix}X, {prefix}Y, {prefix}Z) of the primary HDU has magnitude {norm:.1f} {unit}, "
            f"outside the plausible range {rng[0]:g}-{rng[1]:g} {unit} for a low Earth orbit",
        )
    return vec


def _validate_primary(hdu: Hdu) -> tuple[AcquisitionHeader, _Keys]:
    acq_id_raw = hdu.header.get("ACQ_ID")
    acq_id = (acq_id_raw.strip() or None) if isinstance(acq_id_raw, str) else None
    keys = _Keys(hdu, acq_id)
    acq_id = keys.str_("ACQ_ID")
    if any(c.isspace() for c in acq_id):
        raise keys.fail(RejectReason.BAD_VALUE, f"ACQ_ID {acq_id!r} contains white space")
    icd = keys.str_("ICD")
    if icd != ICD_VERSION:
        raise keys.fail(RejectReason.BAD_VALUE, f"ICD is {icd!r}; this system reads {ICD_VERSION!r} files only")
    mission_s = keys.str_("MISSION")
    try:
        mission = Mission(mission_s)
    except ValueError:
        raise keys.fail(
            RejectReason.BAD_VALUE, f"MISSION is {mission_s!r}; expected one of {[m.value for m in Mission]}"
        ) from None
    sat_s = keys.str_("SATELLIT")
    try:
        satellite = Satellite(sat_s)
    except ValueError:
        raise keys.fail(
            RejectReason.BAD_VALUE, f"SATELLIT is {sat_s!r}; expected one of {[s.value for s in Satellite]}"
        ) from None
    if MISSION_OF_SATELLITE[satellite] is not mission:
        raise keys.fail(
            RejectReason.BAD_VALUE,
            f"SATELLIT {sat_s!r} does not belong to MISSION {mission_s!r} "
            f"(it is a {MISSION_OF_SATELLITE[satellite].value} satellite)",
        )
    type_s = keys.str_("ACQTYPE")
    try:
        acq_type = AcqType(type_s)
    except ValueError:
        raise keys.fail(
            RejectReason.BAD_VALUE, f"ACQTYPE is {type_s!r}; expected one of {[t.value for t in AcqType]}"
        ) from None
    target = keys.str_("TARGET")
    date_obs = keys.date("DATE-OBS")
    if "TIMESYS" in hdu.header:
        timesys = keys.str_("TIMESYS")
        if timesys.upper() != "UTC":
            raise keys.fail(
                RejectReason.BAD_VALUE, f"TIMESYS is {timesys!r}; DATE-OBS must be given in UTC (TIMESYS = 'UTC')"
            )
    pos = _vector(keys, "SC_POS", ORBIT_RADIUS_RANGE_KM, "the satellite position", "km")
    vel = _vector(keys, "SC_VEL", ORBIT_SPEED_RANGE_KM_S, "the satellite velocity", "km/s")
    ra: float | None = None
    dec: float | None = None
    if acq_type is not AcqType.GEOM or "RA_TARG" in hdu.header or "DEC_TARG" in hdu.header:
        ra = keys.float_("RA_TARG", 0.0, 360.0, hi_open=True, unit=" deg")
        dec = keys.float_("DEC_TARG", -90.0, 90.0, unit=" deg")
    if acq_type is AcqType.STAR:
        m = _HIP_RE.match(target)
        if m is None:
            raise keys.fail(
                RejectReason.BAD_VALUE, f"TARGET of a STAR acquisition is {target!r}; expected 'HIP <number>'"
            )
        hip = int(m.group(1))
        catalogue = load_star_catalogue()
        try:
            row = catalogue.index_of(hip)
        except KeyError:
            raise keys.fail(
                RejectReason.BAD_VALUE,
                f"TARGET {target!r} is not in the reference star list (REF-1 stars.csv)",
            ) from None
        assert ra is not None and dec is not None
        sep = _angle_deg(ra, dec, float(catalogue.ra_deg[row]), float(catalogue.dec_deg[row]))
        if sep > STAR_POINTING_TOLERANCE_DEG:
            raise keys.fail(
                RejectReason.BAD_VALUE,
                f"RA_TARG/DEC_TARG ({ra:.4f}, {dec:.4f}) is {sep:.2f} deg away from {target} in the reference "
                f"star list (tolerance {STAR_POINTING_TOLERANCE_DEG:g} deg)",
            )
    elif acq_type is AcqType.MOON and target.upper() != "MOON":
        raise keys.fail(RejectReason.BAD_VALUE, f"TARGET of a MOON acquisition is {target!r}; expected 'MOON'")
    header = AcquisitionHeader(
        acq_id=acq_id,
        mission=mission,
        satellite=satellite,
        acq_type=acq_type,
        target=target,
        date_obs=date_obs,
        sc_pos_km=(pos[0], pos[1], pos[2]),
        sc_vel_km_s=(vel[0], vel[1], vel[2]),
        ra_deg=ra,
        dec_deg=dec,
        icd=icd,
    )
    return header, keys


def _validate_band(hdu: Hdu, acq: AcquisitionHeader) -> BandHeader:
    keys = _Keys(hdu, acq.acq_id)
    if "EXTNAME" not in hdu.header:
        raise keys.fail(RejectReason.MISSING_KEY, f"image {hdu.label} has no EXTNAME (the band name)")
    band = keys.str_("EXTNAME")
    allowed = BANDS_BY_MISSION[acq.mission]
    if band not in allowed:
        raise keys.fail(
            RejectReason.UNKNOWN_BAND,
            f"image {hdu.label} is band {band!r}, which is not a {acq.mission.value} band {list(allowed)}",
        )
    naxis = keys.int_("NAXIS")
    if naxis != 2:
        raise keys.fail(RejectReason.BAD_VALUE, f"image {hdu.label} has NAXIS = {naxis}; a band image is 2-D")
    nx, ny = keys.int_("NAXIS1"), keys.int_("NAXIS2")
    if nx < 1 or ny < 1:
        raise keys.fail(RejectReason.BAD_VALUE, f"image {hdu.label} is empty ({ny} rows x {nx} columns)")
    if keys.int_("PCOUNT", default=0) != 0 or keys.int_("GCOUNT", default=1) != 1:
        raise keys.fail(RejectReason.BAD_VALUE, f"image {hdu.label} has PCOUNT != 0 or GCOUNT != 1")
    bunit = keys.str_("BUNIT")
    if bunit.upper() != "DN":
        raise keys.fail(RejectReason.BAD_VALUE, f"BUNIT of {hdu.label} is {bunit!r}; expected 'DN'")
    _validate_scaling(keys, keys.int_("BITPIX"))
    star_x = star_y = None
    if acq.acq_type is AcqType.STAR:
        star_x = keys.float_("STARX", -3.5, nx + 2.5, unit=" px")
        star_y = keys.float_("STARY", -3.5, ny + 2.5, unit=" rows")
    return BandHeader(
        band=band,
        shape=(ny, nx),
        dark_dn=keys.float_("DARK", *DARK_RANGE_DN, unit=" DN"),
        gain_factor=keys.float_("GAINFACT", *GAINFACT_RANGE, lo_open=True),
        oversamp=keys.float_("OVERSAMP", *OVERSAMP_RANGE),
        binning=keys.int_("BINNING", *BINNING_RANGE, default=1),
        pixscale_urad=keys.float_("PIXSCALE", *PIXSCALE_RANGE_URAD, lo_open=True, unit=" urad"),
        lineper_ms=keys.float_("LINEPER", *LINEPER_RANGE_MS, lo_open=True, unit=" ms"),
        saturate_dn=keys.float_("SATURATE", *SATURATE_RANGE_DN, lo_open=True, unit=" DN"),
        star_x=star_x,
        star_y=star_y,
        bunit=bunit,
    )


def _validate_scaling(keys: _Keys, bitpix: int) -> None:
    """``BSCALE``/``BZERO`` (any image: the readers apply them) and ``BLANK`` (integer images:
    a stored value of the data type) are in range when present."""
    if "BSCALE" in keys.hdu.header:
        keys.float_("BSCALE", *BSCALE_RANGE, lo_open=True)
    if "BZERO" in keys.hdu.header:
        keys.float_("BZERO", *BZERO_RANGE_DN, unit=" DN")
    if bitpix > 0 and "BLANK" in keys.hdu.header:
        lo, hi = (0, 255) if bitpix == 8 else (-(1 << (bitpix - 1)), (1 << (bitpix - 1)) - 1)  # BITPIX 8: unsigned
        keys.int_("BLANK", lo, hi)


def _validate_geom_keys(keys: _Keys) -> GeomHeader:
    t0_fore = keys.date("T0_FORE")
    t0_aft = keys.date("T0_AFT")
    return GeomHeader(
        focal_mm=keys.float_("FOCAL", *FOCAL_RANGE_MM, lo_open=True, unit=" mm"),
        pixpitch_um=keys.float_("PIXPITCH", *PIXPITCH_RANGE_UM, lo_open=True, unit=" um"),
        nsamp=keys.int_("NSAMP", *NSAMP_RANGE),
        lineper_ms=keys.float_("LINEPER", *LINEPER_RANGE_MS, lo_open=True, unit=" ms"),
        t0_fore=t0_fore,
        t0_aft=t0_aft,
        pitch_fore_deg=keys.float_("PITCH_F", -80.0, 80.0, unit=" deg"),
        pitch_aft_deg=keys.float_("PITCH_A", -80.0, 80.0, unit=" deg"),
    )


def _ends_on_hdu_boundary(hdus: Sequence[Hdu], name: str, missing: str, keys: _Keys) -> InvalidAcquisitionError:
    """The refusal of a file that lacks what our writer puts after its last HDU: a cut exactly on an
    HDU boundary leaves a structurally complete file (no ``NEXTEND`` to tell), so it is reported as
    truncated."""
    last = hdus[-1]
    return keys.fail(
        RejectReason.TRUNCATED,
        f"{name} ends right after {last.label} (byte {last.data_offset + padded(last.data_bytes)}) without "
        f"{missing}: the file is truncated on an HDU boundary (or was written without it)",
    )


def _validate(path: Path, limits: Limits | None = None, data: bytes | None = None) -> _Validated:
    path = Path(path)
    name = shown_name(path)
    hdus = scan(path, limits, data)
    acq, keys = _validate_primary(hdus[0])
    tables: dict[str, Hdu] = {}
    images: list[Hdu] = []
    for hdu in hdus[1:]:
        if hdu.kind == "IMAGE":
            images.append(hdu)
        elif hdu.kind == "BINTABLE" and hdu.extname is not None:
            name_t = hdu.extname.upper()
            if name_t in tables and name_t in ("EPHEM", "GCP"):
                raise keys.fail(RejectReason.BAD_VALUE, f"{name} holds two {name_t} tables")
            tables[name_t] = hdu
    geom: GeomHeader | None = None
    bands: list[BandHeader] = []
    if acq.acq_type is AcqType.GEOM:
        geom = _validate_geom_keys(keys)
        last = (hdus[-1].extname or "").upper() if len(hdus) > 1 else None
        if "GCP" not in tables and last in (None, "EPHEM"):  # the writer's order: EPHEM, then GCP
            raise _ends_on_hdu_boundary(hdus, name, "the binary table HDU GCP that a GEOM file needs", keys)
        for table in ("EPHEM", "GCP"):
            if table not in tables:
                raise keys.fail(RejectReason.MISSING_KEY, f"a GEOM file needs a binary table HDU {table}")
        validate_ephem(path, tables["EPHEM"], acq.acq_id, data)
        validate_gcp(path, tables["GCP"], acq.acq_id, geom.nsamp, data)
    else:
        if len(hdus) == 1:
            raise _ends_on_hdu_boundary(hdus, name, f"any image HDU (a {acq.acq_type.value} file holds bands)", keys)
        if not images:
            raise keys.fail(RejectReason.BAD_VALUE, f"{acq.acq_type.value} file {name} has no image HDU")
        for hdu in images:
            band = _validate_band(hdu, acq)
            if any(b.band == band.band for b in bands):
                raise keys.fail(RejectReason.BAD_VALUE, f"band {band.band!r} appears twice ({hdu.label})")
            bands.append(band)
        if "EPHEM" in tables:
            validate_ephem(path, tables["EPHEM"], acq.acq_id, data)
    acq = dataclasses.replace(acq, bands=tuple(bands))
    return _Validated(acq, geom, tuple(hdus))


def read_acquisition_header(path: Path) -> AcquisitionHeader:
    """Validate an acquisition file and return its primary and band headers.

    The whole file structure is checked (every declared byte present, gzip streams decompressed
    in bounded memory, sizes within the default ingest limits ``DEFAULT_MAX_*``), then the keys of
    ICD 1.1, 1.2 (STAR/MOON) or 3 (GEOM, including the ``EPHEM`` and ``GCP`` tables). Image pixels
    are not read: call :func:`check_band_data` for the all-NaN test.

    Parameters
    ----------
    path : Path
        ``*.fits`` or ``*.fits.gz`` file (gzip is detected from the content, not the name).

    Returns
    -------
    AcquisitionHeader
        With ``date_obs`` an aware UTC datetime, ``bands`` one :class:`BandHeader` per image HDU
        in file order (empty for GEOM; use :func:`read_geom_header` for the GEOM keys).

    Raises
    ------
    InvalidAcquisitionError
        ``NOT_FITS``, ``TRUNCATED``, ``UNREADABLE``, ``MISSING_KEY``, ``BAD_VALUE``,
        ``UNKNOWN_BAND`` or ``TOO_LARGE``, with a one-line message naming the HDU, key and value.
    OSError
        The file cannot be read now (permissions, I/O error, not a regular file): not a verdict.
    """
    return _validate(Path(path), DEFAULT_LIMITS).header


def read_geom_header(path: Path) -> GeomHeader:
    """Validate a GEOM file (as :func:`read_acquisition_header`) and return its ICD 3 keys.

    Parameters
    ----------
    path : Path
        GEOM acquisition file.

    Returns
    -------
    GeomHeader
        ``FOCAL``, ``PIXPITCH``, ``NSAMP``, ``LINEPER``, ``T0_FORE``/``T0_AFT`` (aware UTC) and
        ``PITCH_F``/``PITCH_A``.

    Raises
    ------
    InvalidAcquisitionError
        As :func:`read_acquisition_header`; ``BAD_VALUE`` if the file is not a GEOM acquisition.
    """
    validated = _validate(Path(path), DEFAULT_LIMITS)
    if validated.geom is None:
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE,
            f"{shown_name(Path(path))} is a {validated.header.acq_type.value} acquisition, not GEOM",
            validated.header.acq_id,
        )
    return validated.geom


def validate_acquisition(
    path: Path,
    *,
    max_star_band_pixels: int = DEFAULT_MAX_STAR_BAND_PIXELS,
    max_moon_band_pixels: int = DEFAULT_MAX_MOON_BAND_PIXELS,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    data: bytes | None = None,
) -> tuple[AcquisitionHeader, GeomHeader | None]:
    """Validate an acquisition file completely, in one pass over its structure, for ingest.

    Equivalent to :func:`read_acquisition_header` (with these size limits), then
    :func:`read_geom_header` for a GEOM file and the all-NaN test of a STAR/MOON file, but the
    HDUs are walked once and the all-NaN test reads the images through one stream in file order
    (a ``.fits.gz`` is decompressed once), stopping at the first band that holds a number.

    Parameters
    ----------
    path : Path
        ``*.fits`` or ``*.fits.gz`` file (gzip is detected from the content, not the name).
    max_star_band_pixels : int
        Pixels allowed per image of a STAR (or GEOM) file, from its header (``[ingest]`` setting).
    max_moon_band_pixels : int
        Pixels allowed per image of a MOON file.
    max_file_bytes : int
        Declared size of the file (headers and padded data, after gzip decompression), bytes.
    data : bytes, optional
        The file's bytes, already read into memory: they are validated instead of the file (so
        that the ingest hashes and validates the same bytes, even if the file is changed in place
        meanwhile); ``path`` then only names the file in messages.

    Returns
    -------
    header : AcquisitionHeader
        As returned by :func:`read_acquisition_header`.
    geom : GeomHeader or None
        The ICD 3 keys of a GEOM file (as :func:`read_geom_header`); None for STAR and MOON.

    Raises
    ------
    InvalidAcquisitionError
        Any reason of :func:`read_acquisition_header`; ``TOO_LARGE`` beyond the limits (decided
        from the headers, before any data byte is read or decompressed); ``ALL_NAN`` when every
        pixel of every band is NaN. A file with at least one band holding a number is accepted:
        each band gets its own verdict in processing, as for saturation (ICD 1.2).
    OSError
        The file cannot be read now (permissions, I/O error, not a regular file): not a verdict.
    """
    path = Path(path)
    limits = Limits(max_star_band_pixels, max_moon_band_pixels, max_file_bytes)
    validated = _validate(path, limits, data)
    if validated.geom is not None:
        return validated.header, validated.geom
    images = [h for h in validated.hdus[1:] if h.kind == "IMAGE"]  # every one is a validated band
    if all(_can_hold_nan(h) for h in images):
        with open_stream(path, data) as stream:
            for hdu in images:  # file order: the gzip stream only moves forward
                if not _is_all_nan(stream, path, hdu):
                    return validated.header, None
        raise _all_nan_error(path, validated.hdus, images)
    return validated.header, None
