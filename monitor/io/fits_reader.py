"""Reader and validator of ICD-1 acquisition files (FITS, optionally gzip-compressed).

Every file is validated once, from its headers, before anything else touches it:

1. **Structure.** The file is walked HDU by HDU with a small reader of our own (2880-byte blocks,
   80-byte cards). Each header is parsed (a fast parser of plain fixed-format cards, else
   :class:`astropy.io.fits.Header`, whose lazily parsed values are all forced so that a card like
   ``DARK = 31.5.2`` is refused here as ``BAD_VALUE``), the declared data size is computed from
   ``BITPIX``, ``NAXISn``, ``PCOUNT`` and ``GCOUNT`` and skipped (``seek`` on a plain file,
   decompress-and-discard in 1 MiB chunks for ``.fits.gz``). A file that ends before the last
   declared byte (padding included) is refused whole as ``TRUNCATED``: this is the case astropy
   silently accepts (it returns the HDUs it could read, or a short data array). Memory use is
   bounded whatever the image size; images are never loaded by the validation.
2. **Bounds.** Every count read from a header is bounded before it drives a loop or an allocation
   (``NAXIS``, ``NAXISn``, ``TFIELDS``, header blocks, HDUs). Before any data byte is skipped or
   decompressed, the pixels of each image and the declared size of the whole file are compared with
   the ingest limits (:func:`validate_acquisition` arguments): beyond them the file is ``TOO_LARGE``
   (a small ``.fits.gz`` may declare gigabytes).
3. **Keys.** Primary keys of ICD 1.1, image keys of ICD 1.2 (STAR, MOON) and GEOM keys and tables
   of ICD 3 are checked for presence (``MISSING_KEY``), type and physical range (``BAD_VALUE``;
   ranges are the module constants ``*_RANGE*``), band names (``UNKNOWN_BAND``).

Only damaged data are verdicts: a corrupt or cut gzip stream is ``NOT_FITS``, ``UNREADABLE`` or
``TRUNCATED``; any other ``OSError`` (permissions, I/O errors, a FIFO or a directory instead of a
file) propagates unchanged, so that the caller leaves the work pending (``monitor.failures``).

Image pixels are read only by :func:`check_band_data` and :func:`validate_acquisition`
(all-NaN test, in row strips), :func:`read_band` and :func:`read_bands` (small images, star
vignettes). All apply ``BSCALE``/``BZERO`` and map integer ``BLANK`` pixels to NaN.
:func:`validate_acquisition` (ingest) and :func:`read_bands` (photometry) walk the file once,
however many bands it holds.

The GEOM keys are returned by a separate function, :func:`read_geom_header`, so that
:func:`read_acquisition_header` has one return type for every acquisition type; both validate
the whole file.

Conventions the ICD leaves open and this reader fixes:

- ``TIMESYS`` may be absent (the FITS default is UTC); when present it must be ``UTC``.
  ``DATE-OBS`` must be ISO 8601 with a ``T`` and a time; a ``Z`` or ``+00:00`` suffix is accepted,
  any other offset is refused.
- ``BINNING`` may be absent (ICD 1.2: default 1).
- A file with two image HDUs of the same band is ``BAD_VALUE``. A STAR or MOON file that ends
  right after its primary HDU, and a GEOM file that ends before its ``GCP`` table (after the
  primary HDU or after ``EPHEM``, the order our writer uses), are ``TRUNCATED``: a cut on an HDU
  boundary leaves no missing byte, and the writer does not set ``NEXTEND``. When ``NEXTEND`` is
  present, the number of extensions must match it (fewer: ``TRUNCATED``). Other files without an
  image HDU (STAR, MOON) are ``BAD_VALUE``; a cut after a complete band HDU cannot be told from a
  file carrying a subset of the bands (ICD 1.2) without ``NEXTEND``.
- A file is ``TRUNCATED`` when it ends inside a card, whatever the card (``SIMP``, ``XTEN``...).
  An empty file is ``NOT_FITS``.
- Image HDUs of a GEOM file and table HDUs other than ``EPHEM``/``GCP`` are ignored (but bounded).
- Bytes after the last HDU are refused (``BAD_VALUE``) unless they are all zero (at most
  ``MAX_TRAILING_BYTES``).
- The image pixel limit of a MOON file applies to its images; the STAR limit to every other file.
- A header holds printable ASCII only and FITS keywords only; a key given twice (commentary
  cards aside) is ``BAD_VALUE``: astropy sizes an HDU from the last ``BITPIX`` but looks values up
  from the first, so the readers of the processing would not see what the validation saw.
- An extension's ``XTENSION`` must be a string (a damaged one would make a band disappear).
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import math
import os
import re
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
from astropy.io import fits
from numpy.typing import NDArray

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
    printable_name,
)
from monitor.fsutil import CHUNK_BYTES, open_regular
from monitor.io.reference_data import load_star_catalogue

__all__ = [
    "check_structure",
    "InvalidAcquisitionError",
    "read_acquisition_header",
    "read_geom_header",
    "validate_acquisition",
    "check_band_data",
    "read_band",
    "read_bands",
    "read_ephem",
    "read_gcp",
    "ORBIT_RADIUS_RANGE_KM",
    "ORBIT_SPEED_RANGE_KM_S",
    "STAR_POINTING_TOLERANCE_DEG",
    "MIN_CONTROL_POINTS",
    "MIN_CHECK_POINTS",
    "EPHEM_COLUMNS",
    "GCP_COLUMNS",
    "DEFAULT_MAX_STAR_BAND_PIXELS",
    "DEFAULT_MAX_MOON_BAND_PIXELS",
    "DEFAULT_MAX_FILE_BYTES",
]

BLOCK_BYTES = 2880  # FITS logical record
CARD_BYTES = 80
STRIP_BYTES = 16 << 20  # image rows are read in strips of about this size

# Structural bounds, checked before a count drives a loop or an allocation.
MAX_HEADER_BLOCKS = 200  # blocks per header (7200 cards, 576 KB); ours have < 40 cards
MAX_HDUS = 64  # HDUs per file (primary + up to 7 bands + EPHEM + GCP, and room for extras)
MAX_NAXIS = 999  # axes per HDU (FITS 4.0 section 4.4.1.1)
MAX_AXIS_LENGTH = (1 << 31) - 1  # elements along one axis (NAXISn)
MAX_TFIELDS = 999  # columns per table (FITS 4.0 section 7.2.1)
MAX_TRAILING_BYTES = 1 << 20  # zero bytes tolerated after the last HDU, bytes

# Default size limits of the ingest (``[ingest]`` settings of the same names).
DEFAULT_MAX_STAR_BAND_PIXELS = 4_000_000  # pixels per band image of a STAR (or GEOM) file; vignettes <= 256 x 64
DEFAULT_MAX_MOON_BAND_PIXELS = 400_000_000  # pixels per band image of a MOON file; native PAN ~9000 x 20000
DEFAULT_MAX_FILE_BYTES = 16 << 30  # declared size of a file (headers + data, decompressed), bytes (16 GiB)

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
EPHEM_TIME_RANGE_S = (-86400.0, 86400.0)  # EPHEM T, s from DATE-OBS (simulator: +-50 s)
GCP_LINE_RANGE = (-0.5, 1e8)  # GCP LINE, 0-based image lines (1e8 lines of 0.1 ms = 2.8 h)

ORBIT_RADIUS_RANGE_KM = (6500.0, 8000.0)  # |SC_POS|, km (PHR ~7072 km, PNEO ~6998 km)
ORBIT_SPEED_RANGE_KM_S = (6.5, 8.5)  # |SC_VEL|, km/s (circular LEO ~7.5 km/s)
STAR_POINTING_TOLERANCE_DEG = 1.0  # RA_TARG/DEC_TARG vs. the catalogue position of the star
DATE_RANGE_YEARS = (2000, 2100)
MIN_CONTROL_POINTS = 3  # distinct CONTROL point ids in a GEOM file
MIN_CHECK_POINTS = 1  # distinct CHECK point ids in a GEOM file
EPHEM_COLUMNS = ("T", "X", "Y", "Z", "VX", "VY", "VZ")
GCP_COLUMNS = ("ID", "ROLE", "LAT", "LON", "H", "VIEW", "LINE", "SAMPLE")
_GCP_STR_COLUMNS = ("ID", "ROLE", "VIEW")
MAX_TABLE_BYTES = 64 << 20  # EPHEM/GCP tables are small; refuse anything absurd

_BITPIX_DTYPE = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_HIP_RE = re.compile(r"^HIP\s+(\d+)$")
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


class InvalidAcquisitionError(Exception):
    """An acquisition file that must be refused.

    Attributes
    ----------
    reason : RejectReason
        Category reported in ``measurements[].reason`` (ICD 5).
    message : str
        One sentence naming the HDU, key and value at fault.
    acq_id : str or None
        ``ACQ_ID`` of the file when it could be read, else None.
    """

    def __init__(self, reason: RejectReason, message: str, acq_id: str | None = None) -> None:
        message = printable_name(" ".join(message.splitlines()))  # always one printable line
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.acq_id = acq_id

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.message}"


# ---------------------------------------------------------------------------------------------
# Structure: walk the HDUs without loading data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hdu:
    index: int
    header: Mapping[str, Any]  # keyword -> value (astropy Header or the fast parser's dict)
    header_offset: int  # byte offset of the header in the (decompressed) stream
    data_offset: int  # byte offset of the data
    data_bytes: int  # declared data size, without padding

    @property
    def label(self) -> str:
        if self.index == 0:
            return "the primary HDU"
        name = self.header.get("EXTNAME")
        return f"HDU {self.index} (EXTNAME {name!r})" if name is not None else f"HDU {self.index}"

    @property
    def kind(self) -> str:
        if self.index == 0:
            return "PRIMARY"
        value = self.header.get("XTENSION", "")
        return str(value).strip().upper()

    @property
    def extname(self) -> str | None:
        value = self.header.get("EXTNAME")
        return str(value).strip() if isinstance(value, str) else None


@dataclass(frozen=True)
class _Limits:
    """Size limits of a validation (see :func:`validate_acquisition`)."""

    max_star_band_pixels: int = DEFAULT_MAX_STAR_BAND_PIXELS
    max_moon_band_pixels: int = DEFAULT_MAX_MOON_BAND_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES


_DEFAULT_LIMITS = _Limits()


def _name(path: Path) -> str:
    """The file name as shown in messages (non-printable characters escaped)."""
    return printable_name(path.name)


class _Stream:
    """Sequential byte reader over a plain or gzip file that can skip forward cheaply."""

    def __init__(self, path: Path, data: bytes | None = None) -> None:
        self.path = path
        self._raw: IO[bytes] = open_regular(path) if data is None else io.BytesIO(data)
        try:
            self.gz = self._raw.read(2) == b"\x1f\x8b"
            self._raw.seek(0)
        except BaseException:
            self._raw.close()
            raise
        self._f: IO[bytes] = (
            gzip.GzipFile(fileobj=self._raw, mode="rb") if self.gz else self._raw  # type: ignore[assignment]
        )
        self.pos = 0
        self.size: int | None = None
        if not self.gz:
            self.size = os.fstat(self._raw.fileno()).st_size if data is None else len(data)

    def close(self) -> None:
        if self._f is not self._raw:
            self._f.close()
        self._raw.close()

    def read(self, n: int) -> bytes:
        """Read up to n bytes (fewer only at the end of the stream)."""
        parts: list[bytes] = []
        remaining = n
        while remaining > 0:
            chunk = self._f.read(remaining)
            if not chunk:
                break
            parts.append(chunk)
            remaining -= len(chunk)
        data = b"".join(parts)
        self.pos += len(data)
        return data

    def skip(self, n: int) -> int:
        """Skip n bytes; return how many could be skipped."""
        if not self.gz:
            assert self.size is not None
            done = max(0, min(n, self.size - self.pos))
            self._raw.seek(self.pos + done)
            self.pos += done
            return done
        done = 0
        while done < n:
            chunk = self._f.read(min(CHUNK_BYTES, n - done))
            if not chunk:
                break
            done += len(chunk)
        self.pos += done
        return done

    def seek(self, offset: int) -> None:
        """Move to an absolute offset (forward only for gzip streams)."""
        if not self.gz:
            self._raw.seek(offset)
            self.pos = offset
            return
        if offset < self.pos:
            raise ValueError("cannot seek backwards in a gzip stream")
        self.skip(offset - self.pos)


@contextmanager
def _open_stream(path: Path, data: bytes | None = None) -> Iterator[_Stream]:
    """Open a stream, turning damaged gzip data into :class:`InvalidAcquisitionError`.

    ``data``: the bytes of ``path`` already read into memory (the ingest validates the very bytes
    it hashed); ``path`` then only names the file in messages.

    Only data corruption is a verdict: a gzip stream cut short (``TRUNCATED``), a bad gzip header
    or checksum (``NOT_FITS``), corrupt deflate data (``UNREADABLE``). Any other ``OSError``
    (cannot open, permission, I/O error, not a regular file) propagates: it is transient.
    """
    stream = _Stream(path, data)
    try:
        yield stream
    except EOFError as exc:
        raise InvalidAcquisitionError(
            RejectReason.TRUNCATED,
            f"the gzip stream of {_name(path)} ends early (compressed file cut at "
            f"{stream._raw.tell()} bytes): the file is truncated",
        ) from exc
    except gzip.BadGzipFile as exc:  # an OSError subclass: caught before any other OSError could be
        raise InvalidAcquisitionError(
            RejectReason.NOT_FITS, f"{_name(path)} starts like gzip but is not a valid gzip file ({exc})"
        ) from exc
    except zlib.error as exc:
        raise InvalidAcquisitionError(
            RejectReason.UNREADABLE, f"the gzip stream of {_name(path)} is corrupt ({exc})"
        ) from exc
    finally:
        stream.close()


def _int_key(header: Mapping[str, Any], key: str, label: str, default: int | None = None) -> int:
    value = header.get(key, default)
    if value is None or isinstance(value, fits.card.Undefined):
        what = "has no value in" if key in header else "is missing from"
        raise InvalidAcquisitionError(RejectReason.MISSING_KEY, f"structural key {key} {what} {label}")
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE, f"structural key {key} of {label} must be an integer, not {value!r}"
        )
    return int(value)


def _data_bytes(header: Mapping[str, Any], label: str, primary: bool) -> int:
    """Data size declared by a header (FITS 4.0 eq. 1 and 2), bytes, without padding.

    Every count is bounded first (``NAXIS`` <= 999, ``NAXISn`` < 2**31, ``PCOUNT``/``GCOUNT``
    >= 0), so that the size is a plain integer whatever the header says.
    """
    bitpix = _int_key(header, "BITPIX", label)
    if bitpix not in _BITPIX_DTYPE:
        raise InvalidAcquisitionError(RejectReason.BAD_VALUE, f"BITPIX = {bitpix} of {label} is not a FITS data type")
    naxis = _int_key(header, "NAXIS", label)
    if not 0 <= naxis <= MAX_NAXIS:
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE, f"NAXIS = {naxis} of {label} is out of range [0, {MAX_NAXIS}]"
        )
    axes = [_int_key(header, f"NAXIS{i}", label) for i in range(1, naxis + 1)]
    for i, n in enumerate(axes, start=1):
        if not 0 <= n <= MAX_AXIS_LENGTH:
            raise InvalidAcquisitionError(
                RejectReason.BAD_VALUE, f"NAXIS{i} = {n} of {label} is out of range [0, {MAX_AXIS_LENGTH}]"
            )
    pcount = 0 if primary else _int_key(header, "PCOUNT", label, default=0)
    gcount = 1 if primary else _int_key(header, "GCOUNT", label, default=1)
    if pcount < 0 or gcount < 0:
        raise InvalidAcquisitionError(RejectReason.BAD_VALUE, f"{label} declares PCOUNT = {pcount}, GCOUNT = {gcount}")
    if naxis == 0:
        return 0
    return abs(bitpix) // 8 * gcount * (pcount + math.prod(axes))


def _axes(header: Mapping[str, Any]) -> list[int]:
    """``NAXIS1..NAXISn`` of a header that passed :func:`_data_bytes`."""
    return [int(header[f"NAXIS{i}"]) for i in range(1, int(header["NAXIS"]) + 1)]


def _padded(n: int) -> int:
    return -(-n // BLOCK_BYTES) * BLOCK_BYTES


_KEYWORD = re.compile(r"[A-Z0-9_-]{1,8}\Z")
_KEYWORD_FIELD = re.compile(r"[A-Z0-9_-]* *\Z")  # columns 1-8 of any card
_NOT_PRINTABLE_ASCII = re.compile(rb"[^\x20-\x7e]")
_COMMENTARY = ("", "COMMENT", "HISTORY")
_INT_VALUE = re.compile(r"[+-]?\d+\Z")
_FLOAT_VALUE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][+-]?\d+)?\Z")


def _card_value(field: str) -> tuple[bool, Any]:
    """Value of the value field (columns 11-80) of a fixed-format card: (understood, value).

    Strings (with ``''`` for a quote, trailing blanks dropped), logicals, integers, reals (``D``
    exponents too) and an empty field (no value: ``None``). Anything else, and strings that may
    continue on a ``CONTINUE`` card (ending in ``&``), are left to astropy: (False, None).
    """
    v = field.lstrip()
    if v.startswith("'"):
        parts: list[str] = []
        j = 1
        while True:
            k = v.find("'", j)
            if k < 0:
                return False, None
            if v[k + 1 : k + 2] == "'":
                parts.append(v[j : k + 1])
                j = k + 2
                continue
            parts.append(v[j:k])
            rest = v[k + 1 :].strip()
            break
        text = "".join(parts).rstrip()
        if (rest and not rest.startswith("/")) or text.endswith("&") or len(parts) > 1:
            return False, None  # an embedded quote (''): astropy's reading is the reference
        return True, text
    token = v.split("/", 1)[0].strip()
    if token == "T":
        return True, True
    if token == "F":
        return True, False
    if not token:
        return True, None
    if _INT_VALUE.match(token):
        return True, int(token)
    if _FLOAT_VALUE.match(token):
        return True, float(token.replace("D", "E").replace("d", "e"))
    return False, None


def _fast_header(text: str) -> dict[str, Any] | None:
    """Keyword -> value of a header of plain fixed-format cards (FITS 4.0 4.2); commentary cards
    are skipped. ``None`` when any card needs the full parser (HIERARCH, CONTINUE, complex values,
    a keyword given twice, anything irregular).

    About 30 times faster than :class:`astropy.io.fits.Header` for our headers, whose parsing
    dominated the ingest and photometry time (benchmarks/star.py).
    """
    out: dict[str, Any] = {}
    for i in range(0, len(text), CARD_BYTES):
        card = text[i : i + CARD_BYTES]
        key = card[:8].rstrip()
        if key == "END":
            return out
        if not _KEYWORD_FIELD.match(card[:8]):
            return None  # not a FITS keyword (astropy refuses it)
        if card[8:10] != "= ":
            if key in ("CONTINUE", "HIERARCH"):
                return None
            continue  # COMMENT, HISTORY, blank and other commentary cards
        if not _KEYWORD.match(key):
            return None
        ok, value = _card_value(card[10:])
        if not ok or key in out:  # a key given twice is refused by the full path
            return None
        out[key] = value
    return None  # no END card: let astropy say what is wrong


def _parse_header(raw: bytes, label: str) -> Mapping[str, Any]:
    """Keyword -> value of one header: the fast parser, else astropy with every value forced.

    astropy parses card values lazily: a card like ``DARK = 31.5.2``, ``GAINFACT = 2,25`` or an
    unterminated string only fails when its value is first used, far from here and with an
    ``Unparsable card`` error. Every value is therefore read here, and a failure is a
    ``BAD_VALUE`` naming the HDU and the key.
    """
    bad = _NOT_PRINTABLE_ASCII.search(raw)
    if bad is not None:
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE,
            f"the header of {label} contains the byte 0x{raw[bad.start()]:02x} at offset {bad.start()}: "
            "a header holds printable ASCII only (FITS 4.0 section 4.1.1)",
        )
    text = raw.decode("ascii")
    fast = _fast_header(text)
    if fast is not None:
        return fast
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            header: fits.Header = fits.Header.fromstring(text)
    except Exception as exc:  # astropy raises several types for malformed cards
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE, f"the header of {label} is malformed ({_first_line(exc)})"
        ) from exc
    _force_values(header, text, label)
    return cast(Mapping[str, Any], header)


def _force_values(header: fits.Header, text: str, label: str) -> None:
    """Parse the value of every card of an astropy header; refuse the first that cannot be, and
    any keyword given twice (readers disagree on which one counts: astropy sizes an HDU from the
    last ``BITPIX``, looks values up from the first)."""
    seen: dict[str, int] = {}
    for card in header.cards:
        keyword = card.keyword
        seen[keyword] = seen.get(keyword, 0) + 1
        if seen[keyword] > 1 and keyword not in _COMMENTARY:
            raise InvalidAcquisitionError(
                RejectReason.BAD_VALUE, f"key {keyword} appears more than once in the header of {label}"
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                card.value  # noqa: B018 - the lazy parse is the point
        except Exception as exc:  # VerifyError, VerifyWarning, ValueError...
            value = _raw_value(text, keyword, seen[keyword])
            raise InvalidAcquisitionError(
                RejectReason.BAD_VALUE, f"key {keyword} of {label} has an unparsable value {value!r}"
            ) from exc


def _raw_value(text: str, keyword: str, occurrence: int) -> str:
    """The value field (without comment) of the n-th card of ``keyword`` in a header text."""
    n = 0
    for i in range(0, len(text), CARD_BYTES):
        card = text[i : i + CARD_BYTES]
        key = card[:8].rstrip()
        if key == "HIERARCH":
            key, _, field = card[9:].partition("=")
            key = key.strip()
        else:
            field = card[10:]
        if key == keyword:
            n += 1
            if n == occurrence:
                field = field.strip()
                return field if field.startswith("'") else field.split("/", 1)[0].strip()
    return ""


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _read_header_bytes(stream: _Stream, first_block: bytes, label: str, name: str) -> bytes:
    """Read blocks until the END card; return the header bytes (whole blocks)."""
    blocks = [first_block]
    block = first_block
    for _ in range(MAX_HEADER_BLOCKS):
        for i in range(0, BLOCK_BYTES, CARD_BYTES):
            if block[i : i + 8] == b"END     ":
                return b"".join(blocks)
        block = stream.read(BLOCK_BYTES)
        if len(block) < BLOCK_BYTES:
            raise InvalidAcquisitionError(
                RejectReason.TRUNCATED,
                f"{name} ends at byte {stream.pos} inside the header of {label} (no END card): the file is truncated",
            )
        blocks.append(block)
    raise InvalidAcquisitionError(
        RejectReason.BAD_VALUE, f"the header of {label} has no END card in {MAX_HEADER_BLOCKS} blocks"
    )


def _scan(path: Path, limits: _Limits | None = None, data: bytes | None = None) -> list[_Hdu]:
    """Walk every HDU of ``path``; check that the file holds every byte its headers declare.

    ``limits`` (ingest validation) bounds the image and file sizes before any data is skipped;
    None (readers of archived files, which passed the ingest) checks only the structural bounds.
    Errors raised after the primary header was read carry its ``ACQ_ID`` (when it is a string).
    """
    hdus: list[_Hdu] = []
    try:
        _walk(Path(path), hdus, limits, data)
    except InvalidAcquisitionError as exc:
        if hdus and exc.acq_id is None:
            acq_id = hdus[0].header.get("ACQ_ID")
            if isinstance(acq_id, str) and acq_id.strip():
                exc.acq_id = acq_id.strip()
        raise
    return hdus


def _check_fits_start(first: bytes, name: str) -> None:
    """Refuse a file that does not start with ``SIMPLE = T`` (``NOT_FITS``), or that ends inside
    that first card (``TRUNCATED``; a one-byte file ``\\x1f`` is a gzip stream cut after one byte)."""
    if first.startswith(b"SIMPLE  ="):
        value = first[9:CARD_BYTES].split(b"/")[0].strip()
        if value == b"T" or (not value and len(first) < CARD_BYTES):
            if len(first) < CARD_BYTES:
                raise _truncated_first_card(first, name)
            return
    elif first and (b"SIMPLE  =".startswith(first) or first == b"\x1f"):
        raise _truncated_first_card(first, name)
    raise InvalidAcquisitionError(
        RejectReason.NOT_FITS,
        f"{name} is not a FITS file: it does not start with the card 'SIMPLE  =  T'"
        + (" (the file is empty)" if not first else ""),
    )


def _truncated_first_card(first: bytes, name: str) -> InvalidAcquisitionError:
    return InvalidAcquisitionError(
        RejectReason.TRUNCATED, f"{name} ends at byte {len(first)}, inside its first card: the file is truncated"
    )


def _check_tail(stream: _Stream, first: bytes, start: int, name: str) -> None:
    """After the last HDU: only zero padding (at most ``MAX_TRAILING_BYTES``) is allowed. A tail
    shorter than a card that starts like ``XTENSION`` is the start of a header cut short."""
    if len(first) < 8 and b"XTENSION".startswith(first):
        raise InvalidAcquisitionError(
            RejectReason.TRUNCATED,
            f"{name} ends at byte {start + len(first)}, inside the first card of the HDU starting at byte "
            f"{start}: the file is truncated",
        )
    rest = first + stream.read(CHUNK_BYTES)
    seen = 0
    while rest and not rest.strip(b"\0"):
        seen += len(rest)
        if seen > MAX_TRAILING_BYTES:
            raise InvalidAcquisitionError(
                RejectReason.BAD_VALUE,
                f"{name} has more than {MAX_TRAILING_BYTES} zero bytes after its last HDU (offset {start})",
            )
        rest = stream.read(CHUNK_BYTES)
    if rest:
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE,
            f"{name} has bytes after its last HDU (offset {start}) that are not a FITS extension",
        )


def _band_pixel_limit(primary: _Hdu, limits: _Limits) -> tuple[int, str]:
    """(pixels allowed per image, file kind) from the primary header's ACQTYPE."""
    acq_type = primary.header.get("ACQTYPE")
    if isinstance(acq_type, str) and acq_type.strip().upper() == AcqType.MOON.value:
        return limits.max_moon_band_pixels, "MOON"
    return limits.max_star_band_pixels, "STAR or GEOM"


