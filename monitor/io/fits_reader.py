"""Reader and validator of ICD-1 acquisition files (FITS, optionally gzip-compressed).

Every file is validated once, from its headers, before anything else touches it:

1. **Structure.** The file is walked HDU by HDU with a small reader of our own (2880-byte blocks,
   80-byte cards). Each header is parsed with :class:`astropy.io.fits.Header`, the declared data
   size is computed from ``BITPIX``, ``NAXISn``, ``PCOUNT`` and ``GCOUNT`` and skipped (``seek`` on
   a plain file, decompress-and-discard in 1 MiB chunks for ``.fits.gz``). A file that ends before
   the last declared byte (padding included) is refused whole as ``TRUNCATED``: this is the case
   astropy silently accepts (it returns the HDUs it could read, or a short data array). Memory use
   is bounded whatever the image size; images are never loaded by the validation.
2. **Keys.** Primary keys of ICD 1.1, image keys of ICD 1.2 (STAR, MOON) and GEOM keys and tables
   of ICD 3 are checked for presence (``MISSING_KEY``), type and range (``BAD_VALUE``), band names
   (``UNKNOWN_BAND``).

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
- A file without any image HDU (STAR, MOON) and a file with two image HDUs of the same band
  are ``BAD_VALUE``.
- Image HDUs of a GEOM file and table HDUs other than ``EPHEM``/``GCP`` are ignored.
- Bytes after the last HDU are refused (``BAD_VALUE``) unless they are all zero.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
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
from typing import IO, Any

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
)
from monitor.io.reference_data import load_star_catalogue

__all__ = [
    "InvalidAcquisitionError",
    "read_acquisition_header",
    "read_geom_header",
    "validate_acquisition",
    "check_band_data",
    "read_band",
    "read_bands",
    "read_ephem",
    "read_gcp",
    "sha256_file",
    "ORBIT_RADIUS_RANGE_KM",
    "ORBIT_SPEED_RANGE_KM_S",
    "STAR_POINTING_TOLERANCE_DEG",
    "MIN_CONTROL_POINTS",
    "MIN_CHECK_POINTS",
    "EPHEM_COLUMNS",
    "GCP_COLUMNS",
]

BLOCK_BYTES = 2880  # FITS logical record
CARD_BYTES = 80
MAX_HEADER_BLOCKS = 1000  # 2.9 MB of header: anything longer is not one of our files
CHUNK_BYTES = 1 << 20  # read/skip granularity, bytes
STRIP_BYTES = 16 << 20  # image rows are read in strips of about this size

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


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


class _Stream:
    """Sequential byte reader over a plain or gzip file that can skip forward cheaply."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.gz = _is_gzip(path)
        self._raw: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._f: IO[bytes] = (
            gzip.GzipFile(fileobj=self._raw, mode="rb") if self.gz else self._raw  # type: ignore[assignment]
        )
        self.pos = 0
        self.size: int | None = None if self.gz else os.fstat(self._raw.fileno()).st_size

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
def _open_stream(path: Path) -> Iterator[_Stream]:
    """Open a stream, turning OS and gzip errors into :class:`InvalidAcquisitionError`."""
    try:
        stream = _Stream(path)
    except OSError as exc:
        raise InvalidAcquisitionError(
            RejectReason.UNREADABLE, f"cannot open {path.name}: {exc.strerror or exc}"
        ) from exc
    try:
        yield stream
    except EOFError as exc:
        raise InvalidAcquisitionError(
            RejectReason.TRUNCATED,
            f"the gzip stream of {path.name} ends early (compressed file cut at "
            f"{stream._raw.tell()} bytes): the file is truncated",
        ) from exc
    except gzip.BadGzipFile as exc:
        raise InvalidAcquisitionError(
            RejectReason.NOT_FITS, f"{path.name} starts like gzip but is not a valid gzip file ({exc})"
        ) from exc
    except zlib.error as exc:
        raise InvalidAcquisitionError(
            RejectReason.UNREADABLE, f"the gzip stream of {path.name} is corrupt ({exc})"
        ) from exc
    except OSError as exc:
        raise InvalidAcquisitionError(
            RejectReason.UNREADABLE, f"cannot read {path.name}: {exc.strerror or exc}"
        ) from exc
    finally:
        stream.close()


