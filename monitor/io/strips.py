"""Bounded-memory reading of a large 2-D FITS image HDU as strips of rows (float32).

A native PAN Moon image can be 9000 x 20000 float32 (720 MB); the photometry
(``monitor.science.moon_photometry``) works on an iterator of row blocks, and this module makes
that iterator from a file without ever holding the whole image:

- uncompressed ``*.fits``: ``astropy.io.fits.open(memmap=True, do_not_scale_image_data=True)``;
  the image stays a memory map of the raw on-disk integers/floats (astropy would otherwise scale a
  BZERO/BSCALE image in full in memory, defeating the memory map) and every strip is converted
  and scaled here: ``value = BZERO + BSCALE * raw`` in float32 (exact for 16-bit integers);
  integer pixels equal to ``BLANK`` become NaN. Pages already read are released from the
  process (``madvise(MADV_DONTNEED)``), so the resident set does not grow to the file size.
- ``*.fits.gz``: a gzip stream cannot be memory-mapped; the strip rows are decompressed
  sequentially from the HDU's data offset (``hdu.fileinfo()['datLoc']``), so memory is still one
  strip.

The iterator yields ``(row_start, block)`` with ``block`` a fresh C-contiguous float32 array of
shape ``(n_rows, n_columns)``; the caller may modify it.
"""

from __future__ import annotations

import gzip
import mmap
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from numpy.typing import NDArray

from monitor.domain import RejectReason
from monitor.io.errors import InvalidAcquisitionError

__all__ = ["ImageStrips", "iter_image_strips", "image_strips_factory", "image_shape"]

ImageStrips = Iterator[tuple[int, NDArray[np.float32]]]

_BITPIX_DTYPE = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _scale(raw: NDArray[Any], header: fits.Header) -> NDArray[np.float32]:
    """Apply BLANK/BSCALE/BZERO to one raw strip, returning native-endian float32."""
    out = raw.astype(np.float32)  # native byte order, a copy
    bscale = float(header.get("BSCALE", 1.0))
    bzero = float(header.get("BZERO", 0.0))
    if bscale != 1.0:
        out *= np.float32(bscale)
    if bzero != 0.0:
        out += np.float32(bzero)
    if raw.dtype.kind in "iu" and "BLANK" in header:
        out[raw == int(header["BLANK"])] = np.nan
    return out


def _find_mmap(arr: NDArray[Any]) -> mmap.mmap | None:
    """The ``mmap.mmap`` behind an astropy memory-mapped array, if any."""
    base: object = arr
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        base = getattr(base, "base", None)
    return None