def _check_size(hdu: _Hdu, hdus: Sequence[_Hdu], total_bytes: int, limits: _Limits | None, name: str) -> None:
    """Refuse an HDU whose declared data is too large (``TOO_LARGE``), before any of it is read.

    Tables are bounded by ``MAX_TABLE_BYTES`` always; with ``limits``, images by the pixel limit
    of the file's type and the file (headers and padded data up to this HDU, ``total_bytes``) by
    ``max_file_bytes``.
    """
    kind = hdu.kind
    if kind in ("BINTABLE", "TABLE") and hdu.data_bytes > MAX_TABLE_BYTES:
        raise InvalidAcquisitionError(
            RejectReason.TOO_LARGE,
            f"table {hdu.label} of {name} declares {hdu.data_bytes} bytes, more than the {MAX_TABLE_BYTES} "
            "bytes allowed for a table",
        )
    if limits is None:
        return
    if kind in ("PRIMARY", "IMAGE") and hdu.data_bytes:
        axes = _axes(hdu.header)
        pixels = math.prod(axes)
        allowed, what = _band_pixel_limit(hdus[0] if hdus else hdu, limits)
        if pixels > allowed:
            shape = " x ".join(str(n) for n in axes)
            keys = " x ".join(f"NAXIS{i}" for i in range(1, len(axes) + 1))
            raise InvalidAcquisitionError(
                RejectReason.TOO_LARGE,
                f"image {hdu.label} of {name} declares {shape} ({keys}) = {pixels} pixels, more than the "
                f"{allowed} pixels allowed per image of a {what} file",
            )
    if total_bytes > limits.max_file_bytes:
        raise InvalidAcquisitionError(
            RejectReason.TOO_LARGE,
            f"{name} declares {total_bytes} bytes of headers and data up to {hdu.label}, more than the "
            f"{limits.max_file_bytes} bytes allowed per file",
        )


