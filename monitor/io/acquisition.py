"""Validation of ICD-1 acquisition files (FITS, optionally gzip-compressed).

Every file is validated once, from its headers, before anything else touches it: its structure
and sizes (:mod:`monitor.io.fits_structure`), then its keys. Primary keys of ICD 1.1, image keys
of ICD 1.2 (STAR, MOON) and GEOM keys and tables of ICD 3 are checked for presence
(``MISSING_KEY``), type and physical range (``BAD_VALUE``), as the key tables of
:mod:`monitor.io.icd_keys` state them, band names (``UNKNOWN_BAND``), ``TARGET`` against
``ACQTYPE``, and the tables ``EPHEM`` and ``GCP`` (:mod:`monitor.io.tables`).
:func:`validate_acquisition` (ingest) walks the file once, however many bands it holds, and
applies the caller's rule on the target (the reference star list is not io's business).

The GEOM keys are returned by a separate function, :func:`read_geom_header`, so that
:func:`read_acquisition_header` has one return type for every acquisition type; both validate
the whole file.

Conventions the ICD leaves open and this validation fixes:

- Those of the keys (``TIMESYS``, ``DATE-OBS``, ``BINNING``...): see :mod:`monitor.io.icd_keys`.
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
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.domain import BANDS_BY_MISSION, AcqType, AcquisitionHeader, BandHeader, GeomHeader, RejectReason
from monitor.io.errors import InvalidAcquisitionError, shown_name
from monitor.io.fits_structure import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_MOON_BAND_PIXELS,
    DEFAULT_MAX_STAR_BAND_PIXELS,
    Hdu,
    Limits,
    padded,
    scan,
)
from monitor.io.icd_keys import BAND_KEYS, BAND_NAME, GEOM_KEYS, PRIMARY_KEYS, check_keys, domain_fields
from monitor.io.pixels import check_any_band_holds_data
from monitor.io.tables import validate_ephem, validate_gcp

__all__ = ["TargetCheck", "read_acquisition_header", "read_geom_header", "validate_acquisition"]

TargetCheck = Callable[[AcquisitionHeader], "str | None"]  # why a file's target is refused, or None

_HIP_RE = re.compile(r"^HIP\s+(\d+)$")


@dataclass(frozen=True)
class _Validated:
    header: AcquisitionHeader
    geom: GeomHeader | None
    hdus: tuple[Hdu, ...]


def _validate_primary(hdu: Hdu, check_target: TargetCheck | None) -> AcquisitionHeader:
    """The keys of ICD 1.1 (:data:`PRIMARY_KEYS`), then the target that ``ACQTYPE`` names."""
    acq_id_raw = hdu.header.get("ACQ_ID")
    acq_id = (acq_id_raw.strip() or None) if isinstance(acq_id_raw, str) else None
    v = check_keys(hdu, PRIMARY_KEYS, acq_id)
    header = AcquisitionHeader(
        **domain_fields(PRIMARY_KEYS, v),
        sc_pos_km=(v["SC_POSX"], v["SC_POSY"], v["SC_POSZ"]),
        sc_vel_km_s=(v["SC_VELX"], v["SC_VELY"], v["SC_VELZ"]),
    )
    problem = _target_problem(header)
    if problem is None and check_target is not None:
        problem = check_target(header)
    if problem is not None:
        raise InvalidAcquisitionError(RejectReason.BAD_VALUE, problem, acq_id)
    return header


def _target_problem(header: AcquisitionHeader) -> str | None:
    """``TARGET`` names what ``ACQTYPE`` says (ICD 1.1): ``HIP <n>`` for a STAR, ``MOON`` for a
    MOON acquisition, a site name for GEOM."""
    target = header.target
    if header.acq_type is AcqType.STAR and _HIP_RE.match(target) is None:
        return f"TARGET of a STAR acquisition is {target!r}; expected 'HIP <number>'"
    if header.acq_type is AcqType.MOON and target.upper() != "MOON":
        return f"TARGET of a MOON acquisition is {target!r}; expected 'MOON'"
    return None


def _validate_band(hdu: Hdu, acq: AcquisitionHeader) -> BandHeader:
    """The band name (``EXTNAME``, one of the mission's bands), then the keys of ICD 1.2
    (:data:`BAND_KEYS`)."""
    if "EXTNAME" not in hdu.header:
        raise InvalidAcquisitionError(
            RejectReason.MISSING_KEY, f"image {hdu.label} has no EXTNAME (the band name)", acq.acq_id
        )
    band = check_keys(hdu, (BAND_NAME,), acq.acq_id)["EXTNAME"]
    allowed = BANDS_BY_MISSION[acq.mission]
    if band not in allowed:
        raise InvalidAcquisitionError(
            RejectReason.UNKNOWN_BAND,
            f"image {hdu.label} is band {band!r}, which is not a {acq.mission.value} band {list(allowed)}",
            acq.acq_id,
        )
    v = check_keys(hdu, BAND_KEYS, acq.acq_id, acq.acq_type)
    return BandHeader(band=band, shape=(v["NAXIS2"], v["NAXIS1"]), **domain_fields(BAND_KEYS, v))


def _validate_geom_keys(hdu: Hdu, acq_id: str) -> GeomHeader:
    """The keys of ICD 3 in the primary HDU of a GEOM file (:data:`GEOM_KEYS`)."""
    return GeomHeader(**domain_fields(GEOM_KEYS, check_keys(hdu, GEOM_KEYS, acq_id)))


def _ends_on_hdu_boundary(hdus: Sequence[Hdu], name: str, missing: str, acq_id: str) -> InvalidAcquisitionError:
    """The refusal of a file that lacks what our writer puts after its last HDU: a cut exactly on an
    HDU boundary leaves a structurally complete file (no ``NEXTEND`` to tell), so it is reported as
    truncated."""
    last = hdus[-1]
    return InvalidAcquisitionError(
        RejectReason.TRUNCATED,
        f"{name} ends right after {last.label} (byte {last.data_offset + padded(last.data_bytes)}) without "
        f"{missing}: the file is truncated on an HDU boundary (or was written without it)",
        acq_id,
    )


def _validate(
    path: Path, limits: Limits | None = None, data: bytes | None = None, check_target: TargetCheck | None = None
) -> _Validated:
    path = Path(path)
    name = shown_name(path)
    hdus = scan(path, limits, data)
    acq = _validate_primary(hdus[0], check_target)
    tables: dict[str, Hdu] = {}
    images: list[Hdu] = []
    for hdu in hdus[1:]:
        if hdu.kind == "IMAGE":
            images.append(hdu)
        elif hdu.kind == "BINTABLE" and hdu.extname is not None:
            name_t = hdu.extname.upper()
            if name_t in tables and name_t in ("EPHEM", "GCP"):
                raise InvalidAcquisitionError(RejectReason.BAD_VALUE, f"{name} holds two {name_t} tables", acq.acq_id)
            tables[name_t] = hdu
    if acq.acq_type is AcqType.GEOM:
        geom = _validate_geom_keys(hdus[0], acq.acq_id)
        _validate_geom_tables(path, hdus, tables, acq.acq_id, geom.nsamp, data)
        return _Validated(acq, geom, tuple(hdus))
    if len(hdus) == 1:
        raise _ends_on_hdu_boundary(
            hdus, name, f"any image HDU (a {acq.acq_type.value} file holds bands)", acq.acq_id
        )
    if not images:
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE, f"{acq.acq_type.value} file {name} has no image HDU", acq.acq_id
        )
    bands: list[BandHeader] = []
    for hdu in images:
        band = _validate_band(hdu, acq)
        if any(b.band == band.band for b in bands):
            raise InvalidAcquisitionError(
                RejectReason.BAD_VALUE, f"band {band.band!r} appears twice ({hdu.label})", acq.acq_id
            )
        bands.append(band)
    if "EPHEM" in tables:
        validate_ephem(path, tables["EPHEM"], acq.acq_id, data)
    return _Validated(dataclasses.replace(acq, bands=tuple(bands)), None, tuple(hdus))


def _validate_geom_tables(
    path: Path, hdus: Sequence[Hdu], tables: dict[str, Hdu], acq_id: str, nsamp: int, data: bytes | None
) -> None:
    """A GEOM file holds an ``EPHEM`` and a ``GCP`` table (ICD 3), whose values are checked."""
    last = (hdus[-1].extname or "").upper() if len(hdus) > 1 else None
    if "GCP" not in tables and last in (None, "EPHEM"):  # the writer's order: EPHEM, then GCP
        raise _ends_on_hdu_boundary(hdus, shown_name(path), "the binary table HDU GCP that a GEOM file needs", acq_id)
    for table in ("EPHEM", "GCP"):
        if table not in tables:
            raise InvalidAcquisitionError(
                RejectReason.MISSING_KEY, f"a GEOM file needs a binary table HDU {table}", acq_id
            )
    validate_ephem(path, tables["EPHEM"], acq_id, data)
    validate_gcp(path, tables["GCP"], acq_id, nsamp, data)


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
        A ``*.fits`` or ``*.fits.gz`` file of ACQTYPE GEOM.

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
    check_target: TargetCheck | None = None,
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
    check_target : callable, optional
        A rule of the caller on the file's target, called with the primary header once its keys
        passed (``TARGET`` of a STAR file is ``HIP <n>``): returns why the file is refused
        (``BAD_VALUE``), or None. The ingest passes the reference star list's rule
        (:func:`monitor.reference_stars.star_target_problem`); io knows no star list.

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
    validated = _validate(path, limits, data, check_target)
    if validated.geom is None:
        check_any_band_holds_data(path, validated.hdus, data)
    return validated.header, validated.geom
