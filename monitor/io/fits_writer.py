"""Writer of ICD-1 acquisition files, atomic on the final name.

The file is written to ``<name>.part`` in the destination directory, flushed and ``fsync``-ed,
renamed onto ``<name>`` (``os.replace``, atomic on POSIX within one file system), the directory is
``fsync``-ed, and finally an empty ``<name>.done`` marker is created (ICD 1: a file is complete
when its ``.done`` sibling exists). A reader polling the directory therefore never sees a
partial file under its final name; an interrupted write leaves only a ``.part`` file.

A name ending in ``.gz`` is written gzip-compressed (``mtime=0``, so equal content gives equal
bytes).

Image data types (``dtype``):

- ``float32`` (default): BITPIX -32, NaN kept.
- ``int16``: BITPIX 16 with ``BZERO`` chosen so the values fit (0 when they already fit, else an
  integer offset at the middle of the range); values are rounded; NaN pixels are stored as
  ``BLANK = -32768``.
- ``uint16``: BITPIX 16 with ``BZERO = 32768`` (FITS unsigned convention); values are rounded and
  must lie in 0..65534 when NaNs are present (``BLANK`` = stored -32768 is physical 0, so for
  uint16 the BLANK stored value is 32767, physical 65535).

Header cards: the key names, value types (``Kind``), units and comments are those of the ICD key
tables (:mod:`monitor.io.icd_keys`, which the reader's validator checks against); the writer adds
only the order of the cards in its files (:data:`PRIMARY_CARD_ORDER`, :data:`GEOM_CARD_ORDER`,
:data:`BAND_CARD_ORDER`: the tables' order is that of the reader's checks) and where a value comes
from when no single attribute of the domain object holds it (a vector component, ``TIMESYS``). A
key that the table does not require of every acquisition type (``RA_TARG``, ``STARX``...) is
written when the domain object has a value.

The writer checks the structure (images match ``header.bands``; shapes) but deliberately not the
values against the ICD: the simulator uses it to write invalid files on purpose. Cards are typed
values of our own keys, so astropy's output verification is skipped (it cost 40 % of the write
time); :func:`monitor.io.acquisition.read_acquisition_header` is the check of conformity.
"""

from __future__ import annotations

import gzip
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
from astropy.io import fits
from numpy.typing import NDArray

from monitor.domain import AcquisitionHeader, BandHeader, GeomHeader
from monitor.fsutil import atomic_write, fsync_dir, fsync_file
from monitor.io.icd_keys import ALL_TYPES, BAND_KEYS, BAND_NAME, GEOM_KEYS, PRIMARY_KEYS, Key, Kind

__all__ = [
    "write_acquisition",
    "format_fits_time",
    "primary_cards",
    "band_cards",
    "PRIMARY_CARD_ORDER",
    "GEOM_CARD_ORDER",
    "BAND_CARD_ORDER",
    "PART_SUFFIX",
    "DONE_SUFFIX",
]

PART_SUFFIX = ".part"
DONE_SUFFIX = ".done"

ImageDtype = Literal["float32", "int16", "uint16"]

# The order of the cards in the files (ICD 1.1, ICD 3, ICD 1.2); what each card is: the key tables.
PRIMARY_CARD_ORDER: tuple[str, ...] = (
    "ACQ_ID", "MISSION", "SATELLIT", "ACQTYPE", "TARGET", "DATE-OBS", "TIMESYS",
    "SC_POSX", "SC_POSY", "SC_POSZ", "SC_VELX", "SC_VELY", "SC_VELZ", "RA_TARG", "DEC_TARG", "ICD",
)
GEOM_CARD_ORDER: tuple[str, ...] = ("FOCAL", "PIXPITCH", "NSAMP", "LINEPER", "T0_FORE", "T0_AFT", "PITCH_F", "PITCH_A")
BAND_CARD_ORDER: tuple[str, ...] = (
    "BUNIT", "DARK", "GAINFACT", "OVERSAMP", "BINNING", "PIXSCALE", "LINEPER", "SATURATE", "STARX", "STARY",
)

# Values that no single attribute of the domain object (a row's ``field``) holds: a component of a
# vector attribute, or a constant of the writer.
_COMPONENTS: dict[str, tuple[str, int]] = {
    **{f"SC_POS{axis}": ("sc_pos_km", i) for i, axis in enumerate("XYZ")},
    **{f"SC_VEL{axis}": ("sc_vel_km_s", i) for i, axis in enumerate("XYZ")},
}
_CONSTANTS: dict[str, Any] = {"TIMESYS": "UTC"}


def _rows(table: tuple[Key, ...], order: tuple[str, ...]) -> tuple[Key, ...]:
    """The rows of a key table in the writer's card order (every name a row of the table)."""
    by_name = {key.name: key for key in table}
    return tuple(by_name[name] for name in order)