def _check_nextend(hdus: Sequence[_Hdu], name: str) -> None:
    """When the primary header has ``NEXTEND``, the file must hold exactly that many extensions."""
    primary = hdus[0].header
    if "NEXTEND" not in primary:
        return
    nextend = _int_key(primary, "NEXTEND", "the primary HDU")
    found = len(hdus) - 1
    if found < nextend:
        raise InvalidAcquisitionError(
            RejectReason.TRUNCATED,
            f"{name} ends after {found} extension(s) but its primary header declares NEXTEND = {nextend}: "
            "the file is truncated",
        )
    if found > nextend:
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE,
            f"{name} holds {found} extensions but its primary header declares NEXTEND = {nextend}",
        )


def _walk(path: Path, hdus: list[_Hdu], limits: _Limits | None, data: bytes | None = None) -> None:
    """Append the HDUs of ``path`` (or of its bytes ``data``) to ``hdus`` (see :func:`_scan`)."""
    name = _name(path)
    total_bytes = 0
    with _open_stream(path, data) as stream:
        while True:
            start = stream.pos
            first = stream.read(BLOCK_BYTES)
            index = len(hdus)
            if index == 0:
                _check_fits_start(first, name)
                label = "the primary HDU"
            else:
                if not first:
                    break
                if not first.startswith(b"XTENSION"):
                    _check_tail(stream, first, start, name)
                    break
                if index >= MAX_HDUS:
                    raise InvalidAcquisitionError(
                        RejectReason.BAD_VALUE, f"{name} holds more than {MAX_HDUS - 1} extensions"
                    )
                label = f"HDU {index}"
            if len(first) < BLOCK_BYTES:
                raise InvalidAcquisitionError(
                    RejectReason.TRUNCATED,
                    f"{name} ends at byte {stream.pos} inside the header of {label}: the file is truncated",
                )
            raw = _read_header_bytes(stream, first, label, name)
            header = _parse_header(raw, label)
            nbytes = _data_bytes(header, label, primary=index == 0)
            hdu = _Hdu(index, header, start, start + len(raw), nbytes)
            _check_extension_type(hdu)
            _check_table_fields(hdu)
            need = _padded(nbytes)
            total_bytes += len(raw) + need
            _check_size(hdu, hdus, total_bytes, limits, name)
            got = stream.skip(need)
            if got < need:
                raise InvalidAcquisitionError(
                    RejectReason.TRUNCATED,
                    f"{name} is truncated: {hdu.label} declares {nbytes} bytes of data "
                    f"({need} with padding) ending at byte {hdu.data_offset + need}, "
                    f"but the file ends at byte {hdu.data_offset + got}",
                )
            hdus.append(hdu)
    _check_nextend(hdus, name)