def _int_key(header: Mapping[str, Any], key: str, label: str, default: int | None = None) -> int:
    value = header.get(key, default)
    if value is None:
        raise InvalidAcquisitionError(RejectReason.MISSING_KEY, f"structural key {key} is missing from {label}")
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE, f"structural key {key} of {label} must be an integer, not {value!r}"
        )
    return int(value)


def _data_bytes(header: Mapping[str, Any], label: str, primary: bool) -> int:
    """Data size declared by a header (FITS 4.0 eq. 1 and 2), bytes, without padding."""
    bitpix = _int_key(header, "BITPIX", label)
    if bitpix not in _BITPIX_DTYPE:
        raise InvalidAcquisitionError(RejectReason.BAD_VALUE, f"BITPIX = {bitpix} of {label} is not a FITS data type")
    naxis = _int_key(header, "NAXIS", label)
    if not 0 <= naxis <= 999:
        raise InvalidAcquisitionError(RejectReason.BAD_VALUE, f"NAXIS = {naxis} of {label} is out of range")
    axes = [_int_key(header, f"NAXIS{i}", label) for i in range(1, naxis + 1)]
    if any(n < 0 for n in axes):
        raise InvalidAcquisitionError(RejectReason.BAD_VALUE, f"{label} declares a negative NAXISn: {axes}")
    pcount = 0 if primary else _int_key(header, "PCOUNT", label, default=0)
    gcount = 1 if primary else _int_key(header, "GCOUNT", label, default=1)
    if pcount < 0 or gcount < 0:
        raise InvalidAcquisitionError(RejectReason.BAD_VALUE, f"{label} declares PCOUNT = {pcount}, GCOUNT = {gcount}")
    if naxis == 0:
        return 0
    return abs(bitpix) // 8 * gcount * (pcount + math.prod(axes))


def _padded(n: int) -> int:
    return -(-n // BLOCK_BYTES) * BLOCK_BYTES


_KEYWORD = re.compile(r"[A-Z0-9_-]{1,8}\Z")
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
        if (rest and not rest.startswith("/")) or text.endswith("&"):
            return False, None
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
    """Keyword -> value of a header of plain fixed-format cards (FITS 4.0 4.2), first occurrence
    of a keyword winning as in astropy; commentary cards are skipped. ``None`` when any card
    needs the full parser (HIERARCH, CONTINUE, complex values, anything irregular).

    About 30 times faster than :class:`astropy.io.fits.Header` for our headers, whose parsing
    dominated the ingest and photometry time (benchmarks/star.py).
    """
    out: dict[str, Any] = {}
    for i in range(0, len(text), CARD_BYTES):
        card = text[i : i + CARD_BYTES]
        key = card[:8].rstrip()
        if key == "END":
            return out
        if card[8:10] != "= ":
            if key in ("CONTINUE", "HIERARCH"):
                return None
            continue  # COMMENT, HISTORY, blank and other commentary cards
        if not _KEYWORD.match(key):
            return None
        ok, value = _card_value(card[10:])
        if not ok:
            return None
        out.setdefault(key, value)
    return None  # no END card: let astropy say what is wrong


def _parse_header(raw: bytes, label: str) -> Mapping[str, Any]:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE, f"the header of {label} contains non-ASCII bytes"
        ) from exc
    fast = _fast_header(text)
    if fast is not None:
        return fast
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return fits.Header.fromstring(text)
    except Exception as exc:  # astropy raises several types for malformed cards
        raise InvalidAcquisitionError(RejectReason.BAD_VALUE, f"the header of {label} is malformed ({exc})") from exc


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