_PRIMARY_ROWS = _rows(PRIMARY_KEYS, PRIMARY_CARD_ORDER)
_GEOM_ROWS = _rows(GEOM_KEYS, GEOM_CARD_ORDER)
_BAND_ROWS = _rows(BAND_KEYS, BAND_CARD_ORDER)



def _keys_of_fields(rows: tuple[Key, ...]) -> dict[str, tuple[str, ...]]:
    """Domain attribute -> the keys of its cards (a vector attribute has three)."""
    out: dict[str, tuple[str, ...]] = {}
    for key in rows:
        attr = _COMPONENTS[key.name][0] if key.name in _COMPONENTS else key.field
        if attr:
            out[attr] = (*out.get(attr, ()), key.name)
    return out


# Primary-header keys of each AcquisitionHeader field (``omit`` of write_acquisition).
_PRIMARY_KEYS = _keys_of_fields(_PRIMARY_ROWS)


def format_fits_time(t: datetime) -> str:
    """ISO 8601 UTC without a zone suffix, milliseconds (microseconds when needed).

    Parameters
    ----------
    t : datetime
        Aware datetime (converted to UTC) or naive datetime taken as UTC.

    Returns
    -------
    str
        E.g. ``2025-03-14T02:15:33.120``.
    """
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    spec = "milliseconds" if t.microsecond % 1000 == 0 else "microseconds"
    return t.isoformat(timespec=spec)


def _typed(key: Key, value: Any) -> Any:
    """A domain value as its card holds it, by the row's kind."""
    if key.kind is Kind.FLOAT:
        return float(value)
    if key.kind is Kind.INT:
        return int(value)
    if key.kind is Kind.DATE:
        return format_fits_time(value)
    if isinstance(key.kind, type):  # an enum of the domain
        return value.value
    return value


def _cards(rows: tuple[Key, ...], source: Any) -> list[tuple[str, Any, str]]:
    """``(key, value, comment)`` of the rows, values from the domain object ``source``."""
    cards: list[tuple[str, Any, str]] = []
    for key in rows:
        if key.name in _CONSTANTS:
            value = _CONSTANTS[key.name]
        elif key.name in _COMPONENTS:
            attr, i = _COMPONENTS[key.name]
            value = getattr(source, attr)[i]
        else:
            value = getattr(source, key.field)
        if value is None and key.required != ALL_TYPES:  # not required of every type: written when given
            continue
        cards.append((key.name, _typed(key, value), key.card_comment))
    return cards


def primary_cards(header: AcquisitionHeader, geom: GeomHeader | None = None) -> list[tuple[str, Any, str]]:
    """Primary-header cards of ICD 1.1 (and ICD 3 for GEOM) as ``(key, value, comment)``.

    Parameters
    ----------
    header : AcquisitionHeader
        Acquisition description.
    geom : GeomHeader, optional
        GEOM keys, written after the ICD 1.1 keys.

    Returns
    -------
    list of tuple
        Cards in the order they are written.
    """
    return _cards(_PRIMARY_ROWS, header) + (_cards(_GEOM_ROWS, geom) if geom is not None else [])


def band_cards(band: BandHeader) -> list[tuple[str, Any, str]]:
    """Image-header cards of ICD 1.2 for one band (``EXTNAME`` excluded).

    Parameters
    ----------
    band : BandHeader
        Band description.

    Returns
    -------
    list of tuple
        ``(key, value, comment)`` cards.
    """
    return _cards(_BAND_ROWS, band)