def _check_extension_type(hdu: _Hdu) -> None:
    """``XTENSION`` of an extension is a non-empty string (an HDU of an unknown type is skipped:
    a band whose ``XTENSION`` is damaged must not silently disappear from the file)."""
    if hdu.index == 0:
        return
    value = hdu.header.get("XTENSION")
    if not isinstance(value, str) or not value.strip():
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE, f"XTENSION of {hdu.label} is {value!r}; an extension type is a string like 'IMAGE'"
        )


def _check_table_fields(hdu: _Hdu) -> None:
    """``TFIELDS`` of a table HDU, when present, is an integer in [0, 999] (it drives a loop)."""
    if hdu.kind in ("BINTABLE", "TABLE") and "TFIELDS" in hdu.header:
        n = _int_key(hdu.header, "TFIELDS", hdu.label)
        if not 0 <= n <= MAX_TFIELDS:
            raise InvalidAcquisitionError(
                RejectReason.BAD_VALUE, f"TFIELDS = {n} of {hdu.label} is out of range [0, {MAX_TFIELDS}]"
            )


# ---------------------------------------------------------------------------------------------
# Typed access to header values
# ---------------------------------------------------------------------------------------------


class _Keys:
    """Typed, validated access to the keys of one HDU; errors name the HDU and key."""

    def __init__(self, hdu: _Hdu, acq_id: str | None) -> None:
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


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Validated:
    header: AcquisitionHeader
    geom: GeomHeader | None
    hdus: tuple[_Hdu, ...]


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