def _scan(path: Path) -> list[_Hdu]:
    """Walk every HDU of ``path``; check that the file holds every byte its headers declare.

    Errors raised after the primary header was read carry its ``ACQ_ID`` (when it is a string).
    """
    hdus: list[_Hdu] = []
    try:
        _walk(Path(path), hdus)
    except InvalidAcquisitionError as exc:
        if hdus and exc.acq_id is None:
            acq_id = hdus[0].header.get("ACQ_ID")
            if isinstance(acq_id, str) and acq_id.strip():
                exc.acq_id = acq_id.strip()
        raise
    return hdus


def _walk(path: Path, hdus: list[_Hdu]) -> None:
    """Append the HDUs of ``path`` to ``hdus`` (see :func:`_scan`)."""
    name = path.name
    with _open_stream(path) as stream:
        while True:
            start = stream.pos
            first = stream.read(BLOCK_BYTES)
            index = len(hdus)
            if index == 0:
                if not (first.startswith(b"SIMPLE  =") and first[9:80].split(b"/")[0].strip() == b"T"):
                    raise InvalidAcquisitionError(
                        RejectReason.NOT_FITS,
                        f"{name} is not a FITS file: it does not start with the card 'SIMPLE  =  T'"
                        + (" (the file is empty)" if not first else ""),
                    )
                label = "the primary HDU"
            else:
                if not first:
                    break
                if not first.startswith(b"XTENSION"):
                    rest = first + stream.read(CHUNK_BYTES)
                    while rest and not rest.strip(b"\0"):
                        rest = stream.read(CHUNK_BYTES)
                    if not rest:
                        break  # zero padding after the last HDU
                    raise InvalidAcquisitionError(
                        RejectReason.BAD_VALUE,
                        f"{name} has bytes after its last HDU (offset {start}) that are not a FITS extension",
                    )
                label = f"HDU {index}"
            if len(first) < BLOCK_BYTES:
                raise InvalidAcquisitionError(
                    RejectReason.TRUNCATED,
                    f"{name} ends at byte {stream.pos} inside the header of {label}: the file is truncated",
                )
            raw = _read_header_bytes(stream, first, label, name)
            header = _parse_header(raw, label)
            hdu = _Hdu(index, header, start, start + len(raw), 0)
            nbytes = _data_bytes(header, hdu.label, primary=index == 0)
            hdu = _Hdu(index, header, start, start + len(raw), nbytes)
            need = _padded(nbytes)
            got = stream.skip(need)
            if got < need:
                raise InvalidAcquisitionError(
                    RejectReason.TRUNCATED,
                    f"{name} is truncated: {hdu.label} declares {nbytes} bytes of data "
                    f"({need} with padding) ending at byte {hdu.data_offset + need}, "
                    f"but the file ends at byte {hdu.data_offset + got}",
                )
            hdus.append(hdu)


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

    def int_(self, key: str, lo: int | None = None, default: int | None = None) -> int:
        if default is not None and key not in self.hdu.header:
            return default
        value = self.raw(key)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise self.fail(RejectReason.BAD_VALUE, f"key {key} of {self.hdu.label} must be an integer, not {value!r}")
        if lo is not None and value < lo:
            raise self.fail(RejectReason.BAD_VALUE, f"key {key} of {self.hdu.label} is {value}; it must be >= {lo}")
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
    bitpix = keys.int_("BITPIX")
    if bitpix > 0:
        if "BSCALE" in hdu.header:
            keys.float_("BSCALE", 0.0, lo_open=True)
        if "BZERO" in hdu.header:
            keys.float_("BZERO")
        if "BLANK" in hdu.header:
            keys.int_("BLANK")
    star_x = star_y = None
    if acq.acq_type is AcqType.STAR:
        star_x = keys.float_("STARX", -3.5, nx + 2.5, unit=" px")
        star_y = keys.float_("STARY", -3.5, ny + 2.5, unit=" rows")
    return BandHeader(
        band=band,
        shape=(ny, nx),
        dark_dn=keys.float_("DARK", unit=" DN"),
        gain_factor=keys.float_("GAINFACT", 0.0, lo_open=True),
        oversamp=keys.float_("OVERSAMP", 1.0),
        binning=keys.int_("BINNING", lo=1, default=1),
        pixscale_urad=keys.float_("PIXSCALE", 0.0, lo_open=True, unit=" urad"),
        lineper_ms=keys.float_("LINEPER", 0.0, lo_open=True, unit=" ms"),
        saturate_dn=keys.float_("SATURATE", 0.0, lo_open=True, unit=" DN"),
        star_x=star_x,
        star_y=star_y,
        bunit=bunit,
    )


