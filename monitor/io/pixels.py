"""Pixel decoding of image HDUs in row strips: physical values, all-NaN test, band images.

Image pixels are read only by :func:`check_band_data` and
:func:`monitor.io.acquisition.validate_acquisition` (all-NaN test, in row strips), :func:`read_band`
and :func:`read_bands` (small images, star vignettes). All apply ``BSCALE``/``BZERO`` and map
integer ``BLANK`` pixels to NaN. :func:`read_bands` (photometry) walks the file once, however many
bands it holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.domain import RejectReason
from monitor.io.errors import InvalidAcquisitionError, shown_name
from monitor.io.fits_stream import Stream, open_stream
from monitor.io.fits_structure import BITPIX_DTYPE, Hdu, scan

__all__ = [
    "STRIP_BYTES",
    "iter_strips",
    "check_any_band_holds_data",
    "check_band_data",
    "read_band",
    "read_bands",
]

STRIP_BYTES = 16 << 20  # image rows are read in strips of about this size


def _find_band(hdus: list[Hdu], band: str, path: Path) -> Hdu:
    for hdu in hdus[1:]:
        if hdu.kind == "IMAGE" and hdu.extname == band:
            return hdu
    raise InvalidAcquisitionError(RejectReason.UNKNOWN_BAND, f"{shown_name(path)} has no image HDU for band {band!r}")


def iter_strips(
    stream: Stream, path: Path, hdu: Hdu, rows_per_strip: int | None = None
) -> Iterator[tuple[int, NDArray[np.float32]]]:
    """Yield the physical values of a 2-D image HDU in row strips, from an open stream: the one
    pixel decoder of io.

    The stream is moved to the HDU's data first (forward only for gzip: callers visit HDUs in
    file order). Each strip is ``(index of its first row, values)``, the values a fresh
    C-contiguous float32 array of shape ``(n_rows, NAXIS1)`` that the caller may modify:
    ``BZERO + BSCALE * stored`` (float32 arithmetic for BITPIX -32 data, float64 for integer and
    BITPIX -64 data, then rounded once to float32); integer pixels equal to ``BLANK`` become NaN,
    float NaNs pass through. ``rows_per_strip`` defaults to about :data:`STRIP_BYTES` of stored
    data per strip; memory use is one strip whatever the image size.

    Raises
    ------
    InvalidAcquisitionError
        ``TRUNCATED`` when the data end early.
    """
    h = hdu.header
    bitpix = int(h["BITPIX"])
    nx, ny = int(h["NAXIS1"]), int(h["NAXIS2"])
    dtype = np.dtype(BITPIX_DTYPE[bitpix])
    scaling = (float(h.get("BSCALE", 1.0)), float(h.get("BZERO", 0.0)))
    blank = h.get("BLANK") if bitpix > 0 else None
    row_bytes = nx * dtype.itemsize
    if rows_per_strip is None:
        rows_per_strip = max(1, STRIP_BYTES // max(row_bytes, 1))
    stream.seek(hdu.data_offset)
    for row0 in range(0, ny, rows_per_strip):
        n = min(rows_per_strip, ny - row0)
        raw = stream.read(n * row_bytes)
        if len(raw) < n * row_bytes:
            raise InvalidAcquisitionError(
                RejectReason.TRUNCATED, f"{shown_name(path)} ended while reading {hdu.label}: the file is truncated"
            )
        yield row0, _physical(np.frombuffer(raw, dtype=dtype).reshape(n, nx), scaling, blank)


def _physical(stored: NDArray[Any], scaling: tuple[float, float], blank: Any) -> NDArray[np.float32]:
    """Physical float32 values of stored pixels (see :func:`iter_strips`)."""
    bscale, bzero = scaling
    if stored.dtype.kind == "f" and stored.dtype.itemsize == 4:
        out32 = stored.astype(np.float32)  # native byte order, a copy
        return out32 * bscale + bzero if bscale != 1.0 or bzero != 0.0 else out32
    out = stored.astype(np.float64) * bscale + bzero
    if blank is not None:
        out[stored == int(blank)] = np.nan
    with np.errstate(over="ignore"):  # beyond the float32 range: inf
        return out.astype(np.float32)


def _image(stream: Stream, path: Path, hdu: Hdu) -> NDArray[np.float32]:
    """The whole image of an HDU (small images), from an open stream."""
    return np.concatenate([strip for _, strip in iter_strips(stream, path, hdu)], axis=0)


def _can_hold_nan(hdu: Hdu) -> bool:
    """Whether an image HDU can hold NaN pixels (float data, or integers with ``BLANK``)."""
    return int(hdu.header["BITPIX"]) < 0 or "BLANK" in hdu.header


def _all_nan_error(path: Path, hdus: Sequence[Hdu], images: Sequence[Hdu]) -> InvalidAcquisitionError:
    acq_id = hdus[0].header.get("ACQ_ID")
    bands = ", ".join(repr(h.extname) for h in images)
    what = f"band {bands} ({images[0].label})" if len(images) == 1 else f"every band ({bands})"
    return InvalidAcquisitionError(
        RejectReason.ALL_NAN,
        f"{what} of {shown_name(path)} holds no data: every pixel is NaN",
        acq_id.strip() if isinstance(acq_id, str) else None,
    )


def _is_all_nan(stream: Stream, path: Path, hdu: Hdu) -> bool:
    """Whether every pixel of an image HDU is NaN; stops at the first strip holding a number."""
    return all(bool(np.all(np.isnan(strip))) for _, strip in iter_strips(stream, path, hdu))


def check_any_band_holds_data(path: Path, hdus: Sequence[Hdu], data: bytes | None = None) -> None:
    """Refuse a file whose every band image is entirely NaN (``ALL_NAN``); one number is enough.

    The images are read through one stream in file order (a ``.fits.gz`` is decompressed once),
    in row strips, stopping at the first strip holding a number. A file with an integer image
    without ``BLANK`` (which cannot hold NaN) is not read.

    Parameters
    ----------
    path : Path
        The file (named in messages when ``data`` is given).
    hdus : sequence of Hdu
        Its HDUs (:func:`monitor.io.fits_structure.scan`); every image HDU is a validated band.
    data : bytes, optional
        The file's bytes, read instead of the file.

    Raises
    ------
    InvalidAcquisitionError
        ``ALL_NAN``; ``TRUNCATED``/``UNREADABLE`` when the data are damaged.
    """
    images = [h for h in hdus[1:] if h.kind == "IMAGE"]
    if not images or not all(_can_hold_nan(h) for h in images):
        return
    with open_stream(path, data) as stream:
        for hdu in images:  # file order: the gzip stream only moves forward
            if not _is_all_nan(stream, path, hdu):
                return
    raise _all_nan_error(path, hdus, images)


def check_band_data(path: Path, band: str) -> None:
    """Refuse a band whose image is entirely NaN (missing data); a partly NaN band is fine.

    The image is read in row strips of about 16 MB, stopping at the first strip holding a
    number, so memory stays bounded for large (Moon) images. Integer images without ``BLANK``
    cannot hold NaN and are not read.

    Parameters
    ----------
    path : Path
        A file that passed :func:`monitor.io.acquisition.validate_acquisition` (the ingest).
    band : str
        ``EXTNAME`` of the image HDU.

    Raises
    ------
    InvalidAcquisitionError
        ``ALL_NAN`` when every pixel is NaN; ``UNKNOWN_BAND`` when the band is absent;
        ``TRUNCATED``/``NOT_FITS`` when the file is damaged.
    """
    path = Path(path)
    hdus = scan(path)
    hdu = _find_band(hdus, band, path)
    if not _can_hold_nan(hdu):
        return
    with open_stream(path) as stream:
        if _is_all_nan(stream, path, hdu):
            raise _all_nan_error(path, hdus, [hdu])


def read_band(path: Path, band: str) -> NDArray[np.float32]:
    """Read one band image in physical DN (``BSCALE``/``BZERO`` applied, ``BLANK`` -> NaN).

    Meant for small images (star vignettes); the whole image is returned in memory.

    Parameters
    ----------
    path, band : Path, str
        As for :func:`check_band_data`.

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
    hdu = _find_band(scan(path), band, path)
    with open_stream(path) as stream:
        return _image(stream, path, hdu)


def read_bands(path: Path) -> dict[str, NDArray[np.float32]]:
    """Read every band image of a file in one pass, in physical DN (``BLANK`` -> NaN).

    The file structure is walked once and the images are read through one stream in file
    order, instead of once per band as repeated :func:`read_band` calls would do (each of which
    re-walks every header). Meant for small images (star vignettes): everything is in memory.

    Parameters
    ----------
    path : Path
        A file that passed :func:`monitor.io.acquisition.validate_acquisition` (the ingest).

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
    wanted: list[Hdu] = []
    seen: set[str] = set()
    for hdu in scan(path)[1:]:
        name = hdu.extname
        if hdu.kind == "IMAGE" and name is not None and name not in seen and int(hdu.header["NAXIS"]) == 2:
            seen.add(name)
            wanted.append(hdu)
    out: dict[str, NDArray[np.float32]] = {}
    if not wanted:
        return out
    with open_stream(path) as stream:
        for hdu in wanted:
            out[str(hdu.extname)] = _image(stream, path, hdu)
    return out