def _validate_primary(hdu: _Hdu) -> tuple[AcquisitionHeader, _Keys]:
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


def _validate_band(hdu: _Hdu, acq: AcquisitionHeader) -> BandHeader:
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


def _table_columns(hdu: _Hdu) -> dict[str, str]:
    """Column name -> TFORM of a binary-table HDU, from its header (TFIELDS bounded by the walk)."""
    h = hdu.header
    n = h.get("TFIELDS", 0)
    return {
        str(h.get(f"TTYPE{i}", "")).strip().upper(): str(h.get(f"TFORM{i}", "")).strip().upper()
        for i in range(1, int(n) + 1)
    }


_TFORM = re.compile(r"(\d*)([LXBIJKAEDCMPQ])(.*)\Z")
_TFORM_BYTES = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16, "P": 8, "Q": 16}


def _tform_bytes(form: str) -> int | None:
    """Bytes per row of a binary-table column of format ``rT`` (FITS 4.0 table 18); None if invalid."""
    m = _TFORM.match(form)
    if m is None:
        return None
    repeat = int(m.group(1)) if m.group(1) else 1
    code = m.group(2)
    return (repeat + 7) // 8 if code == "X" else repeat * _TFORM_BYTES[code]


def _check_row_width(hdu: _Hdu, keys: _Keys) -> None:
    """The columns' TFORMs must add up to ``NAXIS1`` (bytes per row) before astropy decodes them."""
    n = int(hdu.header.get("TFIELDS", 0))
    width = 0
    for i in range(1, n + 1):
        form = str(hdu.header.get(f"TFORM{i}", "")).strip().upper()
        size = _tform_bytes(form)
        if size is None:
            raise keys.fail(RejectReason.BAD_VALUE, f"TFORM{i} of {hdu.label} is {form!r}, not a binary-table format")
        width += size
    naxis1 = _axes(hdu.header)[0] if int(hdu.header["NAXIS"]) >= 1 else 0
    if width != naxis1:
        raise keys.fail(
            RejectReason.BAD_VALUE,
            f"the columns of table {hdu.label} add up to {width} bytes per row, but NAXIS1 is {naxis1}",
        )