def _table_columns(hdu: _Hdu) -> dict[str, str]:
    """Column name -> TFORM of a binary-table HDU, from its header."""
    h = hdu.header
    n = h.get("TFIELDS", 0)
    return {
        str(h.get(f"TTYPE{i}", "")).strip().upper(): str(h.get(f"TFORM{i}", "")).strip().upper()
        for i in range(1, int(n) + 1)
    }


def _check_table_header(hdu: _Hdu, columns: tuple[str, ...], strings: tuple[str, ...], acq_id: str) -> None:
    keys = _Keys(hdu, acq_id)
    if hdu.kind != "BINTABLE":
        raise keys.fail(RejectReason.BAD_VALUE, f"{hdu.label} must be a binary table, not {hdu.kind!r}")
    if hdu.data_bytes > MAX_TABLE_BYTES:
        raise keys.fail(RejectReason.BAD_VALUE, f"{hdu.label} is {hdu.data_bytes} bytes, larger than expected")
    have = _table_columns(hdu)
    missing = [c for c in columns if c not in have]
    if missing:
        raise keys.fail(RejectReason.MISSING_KEY, f"table {hdu.label} lacks column(s) {missing} (has {sorted(have)})")
    for col in columns:
        form = have[col]
        is_string = form.endswith("A") or (form[:-1].isdigit() and form[-1:] == "A")
        if (col in strings) != is_string:
            kind = "a string" if col in strings else "numeric"
            raise keys.fail(RejectReason.BAD_VALUE, f"column {col} of {hdu.label} must be {kind} (TFORM {form!r})")
        if not is_string and form.lstrip("0123456789")[:1] not in ("B", "I", "J", "K", "E", "D"):
            raise keys.fail(RejectReason.BAD_VALUE, f"column {col} of {hdu.label} has unsupported TFORM {form!r}")


def _read_table(path: Path, hdu: _Hdu) -> Any:
    """FITS_rec of a (small) binary table HDU, read from its bytes only."""
    with _open_stream(path) as stream:
        stream.seek(hdu.header_offset)
        raw = stream.read(hdu.data_offset - hdu.header_offset + _padded(hdu.data_bytes))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = fits.BinTableHDU.fromstring(raw)
            return table.data
    except Exception as exc:
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE, f"table {hdu.label} of {path.name} cannot be decoded ({exc})"
        ) from exc


def _table_dict(path: Path, hdu: _Hdu, columns: tuple[str, ...], strings: tuple[str, ...]) -> dict[str, Any]:
    data = _read_table(path, hdu)
    out: dict[str, Any] = {}
    names = {n.upper(): n for n in data.columns.names}
    for col in columns:
        values = np.asarray(data[names[col]])
        if col in strings:
            out[col] = np.char.strip(values.astype(str))
        else:
            out[col] = values.astype(np.float64)
    return out