def _release_pages(mapping: mmap.mmap | None, start: int, stop: int) -> None:
    """Drop the already-read pages [start, stop) of a read-only file mapping from this process.

    ``madvise(MADV_DONTNEED)``: the pages stay in the kernel's page cache but no longer count in
    the process's resident set, so the RSS stays at one strip instead of growing to the file size.
    Best effort (no-op where ``madvise`` is unavailable).
    """
    if mapping is None or not hasattr(mapping, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    page = mmap.PAGESIZE
    lo = (start // page) * page
    hi = (stop // page) * page
    if hi > lo:
        try:
            mapping.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        except (OSError, ValueError):
            pass


def image_shape(path: str | Path, extname: str) -> tuple[int, int]:
    """(rows, columns) of the 2-D image HDU ``extname`` (header only; no data read)."""
    with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
        hdr = hdul[extname].header
        if hdr.get("NAXIS") != 2:
            raise ValueError(f"HDU {extname!r} of {path} is not a 2-D image")
        return int(hdr["NAXIS2"]), int(hdr["NAXIS1"])


def iter_image_strips(path: str | Path, extname: str, rows_per_strip: int = 512) -> ImageStrips:
    """Yield the image HDU ``extname`` of a FITS file as float32 row blocks.

    Parameters
    ----------
    path : str or Path
        FITS file (optionally gzip-compressed).
    extname : str
        ``EXTNAME`` of a 2-D image HDU (a band name, ICD 1.2).
    rows_per_strip : int
        Rows per block (>= 1); memory use is about ``rows_per_strip * n_columns * 8`` bytes.

    Yields
    ------
    (int, NDArray[np.float32])
        Index of the first row of the block and the block, shape ``(n, n_columns)``, scaled with
        BZERO/BSCALE, BLANK integers as NaN (float NaNs pass through).

    Raises
    ------
    KeyError
        If the file has no HDU ``extname``.
    ValueError
        If the HDU is not a 2-D image or ``rows_per_strip < 1``.
    InvalidAcquisitionError
        ``TRUNCATED`` when the file is shorter than its header declares, ``UNREADABLE`` when its
        gzip stream is corrupt: a damaged archived file is a verdict on that file (data), not a
        failure to retry.
    OSError
        When the file cannot be read now (transient).
    """
    if rows_per_strip < 1:
        raise ValueError("rows_per_strip must be >= 1")
    path = Path(path)
    if _is_gzip(path):
        try:
            yield from _iter_gzip(path, extname, rows_per_strip)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise InvalidAcquisitionError(
                RejectReason.TRUNCATED if isinstance(exc, EOFError) else RejectReason.UNREADABLE,
                f"the gzip stream of {path.name} is damaged while reading image HDU {extname!r}: {exc}",
            ) from None
        return
    with fits.open(path, memmap=True, do_not_scale_image_data=True, lazy_load_hdus=True) as hdul:
        hdu = hdul[extname]
        header = hdu.header
        if header.get("NAXIS") != 2:
            raise ValueError(f"HDU {extname!r} of {path} is not a 2-D image")
        n_rows = int(header["NAXIS2"])
        data = hdu.data  # memory map of the raw values (no scaling, no copy)
        info = hdu.fileinfo()
        data_offset = int(info["datLoc"]) if info else 0
        row_bytes = int(data.strides[0])
        mapping = _find_mmap(data)
        try:
            for r0 in range(0, n_rows, rows_per_strip):
                raw = np.asarray(data[r0 : r0 + rows_per_strip])
                out = _scale(raw, header)
                del raw
                _release_pages(mapping, data_offset + r0 * row_bytes, data_offset + (r0 + out.shape[0]) * row_bytes)
                yield r0, out
        finally:
            del data, mapping


def _iter_gzip(path: Path, extname: str, rows_per_strip: int) -> ImageStrips:
    """Sequential strip reader for a gzip-compressed FITS file (one strip in memory)."""
    with fits.open(path, lazy_load_hdus=True) as hdul:
        hdu = hdul[extname]
        header = hdu.header.copy()
        if header.get("NAXIS") != 2:
            raise ValueError(f"HDU {extname!r} of {path} is not a 2-D image")
        info = hdu.fileinfo()
        if info is None:
            raise ValueError(f"cannot locate the data of HDU {extname!r} in {path}")
        offset = int(info["datLoc"])
    n_rows, n_cols = int(header["NAXIS2"]), int(header["NAXIS1"])
    dtype = np.dtype(_BITPIX_DTYPE[int(header["BITPIX"])])
    row_bytes = n_cols * dtype.itemsize
    with gzip.open(path, "rb") as fh:
        fh.seek(offset)
        for r0 in range(0, n_rows, rows_per_strip):
            n = min(rows_per_strip, n_rows - r0)
            buf = fh.read(n * row_bytes)
            if len(buf) != n * row_bytes:
                raise InvalidAcquisitionError(
                    RejectReason.TRUNCATED, f"{path.name}: image HDU {extname!r} is truncated at row {r0}")
            raw = np.frombuffer(buf, dtype=dtype).reshape(n, n_cols)
            yield r0, _scale(raw, header)


def image_strips_factory(path: str | Path, extname: str, rows_per_strip: int = 512) -> Callable[[], ImageStrips]:
    """A zero-argument callable returning a fresh :func:`iter_image_strips` iterator.

    This is the ``strips_factory`` of :func:`monitor.science.moon_photometry.measure_moon_band`,
    which reads the image twice (two passes).
    """

    def factory() -> ImageStrips:
        return iter_image_strips(path, extname, rows_per_strip)

    return factory