def _check_table_header(hdu: _Hdu, columns: tuple[str, ...], strings: tuple[str, ...], acq_id: str) -> None:
    keys = _Keys(hdu, acq_id)
    if hdu.kind != "BINTABLE":
        raise keys.fail(RejectReason.BAD_VALUE, f"{hdu.label} must be a binary table, not {hdu.kind!r}")
    if int(hdu.header["NAXIS"]) != 2:
        raise keys.fail(RejectReason.BAD_VALUE, f"table {hdu.label} has NAXIS = {hdu.header['NAXIS']}; a table is 2-D")
    have = _table_columns(hdu)
    missing = [c for c in columns if c not in have]
    if missing:
        raise keys.fail(RejectReason.MISSING_KEY, f"table {hdu.label} lacks column(s) {missing} (has {sorted(have)})")
    _check_row_width(hdu, keys)
    for col in columns:
        form = have[col]
        is_string = form.endswith("A") or (form[:-1].isdigit() and form[-1:] == "A")
        if (col in strings) != is_string:
            kind = "a string" if col in strings else "numeric"
            raise keys.fail(RejectReason.BAD_VALUE, f"column {col} of {hdu.label} must be {kind} (TFORM {form!r})")
        if not is_string and form.lstrip("0123456789")[:1] not in ("B", "I", "J", "K", "E", "D"):
            raise keys.fail(RejectReason.BAD_VALUE, f"column {col} of {hdu.label} has unsupported TFORM {form!r}")


def _table_dict(
    path: Path, hdu: _Hdu, columns: tuple[str, ...], strings: tuple[str, ...], data: bytes | None = None
) -> dict[str, Any]:
    """The named columns of a (small) binary table HDU, decoded by astropy from its bytes only:
    strings stripped, numbers as float64. Anything astropy cannot decode is ``BAD_VALUE``."""
    with _open_stream(path, data) as stream:
        stream.seek(hdu.header_offset)
        raw = stream.read(hdu.data_offset - hdu.header_offset + _padded(hdu.data_bytes))
    out: dict[str, Any] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = fits.BinTableHDU.fromstring(raw).data
            names = {n.strip().upper(): n for n in table.columns.names}
            for col in columns:
                values = np.asarray(table[names[col]])
                out[col] = np.char.strip(values.astype(str)) if col in strings else values.astype(np.float64)
    except Exception as exc:
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE, f"table {hdu.label} of {_name(path)} cannot be decoded ({_first_line(exc)})"
        ) from exc
    return out


def _validate_ephem(path: Path, hdu: _Hdu, acq_id: str, data: bytes | None = None) -> None:
    _check_table_header(hdu, EPHEM_COLUMNS, (), acq_id)
    cols = _table_dict(path, hdu, EPHEM_COLUMNS, (), data)
    keys = _Keys(hdu, acq_id)
    n = cols["T"].size
    if n < 2:
        raise keys.fail(RejectReason.BAD_VALUE, f"table {hdu.label} has {n} orbit sample(s); at least 2 are needed")
    for col, values in cols.items():
        if not np.all(np.isfinite(values)):
            raise keys.fail(RejectReason.BAD_VALUE, f"column {col} of {hdu.label} holds non-finite values")
    if np.any(np.diff(cols["T"]) <= 0):
        raise keys.fail(RejectReason.BAD_VALUE, f"column T of {hdu.label} is not strictly increasing")
    _check_column_range(keys, cols["T"], "column T", EPHEM_TIME_RANGE_S, "s")
    what = ((("X", "Y", "Z"), "a position", ORBIT_RADIUS_RANGE_KM, "km"),
            (("VX", "VY", "VZ"), "a velocity", ORBIT_SPEED_RANGE_KM_S, "km/s"))
    for names, label, rng, unit in what:
        with np.errstate(over="ignore"):  # 1e300 km: inf, refused below
            norm = np.sqrt(sum(cols[n] ** 2 for n in names))
        _check_column_range(keys, norm, f"{label} ({', '.join(names)})", rng, unit)


def _check_column_range(
    keys: _Keys, values: NDArray[np.float64], what: str, rng: tuple[float, float], unit: str
) -> None:
    """Every value of a table column (or of a vector's magnitude) lies in ``rng`` (inclusive)."""
    lo, hi = rng
    bad = (values < lo) | (values > hi)
    if np.any(bad):
        worst = float(values[np.argmax(bad)])
        raise keys.fail(
            RejectReason.BAD_VALUE,
            f"table {keys.hdu.label} holds {what} of {worst:.6g} {unit}, outside {lo:g} to {hi:g} {unit}",
        )