def _validate_ephem(path: Path, hdu: _Hdu, acq_id: str) -> None:
    _check_table_header(hdu, EPHEM_COLUMNS, (), acq_id)
    cols = _table_dict(path, hdu, EPHEM_COLUMNS, ())
    keys = _Keys(hdu, acq_id)
    n = cols["T"].size
    if n < 2:
        raise keys.fail(RejectReason.BAD_VALUE, f"table {hdu.label} has {n} orbit sample(s); at least 2 are needed")
    for col, values in cols.items():
        if not np.all(np.isfinite(values)):
            raise keys.fail(RejectReason.BAD_VALUE, f"column {col} of {hdu.label} holds non-finite values")
    if np.any(np.diff(cols["T"]) <= 0):
        raise keys.fail(RejectReason.BAD_VALUE, f"column T of {hdu.label} is not strictly increasing")
    radius = np.sqrt(cols["X"] ** 2 + cols["Y"] ** 2 + cols["Z"] ** 2)
    lo, hi = ORBIT_RADIUS_RANGE_KM
    if np.any((radius < lo) | (radius > hi)):
        worst = float(radius[np.argmax(np.abs(radius - 0.5 * (lo + hi)))])
        raise keys.fail(
            RejectReason.BAD_VALUE,
            f"table {hdu.label} holds a position of magnitude {worst:.1f} km, outside {lo:g}-{hi:g} km",
        )


def _validate_gcp(path: Path, hdu: _Hdu, acq_id: str, nsamp: int) -> None:
    _check_table_header(hdu, GCP_COLUMNS, _GCP_STR_COLUMNS, acq_id)
    cols = _table_dict(path, hdu, GCP_COLUMNS, _GCP_STR_COLUMNS)
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
        focal_mm=keys.float_("FOCAL", 0.0, lo_open=True, unit=" mm"),
        pixpitch_um=keys.float_("PIXPITCH", 0.0, lo_open=True, unit=" um"),
        nsamp=keys.int_("NSAMP", lo=1),
        lineper_ms=keys.float_("LINEPER", 0.0, lo_open=True, unit=" ms"),
        t0_fore=t0_fore,
        t0_aft=t0_aft,
        pitch_fore_deg=keys.float_("PITCH_F", -80.0, 80.0, unit=" deg"),
        pitch_aft_deg=keys.float_("PITCH_A", -80.0, 80.0, unit=" deg"),
    )


def _validate(path: Path) -> _Validated:
    path = Path(path)
    hdus = _scan(path)
    acq, keys = _validate_primary(hdus[0])
    tables: dict[str, _Hdu] = {}
    images: list[_Hdu] = []
    for hdu in hdus[1:]:
        if hdu.kind == "IMAGE":
            images.append(hdu)
        elif hdu.kind == "BINTABLE" and hdu.extname is not None:
            name = hdu.extname.upper()
            if name in tables and name in ("EPHEM", "GCP"):
                raise keys.fail(RejectReason.BAD_VALUE, f"{path.name} holds two {name} tables")
            tables[name] = hdu
    geom: GeomHeader | None = None
    bands: list[BandHeader] = []
    if acq.acq_type is AcqType.GEOM:
        geom = _validate_geom_keys(keys)
        for name in ("EPHEM", "GCP"):
            if name not in tables:
                raise keys.fail(RejectReason.MISSING_KEY, f"a GEOM file needs a binary table HDU {name}")
        _validate_ephem(path, tables["EPHEM"], acq.acq_id)
        _validate_gcp(path, tables["GCP"], acq.acq_id, geom.nsamp)
    else:
        if not images:
            raise keys.fail(RejectReason.BAD_VALUE, f"{acq.acq_type.value} file {path.name} has no image HDU")
        for hdu in images:
            band = _validate_band(hdu, acq)
            if any(b.band == band.band for b in bands):
                raise keys.fail(RejectReason.BAD_VALUE, f"band {band.band!r} appears twice ({hdu.label})")
            bands.append(band)
        if "EPHEM" in tables:
            _validate_ephem(path, tables["EPHEM"], acq.acq_id)
    acq = dataclasses.replace(acq, bands=tuple(bands))
    return _Validated(acq, geom, tuple(hdus))


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def read_acquisition_header(path: Path) -> AcquisitionHeader:
    """Validate an acquisition file and return its primary and band headers.

    The whole file structure is checked (every declared byte present, gzip streams decompressed
    in bounded memory), then the keys of ICD 1.1, 1.2 (STAR/MOON) or 3 (GEOM, including the
    ``EPHEM`` and ``GCP`` tables). Image pixels are not read: call :func:`check_band_data` for
    the all-NaN test.

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
        ``NOT_FITS``, ``TRUNCATED``, ``UNREADABLE``, ``MISSING_KEY``, ``BAD_VALUE`` or
        ``UNKNOWN_BAND``, with a message naming the HDU, key and value.
    """
    return _validate(Path(path)).header


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
    validated = _validate(Path(path))
    if validated.geom is None:
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE,
            f"{Path(path).name} is a {validated.header.acq_type.value} acquisition, not GEOM",
            validated.header.acq_id,
        )
    return validated.geom