def _image_hdu(band: BandHeader, image: NDArray[Any], dtype: ImageDtype) -> fits.ImageHDU:
    data = np.asarray(image, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError(f"image of band {band.band!r} must be 2-D, not {data.shape}")
    if tuple(data.shape) != tuple(band.shape):
        raise ValueError(f"image of band {band.band!r} has shape {data.shape}, header says {band.shape}")
    hdr = fits.Header()
    hdr[BAND_NAME.name] = (band.band, BAND_NAME.card_comment)
    for key, value, comment in band_cards(band):
        hdr[key] = (value, comment)
    if dtype == "float32":
        return fits.ImageHDU(data=data.astype(">f4"), header=hdr)
    nan = np.isnan(data)
    finite = data[~nan]
    if dtype == "uint16":
        bzero, blank = 32768, 32767
    elif dtype == "int16":
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        bzero = 0 if lo >= -32767 and hi <= 32767 else int(np.round(0.5 * (lo + hi)))
        blank = -32768
    else:
        raise ValueError(f"unsupported image dtype {dtype!r}")
    raw = np.round(data - bzero)
    valid_lo, valid_hi = -32768, 32767
    if nan.any():
        valid_lo, valid_hi = (-32767, 32767) if blank == -32768 else (-32768, 32766)
    if finite.size and (raw[~nan].min() < valid_lo or raw[~nan].max() > valid_hi):
        raise ValueError(f"image of band {band.band!r} does not fit in {dtype} (range {finite.min()}..{finite.max()})")
    raw[nan] = blank
    hdu = fits.ImageHDU(data=raw.astype(">i2"), header=hdr, do_not_scale_image_data=True)
    hdu.header["BSCALE"] = 1
    hdu.header["BZERO"] = bzero
    if nan.any():
        hdu.header["BLANK"] = blank
    return hdu


def _table_hdu(name: str, columns: Mapping[str, Any]) -> fits.BinTableHDU:
    cols = []
    for key, values in columns.items():
        arr = np.asarray(values)
        if arr.dtype.kind in ("U", "S", "O"):
            strs = arr.astype(str)
            width = max(1, max((len(s) for s in strs.tolist()), default=1))
            cols.append(fits.Column(name=key, format=f"{width}A", array=strs))
        elif arr.dtype.kind in ("i", "u"):
            cols.append(fits.Column(name=key, format="K", array=arr.astype(np.int64)))
        else:
            cols.append(fits.Column(name=key, format="D", array=arr.astype(np.float64)))
    return fits.BinTableHDU.from_columns(cols, name=name)


def write_acquisition(
    path: Path,
    header: AcquisitionHeader,
    images: Mapping[str, NDArray[Any]],
    *,
    geom: GeomHeader | None = None,
    ephem: Mapping[str, Any] | None = None,
    gcp: Mapping[str, Any] | None = None,
    extra_primary: Mapping[str, Any] | None = None,
    omit: Collection[str] = (),
    dtype: ImageDtype = "float32",
    done_marker: bool = True,
    durable: bool = True,
) -> None:
    """Write one acquisition file following ICD-1, atomically.

    Parameters
    ----------
    path : Path
        Final file name (``*.fits`` or ``*.fits.gz``; ``.gz`` means gzip-compressed).
    header : AcquisitionHeader
        Primary-header content; ``header.bands`` describes the image HDUs, in order.
    images : Mapping[str, NDArray]
        Band name -> 2-D image in DN (rows along track), one per entry of ``header.bands``.
    geom : GeomHeader, optional
        GEOM keys of ICD 3 (primary header).
    ephem : Mapping[str, array-like], optional
        ``EPHEM`` table columns (``T``, ``X``, ``Y``, ``Z``, ``VX``, ``VY``, ``VZ``).
    gcp : Mapping[str, array-like], optional
        ``GCP`` table columns (``ID``, ``ROLE``, ``LAT``, ``LON``, ``H``, ``VIEW``, ``LINE``,
        ``SAMPLE``); string columns become ``nA``, numbers ``D``.
    extra_primary : Mapping[str, Any], optional
        Cards added to (or replacing) the primary header after the standard ones; a value of
        ``None`` deletes the key (used to write invalid files on purpose).
    omit : collection of str
        ``AcquisitionHeader`` fields whose cards are left out of the primary header, e.g.
        ``("date_obs",)`` (used to write invalid files on purpose).
    dtype : {"float32", "int16", "uint16"}
        Storage type of the images (see the module docstring for BZERO/BLANK).
    done_marker : bool
        Create the empty ``<name>.done`` marker after the rename.
    durable : bool
        ``fsync`` the file, the marker and the directory (default). The simulator turns it off
        for speed; the rename stays atomic either way, only crash durability is lost.

    Raises
    ------
    ValueError
        Images that do not match ``header.bands`` or do not fit in the integer type; an unknown
        field in ``omit``.
    OSError
        File-system errors; the ``.part`` file is removed.
    """
    path = Path(path)
    names = [b.band for b in header.bands]
    if sorted(names) != sorted(images) or len(set(names)) != len(names):
        raise ValueError(f"images {sorted(images)} do not match the bands of the header {names}")
    unknown = sorted(set(omit) - set(_PRIMARY_KEYS))
    if unknown:
        raise ValueError(f"cannot omit {unknown}: not primary-header fields of AcquisitionHeader")
    omitted = {key for name in omit for key in _PRIMARY_KEYS[name]}
    primary = fits.PrimaryHDU()
    for key, value, comment in primary_cards(header, geom):
        if key not in omitted:
            primary.header[key] = (value, comment)
    for key, value in (extra_primary or {}).items():
        if value is None:
            primary.header.remove(key, ignore_missing=True)
        else:
            primary.header[key] = value
    hdus: list[Any] = [primary]
    hdus += [_image_hdu(b, images[b.band], dtype) for b in header.bands]
    if ephem is not None:
        hdus.append(_table_hdu("EPHEM", ephem))
    if gcp is not None:
        hdus.append(_table_hdu("GCP", gcp))
    hdul = fits.HDUList(hdus)

    def write(raw: IO[bytes]) -> None:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
                hdul.writeto(gz, output_verify="ignore")
        else:
            hdul.writeto(raw, output_verify="ignore")

    atomic_write(path, write, durable=durable, suffix=PART_SUFFIX)
    if done_marker:
        with open(path.with_name(path.name + DONE_SUFFIX), "wb") as f:
            if durable:
                fsync_file(f)
        if durable:
            fsync_dir(path.parent)
