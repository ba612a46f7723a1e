"""Byte-level walk of a FITS file (optionally gzip-compressed), HDU by HDU, without loading data.

1. **Structure.** The file is walked HDU by HDU with a small reader of our own (2880-byte blocks,
   80-byte cards). Each header is parsed (:mod:`monitor.io.fits_header`), the declared data size
   is computed from ``BITPIX``, ``NAXISn``, ``PCOUNT`` and ``GCOUNT`` and skipped (``seek`` on a
   plain file, decompress-and-discard in 1 MiB chunks for ``.fits.gz``). A file that ends before
   the last declared byte (padding included) is refused whole as ``TRUNCATED``: this is the case
   astropy silently accepts (it returns the HDUs it could read, or a short data array). Memory use
   is bounded whatever the image size; images are never loaded by the walk.
2. **Bounds.** Every count read from a header is bounded before it drives a loop or an allocation
   (``NAXIS``, ``NAXISn``, ``TFIELDS``, header blocks, HDUs). Before any data byte is skipped or
   decompressed, the pixels of each image and the declared size of the whole file are compared with
   the ingest limits (:class:`Limits`): beyond them the file is ``TOO_LARGE`` (a small
   ``.fits.gz`` may declare gigabytes).

Only damaged data are verdicts: a corrupt or cut gzip stream is ``NOT_FITS``, ``UNREADABLE`` or
``TRUNCATED`` (:mod:`monitor.io.fits_stream`); any other ``OSError`` (permissions, I/O errors, a
FIFO or a directory instead of a file) propagates unchanged, so that the caller leaves the work
pending (``monitor.failures``).

Conventions the ICD leaves open and this walk fixes:

- When ``NEXTEND`` is present, the number of extensions must match it (fewer: ``TRUNCATED``).
- A file is ``TRUNCATED`` when it ends inside a card, whatever the card (``SIMP``, ``XTEN``...).
  An empty file is ``NOT_FITS``.
- Bytes after the last HDU are refused (``BAD_VALUE``) unless they are all zero (at most
  ``MAX_TRAILING_BYTES``).
- The image pixel limit of a MOON file applies to its images; the STAR limit to every other file.
- An extension's ``XTENSION`` must be a string (a damaged one would make a band disappear).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from monitor.domain import AcqType, RejectReason
from monitor.fsutil import CHUNK_BYTES
from monitor.io.errors import InvalidAcquisitionError, shown_name
from monitor.io.fits_header import BLOCK_BYTES, CARD_BYTES, parse_header
from monitor.io.fits_stream import Stream, open_stream

__all__ = [
    "MAX_HEADER_BLOCKS",
    "MAX_HDUS",
    "MAX_NAXIS",
    "MAX_AXIS_LENGTH",
    "MAX_TFIELDS",
    "MAX_TRAILING_BYTES",
    "DEFAULT_MAX_STAR_BAND_PIXELS",
    "DEFAULT_MAX_MOON_BAND_PIXELS",
    "DEFAULT_MAX_FILE_BYTES",
    "MAX_TABLE_BYTES",
    "BITPIX_DTYPE",
    "Hdu",
    "Limits",
    "DEFAULT_LIMITS",
    "axis_lengths",
    "padded",
    "iter_hdus",
    "scan",
    "check_structure",
]

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

MAX_TABLE_BYTES = 64 << 20  # EPHEM/GCP tables are small; refuse anything absurd

BITPIX_DTYPE = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


@dataclass(frozen=True)
class Hdu:
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
class Limits:
    """Size limits of a validation (see :func:`validate_acquisition`)."""

    max_star_band_pixels: int = DEFAULT_MAX_STAR_BAND_PIXELS
    max_moon_band_pixels: int = DEFAULT_MAX_MOON_BAND_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES


DEFAULT_LIMITS = Limits()


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
    if bitpix not in BITPIX_DTYPE:
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


def axis_lengths(header: Mapping[str, Any]) -> list[int]:
    """``NAXIS1..NAXISn`` of a header that passed :func:`_data_bytes`."""
    return [int(header[f"NAXIS{i}"]) for i in range(1, int(header["NAXIS"]) + 1)]


def padded(n: int) -> int:
    return -(-n // BLOCK_BYTES) * BLOCK_BYTES


def _read_header_bytes(stream: Stream, first_block: bytes, label: str, name: str) -> bytes:
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


def scan(path: Path, limits: Limits | None = None, data: bytes | None = None) -> list[Hdu]:
    """Walk every HDU of ``path``; check that the file holds every byte its headers declare.

    ``limits`` (ingest validation) bounds the image and file sizes before any data is skipped;
    None (readers of archived files, which passed the ingest) checks only the structural bounds.
    Errors raised after the primary header was read carry its ``ACQ_ID`` (when it is a string).
    """
    hdus: list[Hdu] = []
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


def _check_tail(stream: Stream, first: bytes, start: int, name: str) -> None:
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


def _band_pixel_limit(primary: Hdu, limits: Limits) -> tuple[int, str]:
    """(pixels allowed per image, file kind) from the primary header's ACQTYPE."""
    acq_type = primary.header.get("ACQTYPE")
    if isinstance(acq_type, str) and acq_type.strip().upper() == AcqType.MOON.value:
        return limits.max_moon_band_pixels, "MOON"
    return limits.max_star_band_pixels, "STAR or GEOM"