def validate_acquisition(path: Path) -> tuple[AcquisitionHeader, GeomHeader | None]:
    """Validate an acquisition file completely, in one pass over its structure, for ingest.

    Equivalent to :func:`read_acquisition_header`, then :func:`read_geom_header` for a GEOM file
    and :func:`check_band_data` for every band of a STAR/MOON file, in that order (so the same
    file is refused with the same reason), but the HDUs are walked once and the all-NaN test
    reads the images through one stream in file order (a ``.fits.gz`` is decompressed once for
    the test instead of once per band).

    Parameters
    ----------
    path : Path
        ``*.fits`` or ``*.fits.gz`` file (gzip is detected from the content, not the name).

    Returns
    -------
    header : AcquisitionHeader
        As returned by :func:`read_acquisition_header`.
    geom : GeomHeader or None
        The ICD 3 keys of a GEOM file (as :func:`read_geom_header`); None for STAR and MOON.

    Raises
    ------
    InvalidAcquisitionError
        Any reason of :func:`read_acquisition_header`; ``ALL_NAN`` when every pixel of a band is
        NaN (the whole file is refused; a partly NaN band is fine).
    """
    path = Path(path)
    validated = _validate(path)
    if validated.geom is not None:
        return validated.header, validated.geom
    names = {b.band for b in validated.header.bands}
    images = [h for h in validated.hdus[1:] if h.kind == "IMAGE" and h.extname in names and _can_hold_nan(h)]
    if images:
        with _open_stream(path) as stream:
            for hdu in images:  # file order: the gzip stream only moves forward
                if _is_all_nan(stream, path, hdu):
                    raise _all_nan_error(path, validated.hdus, hdu)
    return validated.header, None


def _find_band(hdus: list[_Hdu], band: str, path: Path) -> _Hdu:
    for hdu in hdus[1:]:
        if hdu.kind == "IMAGE" and hdu.extname == band:
            return hdu
    raise InvalidAcquisitionError(RejectReason.UNKNOWN_BAND, f"{path.name} has no image HDU for band {band!r}")


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
                RejectReason.TRUNCATED, f"{path.name} ended while reading {hdu.label}: the file is truncated"
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


def _all_nan_error(path: Path, hdus: Sequence[_Hdu], hdu: _Hdu) -> InvalidAcquisitionError:
    acq_id = hdus[0].header.get("ACQ_ID")
    return InvalidAcquisitionError(
        RejectReason.ALL_NAN,
        f"band {hdu.extname!r} ({hdu.label}) of {path.name} holds no data: every pixel is NaN",
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
            raise _all_nan_error(path, hdus, hdu)


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
    raise InvalidAcquisitionError(RejectReason.MISSING_KEY, f"{path.name} has no binary table HDU {name}")


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


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB chunks.

    Parameters
    ----------
    path : Path
        Any file.

    Returns
    -------
    str
        64 lower-case hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()