def _validate_gcp(path: Path, hdu: _Hdu, acq_id: str, nsamp: int, data: bytes | None = None) -> None:
    _check_table_header(hdu, GCP_COLUMNS, _GCP_STR_COLUMNS, acq_id)
    cols = _table_dict(path, hdu, GCP_COLUMNS, _GCP_STR_COLUMNS, data)
    keys = _Keys(hdu, acq_id)
    for col in ("LAT", "LON", "H", "LINE", "SAMPLE"):
        if not np.all(np.isfinite(cols[col])):
            raise keys.fail(RejectReason.BAD_VALUE, f"column {col} of {hdu.label} holds non-finite values")
    for col, allowed in (("ROLE", ("CONTROL", "CHECK")), ("VIEW", ("FORE", "AFT"))):
        bad = sorted(set(cols[col].tolist()) - set(allowed))
        if bad:
            raise keys.fail(
                RejectReason.BAD_VALUE, f"column {col} of {hdu.label} holds {bad}; expected {list(allowed)}"
            )
    checks = (("LAT", -90.0, 90.0), ("LON", -180.0, 360.0), ("H", -1000.0, 10000.0))
    for col, lo, hi in checks:
        v = cols[col]
        if np.any((v < lo) | (v > hi)):
            raise keys.fail(RejectReason.BAD_VALUE, f"column {col} of {hdu.label} has values outside [{lo:g}, {hi:g}]")
    _check_column_range(keys, cols["LINE"], "a LINE", GCP_LINE_RANGE, "lines")
    if np.any((cols["SAMPLE"] < -0.5) | (cols["SAMPLE"] > nsamp - 0.5)):
        raise keys.fail(
            RejectReason.BAD_VALUE, f"column SAMPLE of {hdu.label} has values outside the detector (NSAMP {nsamp})"
        )
    for role, minimum in (("CONTROL", MIN_CONTROL_POINTS), ("CHECK", MIN_CHECK_POINTS)):
        n = len(set(cols["ID"][cols["ROLE"] == role].tolist()))
        if n < minimum:
            raise keys.fail(
                RejectReason.BAD_VALUE, f"table {hdu.label} has {n} {role} point(s); at least {minimum} are needed"
            )


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


def _ends_on_hdu_boundary(hdus: Sequence[_Hdu], name: str, missing: str, keys: _Keys) -> InvalidAcquisitionError:
    """The refusal of a file that lacks what our writer puts after its last HDU: a cut exactly on an
    HDU boundary leaves a structurally complete file (no ``NEXTEND`` to tell), so it is reported as
    truncated."""
    last = hdus[-1]
    return keys.fail(
        RejectReason.TRUNCATED,
        f"{name} ends right after {last.label} (byte {last.data_offset + _padded(last.data_bytes)}) without "
        f"{missing}: the file is truncated on an HDU boundary (or was written without it)",
    )


def _validate(path: Path, limits: _Limits | None = None, data: bytes | None = None) -> _Validated:
    path = Path(path)
    name = _name(path)
    hdus = _scan(path, limits, data)
    acq, keys = _validate_primary(hdus[0])
    tables: dict[str, _Hdu] = {}
    images: list[_Hdu] = []
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
        _validate_ephem(path, tables["EPHEM"], acq.acq_id, data)
        _validate_gcp(path, tables["GCP"], acq.acq_id, geom.nsamp, data)
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
            _validate_ephem(path, tables["EPHEM"], acq.acq_id, data)
    acq = dataclasses.replace(acq, bands=tuple(bands))
    return _Validated(acq, geom, tuple(hdus))


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def check_structure(path: Path) -> None:
    """Check that a file holds every byte its headers declare (the structural walk of the
    validation, no key checked): an archived file damaged since its ingest is refused with the
    reason of the damage.

    Raises
    ------
    InvalidAcquisitionError
        ``TRUNCATED``, ``NOT_FITS``, ``UNREADABLE``, ``BAD_VALUE`` (structure).
    OSError
        The file cannot be read now (transient).
    """
    _scan(Path(path))


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
    return _validate(Path(path), _DEFAULT_LIMITS).header


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
    validated = _validate(Path(path), _DEFAULT_LIMITS)
    if validated.geom is None:
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE,
            f"{_name(Path(path))} is a {validated.header.acq_type.value} acquisition, not GEOM",
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
    limits = _Limits(max_star_band_pixels, max_moon_band_pixels, max_file_bytes)
    validated = _validate(path, limits, data)
    if validated.geom is not None:
        return validated.header, validated.geom
    images = [h for h in validated.hdus[1:] if h.kind == "IMAGE"]  # every one is a validated band
    if all(_can_hold_nan(h) for h in images):
        with _open_stream(path, data) as stream:
            for hdu in images:  # file order: the gzip stream only moves forward
                if not _is_all_nan(stream, path, hdu):
                    return validated.header, None
        raise _all_nan_error(path, validated.hdus, images)
    return validated.header, None


def _find_band(hdus: list[_Hdu], band: str, path: Path) -> _Hdu:
    for hdu in hdus[1:]:
        if hdu.kind == "IMAGE" and hdu.extname == band:
            return hdu
    raise InvalidAcquisitionError(RejectReason.UNKNOWN_BAND, f"{_name(path)} has no image HDU for band {band!r}")