def _check_size(hdu: Hdu, hdus: Sequence[Hdu], total_bytes: int, limits: Limits | None, name: str) -> None:
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
        axes = axis_lengths(hdu.header)
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


def _check_nextend(hdus: Sequence[Hdu], name: str) -> None:
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


def _walk(path: Path, hdus: list[Hdu], limits: Limits | None, data: bytes | None = None) -> None:
    """Append the HDUs of ``path`` (or of its bytes ``data``) to ``hdus`` (see :func:`scan`)."""
    name = shown_name(path)
    with open_stream(path, data) as stream:
        for _ in iter_hdus(stream, name, limits, hdus):
            pass
    _check_nextend(hdus, name)


def iter_hdus(
    stream: Stream, name: str, limits: Limits | None = None, walked: list[Hdu] | None = None
) -> Iterator[Hdu]:
    """Yield the HDUs of an open stream in file order, each once its header is read and checked.

    When an HDU is yielded the stream stands at the start of its data, which the caller may read;
    its data are skipped (up to their padded end) when the next HDU is asked for, and ``walked``
    receives the HDU once every declared byte of its data is found. A file that ends early is
    ``TRUNCATED``; what follows the last HDU must be zero padding. Sizes are checked against
    ``limits`` before any data byte is skipped (see :func:`scan`); ``NEXTEND`` is not checked here.
    """
    hdus = walked if walked is not None else []
    total_bytes = 0
    while True:
        start = stream.pos
        first = stream.read(BLOCK_BYTES)
        index = len(hdus)
        if index == 0:
            _check_fits_start(first, name)
            label = "the primary HDU"
        else:
            if not first:
                return
            if not first.startswith(b"XTENSION"):
                _check_tail(stream, first, start, name)
                return
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
        header = parse_header(raw, label)
        nbytes = _data_bytes(header, label, primary=index == 0)
        hdu = Hdu(index, header, start, start + len(raw), nbytes)
        _check_extension_type(hdu)
        _check_table_fields(hdu)
        need = padded(nbytes)
        total_bytes += len(raw) + need
        _check_size(hdu, hdus, total_bytes, limits, name)
        yield hdu
        stream.skip(hdu.data_offset + need - stream.pos)
        got = stream.pos - hdu.data_offset
        if got < need:
            raise InvalidAcquisitionError(
                RejectReason.TRUNCATED,
                f"{name} is truncated: {hdu.label} declares {nbytes} bytes of data "
                f"({need} with padding) ending at byte {hdu.data_offset + need}, "
                f"but the file ends at byte {hdu.data_offset + got}",
            )
        hdus.append(hdu)


def _check_extension_type(hdu: Hdu) -> None:
    """``XTENSION`` of an extension is a non-empty string (an HDU of an unknown type is skipped:
    a band whose ``XTENSION`` is damaged must not silently disappear from the file)."""
    if hdu.index == 0:
        return
    value = hdu.header.get("XTENSION")
    if not isinstance(value, str) or not value.strip():
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE, f"XTENSION of {hdu.label} is {value!r}; an extension type is a string like 'IMAGE'"
        )


def _check_table_fields(hdu: Hdu) -> None:
    """``TFIELDS`` of a table HDU, when present, is an integer in [0, 999] (it drives a loop)."""
    if hdu.kind in ("BINTABLE", "TABLE") and "TFIELDS" in hdu.header:
        n = _int_key(hdu.header, "TFIELDS", hdu.label)
        if not 0 <= n <= MAX_TFIELDS:
            raise InvalidAcquisitionError(
                RejectReason.BAD_VALUE, f"TFIELDS = {n} of {hdu.label} is out of range [0, {MAX_TFIELDS}]"
            )


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
    scan(Path(path))