def _strips(stream: _Stream, path: Path, hdu: _Hdu) -> Iterator[NDArray[np.floating[Any]]]:
    """Yield the physical values of an image HDU in row strips, from an open stream.

    The stream is moved to the HDU's data first (forward only for gzip: callers visit HDUs in
    file order). ``BSCALE``/``BZERO`` are applied; integer ``BLANK`` pixels become NaN. Float data
    stay float32 (BITPIX -32) or float64 (BITPIX -64); scaled integers become float64.
    """
    h = hdu.header
    bitpix = int(h["BITPIX"])
    nx, ny = int(h["NAXIS1"]), int(h["NAXIS2"])
    dtype = np.dtype(_BITPIX_DTYPE[bitpix])
    bscale = float(h.get("BSCALE", 1.0))
    bzero = float(h.get("BZERO", 0.0))
    blank = h.get("BLANK") if bitpix > 0 else None
    row_bytes = nx * dtype.itemsize
    rows_per_strip = max(1, STRIP_BYTES // max(row_bytes, 1))
    stream.seek(hdu.data_offset)
    for row0 in range(0, ny, rows_per_strip):
        n = min(rows_per_strip, ny - row0)
        raw = stream.read(n * row_bytes)
        if len(raw) < n * row_bytes:
            raise InvalidAcquisitionError(
                RejectReason.TRUNCATED, f"{_name(path)} ended while reading {hdu.label}: the file is truncated"
            )
        a = np.frombuffer(raw, dtype=dtype).reshape(n, nx)
        if bitpix < 0:
            out_f: NDArray[Any] = a.astype(np.float32 if bitpix == -32 else np.float64)
            if bscale != 1.0 or bzero != 0.0:
                out_f = out_f * bscale + bzero
            yield out_f
        else:
            out = a.astype(np.float64) * bscale + bzero
            if blank is not None:
                out[a == int(blank)] = np.nan
            yield out


def _iter_strips(path: Path, hdu: _Hdu) -> Iterator[NDArray[np.floating[Any]]]:
    """Yield the physical values of one image HDU of ``path`` in row strips (see :func:`_strips`)."""
    with _open_stream(path) as stream:
        yield from _strips(stream, path, hdu)


def _can_hold_nan(hdu: _Hdu) -> bool:
    """Whether an image HDU can hold NaN pixels (float data, or integers with ``BLANK``)."""
    return int(hdu.header["BITPIX"]) < 0 or "BLANK" in hdu.header


def _all_nan_error(path: Path, hdus: Sequence[_Hdu], images: Sequence[_Hdu]) -> InvalidAcquisitionError:
    acq_id = hdus[0].header.get("ACQ_ID")
    bands = ", ".join(repr(h.extname) for h in images)
    what = f"band {bands} ({images[0].label})" if len(images) == 1 else f"every band ({bands})"
    return InvalidAcquisitionError(
        RejectReason.ALL_NAN,
        f"{what} of {_name(path)} holds no data: every pixel is NaN",
        acq_id.strip() if isinstance(acq_id, str) else None,
    )


def _is_all_nan(stream: _Stream, path: Path, hdu: _Hdu) -> bool:
    """Whether every pixel of an image HDU is NaN; stops at the first strip holding a number."""
    return all(bool(np.all(np.isnan(strip))) for strip in _strips(stream, path, hdu))


def check_band_data(path: Path, band: str) -> None:
    """Refuse a band whose image is entirely NaN (missing data); a partly NaN band is fine.

    The image is read in row strips of about 16 MB, stopping at the first strip holding a
    number, so memory stays bounded for large (Moon) images. Integer images without ``BLANK``
    cannot hold NaN and are not read.

    Parameters
    ----------
    path : Path
        A file that passed :func:`read_acquisition_header`.
    band : str
        ``EXTNAME`` of the image HDU.

    Raises
    ------
    InvalidAcquisitionError
        ``ALL_NAN`` when every pixel is NaN; ``UNKNOWN_BAND`` when the band is absent;
        ``TRUNCATED``/``NOT_FITS`` when the file is damaged.
    """
    path = Path(path)
    hdus = _scan(path)
    hdu = _find_band(hdus, band, path)
    if not _can_hold_nan(hdu):
        return
    with _open_stream(path) as stream:
        if _is_all_nan(stream, path, hdu):
            raise _all_nan_error(path, hdus, [hdu])


def read_band(path: Path, band: str) -> NDArray[np.float32]:
    """Read one band image in physical DN (``BSCALE``/``BZERO`` applied, ``BLANK`` -> NaN).

    Meant for small images (star vignettes); the whole image is returned in memory.

    Parameters
    ----------
    path : Path
        A file that passed :func:`read_acquisition_header`.
    band : str
        ``EXTNAME`` of the image HDU.

    Returns
    -------
    NDArray[np.float32]
        Shape (rows, columns) = (NAXIS2, NAXIS1), rows along track in time order.

    Raises
    ------
    InvalidAcquisitionError
        ``UNKNOWN_BAND`` when the band is absent, ``TRUNCATED``/``NOT_FITS`` when damaged.
    """
    path = Path(path)
    hdu = _find_band(_scan(path), band, path)
    strips = list(_iter_strips(path, hdu))
    return np.concatenate(strips, axis=0).astype(np.float32, copy=False)


def read_bands(path: Path) -> dict[str, NDArray[np.float32]]:
    """Read every band image of a file in one pass, in physical DN (``BLANK`` -> NaN).

    The file structure is walked once and the images are read through one stream in file
    order, instead of once per band as repeated :func:`read_band` calls would do (each of which
    re-walks every header). Meant for small images (star vignettes): everything is in memory.

    Parameters
    ----------
    path : Path
        A file that passed :func:`read_acquisition_header`.

    Returns
    -------
    dict of str to NDArray[np.float32]
        ``EXTNAME`` -> image of shape (rows, columns) = (NAXIS2, NAXIS1), rows along track in
        time order, in file order. Image HDUs without ``EXTNAME`` or without data are skipped; when
        a band appears twice, the first HDU wins (as in :func:`read_band`).

    Raises
    ------
    InvalidAcquisitionError
        ``TRUNCATED``/``NOT_FITS``/``UNREADABLE`` when the file is damaged.
    """
    path = Path(path)
    wanted: list[_Hdu] = []
    seen: set[str] = set()
    for hdu in _scan(path)[1:]:
        name = hdu.extname
        if hdu.kind == "IMAGE" and name is not None and name not in seen and int(hdu.header["NAXIS"]) == 2:
            seen.add(name)
            wanted.append(hdu)
    out: dict[str, NDArray[np.float32]] = {}
    if not wanted:
        return out
    with _open_stream(path) as stream:
        for hdu in wanted:
            strips = list(_strips(stream, path, hdu))
            out[str(hdu.extname)] = np.concatenate(strips, axis=0).astype(np.float32, copy=False)
    return out


def _find_table(path: Path, name: str) -> _Hdu:
    for hdu in _scan(path)[1:]:
        if hdu.kind == "BINTABLE" and (hdu.extname or "").upper() == name:
            return hdu
    raise InvalidAcquisitionError(RejectReason.MISSING_KEY, f"{_name(path)} has no binary table HDU {name}")


def read_ephem(path: Path) -> dict[str, NDArray[np.float64]]:
    """Orbit samples of the ``EPHEM`` table (ICD 1.1 / 3).

    Parameters
    ----------
    path : Path
        Acquisition file holding an ``EPHEM`` table.

    Returns
    -------
    dict of str to NDArray[np.float64]
        Keys ``T`` (s from DATE-OBS), ``X``, ``Y``, ``Z`` (km), ``VX``, ``VY``, ``VZ`` (km/s).

    Raises
    ------
    InvalidAcquisitionError
        ``MISSING_KEY`` when there is no such table or a column is missing.
    """
    path = Path(path)
    hdu = _find_table(path, "EPHEM")
    _check_table_header(hdu, EPHEM_COLUMNS, (), "")
    return {k: np.asarray(v, dtype=np.float64) for k, v in _table_dict(path, hdu, EPHEM_COLUMNS, ()).items()}


def read_gcp(path: Path) -> dict[str, NDArray[Any]]:
    """Ground control point measurements of the ``GCP`` table (ICD 3).

    Parameters
    ----------
    path : Path
        GEOM acquisition file.

    Returns
    -------
    dict of str to NDArray
        ``ID``, ``ROLE``, ``VIEW``: unicode string arrays (stripped); ``LAT``, ``LON`` (deg),
        ``H`` (m), ``LINE``, ``SAMPLE`` (pixels): float64 arrays. One entry per point and view.

    Raises
    ------
    InvalidAcquisitionError
        ``MISSING_KEY`` when there is no such table or a column is missing.
    """
    path = Path(path)
    hdu = _find_table(path, "GCP")
    _check_table_header(hdu, GCP_COLUMNS, _GCP_STR_COLUMNS, "")
    return _table_dict(path, hdu, GCP_COLUMNS, _GCP_STR_COLUMNS)

